#!/usr/bin/env bash
# The quickstart, the main job of Tern (README): an embedded registry, three
# providers with different weights and a consumer, as separate processes over
# real TCP on loopback. During the run provider-1 stops gracefully (SIGTERM)
# and provider-3 is killed with SIGKILL; the registry pushes each change and
# the consumer's calls keep succeeding on the providers that remain.
set -euo pipefail
BIN=${BIN:-build/default/bin}
LOG=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$LOG"; }
trap cleanup EXIT

"$BIN/tern" registry --listen 127.0.0.1:0 --heartbeat-interval 1000 > >(tee "$LOG/registry" | sed -u 's/^/  /') 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on port" "$LOG/registry" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$LOG/registry")
[ -n "$PORT" ] || { echo "registry did not start"; exit 1; }
REG="tern://127.0.0.1:$PORT"
echo "== registry at $REG"

weights=(100 200 300)
for i in 1 2 3; do
  "$BIN/quickstart_provider" --registry "$REG" --name "provider-$i" --weight "${weights[$((i-1))]}" &
  pids+=($!)
  eval "PROVIDER_$i=$!"
done

"$BIN/quickstart_consumer" --registry "$REG" --duration-ms 5000 &
CONSUMER=$!
sleep 2.2
echo "== stopping provider-1 gracefully (SIGTERM)"
kill -TERM "$PROVIDER_1"
sleep 1.5
echo "== killing provider-3 (SIGKILL)"
disown "$PROVIDER_3" 2>/dev/null || true   # bash reports no "Killed" notice for a disowned job
kill -KILL "$PROVIDER_3"
status=0
wait "$CONSUMER" || status=$?
kill -TERM "$PROVIDER_2" 2>/dev/null || true
wait "$PROVIDER_2" 2>/dev/null || true
wait "$PROVIDER_1" 2>/dev/null || true
kill -TERM "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true
if [ "$status" -eq 0 ]; then echo "== demo finished: every call succeeded"; else echo "== demo FAILED (consumer exit $status)"; fi
exit "$status"
