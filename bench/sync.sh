#!/usr/bin/env bash
# Sync benchmark (issue 3), against the emulator's published lower bound as the reference:
# a USERS-user tenant with CONTACTS_PER personal contacts each, plus shared-mailbox and org
# contacts, the emulator at LATENCY ms per request with Graph's limits on. For each reading of
# Outlook's concurrency limit (per mailbox, per app) it runs a full `pbx365 sync` of a fresh
# store and prints:
#   - wall time and peak RSS (goal <= 1 GB),
#   - the ratio to the emulator's lower bound for that reading (goal <= 1.25),
#   - the share of requests answered 429 (goal <= 1 %),
# then, on the per-mailbox run's store:
#   - a no-change delta round: requests per scope (goal <= 1),
#   - a round with 1 % of contacts changed (/_sim/churn): rows the store logged as changed
#     (goal: exactly the changed contacts).
# Usage: bench/sync.sh        (env: USERS=10000 CONTACTS_PER=100 LATENCY=50 READINGS="per-mailbox per-app"
#                               PERF=DIR: profile each sync job with perf into DIR;
#                               FULL_ONLY=1: the full syncs alone, no rounds after them;
#                               TIMELINE=DIR: requests per second of each job into DIR/NAME.tsv;
#                               BIN=PATH: the pbx365 binary to measure, NO_BUILD implied;
#                               KEEP=DIR: keep the stores, job outputs and logs in DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-10000}
CONTACTS_PER=${CONTACTS_PER:-100}
LATENCY=${LATENCY:-50}
READINGS=${READINGS:-"per-mailbox per-app"}
PORT=${PORT:-18365}
for tool in curl jq sqlite3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install curl jq sqlite3 time)" >&2; exit 2; }
done
[ -n "${NO_BUILD:-}${BIN:-}" ] || cargo build --release --quiet -p pbx365
BIN=${BIN:-$PWD/target/release/pbx365}
tmp=$(mktemp -d)
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  # KEEP=DIR: the stores, job outputs and emulator logs are kept there for a look afterwards.
  [ -n "${KEEP:-}" ] && { mkdir -p "$KEEP" && cp -r "$tmp"/. "$KEEP"/ && rm -f "$KEEP/secret"; }
  rm -rf "$tmp"
}
trap cleanup EXIT

start_sim() {
  [ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
  "$BIN" sim --listen "127.0.0.1:$PORT" --no-tls --users "$USERS" \
    --contacts $((USERS * CONTACTS_PER)) --latency-ms "$LATENCY" --json >"$tmp/sim.json" 2>"$tmp/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 1200); do
    grep -q '}' "$tmp/sim.json" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; exit 1; }
    sleep 0.2
  done
  KEY=$(jq -r .adminKey "$tmp/sim.json")
  HTTP=$(jq -r .http "$tmp/sim.json")
  jq -r .clientSecret "$tmp/sim.json" >"$tmp/secret"
  chmod 600 "$tmp/secret"
}

sim_get() { curl -sf -H "x-sim-key: $KEY" "$HTTP$1"; }
sim_send() { curl -sf -X "$1" -H "x-sim-key: $KEY" -H 'content-type: application/json' -d "$3" "$HTTP$2"; }

write_config() { # $1 = store file
  local summary group shared
  summary=$(sim_get /_sim/summary)
  group=$(jq -r '.groupList[] | select(.displayName == "Phone Users") | .id' <<<"$summary")
  shared=$(jq -c '.sharedMailboxes' <<<"$summary")
  cat >"$tmp/pbx365.toml" <<EOF
[store]
url = "sqlite://$1"

[[site]]
name = "bench"
shared_mailboxes = $shared

[site.tenant]
tenant_id = "$(jq -r .tenantId "$tmp/sim.json")"
client_id = "$(jq -r .clientId "$tmp/sim.json")"
client_secret_file = "secret"
authority_url = "$HTTP"
graph_url = "$HTTP/v1.0"

[site.dialling]
country = "DE"
area_code = "30"

[site.users]
group_id = "$group"

[site.extensions]
first_number = 10000
length = 5
EOF
}

# CPU seconds (user + system) the emulator has used so far, from /proc.
sim_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$sim_pid/stat"
}

# run_sync NAME: a sync job; sets WALL, RSS_MB, CPU (pbx365's CPU seconds), SIM_CPU (the
# emulator's during the job), LOAD (1-minute load average at its end), REQUESTS, THROTTLED.
run_sync() {
  local sim_before
  sim_before=$(sim_cpu)
  local perf=()
  # PERF=DIR: a CPU profile of each job (perf record, DWARF call graphs) as DIR/NAME.perf.
  [ -n "${PERF:-}" ] && perf=(perf record -q -F 499 --call-graph dwarf,16384 -o "$PERF/$1.perf" --)
  # TIMELINE=DIR: the emulator's request count sampled every second as DIR/NAME.tsv
  # (seconds since start, requests so far, requests in that second).
  local sampler=
  if [ -n "${TIMELINE:-}" ]; then
    mkdir -p "$TIMELINE"
    (
      last=0; t=0
      while :; do
        n=$(sim_get '/_sim/requests?totals=true' | jq .total) || break
        printf '%d\t%d\t%d\n' "$t" "$n" "$((n - last))"
        last=$n; t=$((t + 1)); sleep 1
      done
    ) >"$TIMELINE/$1.tsv" &
    sampler=$!
  fi
  /usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "${perf[@]}" "$BIN" sync --config "$tmp/pbx365.toml" --json \
    >"$tmp/$1.json" 2>"$tmp/$1.err" || { tail -5 "$tmp/$1.err" >&2; exit 1; }
  [ -n "$sampler" ] && { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; }
  read -r WALL RSS_KB USER_S SYS_S <"$tmp/time"
  CPU=$(echo "$USER_S + $SYS_S" | bc)
  SIM_CPU=$(echo "$(sim_cpu) - $sim_before" | bc)
  LOAD=$(cut -d' ' -f1 /proc/loadavg)
  RSS_MB=$((RSS_KB / 1024))
  REQUESTS=$(jq '[.[].report.requests] | add' "$tmp/$1.json")
  THROTTLED=$(jq '[.[].report.throttled] | add' "$tmp/$1.json")
}

