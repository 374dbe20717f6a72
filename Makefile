# Thin wrapper over CMake. `make demo` and `make test` work as the first
# command on a fresh Debian machine (deps are installed when run as root).
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=
DEB_PKGS := libboost-dev libunwind-dev libnuma-dev libgtest-dev libbenchmark-dev \
            strace cmake g++ make pkg-config python3 sqlite3 git tar gzip coreutils \
            liburing-dev libuv1-dev libfuse3-dev fuse3
BENCH_PKGS := gnuplot-nox

.PHONY: all deps bench-deps build test sanitize asan tsan clang demo bench bench-sockets bench-slowfs clean

all: build

# Install what the build needs: apt-get when root, else print the command.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "iowq: installing$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "iowq: missing packages; run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

bench-deps: deps
	@missing=""; for p in $(BENCH_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "iowq: run: sudo apt-get install$$missing"; exit 1; fi; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# ThreadSanitizer and AddressSanitizer builds of the tests, each in its own tree,
# with the core's invariant checks on (IOWQ_DEBUG).
sanitize: asan tsan

asan: deps
	cmake -S . -B build-asan -DIOWQ_SANITIZE=asan -DIOWQ_BUILD_BENCH=OFF -DIOWQ_DEBUG=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -L core --timeout 300

tsan: deps
	cmake -S . -B build-tsan -DIOWQ_SANITIZE=tsan -DIOWQ_BUILD_BENCH=OFF -DIOWQ_DEBUG=ON
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS) -L core --timeout 300

# clang as well as gcc, with -Wshadow and warnings as errors (build-clang/): the
# whole tree must build, and every test runs against the clang-built shim but the
# slowfs and bench ones (they need the benchmarks, not built here).
CLANG_PKGS := clang-14
clang: deps
	@dpkg-query -W -f='$${Status}' $(CLANG_PKGS) 2>/dev/null | grep -q "ok installed" || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CLANG_PKGS); } || \
	  { echo "iowq: run: sudo apt-get install $(CLANG_PKGS)"; exit 1; }
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-clang -DIOWQ_WERROR=ON -DIOWQ_BUILD_BENCH=OFF \
	  -DCMAKE_C_FLAGS=-Wshadow -DCMAKE_CXX_FLAGS=-Wshadow
	cmake --build build-clang -j $(JOBS)
	cd build-clang && ctest --output-on-failure -j $(JOBS) --timeout 300 -LE 'slowfs|bench'

demo: build
	@sh tools/demo.sh $(BUILD)

bench: bench-deps build
	@sh tools/bench/run.sh $(BUILD)

# Socket workloads (thread-per-connection echo, redis when installed, stall to error).
bench-sockets: build
	@python3 tools/bench/sockets.py $(BUILD)

# Workloads on a FUSE filesystem that delays every request (root, /dev/fuse).
bench-slowfs: build
	@python3 tools/bench/slowfs/bench.py $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-clang

# Differential conformance fuzzer (tests/conformance/README.md): every seed
# plain and under the shim in every mode. CONFORMANCE_SEEDS per run (all modes).
CONFORMANCE_SEEDS ?= 300
CONFORMANCE_FIRST ?= 1
CONFORMANCE_ARGS ?= --matrix
.PHONY: conformance conformance-python
conformance: build
	python3 tests/conformance/fuzz.py --runner $(BUILD)/tests/conformance/conf_runner \
	  --lib $(BUILD)/lib/libiowq.so --seeds $(CONFORMANCE_SEEDS) --first $(CONFORMANCE_FIRST) \
	  $(CONFORMANCE_ARGS)

# CPython's own test modules plain and under the shim in every mode (long).
PY_TEST_PKGS := libpython3.11-testsuite
conformance-python: build
	@missing=""; for p in $(PY_TEST_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "iowq: run: sudo apt-get install$$missing"; exit 1; fi; \
	fi
	python3 tests/conformance/python_suite.py --lib $(BUILD)/lib/libiowq.so
