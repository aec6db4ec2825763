#!/usr/bin/env bash
# Directory benchmark (issue 4 §5): pbx365 against OpenLDAP slapd and nginx on the same machine,
# the same ENTRIES people in both, the same load client and query sets, hit counts checked.
#
# Prints a side-by-side table with the goals and PASS/MISS per line:
#   - LDAP name-prefix search (Yealink `(|(cn=P*)(sn=P*))`, 40..60 hits each): pbx365 >= 2x
#     slapd's throughput with p99 <= 5 ms;
#   - LDAP number search (`(|(telephoneNumber=N)(mobile=N))`, 1 hit): >= slapd's throughput with
#     p99 <= 1 ms. pbx365 is asked the national form `030 2…` (it matches numbers number-aware);
#     slapd the stored form `+49 30 2…` (telephoneNumberMatch ignores the spaces);
#   - HTTP `/lookup?number=…` under wrk against nginx serving a static file of the same size:
#     >= 0.5x nginx;
#   - pbx365's RSS serving ENTRIES (VmRSS of `pbx365 serve` after the runs): <= 1.5 GB; the
#     peak (VmHWM, which includes the whole store read at start) is printed beside it;
#   - 1,000 changed contacts applied to the index (crates/index/examples/patch_bench.rs, index
#     level: `upsert_contact` x 1000 at full size): <= 100 ms; the service-level refresh through
#     the store's change log (reading the rows back + patching) is printed beside it.
#
# slapd: its own config in a temp dir (mdb, threads = cores, loglevel 0, maxsize for the data,
# eq,sub indexes on cn/sn/givenName/o/telephoneNumber/mobile), loaded with `slapadd -q`, on
# 127.0.0.1:PORT+2. nginx: `-p tmp -c conf`, worker_processes auto, access_log off, on PORT+3.
# Both are stopped at the end. Nothing of the system's slapd/nginx services is used.
#
# Usage: bench/directory/run.sh
#   env: ENTRIES=1000000 CONNECTIONS=8 SECONDS=20 (seconds per measured run) PORT=19389
#        DATA=dir keeps the generated data (store, slapd database, queries) for later runs
#        (prepare.sh); KEEP=1 keeps the temp dir (configs, logs, wrk outputs); BIN_DIR=dir
#        runs the pbx365, ldap_load and patch_bench in dir instead of building (to compare
#        two builds on the same data)
RUN_SECS=$SECONDS # bash's SECONDS holds the caller's value (0 when unset) right at the start
[ "$RUN_SECS" -ge 1 ] 2>/dev/null || RUN_SECS=20
set -euo pipefail
cd "$(dirname "$0")/../.."
ENTRIES=${ENTRIES:-1000000}
CONNECTIONS=${CONNECTIONS:-8}
PORT=${PORT:-19389}
LDAP_PORT=$PORT HTTP_PORT=$((PORT + 1)) SLAPD_PORT=$((PORT + 2)) NGINX_PORT=$((PORT + 3))
CORES=$(nproc)
for tool in python3 slapd slapadd nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install python3 slapd nginx-light wrk curl)" >&2; exit 2; }
done
SLAPD=$(command -v slapd)
if [ -n "${BIN_DIR:-}" ]; then # prebuilt pbx365, ldap_load and patch_bench (A/B of two builds)
  BIN=$BIN_DIR/pbx365 LOAD=$BIN_DIR/ldap_load PATCH=$BIN_DIR/patch_bench
else
  echo "building (release)…" >&2
  cargo build --release --quiet -p pbx365 -p pbx365-ldap -p pbx365-index \
    --bin pbx365 --example ldap_load --example patch_bench
  BIN=$PWD/target/release/pbx365
  LOAD=$PWD/target/release/examples/ldap_load
  PATCH=$PWD/target/release/examples/patch_bench
