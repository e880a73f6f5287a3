#!/usr/bin/env bash
# Verify before promote from the command line (issue 16), straight against the database: a manual
# rebuild ends at `ready` printing the diff summary (exactly the car whose buyer was renamed), `reproj
# diff` prints the report, `reproj promote` runs the promote here and ends done. Needs DATABASE_URL.
set -euo pipefail
bin=$1
src=$2
source "$(dirname "$0")/../support/throwaway_db.sh" verify
fail() { echo "FAIL: $*"; exit 1; }
r() { DATABASE_URL="$db_url" "$bin" "$@"; }  # (the cleanup needs the outer DATABASE_URL)
r import "$src/scripts/demo_events.ndjson" --initial-version cars=1 >/dev/null 2>&1 || fail "import"
out=$(r rebuild cars --version 2 --promote manual 2>/dev/null) || fail "rebuild: $out"
echo "$out" | grep -q '"state":"ready"' || fail "the rebuild did not end at ready: $out"
echo "$out" | grep -q 'cars: 1 changed (customer_name 1), 0 added, 0 removed' || fail "no diff summary: $out"
id=$(echo "$out" | grep -o '"rebuild_id":[0-9]*' | head -1 | cut -d: -f2)
diff=$(r diff "$id" 2>/dev/null) || fail "diff: $diff"
echo "$diff" | grep -q '"shadow":"Charlie"' || fail "the diff lacks Bob -> Charlie: $diff"
[ "$(psql -tA "$db_url" -c "SELECT active_version FROM reproj.projections WHERE name = 'cars'")" = 1 ] ||
  fail "a ready rebuild promoted by itself"
done_out=$(r promote "$id" 2>/dev/null) || fail "promote: $done_out"
echo "$done_out" | grep -q '"state":"done"' || fail "promote ended $done_out"
r promote "$id" >/dev/null 2>&1 && fail "a second promote succeeded"
[ "$(psql -tA "$db_url" -c "SELECT active_version FROM reproj.projections WHERE name = 'cars'")" = 2 ] || fail "not promoted"
echo "PASS: manual rebuild ready with its diff, shown, promoted from the CLI"
