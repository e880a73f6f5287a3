#!/usr/bin/env bash
# Time travel from the command line (issue 41), the README's walk through the demo: cars v4 (v3
# keeping history) applied and rebuilt to from the whole log, then `reproj history` shows that
# hrxs21 named its buyer Bob as of the sale (position 5) and Charlie as of the rename (6), with the
# event that made each value. Straight against the database; needs DATABASE_URL.
set -euo pipefail
bin=$1
src=$2
source "$(dirname "$0")/../support/throwaway_db.sh" history
fail() { echo "FAIL: $*"; exit 1; }
r() { DATABASE_URL="$db_url" "$bin" "$@"; }
r import "$src/scripts/demo_events.ndjson" --initial-version cars=1 >/dev/null 2>&1 || fail "import"
r projection apply "$src/examples/specs/cars_v4.json" --rebuild >/dev/null 2>&1 || fail "apply cars v4 --rebuild"
[ "$(psql -tA "$db_url" -c "SELECT active_version FROM reproj.projections WHERE name = 'cars'")" = 4 ] || fail "not at v4"
bob=$(r history cars hrxs21 --as-of 5 2>/dev/null) || fail "history --as-of 5: $bob"
echo "$bob" | grep -q '"customer_name": "Bob"' || fail "as of the sale the buyer was Bob: $bob"
charlie=$(r history cars hrxs21 --as-of 6 2>/dev/null) || fail "history --as-of 6: $charlie"
echo "$charlie" | grep -q '"customer_name": "Charlie"' || fail "as of the rename the buyer was Charlie: $charlie"
versions=$(r history cars hrxs21 2>/dev/null) || fail "history: $versions"
echo "$versions" | tr -d ' \n' | grep -q '"event":{"event_id":"k2lq9x","position":6,' || fail "the rename made the newest: $versions"
echo "$versions" | tr -d ' \n' | grep -q '"changed":{"customer_name":{"new":"Charlie","old":"Bob"}}' || fail "changed: $versions"
echo "$versions" | grep -q '"type": "car.sold"' || fail "the sale is a version: $versions"
r history cars no-such-car >/dev/null 2>&1 && fail "a car that never existed has a history"
r history cars hrxs21 --as-of 999 >/dev/null 2>&1 && fail "past the tail answered"
echo "PASS: reproj history shows Bob as of the sale, Charlie as of the rename, and the events behind them"
