#!/usr/bin/env bash
# reproj behind Debian's PgBouncer, as an operator deploys it (issue 22).
#   session mode:     migrate, import, serve, appends, strong reads, a rebuild (through the server and
#                     in this process), a rollback, status: all through the pooler.
#   transaction mode: migrate, serve, work and rebuild are refused before they touch anything, with
#                     exit status 3 and a message naming the cause and the fix.
# Needs DATABASE_URL (scripts/test sets it) pointing at a trust-auth cluster on 127.0.0.1.
set -euo pipefail
bin=$1
: "${DATABASE_URL:?run through scripts/test}"
command -v pgbouncer >/dev/null || PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || { echo "FAIL: pgbouncer is not installed (scripts/setup installs it)"; exit 1; }
root=$(cd "$(dirname "$0")/../.." && pwd)
pg_port=$(echo "$DATABASE_URL" | sed -E 's#.*:([0-9]+)/.*#\1#')
db_session="reproj_pgb_s_$$" db_tx="reproj_pgb_t_$$"
dir=$(mktemp -d)
chmod 755 "$dir"
pids=()
as_bouncer() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  for f in "$dir"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db_session WITH (FORCE)" -c "DROP DATABASE IF EXISTS $db_tx WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db_session" -c "CREATE DATABASE $db_tx" >/dev/null

# start_bouncer MODE DB -> prints the URL of a pgbouncer in that pool mode in front of DB
start_bouncer() {
  local mode=$1 db=$2 port attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    port=$(( 20000 + RANDOM % 40000 ))
    cat >"$dir/$mode.ini" <<INI
[databases]
reproj = host=127.0.0.1 port=$pg_port dbname=$db user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = $mode
max_client_conn = 500
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/$mode.log
pidfile = $dir/$mode.pid
INI
    chmod 644 "$dir/$mode.ini"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    if as_bouncer pgbouncer -d "$dir/$mode.ini" 2>>"$dir/$mode.start.log"; then
      for _ in $(seq 1 50); do
        psql -q "postgresql://postgres@127.0.0.1:$port/reproj" -c "SELECT 1" >/dev/null 2>&1 && { echo "postgresql://postgres@127.0.0.1:$port/reproj"; return; }
        sleep 0.1
      done
    fi
    [ -f "$dir/$mode.pid" ] && kill "$(cat "$dir/$mode.pid")" 2>/dev/null || true
  done
  fail "could not start pgbouncer in $mode mode"
}

wait_base() {  # wait_base LOG -> the server's base URL
  local base=""
  for _ in $(seq 1 300); do base=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
  [ -n "$base" ] || fail "server did not start"
  echo "$base"
}
name_of() { curl -s "$1/cars/hrxs21" | sed -E 's/.*"customer_name":"?([^",}]*).*/\1/'; }

# ---- session mode: everything works ----
url=$(start_bouncer session "$db_session")
DATABASE_URL=$url "$bin" migrate >"$dir/migrate.log" 2>&1 || fail "migrate through session pooling"
DATABASE_URL=$url "$bin" import "$root/scripts/demo_events.ndjson" --initial-version cars=1 >"$dir/import.log" 2>&1 \
  || fail "import through session pooling"
DATABASE_URL=$url "$bin" serve --listen 127.0.0.1:0 --admin-token t --initial-version cars=1 >"$dir/serve.log" 2>&1 &
pids+=($!)
base=$(wait_base "$dir/serve.log")
for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] || fail "/readyz through session pooling"
[ "$(name_of "$base")" = Bob ] || fail "cars v1 should show Bob, got $(curl -s "$base/cars/hrxs21")"
for i in $(seq 1 20); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer t' -X POST "$base/streams/pgb$i/events" \
    -d '{"expected_version": "no_stream", "events": [{"type": "car.created", "data": {"by": "P", "color": "green"}}]}')
  [ "$code" = 201 ] || fail "append $i answered $code"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/cars/pgb$i")" = 200 ] || fail "strong read of pgb$i"
done
"$bin" rebuild cars --version 2 --server "$base" --token t --follow >"$dir/rebuild.log" 2>&1 || fail "rebuild through the server"
[ "$(name_of "$base")" = Charlie ] || fail "after the rebuild cars should show Charlie, got $(curl -s "$base/cars/hrxs21")"
code=$(curl -s -o "$dir/rollback.json" -w '%{http_code}' -X POST -H 'Authorization: Bearer t' "$base/admin/projections/cars/rollback")
[ "$code" = 200 ] || fail "rollback answered $code: $(cat "$dir/rollback.json")"
[ "$(name_of "$base")" = Bob ] || fail "after the rollback cars should show Bob again"
# A rebuild run by the CLI itself: its session advisory lock and prepared statements go through the pooler.
DATABASE_URL=$url "$bin" rebuild cars --version 2 >"$dir/rebuild-cli.log" 2>&1 || fail "rebuild in the CLI process"
[ "$(name_of "$base")" = Charlie ] || fail "after the CLI rebuild cars should show Charlie"
[ "$(curl -s "$base/cars/pgb20" | grep -c green)" = 1 ] || fail "pgb20 lost across the swaps"
DATABASE_URL=$url "$bin" status >"$dir/status.log" 2>&1 || fail "status through session pooling"

# ---- transaction mode: refused at start, with the cause and the fix ----
url=$(start_bouncer transaction "$db_tx")
for cmd in "migrate" "serve --listen 127.0.0.1:0 --admin-token t" "work" "rebuild cars --version 2"; do
  set +e
  # shellcheck disable=SC2086  # the command and its flags are words
  DATABASE_URL=$url timeout 60 "$bin" $cmd >"$dir/tx.log" 2>&1 </dev/null
  status=$?
  set -e
  [ "$status" -eq 3 ] || fail "'reproj $cmd' through transaction pooling exited $status, expected 3: $(cat "$dir/tx.log")"
  grep -q "pool_mode = session" "$dir/tx.log" || fail "'reproj $cmd': the message does not name the fix: $(cat "$dir/tx.log")"
  if grep -q "serving on" "$dir/tx.log"; then fail "'reproj $cmd' served before refusing"; fi
done
# Refused before migrating: the database behind the pooler has no reproj schema.
[ "$(psql -At "${DATABASE_URL%/*}/$db_tx" -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'reproj'")" = 0 ] \
  || fail "a refused start left a reproj schema behind"
echo "pgbouncer passed: session mode serves, rebuilds and rolls back; transaction mode is refused with exit 3"
echo "  refusal: $(cat "$dir/tx.log")"
