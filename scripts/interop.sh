#!/usr/bin/env bash
# `make interop`: gRPC wire compatibility against implementations no one here
# wrote (docs/grpc.md, "Interop matrix"). Runs the interop suites of
# build/default/tests/grpc_test and prints one row per peer x direction x case,
# then "N passed, M failed"; exits 1 when anything failed (or did not run).
#
#   peer      grpc-c++  Debian libgrpc++      (grpc_interop_test.cc, grpc_consumer_test.cc)
#             grpc-go   Debian golang-google-grpc-dev, built by the test
#                       offline in GOPATH mode (grpc_go_test.cc, tests/grpc/go/)
#   direction to-tern-provider     the peer's client calls a Tern provider
#             from-tern-consumer   a Tern consumer (grpc:// reference) calls the peer's server
#
#   INTEROP_BUILD=0 scripts/interop.sh   # skip the build step (grpc_test is built)
# Full output of the test binary: build/default/interop.log.
set -uo pipefail
cd "$(dirname "$0")/.."

bin=build/default/tests/grpc_test
log=build/default/interop.log
jobs=${JOBS:-$(nproc)}

if [[ ${INTEROP_BUILD:-1} != 0 ]]; then
  cmake --preset default >/dev/null || exit 2
  cmake --build --preset default -j "$jobs" --target grpc_test || exit 2
fi
if [[ ! -x $bin ]]; then
  echo "$bin missing: cmake --build --preset default --target grpc_test" >&2
  exit 2
fi

# Test suite -> "peer direction".
declare -A peer_of=(
  [GrpcInterop]="grpc-c++ to-tern-provider"
  [GrpcConsumer]="grpc-c++ from-tern-consumer"
  [GrpcConsumerCluster]="grpc-c++ from-tern-consumer"
  [GoClientToTernProvider]="grpc-go to-tern-provider"
  [TernConsumerToGoServer]="grpc-go from-tern-consumer"
)
filter=$(printf '%s.*:' "${!peer_of[@]}")
filter=${filter%:}

"$bin" --gtest_filter="$filter" --gtest_color=no >"$log" 2>&1
rc=$?

# Every test the binary lists under those suites must report OK.
declare -A result=() ms=()
while read -r line; do
  if [[ $line =~ ^\[\ +(OK|FAILED)\ +\]\ ([A-Za-z0-9_]+\.[A-Za-z0-9_/]+)\ \(([0-9]+)\ ms\)$ ]]; then
    result[${BASH_REMATCH[2]}]=${BASH_REMATCH[1]}
    ms[${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
  fi
done <"$log"

tests=()
suite=""
while IFS= read -r line; do
  if [[ $line =~ ^([A-Za-z0-9_]+)\.$ ]]; then
    suite=${BASH_REMATCH[1]}
  elif [[ $line =~ ^\ \ ([A-Za-z0-9_/]+) ]]; then
    tests+=("$suite.${BASH_REMATCH[1]}")
  fi
done < <("$bin" --gtest_filter="$filter" --gtest_list_tests)

passed=0
failed=0
rows=()
for t in "${tests[@]}"; do
  read -r peer direction <<<"${peer_of[${t%%.*}]}"
  case ${result[$t]:-} in
    OK) r=pass passed=$((passed + 1)) ;;
    FAILED) r=FAIL failed=$((failed + 1)) ;;
    *) r="NOT RUN" failed=$((failed + 1)) ;;
  esac
  rows+=("$(printf '%-9s %-19s %-48s %-7s %8s' "$peer" "$direction" "${t#*.}" "$r" "${ms[$t]:--}")")
done
printf '%-9s %-19s %-48s %-7s %8s\n' peer direction case result ms
printf '%s\n' "${rows[@]}" | sort -s -k1,2
if ((failed > 0)) || ((rc != 0)); then
  grep -E '^\[  FAILED  \]|Failure|error' "$log" | head -40 >&2
  echo "(full output: $log)" >&2
fi
if ((rc != 0)) && ((failed == 0)); then
  echo "grpc_test exited with $rc" >&2
  failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
