#!/usr/bin/env bash
# Presence bridge benchmark (issue 5 §4): USERS users mapped to USERS extensions, the real
# `pbx365 sim` (release), a real Kamailio from kamailio/kamailio-presence-dialog.cfg on a high
# loopback port, and the real `pbx365 presence run`; RATE changes per second from each side for
# DURATION seconds (crates/presence/examples/presence_load.rs drives and measures). Printed:
#   - Teams → PBX: end to end (Teams client change → NOTIFY at a SIP watcher), split into the
#     poll wait (change → the bridge's reading, set by POLL_SECONDS, not the bridge's work) and
#     what the bridge adds (its reading → NOTIFY); goal p95 <= 1 s;
#   - PBX → Teams: PUBLISH sent → the emulator shows the mapped presence (read by a separate
#     observer app every 25 ms); goal p95 <= 1 s;
#   - Graph requests per change from the emulator's request log (writes per PBX change, poll
#     requests apart; goal <= 1 plus keep-alives), 429s, and the presence requests per 30 s
#     against the emulator's presence limit (reading: 10,000 per 30 s per app, the default);
#   - CPU seconds and peak RSS of the bridge process.
# The reference printed beside it: the same pipeline at REF_USERS users and REF_RATE changes/s
# (the scale of crates/presence/tests/it/load.rs), so the figures show what 5,000 users and
# 50 changes/s cost over an almost idle bridge on this machine.
# MODE=notify reads Teams by change notification instead of polling: ⌈users/650⌉ presence
# reader accounts are signed in by device code (approved in the emulator), the bridge's
# webhook receiver listens on NOTIFY_PORT, and the emulator posts each change (it delivers
# every 100 ms, as Graph batches); the "poll wait" is then the notification's delivery.
# Usage: bench/presence/run.sh   (env: USERS=5000 RATE=50 DURATION=60 POLL_SECONDS=1
#                                  PER_SIDE=1000 REF_USERS=60 REF_RATE=2 SIP_PORT=25060 HTTP_PORT=18465
#                                  MODE=poll|notify NOTIFY_PORT=18466;
#                                  BIN=… LOAD=… use those binaries instead of building release ones)
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS=${USERS:-5000}
RATE=${RATE:-50}
DURATION=${DURATION:-60}
POLL_SECONDS=${POLL_SECONDS:-1}
PER_SIDE=${PER_SIDE:-1000}
REF_USERS=${REF_USERS:-60}
REF_RATE=${REF_RATE:-2}
SIP_PORT=${SIP_PORT:-25060}
HTTP_PORT=${HTTP_PORT:-18465}
MODE=${MODE:-poll}
NOTIFY_PORT=${NOTIFY_PORT:-18466}
case $MODE in poll | notify) ;; *) echo "MODE is poll or notify, not '$MODE'" >&2; exit 2 ;; esac
for tool in curl jq sqlite3 md5sum /usr/sbin/kamailio; do
  command -v "$tool" >/dev/null || {
    echo "$tool is needed (apt-get install curl jq sqlite3 kamailio kamailio-presence-modules kamailio-sqlite-modules)" >&2
    exit 2
  }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet -p pbx365
  cargo build --release --quiet -p pbx365-presence --example presence_load