fi
tmp=$(mktemp -d /tmp/bench-directory.XXXXXX)
pbx_pid= slapd_pid= nginx_pid=
stop() { # pid: TERM, then wait (bounded), then KILL
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  stop "$pbx_pid"; stop "$slapd_pid"; stop "$nginx_pid"
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
wait_port() { # port pid name
  for _ in $(seq 1 6000); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited; see $tmp" >&2; exit 1; }
    sleep 0.1
  done
  echo "$3 did not listen on $1 within 600 s" >&2; exit 1
}
rss_of() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# ---- data: one generator for both servers (kept in DATA between runs) ----
data=${DATA:-$tmp/data}
mkdir -p "$data"
bench/directory/prepare.sh "$data" "$ENTRIES" "$BIN"
cp "$data/store.db" "$tmp/store.db"
cp -r "$data/q" "$tmp/q"
cp "$data/client-secret" "$tmp/client-secret"
cat >"$tmp/pbx365.toml" <<TOML
[store]
url = "sqlite://$tmp/store.db"

[[site]]
name = "bench"

[site.tenant]
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "00000000-0000-0000-0000-000000000002"
client_secret_file = "$tmp/client-secret"

[site.dialling]
country = "DE"
area_code = "30"

[site.users]
group_id = "00000000-0000-0000-0000-000000000003"

[site.extensions]
first_number = 100
length = 3

[site.directory]
anonymous = true

[http]
listen = "127.0.0.1:$HTTP_PORT"
max_concurrent = 1024
rate_per_second = 0

[ldap]
listen = "127.0.0.1:$LDAP_PORT"

[directory]
refresh_interval_secs = 5
TOML

# ---- pbx365 ----
t0=$(date +%s.%N)
RUST_LOG=warn "$BIN" serve --config "$tmp/pbx365.toml" --no-initial-sync >"$tmp/pbx365.out" 2>"$tmp/pbx365.err" &
pbx_pid=$!
wait_port "$LDAP_PORT" "$pbx_pid" "pbx365 serve"
pbx_load_s=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
pbx_rss=$(rss_of "$pbx_pid" VmRSS) pbx_hwm=$(rss_of "$pbx_pid" VmHWM)
echo "pbx365 serving $ENTRIES entries after ${pbx_load_s} s, RSS ${pbx_rss} MB (peak ${pbx_hwm} MB)" >&2

# ---- slapd: the prepared mdb database and tuned config (searches only: used in place) ----
slapadd_s=$(cat "$data/slapadd-seconds")
"$SLAPD" -f "$data/slapd.conf" -h "ldap://127.0.0.1:$SLAPD_PORT/" -d 0 >"$tmp/slapd.log" 2>&1 &
slapd_pid=$!
wait_port "$SLAPD_PORT" "$slapd_pid" slapd
echo "slapd serving (slapadd took ${slapadd_s} s)" >&2

# ---- LDAP: same client, same queries, warm-up then measured ----
ldap_run() { # name url base queries seconds
  local out
  if ! out=$("$LOAD" "$2" "$3" "$4" "$CONNECTIONS" "$5" 2>"$tmp/load-$1.err"); then
    echo "$1: $out" >&2; cat "$tmp/load-$1.err" >&2; exit 1
  fi
  echo "$out"
}
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
PBX_URL="ldap://127.0.0.1:$LDAP_PORT" PBX_BASE="o=bench,dc=pbx365"
SLAPD_URL="ldap://127.0.0.1:$SLAPD_PORT" SLAPD_BASE="ou=people,dc=bench"
for kind in name number; do
  ldap_run "warm-pbx-$kind" "$PBX_URL" "$PBX_BASE" "$tmp/q/$kind.pbx365" 3 >/dev/null
  ldap_run "warm-slapd-$kind" "$SLAPD_URL" "$SLAPD_BASE" "$tmp/q/$kind.slapd" 3 >/dev/null
  declare "pbx_$kind=$(ldap_run "pbx-$kind" "$PBX_URL" "$PBX_BASE" "$tmp/q/$kind.pbx365" "$RUN_SECS")"
  declare "slapd_$kind=$(ldap_run "slapd-$kind" "$SLAPD_URL" "$SLAPD_BASE" "$tmp/q/$kind.slapd" "$RUN_SECS")"
  p="pbx_$kind" s="slapd_$kind"
  echo "LDAP $kind: pbx365 ${!p}" >&2
  echo "LDAP $kind: slapd  ${!s}" >&2
done
stop "$slapd_pid"; slapd_pid=

# ---- HTTP: wrk against /lookup and against nginx with a file of the answer's size ----
first=$(head -n1 "$tmp/q/urls.txt")
curl -sf "http://127.0.0.1:$HTTP_PORT$first" -o "$tmp/answer.txt" || { echo "GET $first failed" >&2; exit 1; }
[ -s "$tmp/answer.txt" ] || { echo "GET $first answered an empty name" >&2; exit 1; }
mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs"
cp "$tmp/answer.txt" "$tmp/nginx/www/lookup.txt"
# nginx's workers run as an unprivileged user: let them reach the file (the rest stays private).
chmod 711 "$tmp" "$tmp/nginx"
chmod 755 "$tmp/nginx/www"
chmod 644 "$tmp/nginx/www/lookup.txt"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $tmp/nginx/www;
    default_type text/plain;
  }
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx/start.err" &
nginx_pid=$!
wait_port "$NGINX_PORT" "$nginx_pid" nginx
awk 'BEGIN { for (i = 0; i < 1000; i++) print "/lookup.txt" }' >"$tmp/nginx-urls.txt"
cat >"$tmp/urls.lua" <<'LUA'
-- Cycles through the paths in the file named by the URLS environment variable.
local paths, i = {}, 0
for line in io.lines(os.getenv("URLS")) do paths[#paths + 1] = line end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
wrk_run() { # name base urls
  local out
  out=$(URLS="$3" wrk -t1 -c"$CONNECTIONS" -d"${RUN_SECS}s" --latency -s "$tmp/urls.lua" "$2" 2>&1)
  echo "$out" >"$tmp/wrk-$1.txt"
  if echo "$out" | grep -q "Non-2xx"; then echo "$1: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
  echo "$out" | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}
URLS="$tmp/q/urls.txt" wrk -t1 -c"$CONNECTIONS" -d3s -s "$tmp/urls.lua" "http://127.0.0.1:$HTTP_PORT" >/dev/null
pbx_http=$(wrk_run pbx "http://127.0.0.1:$HTTP_PORT" "$tmp/q/urls.txt")
nginx_http=$(wrk_run nginx "http://127.0.0.1:$NGINX_PORT" "$tmp/nginx-urls.txt")
pbx_http_p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk-pbx.txt")
nginx_http_p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk-nginx.txt")
stop "$nginx_pid"; nginx_pid=
pbx_rss_end=$(rss_of "$pbx_pid" VmRSS) pbx_hwm=$(rss_of "$pbx_pid" VmHWM)
stop "$pbx_pid"; pbx_pid=

# ---- 1,000 changes ----
echo "patch_bench…" >&2
patch=$("$PATCH" "sqlite://$tmp/store.db" bench 1000 2>"$tmp/patch.err") || { cat "$tmp/patch.err" >&2; exit 1; }
kv() { echo "$patch" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# ---- table ----
verdict() { awk -v c="$1" 'BEGIN { print (c ? "PASS" : "MISS") }'; }
ps_=$(field "$pbx_name" per_s) ss_=$(field "$slapd_name" per_s)
pp=$(field "$pbx_name" p99_us) sp=$(field "$slapd_name" p99_us)
pn=$(field "$pbx_number" per_s) sn=$(field "$slapd_number" per_s)
pnp=$(field "$pbx_number" p99_us) snp=$(field "$slapd_number" p99_us)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "bench/directory: $ENTRIES entries, $CONNECTIONS connections, ${RUN_SECS} s per run, $CORES cores ($(date -u +%FT%TZ))"
printf '%-34s %16s %16s %10s %-22s %s\n' "measure" "pbx365" "reference" "ratio" "goal" "result"
printf '%-34s %16s %16s %10s %-22s %s\n' "LDAP name search /s" "$ps_" "slapd $ss_" "$(ratio "$ps_" "$ss_")" ">= 2x slapd" \
  "$(verdict "$(awk -v a="$ps_" -v b="$ss_" 'BEGIN { print (a >= 2 * b) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "LDAP name search p99 (ms)" "$(awk -v v="$pp" 'BEGIN{printf "%.2f", v/1000}')" "slapd $(awk -v v="$sp" 'BEGIN{printf "%.2f", v/1000}')" "" "<= 5 ms" \
  "$(verdict "$(awk -v a="$pp" 'BEGIN { print (a <= 5000) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "LDAP number search /s" "$pn" "slapd $sn" "$(ratio "$pn" "$sn")" ">= 1x slapd" \
  "$(verdict "$(awk -v a="$pn" -v b="$sn" 'BEGIN { print (a >= b) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "LDAP number search p99 (ms)" "$(awk -v v="$pnp" 'BEGIN{printf "%.2f", v/1000}')" "slapd $(awk -v v="$snp" 'BEGIN{printf "%.2f", v/1000}')" "" "<= 1 ms" \
  "$(verdict "$(awk -v a="$pnp" 'BEGIN { print (a <= 1000) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "HTTP lookup /s (wrk)" "$pbx_http" "nginx $nginx_http" "$(ratio "$pbx_http" "$nginx_http")" ">= 0.5x nginx" \
  "$(verdict "$(awk -v a="$pbx_http" -v b="$nginx_http" 'BEGIN { print (a >= 0.5 * b) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "HTTP lookup p99" "$pbx_http_p99" "nginx $nginx_http_p99" "" "(shown)" ""
printf '%-34s %16s %16s %10s %-22s %s\n' "pbx365 RSS serving (MB)" "$pbx_rss_end" "" "" "<= 1536 MB" \
  "$(verdict "$(awk -v a="$pbx_rss_end" 'BEGIN { print (a <= 1536) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "pbx365 RSS at start / peak (MB)" "$pbx_rss / $pbx_hwm" "" "" "(shown: the peak holds the store read)" ""
printf '%-34s %16s %16s %10s %-22s %s\n' "1000 changes, index (ms)" "$(kv index_patch_ms)" "" "" "<= 100 ms" \
  "$(verdict "$(awk -v a="$(kv index_patch_ms)" 'BEGIN { print (a <= 100) }')")"
printf '%-34s %16s %16s %10s %-22s %s\n' "1000 changes, store+index (ms)" "$(kv refresh_ms)" "" "" "(shown)" ""
printf '%-34s %16s %16s %10s %-22s %s\n' "start-up to serving (s)" "$pbx_load_s" "slapadd ${slapadd_s}s" "" "(shown)" ""
echo "hit counts: every search on both servers returned the count the generator computed" \
  "(name $(cut -f2 "$tmp/q/name.pbx365" | sort -n | sed -n '1p;$p' | paste -sd- -), number 1)"
