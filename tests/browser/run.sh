#!/usr/bin/env bash
# Browser test of the dashboard: a fresh database on the throwaway cluster, a real `reproj serve`,
# Debian's chromium driven by playwright-core. Needs DATABASE_URL (scripts/test sets it).
#   run.sh REPROJ_BINARY SCREENSHOT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
shots=$2
source "$here/../support/throwaway_db.sh" browser
source "$here/../support/server_base.sh"
url=$db_url
# A standby of the throwaway cluster: the page's "Read replicas" panel shows it serving reads.
replica_env=$("$here/../../scripts/pg" replica start "${REPROJ_PGDIR:?run through scripts/test}")
replica_dir=$(sed -n 's/^export REPROJ_REPLICA_DIR=//p' <<<"$replica_env")
replica_url=$(sed -n 's/^export REPROJ_REPLICA_URL=//p' <<<"$replica_env")
trap 'cleanup; rm -f "${events:-}"; "$here/../../scripts/pg" stop "$replica_dir"' EXIT

events=$(mktemp)
"$bin" generate --events 60000 --seed 3 >"$events"
DATABASE_URL="$url" "$bin" import "$events" --initial-version cars=1 >/dev/null
# A poison event as raw SQL would write it (the API refuses it): quarantined under the skip policy.
psql -q "$url" -c "INSERT INTO reproj.events (event_id, stream_id, stream_version, event_type, data)
                   VALUES ('poison-1', 'poison-car', 1, 'car.sold', '{}')" >/dev/null
# Small batches: the rebuild takes a few seconds, so the progress bar can be seen moving; charts
# sampled every 250 ms draw that rebuild with several points.
REPROJ_REBUILD_BATCH=1000 REPROJ_SERIES_INTERVAL_MS=250 DATABASE_URL="$url" "$bin" serve --listen 127.0.0.1:0 --admin-token browser-token \
  --initial-version cars=1 --replica-url "${replica_url%/*}/${url##*/}" >"$log" 2>&1 &
pid=$!
base=$(server_base "$log") || { cat "$log"; echo "server did not start"; exit 1; }
mkdir -p "$shots"
REPROJ_URL="$base" REPROJ_TOKEN=browser-token REPROJ_SHOTS="$shots" node "$here/dashboard.test.mjs"
