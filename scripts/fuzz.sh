#!/usr/bin/env bash
# Runs every libFuzzer target of build/fuzz (the `fuzz` preset) for
# FUZZ_SECONDS each (default 60) and prints executions/s and total executions
# per target, from libFuzzer's final stats (-print_final_stats=1).
#
#   FUZZ_SECONDS=300 FUZZ_TARGETS="url json_args" scripts/fuzz.sh
#
# Each target starts from the checked-in seeds (tests/fuzz/corpus/<target>/)
# plus what earlier runs found (build/fuzz/corpus/<target>/, where new inputs
# are written, so the checked-in corpus stays as generated), with the
# dictionary tests/fuzz/<target>.dict when there is one. A crash, leak,
# sanitizer report or FUZZ_CHECK failure stops that target, leaves its input
# in build/fuzz/artifacts/ and makes the script exit 1 after the others ran.
# Full logs: build/fuzz/logs/<target>.log.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
bin=build/fuzz/fuzz
targets=${FUZZ_TARGETS:-"frame_decoder metadata msgpack_args json_args protobuf_args url stream_session grpc_server"}
mkdir -p build/fuzz/logs build/fuzz/artifacts

status=0
printf '%-15s %8s %12s %10s  %s\n' target seconds executions exec/s result
for t in $targets; do
  exe=$bin/fuzz_$t
  if [[ ! -x $exe ]]; then
    echo "$exe missing: build with cmake --preset fuzz && cmake --build --preset fuzz" >&2
    exit 2
  fi
  mkdir -p build/fuzz/corpus/$t
  log=build/fuzz/logs/$t.log
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  start=$(date +%s)
  "$exe" "${dict[@]}" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/artifacts/$t- build/fuzz/corpus/$t tests/fuzz/corpus/$t >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc): $(grep -m1 -E 'FUZZ_CHECK|ERROR: |runtime error' "$log" | cut -c1-120)"
    status=1
  fi
  printf '%-15s %8s %12s %10s  %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$result"
done
exit $status
