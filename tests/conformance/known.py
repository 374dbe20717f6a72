"""known.py — the classes of difference the fuzzer found, and what CI runs.

OPEN: differences on the current code, waiting for their issue's fix. CI
(ci_subset.py) does not draw their ops in the listed modes, and does not run
their regression scripts. When a fix lands, move the entry's status to
"fixed" in its regress/<name>.conf header: CI then runs that script in every
mode and draws its ops again (excluded_ops() only reads open scripts).

Each class is one file regress/<name>.conf: a minimized script with a header
  # class: <name>
  # issue: <N>
  # status: open|fixed
  # modes: <modes where it differs now>
  # ops: <op names CI leaves out while open>
  # found: <seed and mode that found it>
  # what: <one line>
"""
import glob
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_MODES = ("auto", "pool", "route_all", "route_all_pool", "wb", "wb_tiny", "stall")


def _parse(path):
    meta, ops = {}, []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# ") and ":" in line:
                k, v = line[2:].split(":", 1)
                meta[k.strip()] = v.strip()
            elif line.strip() and not line.startswith("#"):
                ops.append(line)
            elif line.startswith("# fault"):
                ops.append(line)
    meta.setdefault("name", os.path.basename(path)[:-5])
    return meta, ops


def regress_scripts(status=None):
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "regress", "*.conf"))):
        meta, ops = _parse(path)
        if status is None or meta.get("status") == status:
            out.append((path, meta, ops))
    return out


def _modes(meta):
    m = meta.get("modes", "all")
    return ALL_MODES if m == "all" else tuple(x.strip() for x in m.split(","))


OPEN = [dict(name=m.get("class", m["name"]), issue=m.get("issue"), modes=_modes(m),
             ops=set(m.get("ops", "").split(",")) - {""}, path=p)
        for p, m, _ in regress_scripts("open")]


def excluded_ops(mode):
    ex = set()
    for c in OPEN:
        if mode in c["modes"]:
            ex |= c["ops"]
    return ex


# The README's table of classes is generated from the regress headers (one
# source): `known.py --table` prints it, `known.py --check README.md` fails
# when the README's copy (between the markers) is stale.
BEGIN, END = "<!-- classes:begin -->", "<!-- classes:end -->"


def _cell(s):
    return s.replace("|", "\\|")


def table():
    rows = ["| issue | class (`regress/…`) | status | modes | found by |", "|---|---|---|---|---|"]
    scripts = regress_scripts()
    scripts.sort(key=lambda t: (t[1].get("status") != "open", int(t[1].get("issue", 0)), t[1].get("class", "")))
    for path, m, _ in scripts:
        st = m.get("status", "?")
        rows.append("| {} | {} (`{}`) | {} | {} | {} |".format(
            m.get("issue", "?"), _cell(m.get("class", m["name"])), os.path.basename(path),
            "**open**" if st == "open" else st, _cell(m.get("modes", "all")), _cell(m.get("found", ""))))
    return "\n".join(rows) + "\n"


def _main(argv):
    if argv[1:2] == ["--table"]:
        print(table(), end="")
        return 0
    if argv[1:2] == ["--check"] and len(argv) == 3:
        text = open(argv[2]).read()
        if BEGIN not in text or END not in text:
            print(f"known.py: {argv[2]} has no {BEGIN} ... {END} block")
            return 1
        have = text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
        if have != table():
            print(f"known.py: the table of classes in {argv[2]} is stale: regenerate it with "
                  f"`python3 tests/conformance/known.py --table`")
            return 1
        return 0
    print("usage: known.py --table | --check README.md")
    return 2


if __name__ == "__main__":
    import sys
    sys.exit(_main(sys.argv))
