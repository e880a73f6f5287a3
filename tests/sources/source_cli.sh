#!/usr/bin/env bash
# Sources from the command line and from outside (issue 38): `reproj source prepare` gives a table
# without a transaction id column one (printed first; --dry-run changes nothing), `source apply`
# deploys it through a server, `list`/`show`/`pause`/`resume` work with --server and against the
# database, and a source whose database is unreachable says reconnecting while the server serves.
#   source_cli.sh REPROJ_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
source "$here/../support/throwaway_db.sh" source_cli
source "$here/../support/server_base.sh"
doc=$(mktemp)
trap 'cleanup; rm -f "$doc"' EXIT
fail() { echo "FAIL: $*"; tail -30 "$log"; exit 1; }

psql -q "$db_url" -c "CREATE TABLE orders_log (id bigserial PRIMARY KEY, stream text NOT NULL, kind text NOT NULL, body jsonb NOT NULL)"
psql -q "$db_url" -c "INSERT INTO orders_log (stream, kind, body) VALUES ('car-a', 'car.created', '{\"by\": \"Ann\", \"color\": \"red\"}')"
cat >"$doc" <<'JSON'
{"kind": "postgres_table", "table": "public.orders_log", "position": "id", "order": {"xid": "reproj_xid"},
 "mapping": {"stream_id": "$col.stream", "type": "$col.kind", "data": "$col.body"}, "sync_reads": true}
JSON

DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --admin-token cli-token >"$log" 2>&1 &
pid=$!
base=$(server_base "$log") || fail "server did not start"
server=(--server "$base" --token cli-token)

# Without the column the document is refused, naming the way out.
out=$("$bin" source apply app "$doc" "${server[@]}" 2>&1) && fail "applied without the xid column: $out"
grep -q 'reproj source prepare' <<<"$out" || fail "the 422 does not name prepare: $out"

dry=$(DATABASE_URL="$db_url" "$bin" source prepare app "$doc" --dry-run)
grep -q 'ADD COLUMN reproj_xid xid8 NOT NULL DEFAULT pg_current_xact_id()' <<<"$dry" || fail "dry run printed: $dry"
[ "$(psql -qtA "$db_url" -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders_log'::regclass AND attname = 'reproj_xid'")" = 0 ] \
  || fail "--dry-run changed the table"
DATABASE_URL="$db_url" "$bin" source prepare app "$doc" >/dev/null
"$bin" source apply app "$doc" "${server[@]}" | grep -q '"name": "app"' || fail "apply after prepare"

# The row that predates the column is ingested first; a new one after it.
psql -q "$db_url" -c "INSERT INTO orders_log (stream, kind, body) VALUES ('car-a', 'car.repainted', '{\"color\": \"blue\"}')"
[ "$(curl -s "$base/cars/car-a" | grep -o '"color":"[a-z]*"')" = '"color":"blue"' ] || fail "car-a after a sync read: $(curl -s "$base/cars/car-a")"

DATABASE_URL="$db_url" "$bin" source list | grep -q '"name": "app"' || fail "source list against the database"
"$bin" source pause app "${server[@]}" | grep -q '"state": "paused"' || fail "pause"
"$bin" source resume app "${server[@]}" | grep -q '"paused": false' || fail "resume"
"$bin" source show app "${server[@]}" | grep -q '"ingested": 2' || fail "show: $("$bin" source show app "${server[@]}")"

# A source on a database that does not answer: stored, reconnecting with its error, the server serves.
sed 's|"kind"|"url": "postgresql://nobody@127.0.0.1:1/nowhere", "kind"|; s|public.orders_log|public.elsewhere|; s|"sync_reads": true|"sync_reads": false|' "$doc" >"$doc.away"
"$bin" source apply away "$doc.away" "${server[@]}" >/dev/null || fail "an unreachable source was refused"
rm -f "$doc.away"
for _ in $(seq 1 100); do
  state=$("$bin" source show away "${server[@]}" | grep -o '"state": "[a-z_]*"' || true)
  [ "$state" = '"state": "reconnecting"' ] && break
  sleep 0.1
done
[ "$state" = '"state": "reconnecting"' ] || fail "the unreachable source is $state"
"$bin" source show away "${server[@]}" | grep -q '"last_error": "cannot connect' || fail "no last_error"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/cars/car-a")" = 200 ] || fail "reads fail beside an unreachable source"
echo "source cli: prepare, apply, list, pause, resume, show, and an unreachable source"