printf 'tenant: %s users x %s personal contacts, %s ms latency, Graph limits on\n' \
  "$USERS" "$CONTACTS_PER" "$LATENCY"
first_store=
for reading in $READINGS; do
  start_sim
  sim_send PATCH /_sim/behaviour "{\"outlookConcurrencyScope\": \"$reading\"}" >/dev/null
  store="$tmp/store-$reading.db"
  write_config "$store"
  estimate=$(sim_get /_sim/sync-estimate)
  bound=$(jq .lowerBoundSeconds <<<"$estimate")
  sim_send DELETE /_sim/requests '' >/dev/null || true
  run_sync "full-$reading"
  ratio=$(echo "scale=3; $WALL / $bound" | bc)
  share=$(echo "scale=3; 100 * $THROTTLED / $REQUESTS" | bc)
  contacts=$(sqlite3 "$store" 'SELECT count(*) FROM contacts')
  printf '%-12s full sync: %8.1f s  peak RSS %5d MB  lower bound %7.1f s  ratio %5.2f  requests %7d  429s %5d (%s %%)  contacts stored %d\n' \
    "$reading" "$WALL" "$RSS_MB" "$bound" "$ratio" "$REQUESTS" "$THROTTLED" "$share" "$contacts"
  printf '%-12s   CPU: pbx365 %.1f s, emulator %.1f s; load average %s at the end\n' "$reading" "$CPU" "$SIM_CPU" "$LOAD"
  if [ -z "$first_store" ] && [ -z "${FULL_ONLY:-}" ]; then
    first_store=$store
    scopes=$(sqlite3 "$store" "SELECT count(*) FROM delta_tokens WHERE scope NOT LIKE 'selection-fingerprint%'")
    sim_send DELETE /_sim/requests '' >/dev/null || true
    run_sync nochange
    # The emulator logs each request a $batch carries as well as the batch itself (and token
    # requests, not counted): Graph requests = every /v1.0 request but the batches.
    read -r graph batches <<<"$(sim_get /_sim/requests | jq -r '.byEndpoint | to_entries
      | [([.[] | select((.key | contains("/v1.0/")) and .key != "POST /v1.0/$batch") | .value] | add // 0),
         ([.[] | select(.key == "POST /v1.0/$batch") | .value] | add // 0)] | @tsv')"
    printf '%-12s no-change delta: %6.1f s  peak RSS %5d MB  requests %d over %d scopes (%s per scope); %d of them $batch carrying %d: %d Graph requests in all (%s per scope)\n' \
      "$reading" "$WALL" "$RSS_MB" "$REQUESTS" "$scopes" "$(echo "scale=3; $REQUESTS / $scopes" | bc)" \
      "$batches" "$((graph - (REQUESTS - batches)))" "$graph" "$(echo "scale=3; $graph / $scopes" | bc)"
    printf '%-12s   CPU: pbx365 %.1f s, emulator %.1f s; load average %s at the end\n' "$reading" "$CPU" "$SIM_CPU" "$LOAD"
    before=$(sqlite3 "$store" "SELECT coalesce(max(seq), 0) FROM change_counters")
    sim_send POST /_sim/churn '{"contactsPercent": 1, "seed": 1}' >"$tmp/churn.json"
    changed=$(jq .changed "$tmp/churn.json")
    jq -r '.immutableIds[]' "$tmp/churn.json" >"$tmp/churn.ids"
    run_sync churn
    # Expected: the changed contacts pbx365 holds (by immutable id: pbx365 asks Outlook for those) (the churn also touches mailboxes of users
    # outside the selection, which are not synced). Written: every change-log row of the round.
    read -r expected logged exact <<<"$(sqlite3 -separator ' ' "$store" \
      "CREATE TEMP TABLE churned (source_id TEXT PRIMARY KEY);" \
      ".import $tmp/churn.ids churned" \
      "SELECT (SELECT count(*) FROM contacts JOIN churned USING (source_id)),
              (SELECT count(*) FROM change_log WHERE seq > $before),
              (SELECT count(*) FROM change_log l JOIN contacts c ON c.site_id = l.site_id AND c.id = l.id
                 JOIN churned USING (source_id) WHERE l.seq > $before AND l.kind = 'contact');")"
    verdict=$([ "$expected" = "$logged" ] && [ "$logged" = "$exact" ] && echo "only those rows" || echo "MISMATCH")
    printf '%-12s 1 %% changed: %6.1f s  peak RSS %5d MB  %d contacts changed in the tenant, %d of them synced; %d rows written, %d of them changed contacts (%s), %d requests\n' \
      "$reading" "$WALL" "$RSS_MB" "$changed" "$expected" "$logged" "$exact" "$verdict" "$REQUESTS"
    printf '%-12s   CPU: pbx365 %.1f s, emulator %.1f s; load average %s at the end\n' "$reading" "$CPU" "$SIM_CPU" "$LOAD"
  fi
done
