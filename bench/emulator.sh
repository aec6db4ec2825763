#!/usr/bin/env bash
# Emulator benchmarks, each against a named reference run side by side on this machine:
#  1. throughput: small authenticated Graph GETs (`/v1.0/users/{id}?$select=id,displayName`,
#     token verified, tenant read, envelope, request log) vs. the same HTTP stack answering a
#     fixed body (examples/static_responder.rs). Goal: >= 5,000 requests/s on 2 cores.
#  2. memory: a 100,000-user, 1,000,000-contact tenant held in <= 2 GB RSS, vs. an empty one.
# Load comes from wrk (Debian package `wrk`) on loopback; runs are bounded (DURATION seconds).
# Usage: bench/emulator.sh [DURATION_SECONDS]   (env: USERS, CONTACTS, CONNECTIONS)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
USERS=${USERS:-100000}
CONTACTS=${CONTACTS:-1000000}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
cargo build --release --quiet -p pbx365
cargo build --release --quiet -p graph-sim --example static_responder
BIN=target/release/pbx365
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start_sim USERS CONTACTS PORT: starts an emulator, waits until it prints its details to
# $tmp/sim-PORT.json, and sets SIM_PID and SIM_START (seconds until ready).
start_sim() {
  "$BIN" sim --listen "127.0.0.1:$3" --no-tls --users "$1" --contacts "$2" --json \
    > "$tmp/sim-$3.json" 2>"$tmp/sim-$3.err" &
  SIM_PID=$!
  pids+=("$SIM_PID")
  local t0
  t0=$(date +%s.%N)
  for _ in $(seq 1 1200); do
    grep -q '}' "$tmp/sim-$3.json" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || { cat "$tmp/sim-$3.err" >&2; exit 1; }
    sleep 0.1
  done
  grep -q '}' "$tmp/sim-$3.json" || { echo "emulator did not start" >&2; exit 1; }
  SIM_START=$(echo "$(date +%s.%N) - $t0" | bc)
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
rps() { awk '/Requests\/sec/ {print $2}'; }

echo "== throughput (wrk, $CONNECTIONS connections, ${DURATION}s, 1 wrk thread) =="
start_sim 1000 10000 18465
J="$tmp/sim-18465.json"
HTTP=$(field "$J" http); TENANT=$(field "$J" tenantId); KEY=$(field "$J" adminKey)
# Throughput, not throttling, is measured: lift the directory bucket for this run.
curl -sf -X PATCH -H "x-sim-key: $KEY" -H 'content-type: application/json' \
  -d '{"directoryRuPer10s": 1000000000}' "$HTTP/_sim/behaviour" >/dev/null
TOKEN=$(curl -sf "$HTTP/$TENANT/oauth2/v2.0/token" \
  --data-urlencode "client_id=$(field "$J" clientId)" \
  --data-urlencode "client_secret=$(field "$J" clientSecret)" \
  --data-urlencode "scope=https://graph.microsoft.com/.default" \
  --data-urlencode "grant_type=client_credentials" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
USER_ID=$(curl -sf -H "Authorization: Bearer $TOKEN" "$HTTP/v1.0/users?\$top=1&\$select=id" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['value'][0]['id'])")
URL="$HTTP/v1.0/users/$USER_ID?\$select=id,displayName"
curl -sf -H "Authorization: Bearer $TOKEN" "$URL" >/dev/null
EMU=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "$URL" | rps)
target/release/examples/static_responder 127.0.0.1:18467 >/dev/null &
pids+=($!)
sleep 0.5
REF=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18467/v1.0/users/$USER_ID" | rps)
kill "$SIM_PID" 2>/dev/null || true
printf '%-44s %12s\n' "run" "requests/s"
printf '%-44s %12.0f\n' "static responder (same stack, reference)" "$REF"
printf '%-44s %12.0f\n' "graph-sim GET /users/{id}?\$select (goal 5000)" "$EMU"
printf '%-44s %11.0f%%\n' "graph-sim / reference" "$(echo "100 * $EMU / $REF" | bc -l)"

echo
echo "== memory: $USERS users, $CONTACTS contacts vs. an empty tenant =="
start_sim 0 0 18468
EMPTY_PID=$SIM_PID EMPTY_T=$SIM_START
start_sim "$USERS" "$CONTACTS" 18469
BIG_PID=$SIM_PID BIG_T=$SIM_START
BIG_HTTP=$(field "$tmp/sim-18469.json" http); BIG_KEY=$(field "$tmp/sim-18469.json" adminKey)
curl -sf -H "x-sim-key: $BIG_KEY" "$BIG_HTTP/_sim/summary"; echo
printf '%-44s %10s %12s\n' "run" "RSS (MB)" "start (s)"
printf '%-44s %10s %12.1f\n' "empty tenant (reference)" "$(rss_mb "$EMPTY_PID")" "$EMPTY_T"
printf '%-44s %10s %12.1f\n' "$USERS users + $CONTACTS contacts (goal 2048)" "$(rss_mb "$BIG_PID")" "$BIG_T"
