#!/usr/bin/env bash
# A real peer (issue 38): Emmett's PostgreSQL event store (npm, written by others) writes with 8
# concurrent writers into its own emt_messages while reproj ingests them as a source with
# sync_reads, and the reproj server is killed -9 and restarted meanwhile. Every Emmett message is in
# reproj.events exactly once, in Emmett's own read order (transaction_id, global_position); every
# strong read after an append reflected it; the served cars equal the writers' own fold.
#   emmett_peer.sh REPROJ_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
peer="$here/../peer/emmett"
source "$here/../support/throwaway_db.sh" emmett
out=$(mktemp)
trap 'cleanup; rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; tail -30 "$log"; exit 1; }

if [ ! -d "$peer/node_modules/@event-driven-io/emmett-postgresql" ]; then
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
fi
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
base="http://127.0.0.1:$port"
token=peer-token
auth=(-H "Authorization: Bearer $token")

start_server() {
  REPROJ_SOURCE_POLL_MS=10 DATABASE_URL="$db_url" "$bin" serve --listen "127.0.0.1:$port" --admin-token "$token" >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "the server did not come up"
}

node "$peer/writer.mjs" "$db_url" "$base" 0 0 --once  # Emmett's schema, with one event
start_server
status=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -X PUT "$base/admin/sources/app" -d '{
  "kind": "postgres_table", "table": "public.emt_messages", "position": "global_position",
  "order": {"xid": "transaction_id"},
  "mapping": {"stream_id": "$col.stream_id", "type": "$col.message_type", "data": "$col.message_data",
              "metadata": "$col.message_metadata", "event_id": "$col.message_id"},
  "start": "beginning", "sync_reads": true, "poison": "skip", "required_for_ready": false}')
[ "$status" = 201 ] || fail "PUT /admin/sources/app answered $status"

# The kill -9 loop runs beside the writers: the ingesting process dies at any moment.
(
  for _ in 1 2 3; do
    sleep 2
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    start_server
  done
  echo "$pid" >"$out.pid"
) &
killer=$!
node "$peer/writer.mjs" "$db_url" "$base" 8 150 >"$out"
wait "$killer"
pid=$(cat "$out.pid"); rm -f "$out.pid"

messages=$(psql -qtA "$db_url" -c "SELECT count(*) FROM emt_messages")
for _ in $(seq 1 600); do
  ingested=$(psql -qtA "$db_url" -c "SELECT ingested FROM reproj.sources WHERE name = 'app'")
  [ "$ingested" -ge "$messages" ] && break
  sleep 0.1
done
[ "$ingested" = "$messages" ] || fail "ingested $ingested of $messages Emmett messages"

checks=$(psql -qtA "$db_url" -c "
  SELECT (SELECT count(*) FROM emt_messages m WHERE NOT EXISTS (SELECT 1 FROM reproj.events e WHERE e.event_id = m.message_id))
  || ' ' || (SELECT count(*) FROM (SELECT event_id FROM reproj.events GROUP BY 1 HAVING count(*) > 1) d)
  || ' ' || (SELECT count(*) FROM reproj.events WHERE metadata->>'source' = 'app')
  || ' ' || (SELECT count(*) FROM (
       SELECT m.transaction_id t, m.global_position p, lag(m.transaction_id) OVER w pt, lag(m.global_position) OVER w pp
       FROM reproj.events e JOIN emt_messages m ON m.message_id = e.event_id WINDOW w AS (ORDER BY e.global_position)) x
       WHERE (t, p) < (pt, pp))")
read -r missing doubled from_source disorder <<<"$checks"
[ "$missing" = 0 ] || fail "$missing Emmett messages never reached the log"
[ "$doubled" = 0 ] || fail "$doubled event ids appear twice"
[ "$from_source" = "$messages" ] || fail "$from_source events from the source for $messages messages"
[ "$disorder" = 0 ] || fail "$disorder events out of Emmett's (transaction_id, global_position) order"

# Read your writes held, and the served cars equal the writers' own fold.
node -e '
  const out = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (out.staleCount > 0) { console.log("FAIL: stale reads", JSON.stringify(out.staleReads)); process.exit(1); }
  (async () => {
    let checked = 0;
    for (const [id, car] of Object.entries(out.cars)) {
      const res = await fetch(process.argv[2] + "/cars/" + id);
      const got = await res.json();
      if (res.status !== 200 || got.color !== car.color || got.creator !== car.creator) {
        console.log("FAIL: car", id, "served", JSON.stringify(got), "folded", JSON.stringify(car)); process.exit(1);
      }
      checked++;
    }
    console.log(`emmett peer: ${out.appended} appends, ${out.reads} reads after writes, ${checked} cars equal the fold`);
  })();' "$out" "$base"
echo "emmett peer: $messages messages ingested exactly once across 3 kill -9, in Emmett's order"