fi
BIN=${BIN:-$PWD/target/release/pbx365}
LOAD=${LOAD:-$PWD/target/release/examples/presence_load}
tmp=$(mktemp -d)
sim_pid= kam_pid= bridge_pid=
stop() { # $1 = pid
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() { stop "$bridge_pid"; stop "$kam_pid"; stop "$sim_pid"; rm -rf "$tmp"; }
trap cleanup EXIT

# tenant: N users with mailboxes, all in "Phone Users"; the pbx365 app and an observer app.
tenant_file() { # $1 = users, $2 = file
  jq -n --argjson n "$1" '
    def id($p; $i): "\($p)-0000-4000-8000-\("000000000000\($i)" | .[-12:])";
    {tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", domain: "contoso.onmicrosoft.com",
     displayName: "Contoso",
     apps: [
       {clientId: "11111111-2222-4333-8444-555555555555", displayName: "pbx365",
        secrets: [{keyId: "k1", value: "bench-secret", endDateTime: "2099-01-01T00:00:00Z"}],
        appRoles: ["User.Read.All", "Group.Read.All", "Presence.ReadWrite.All", "Presence.Read.All"],
        adminConsented: true},
       {clientId: "22222222-2222-4333-8444-555555555555", displayName: "observer",
        secrets: [{keyId: "k2", value: "observer-secret", endDateTime: "2099-01-01T00:00:00Z"}],
        appRoles: ["Presence.Read.All"], adminConsented: true},
       {clientId: "33333333-2222-4333-8444-555555555555", displayName: "pbx365 presence readers",
        allowPublicClient: true, adminConsented: true,
        delegatedScopes: ["User.Read", "Presence.Read.All", "offline_access", "openid", "profile"]}],
     users: [range(1; $n + 1) | {id: id("00000000"; .), displayName: "User \(.)",
             userPrincipalName: "user\(.)@contoso.onmicrosoft.com", accountEnabled: true,
             mailbox: "user", presence: {sessions: [], preferred: null}}],
     groups: [{id: "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e", displayName: "Phone Users",
               members: [range(1; $n + 1) | id("00000000"; .)]}]}' >"$2"
}

start_kamailio() {
  local dir=$tmp/kam
  rm -rf "$dir"; mkdir -p "$dir/run"
  sed -e "s|!PBX365_PORT!5090!g|!PBX365_PORT!$SIP_PORT!g|" \
      -e "s|/var/lib/pbx365/kamailio.sqlite|$dir/kamailio.sqlite|" \
      -e "s|/run/pbx365-kamailio|$dir/run|" kamailio/kamailio-presence-dialog.cfg >"$dir/kamailio.cfg"
  {
    for s in standard auth_db usrloc presence; do cat "/usr/share/kamailio/db_sqlite/$s-create.sql"; done
    echo 'PRAGMA journal_mode=WAL;'
    for u in bridge watcher; do
      ha1=$(printf '%s' "$u:127.0.0.1:secret-$u" | md5sum | cut -d' ' -f1)
      echo "INSERT INTO subscriber(username,domain,password,ha1,ha1b) VALUES('$u','127.0.0.1','','$ha1','');"
    done
  } | sqlite3 "$dir/kamailio.sqlite" >/dev/null
  printf 'secret-bridge' >"$tmp/bridge.pw"; printf 'secret-watcher' >"$tmp/watcher.pw"
  chmod 600 "$tmp"/*.pw
  /usr/sbin/kamailio -f "$dir/kamailio.cfg" -DD -E -m 512 -M 32 -P "$dir/run/kamailio.pid" \
    -Y "$dir/run" >/dev/null 2>"$dir/kamailio.log" &
  kam_pid=$!
  sleep 2
  kill -0 "$kam_pid" 2>/dev/null || { cat "$dir/kamailio.log" >&2; exit 1; }
}

# signs in $1 presence reader accounts (users 1..$1) by device code, approved in the emulator
add_readers() { # $1 = count, $2 = emulator URL, $3 = its admin key
  local i pids=() code
  for i in $(seq 1 "$1"); do
    "$BIN" presence readers add --config "$tmp/pbx365.toml" >/dev/null 2>"$tmp/reader$i.err" &
    pids+=($!)
  done
  for i in $(seq 1 "$1"); do
    code=
    for _ in $(seq 1 100); do
      code=$(sed -n 's/.*enter the code \([A-Z0-9-]*\).*/\1/p' "$tmp/reader$i.err")
      [ -n "$code" ] && break
      sleep 0.1
    done
    [ -n "$code" ] || { cat "$tmp/reader$i.err" >&2; exit 1; }
    curl -fsS -X POST -H "x-sim-key: $3" -H 'content-type: application/json' \
      -d "{\"userCode\":\"$code\",\"userId\":\"00000000-0000-4000-8000-$(printf '%012d' "$i")\"}" \
      "$2/_sim/devicecode/approve" >/dev/null
  done
  for i in $(seq 1 "$1"); do
    wait "${pids[$((i - 1))]}" || { cat "$tmp/reader$i.err" >&2; exit 1; }
  done
}

# one run: prints "key=value" lines (the load tool's and the bridge's figures)
run_once() { # $1 = users, $2 = rate, $3 = users per side
  local users=$1 rate=$2 per_side=$3
  stop "$bridge_pid"; stop "$kam_pid"; stop "$sim_pid"; bridge_pid= kam_pid= sim_pid=
  tenant_file "$users" "$tmp/tenant.json"
  "$BIN" sim --listen "127.0.0.1:$HTTP_PORT" --no-tls --tenant "$tmp/tenant.json" --json \
    >"$tmp/sim.json" 2>"$tmp/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 300); do
    grep -q '}' "$tmp/sim.json" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$tmp/sim.err" >&2; exit 1; }
    sleep 0.2
  done
  local key http tid
  key=$(jq -r .adminKey "$tmp/sim.json"); http=$(jq -r .http "$tmp/sim.json")
  tid=$(jq -r .tenantId "$tmp/sim.json")
  printf 'bench-secret' >"$tmp/secret"; printf 'observer-secret' >"$tmp/observer.secret"
  chmod 600 "$tmp/secret" "$tmp/observer.secret"
  start_kamailio
  rm -f "$tmp/store.db" "$tmp/presence-status.json"
  # the key the store seals reader tokens with (used in MODE=notify; harmless otherwise)
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/store.key" && echo >>"$tmp/store.key")
  cat >"$tmp/pbx365.toml" <<EOF
[store]
url = "sqlite://$tmp/store.db"
key_file = "store.key"

[[site]]
name = "bench"

[site.tenant]
tenant_id = "$tid"
client_id = "11111111-2222-4333-8444-555555555555"
client_secret_file = "secret"
authority_url = "$http"
graph_url = "$http/v1.0"

[site.dialling]
country = "DE"

[site.users]
group_id = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"

[site.extensions]
first_number = 10000
length = 5

[site.presence]
sip_server = "127.0.0.1:$SIP_PORT"
sip_domain = "127.0.0.1"
username = "bridge"
password_file = "bridge.pw"
poll_seconds = $POLL_SECONDS
status_file = "$tmp/presence-status.json"
EOF
  if [ "$MODE" = notify ]; then
    cat >>"$tmp/pbx365.toml" <<EOF

[site.presence.notifications]
public_url = "http://127.0.0.1:$NOTIFY_PORT"
listen = "127.0.0.1:$NOTIFY_PORT"
reader_client_id = "33333333-2222-4333-8444-555555555555"
EOF
  fi
  "$BIN" sync --config "$tmp/pbx365.toml" --source users >/dev/null 2>"$tmp/sync.err" ||
    { cat "$tmp/sync.err" >&2; exit 1; }
  local readers=0
  if [ "$MODE" = notify ]; then
    readers=$(((users + 649) / 650))
    add_readers "$readers" "$http" "$key"
  fi
  PBX365_LOG=warn "$BIN" presence run --config "$tmp/pbx365.toml" 2>"$tmp/bridge.err" &
  bridge_pid=$!
  local t0=$SECONDS
  until [ -f "$tmp/presence-status.json" ] &&
        [ "$(jq '[.users[] | select(.watching | not)] | length' "$tmp/presence-status.json" 2>/dev/null)" = 0 ]; do
    kill -0 "$bridge_pid" 2>/dev/null || { cat "$tmp/bridge.err" >&2; exit 1; }
    [ $((SECONDS - t0)) -lt 600 ] || { echo "the bridge did not watch every extension in 600 s" >&2; exit 1; }
    sleep 1
  done
  echo "startup_watching_all_s=$((SECONDS - t0))"
  if [ "$MODE" = notify ]; then
    # every reader's subscription live (bounded)
    until [ "$(jq '.subscriptions | length' "$tmp/presence-status.json" 2>/dev/null)" = "$readers" ]; do
      kill -0 "$bridge_pid" 2>/dev/null || { cat "$tmp/bridge.err" >&2; exit 1; }
      [ $((SECONDS - t0)) -lt 600 ] || { echo "the bridge did not subscribe with every reader in 600 s" >&2; exit 1; }
      sleep 1
    done
    echo "startup_subscribed_s=$((SECONDS - t0)) (readers=$readers)"
  fi
  echo "kamailio_db_locked_at_startup=$(grep -c 'database is locked' "$tmp/kam/kamailio.log" || true)"
  local tck cpu0 cpu1
  tck=$(getconf CLK_TCK)
  cpu0=$(awk '{print $14 + $15}' "/proc/$bridge_pid/stat")
  "$LOAD" --sim "$http" --sim-key "$key" --tenant "$tid" --sip "127.0.0.1:$SIP_PORT" \
    --domain 127.0.0.1 --status-file "$tmp/presence-status.json" --rate "$rate" \
    --duration "$DURATION" --users-per-side "$per_side" \
    --phone-password-file "$tmp/bridge.pw" --watcher-password-file "$tmp/watcher.pw" \
    --observer-client-id 22222222-2222-4333-8444-555555555555 \
    --observer-secret-file "$tmp/observer.secret"
  cpu1=$(awk '{print $14 + $15}' "/proc/$bridge_pid/stat")
  echo "bridge_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$tck" 'BEGIN{printf "%.1f", (b-a)/t}')"
  echo "bridge_peak_rss_mb=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$bridge_pid/status")"
  echo "latched=$(jq '[.users[] | select(.latched_at_ms != null)] | length' "$tmp/presence-status.json")"
  echo "bridge_log_warnings=$(grep -c -i 'warn\|error' "$tmp/bridge.err" || true)"
  grep -i 'warn\|error' "$tmp/bridge.err" | head -3 >&2 || true
  echo "load_average_1min=$(cut -d' ' -f1 /proc/loadavg)"
}

echo "== presence bench ($MODE): $USERS users, $RATE changes/s each way, ${DURATION}s, poll every ${POLL_SECONDS}s" >&2
run_once "$USERS" "$RATE" "$PER_SIDE" >"$tmp/main.txt"
echo "== reference: $REF_USERS users, $REF_RATE changes/s each way" >&2
run_once "$REF_USERS" "$REF_RATE" $((REF_USERS / 2)) >"$tmp/ref.txt"

# side by side: every key=value (or "name n= p50= ...") line of both runs
printf '%-36s %-44s %s\n' "figure" "bench ($USERS users, $RATE/s)" "reference ($REF_USERS users, $REF_RATE/s)"
paste -d'|' "$tmp/main.txt" "$tmp/ref.txt" | while IFS='|' read -r a b; do
  name=${a%%[ =]*}
  printf '%-36s %-44s %s\n' "$name" "${a#"$name"}" "${b#"$name"}"
done
echo "goals: p95 <= 1000 ms each way (bridge_added for Teams -> PBX, pbx_to_teams), graph writes per PBX change <= 1 (+ keep-alives), no 429 under the 10,000/30 s reading"
