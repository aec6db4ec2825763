#!/usr/bin/env bash
# Prepares the data of bench/directory/run.sh in DIR, once per entry count:
#   DIR/store.db    a pbx365 SQLite store (created by BIN's migrations, site "bench") holding
#                   ENTRIES company-directory contacts — copied, never used in place;
#   DIR/slapd-db    the same people loaded into an mdb database with `slapadd -q`;
#   DIR/slapd.conf  the tuned slapd configuration the run starts slapd with (searches only,
#                   so the database is used in place);
#   DIR/q/          the query sets with their expected hit counts (see gen.py).
# Usage: prepare.sh DIR ENTRIES BIN
set -euo pipefail
dir=$1 entries=$2 bin=$3
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/ready-$entries" ] && { echo "reusing the data in $dir ($entries entries)" >&2; exit 0; }
rm -rf "$dir/store.db" "$dir/store.db-wal" "$dir/store.db-shm" "$dir/slapd-db" "$dir/q" "$dir"/ready-*
mkdir -p "$dir/q" "$dir/slapd-db"
# No Graph call is made (serve runs with --no-initial-sync), but a site needs a credential.
(umask 077 && echo "unused: the bench never syncs" >"$dir/client-secret")
cat >"$dir/prepare.toml" <<TOML
[store]
url = "sqlite://$dir/store.db"

[[site]]
name = "bench"

[site.tenant]
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "00000000-0000-0000-0000-000000000002"
client_secret_file = "$dir/client-secret"

[site.dialling]
country = "DE"
area_code = "30"

[site.users]
group_id = "00000000-0000-0000-0000-000000000003"

[site.extensions]
first_number = 100
length = 3
TOML
# Any directory command runs the migrations and creates the site's row.
"$bin" lookup --config "$dir/prepare.toml" "030 12345678" >/dev/null 2>"$dir/prepare.err" || true
[ -s "$dir/store.db" ] || { cat "$dir/prepare.err" >&2; exit 1; }
echo "generating $entries entries…" >&2
python3 "$here/gen.py" "$entries" "$dir/store.db" "$dir/data.ldif" "$dir/q"
cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
threads $(nproc)
loglevel 0
sizelimit unlimited
database mdb
maxsize 17179869184
suffix "dc=bench"
rootdn "cn=admin,dc=bench"
directory $dir/slapd-db
index objectClass eq
index cn,sn,givenName,o eq,sub
index telephoneNumber,mobile eq,sub
CONF
echo "slapadd -q ($entries entries)…" >&2
start=$(date +%s)
slapadd -q -f "$dir/slapd.conf" -l "$dir/data.ldif" 2>"$dir/slapadd.err" || { tail "$dir/slapadd.err" >&2; exit 1; }
echo "$(($(date +%s) - start))" >"$dir/slapadd-seconds"
rm -f "$dir/data.ldif"
touch "$dir/ready-$entries"
