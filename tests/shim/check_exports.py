#!/usr/bin/env python3
"""The shim exports exactly its interposers: every name in shim/libiowq.map is
a defined dynamic symbol of libiowq.so, the map is what shim/gen_map.py makes
from the sources (so no interposer is silently left unexported), and nothing
else (libstdc++, libunwind, the core) leaks into the program's namespace."""
import re, subprocess, sys, pathlib

lib, src = sys.argv[1], pathlib.Path(sys.argv[2])
mapped = set(re.findall(r"(\w+);", src.joinpath("libiowq.map").read_text()))
mapped.discard("local")
out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
exported = {l.split()[-1].split("@")[0] for l in out.splitlines() if l.strip()}
exported -= {"_init", "_fini"}
fail = False
if mapped - exported:
    print("in the map but not exported:", sorted(mapped - exported)); fail = True
if exported - mapped:
    print("exported but not in the map (leaking):", sorted(exported - mapped)); fail = True
# The checked-in map must equal a fresh generation.
import tempfile, shutil
with tempfile.TemporaryDirectory() as d:
    for f in src.glob("*/*.cpp"):
        pathlib.Path(d, f.parent.name).mkdir(exist_ok=True)
        shutil.copy(f, pathlib.Path(d, f.parent.name))
    shutil.copy(src / "gen_map.py", d)
    subprocess.run([sys.executable, str(pathlib.Path(d) / "gen_map.py")], check=True, capture_output=True)
    fresh = pathlib.Path(d, "libiowq.map").read_text()
if fresh != src.joinpath("libiowq.map").read_text():
    print("shim/libiowq.map is stale: run shim/gen_map.py"); fail = True
for must in ["write", "read", "_exit", "_Exit", "close", "fsync", "execve", "closefrom", "__read_chk"]:
    if must not in exported:
        print("missing interposer:", must); fail = True
print("exports:", len(exported), "FAIL" if fail else "ok")
sys.exit(1 if fail else 0)
