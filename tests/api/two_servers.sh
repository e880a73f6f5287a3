#!/usr/bin/env bash
# Two servers on one database (issue 15): a spec deployed on one (with `reproj projection apply
# --server`) is known to the other within a second (NOTIFY), whose appends are checked against it,
# whose reads serve it once built, and which rebuilds a later version deployed on the first; a spec
# file that clashes with a stored version stops a start naming the file. Needs DATABASE_URL.
set -euo pipefail
bin=$1
src=$2
source "$(dirname "$0")/../support/throwaway_db.sh" two
dir=$(mktemp -d)
log_b=$(mktemp)
pid_b=""
trap 'cleanup; [ -n "$pid_b" ] && kill -9 "$pid_b" 2>/dev/null; rm -rf "$dir" "$log_b"' EXIT
fail() { echo "FAIL: $*"; echo "--- server A"; tail -15 "$log"; echo "--- server B"; tail -15 "$log_b"; exit 1; }

start() {  # start LOG -> the server's base URL on stdout; its pid in $started
  DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --admin-token t >"$1" 2>&1 &
  started=$!
  for _ in $(seq 1 100); do
    local url
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.1
  done
}
start "$log" >"$dir/a"; pid=$started; a=$(cat "$dir/a")
start "$log_b" >"$dir/b"; pid_b=$started; b=$(cat "$dir/b")
[ -n "$a" ] && [ -n "$b" ] || fail "the servers did not start"
admin() { curl -s -H 'Authorization: Bearer t' "$@"; }
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer t' -X POST "$1/streams/$2/events" -d "{\"expected_version\": \"any\", \"events\": [$3]}"; }

[ "$(post "$b" a1 '{"type": "account.opened", "data": {"owner": "Bo"}}')" = 201 ] || fail "append before the deploy"
# 1. deploy on A with the CLI; B learns it within a second
out=$("$bin" projection apply "$src/examples/specs/accounts_v1.json" --server "$a" --token t) || fail "apply: $out"
echo "$out" | grep -q '"created":true' || fail "apply printed $out"
id=$(echo "$out" | grep -o '"rebuild_id":[0-9]*' | cut -d: -f2)
[ -n "$id" ] || fail "a new projection started no first build: $out"
t0=$(date +%s%N)
code=""
for _ in $(seq 1 40); do
  code=$(admin -o /dev/null -w '%{http_code}' "$b/admin/projections/accounts/versions/1")
  [ "$code" = 200 ] && break
  sleep 0.025
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$code" = 200 ] || fail "server B did not learn the spec within a second ($code)"
echo "server B knew accounts v1 after ${ms} ms"
code=$(post "$b" a1 '{"type": "account.credited", "data": {"amount": "ten"}}')
[ "$code" = 422 ] || fail "B accepted an amount that is not a number ($code): it does not check the new spec"
[ "$(post "$b" a1 '{"type": "account.credited", "data": {"amount": 100.25}}')" = 201 ] || fail "append on B"

# 2. the first build (run by either server) completes; B serves it
state=""
for _ in $(seq 1 200); do
  state=$(admin "$a/admin/rebuilds/$id" | grep -o '"state":"[a-z_]*"' | cut -d'"' -f4)
  [ "$state" = done ] && break
  sleep 0.1
done
[ "$state" = done ] || fail "the first build ended $state"
account=$(curl -s "$b/accounts/a1")
echo "$account" | grep -q '"balance":100.25' || fail "accounts/a1 on B is $account"

# 3. v2 deployed on A, rebuilt through B
sed 's/"version": 1/"version": 2/; s/"description": "[^"]*"/"description": "v2"/' "$src/examples/specs/accounts_v1.json" >"$dir/accounts_v2.json"
code=$(admin -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$dir/accounts_v2.json" "$a/admin/projections/accounts/versions/2")
[ "$code" = 201 ] || fail "PUT v2 on A answered $code"
"$bin" rebuild accounts --version 2 --server "$b" --token t --follow >"$dir/rebuild.out" 2>&1 || fail "rebuild on B: $(tail -3 "$dir/rebuild.out")"
"$bin" projection show accounts --server "$b" --token t >"$dir/show.out" || fail "show on B"
grep -q '"version": 2' "$dir/show.out" || fail "show printed $(cat "$dir/show.out")"
grep -q '"source": "api"' "$dir/show.out" || fail "show printed $(cat "$dir/show.out")"
curl -s -D "$dir/headers" "$b/accounts/a1" >/dev/null
grep -qi '^x-projection-version: 2' "$dir/headers" || fail "B does not serve v2: $(cat "$dir/headers")"
kill -TERM "$pid" "$pid_b"; wait "$pid" "$pid_b" || true; pid=""; pid_b=""

# 4. a file whose version is stored with other content stops the start, naming the file
mkdir "$dir/specs"
sed 's/"description": "[^"]*"/"description": "not the deployed one"/' "$src/examples/specs/accounts_v1.json" >"$dir/specs/accounts.json"
if DATABASE_URL="$db_url" "$bin" status --projections-dir "$dir/specs" >"$log" 2>&1; then fail "a clashing file was accepted"; fi
grep -q "accounts.json: accounts version 1 is stored with other content" "$log" || fail "the error does not name the file: $(cat "$log")"
echo "PASS: deployed on one server, known to the other in ${ms} ms, checked, served and rebuilt there"
