#!/usr/bin/env bash
# Projections as data from outside (issue 15, the parts this build has): `reproj projection validate`
# checks spec files without a database; `serve --projections-dir` registers them at start, so cars v3
# (a spec) is rebuilt online from the C++ v2 and a new projection (accounts) is served from a spec
# alone, appends checked against what it requires; a file clashing with a compiled-in version stops
# the start naming it. Needs DATABASE_URL (scripts/test sets it).
set -euo pipefail
bin=$1
src=$2
source "$(dirname "$0")/../support/throwaway_db.sh" specs
dir=$(mktemp -d)
trap 'cleanup; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$log"; exit 1; }

# 1. validate
"$bin" projection validate "$src/examples/specs/cars_v3.json" "$src/examples/specs/accounts_v1.json" >/dev/null ||
  fail "the shipped specs do not validate"
sed 's/"bigint"/"biginteger"/' "$src/examples/specs/accounts_v1.json" >"$dir/bad.json.txt"
out=$("$bin" projection validate "$dir/bad.json.txt" || true)
echo "$out" | grep -q '/tables/accounts/columns/movements: the type must be one of' || fail "validate printed: $out"
"$bin" projection validate "$dir/bad.json.txt" >/dev/null && fail "validate exited 0 on a bad spec"

# 2. serve with cars v3 and accounts v1 from files
cp "$src/examples/specs/cars_v3.json" "$src/examples/specs/accounts_v1.json" "$dir/"
DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --admin-token t --projections-dir "$dir" \
  --initial-version cars=2 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do base=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
[ -n "$base" ] || fail "server did not start"
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer t' -X POST "$base/streams/$1/events" -d "{\"expected_version\": \"any\", \"events\": [$2]}"; }
[ "$(post c1 '{"type": "car.created", "data": {"by": "Ann", "color": "red"}}')" = 201 ] || fail "append car.created"
[ "$(post c1 '{"type": "car.repainted", "data": {"color": "blue"}}')" = 201 ] || fail "append repaint"
[ "$(post c1 '{"type": "car.repainted", "data": {"color": "green"}}')" = 201 ] || fail "append repaint"
[ "$(post a1 '{"type": "account.opened", "data": {"owner": "Bo"}}')" = 201 ] || fail "append account.opened"
[ "$(post a1 '{"type": "account.credited", "data": {"amount": 100}}, {"type": "account.debited", "data": {"amount": 30}}')" = 201 ] ||
  fail "append credit and debit"
code=$(post a1 '{"type": "account.credited", "data": {"amount": "ten"}}')
[ "$code" = 422 ] || fail "an amount that is not an integer answered $code, not 422"
account=$(curl -s "$base/accounts/a1")
echo "$account" | grep -q '"balance":70' || fail "accounts/a1 is $account"
echo "$account" | grep -q '"movements":2' || fail "accounts/a1 is $account"

rebuild=$(curl -s -X POST -H 'Authorization: Bearer t' "$base/admin/projections/cars/rebuild" -d '{"version": 3}')
id=$(echo "$rebuild" | grep -o '"rebuild_id":[0-9]*' | cut -d: -f2)
[ -n "$id" ] || fail "rebuild to the v3 spec: $rebuild"
state=""
for _ in $(seq 1 200); do
  state=$(curl -s -H 'Authorization: Bearer t' "$base/admin/rebuilds/$id" | grep -o '"state":"[a-z_]*"' | cut -d'"' -f4)
  [ "$state" = done ] && break
  sleep 0.1
done
[ "$state" = done ] || fail "the rebuild to v3 ended $state"
car=$(curl -s -D "$dir/headers" "$base/cars/c1")
echo "$car" | grep -q '"repaints":2' || fail "cars/c1 after the swap is $car"
grep -qi '^x-projection-version: 3' "$dir/headers" || fail "not served by v3: $(cat "$dir/headers")"
kill -TERM "$pid"; wait "$pid" || true; pid=""

# 3. a file clashing with a compiled-in version stops the start, naming it
cp "$src/projections/specs/customers_v1.json" "$dir/"
if DATABASE_URL="$db_url" "$bin" status --projections-dir "$dir" >"$log" 2>&1; then fail "a clashing spec was accepted"; fi
grep -q "customers_v1.json: customers version 1 is already registered" "$log" || fail "the error does not name the file"
echo "PASS: specs validated, registered from a directory, served, rebuilt to and refused on a clash"
