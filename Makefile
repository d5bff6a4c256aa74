# Tern - the two commands (README): `make demo` and `make test`.
# Both install what is missing (scripts/deps.sh), configure with the CMake
# presets and build. `make bench` runs the benchmarks, `make asan` the test
# suite under AddressSanitizer + UndefinedBehaviorSanitizer, `make tsan` under
# ThreadSanitizer, `make fuzz` builds the libFuzzer targets (clang) and runs
# each for FUZZ_SECONDS (default 60), `make chaos` the faults-under-load
# scenarios (docs/reliability.md), `make interop` the gRPC interop matrix
# against gRPC C++ and grpc-go (docs/grpc.md, "Interop matrix").
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test asan tsan fuzz ci-full bench chaos interop clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS)

# The demo builds only what it runs (the tests and benchmarks are not needed).
demo: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS) --target tern_cli quickstart_provider quickstart_consumer
	@scripts/demo.sh

test: build
	@ctest --preset default

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan

tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)
	@ctest --preset tsan

FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

# What CI runs (.ci/run runs these stages one by one and times each): the
# suite, then under ASan+UBSan and TSan, then each fuzzer for FUZZ_SECONDS
# (docs/reliability.md, "In CI").
ci-full: test asan tsan fuzz

bench: build
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "no benchmarks yet"; fi

# Faults under load (docs/reliability.md): builds only what it runs.
chaos: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS) --target tern_chaos
	@build/default/bin/tern_chaos

# gRPC interop (docs/grpc.md, "Interop matrix"): builds only grpc_test (it
# builds the Go peer itself) and prints peer x direction x case.
interop: deps
	@JOBS=$(JOBS) scripts/interop.sh

clean:
	rm -rf build
