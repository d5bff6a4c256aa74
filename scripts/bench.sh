#!/usr/bin/env bash
# scripts/bench.sh - `make bench`: builds the benchmark targets (default
# preset) and runs them:
#   1. Google Benchmark micro-benchmarks (bench/micro): frame, MessagePack,
#      load-balancer pick; heap allocations per echo call
#   2. the loopback comparison (bench/driver): raw epoll ceiling, gRPC C++,
#      Tern direct and all, interleaved rounds, medians; plus one server
#      stream (stream16, stream64k: raw firehose, gRPC, Tern stream method)
#      and the gRPC wire (gw1, gw64: gRPC C++ client -> gRPC C++ server / Tern
#      provider, Tern consumer over grpc:// -> gRPC C++ server)
# and writes docs/benchmarks.md and docs/benchmarks.svg.
# Knobs: BENCH_ROUNDS (3), BENCH_DURATION_MS (1500 per run), BENCH_WARMUP_MS (300),
#        BENCH_SCENARIOS (comma list, default all; e.g. stream16,stream64k,gw1,gw64),
#        BENCH_MICRO=0 to skip micro.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${BENCH_ROUNDS:-3}
DURATION_MS=${BENCH_DURATION_MS:-1500}
WARMUP_MS=${BENCH_WARMUP_MS:-300}
SCENARIOS=${BENCH_SCENARIOS:-}

cmake --preset default >/dev/null
cmake --build --preset default --target tern_bench_all

BIN=build/default/bench
OUT=build/default/bench/results
mkdir -p "$OUT" docs
start=$(date +%s)

MICRO="$OUT/micro.txt"
: >"$MICRO"
if [ "${BENCH_MICRO:-1}" != 0 ] && [ -x "$BIN/tern_micro_bench" ]; then
  echo "== micro-benchmarks (bench/micro) =="
  "$BIN/tern_micro_bench" --benchmark_min_time=0.1 2>&1 | grep -v '^\*\*\*' | tee -a "$MICRO"
  echo "== heap allocations per echo call (bench/micro/alloc_bench.cc) =="
  "$BIN/tern_alloc_bench" 2>&1 | grep -E '^(BM_|Benchmark|---)' | tee -a "$MICRO"
fi

echo "== loopback echo: raw TCP vs gRPC vs Tern ($ROUNDS interleaved rounds) =="
args=(--rounds "$ROUNDS" --duration-ms "$DURATION_MS" --warmup-ms "$WARMUP_MS"
      --md docs/benchmarks.md --svg docs/benchmarks.svg --micro "$MICRO" --notes bench/notes.md
      --command "make bench  (= scripts/bench.sh: cmake --preset default; cmake --build --preset default --target tern_bench_all; build/default/bench/tern_micro_bench; build/default/bench/tern_alloc_bench; build/default/bench/tern_loopback_bench --rounds $ROUNDS --duration-ms $DURATION_MS --warmup-ms $WARMUP_MS)")
if [ -n "$SCENARIOS" ]; then args+=(--scenarios "$SCENARIOS"); fi
"$BIN/tern_loopback_bench" "${args[@]}"
if [ -x "$BIN/tern_overload_bench" ]; then
  echo "== a provider at 3x its capacity, per-method limits (bench/overload; docs/reliability.md) =="
  "$BIN/tern_overload_bench" --seconds 3
fi
echo "make bench: $(( $(date +%s) - start )) s of measurement"
