#!/usr/bin/env bash
# Issue 40: HTTPS end to end with certificates made here by the openssl command. Reads and appends
# over TLS; the CLI verifies the server (--cacert) and refuses an expired certificate and one for
# another host; plain HTTP on the TLS port gets a clear 400; a SIGHUP rotation while curl and wrk keep
# reading fails no request and new connections get the new certificate; a key that does not match
# is refused and the old certificate kept; mutual TLS lets a client certificate name a token.
# Needs DATABASE_URL (scripts/test sets it).
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../support/throwaway_db.sh" tls
dir=$(mktemp -d)
trap 'cleanup; [ -n "${pid2:-}" ] && kill -9 "$pid2" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$log"; exit 1; }
cd "$dir"

# ---- a CA and certificates ----------------------------------------------------------------------
"$here/../support/make_certs.sh" "$dir" || fail "cannot make certificates"
cp server.pem live.pem
cp server.key live.key

# ---- serve HTTPS --------------------------------------------------------------------------------
DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --admin-token t --tls-cert live.pem --tls-key live.key >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do base=$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
[ -n "$base" ] || fail "server did not start"
port=${base##*:}
code() { curl -s -o "$dir/body" -w '%{http_code}' --cacert ca.pem "$@"; }
[ "$(code "$base/healthz")" = 200 ] || fail "/healthz over HTTPS"
[ "$(code -H 'Authorization: Bearer t' -X POST "$base/streams/tls1/events" \
  -d '{"expected_version": "any", "events": [{"type": "car.created", "data": {"by": "T", "color": "teal"}}]}')" = 201 ] ||
  fail "append over HTTPS: $(cat body)"
[ "$(code -X POST "$base/streams/tls2/events" -d '{"expected_version": "any", "events": []}')" = 401 ] ||
  fail "an append without a token over HTTPS"
[ "$(code "$base/cars/tls1")" = 200 ] && grep -q teal body || fail "read over HTTPS: $(cat body)"
[ "$(code "https://localhost:$port/healthz")" = 200 ] || fail "the certificate's DNS name"
curl -s -o /dev/null --cacert ca.pem --tls-max 1.1 "$base/healthz" && fail "TLS 1.1 was accepted"

# Plain HTTP on the TLS port: a clear error, then the connection closes.
plain=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/healthz" || true)
echo "$plain" | grep -q 'tls_required' && echo "$plain" | grep -q ' 400$' || fail "plain HTTP on the TLS port: $plain"

# The CLI verifies the server.
"$bin" status --server "$base" --token t --cacert ca.pem >/dev/null || fail "the CLI over HTTPS with --cacert"
REPROJ_CACERT=ca.pem "$bin" status --server "$base" --token t >/dev/null || fail "the CLI with REPROJ_CACERT"
out=$("$bin" status --server "$base" --token t 2>&1 || true)
echo "$out" | grep -qi 'certificate' || fail "the CLI trusted a certificate no CA it knows signed: $out"
"$bin" status --server "$base" --token t >/dev/null 2>&1 && fail "the CLI exited 0 against an unknown CA"

# ---- rotation on SIGHUP under load --------------------------------------------------------------
serial_now() { echo | openssl s_client -connect "127.0.0.1:$port" -servername localhost 2>/dev/null | openssl x509 -noout -serial; }
[ "$(serial_now)" = "$(openssl x509 -noout -serial -in server.pem)" ] || fail "not serving server.pem"
(
  ok=0 failed=0
  end=$((SECONDS + 4))
  while [ $SECONDS -lt $end ]; do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.pem "$base/cars/tls1")" = 200 ]; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  done
  echo "$ok $failed" >curl.count
) &
loop=$!
wrk -t1 -c4 -d4s "$base/cars/tls1" >wrk.out 2>&1 &
wrk_pid=$!
sleep 1
cp rotated.pem live.pem
cp rotated.key live.key
kill -HUP "$pid"
sleep 1
kill -HUP "$pid"
wait "$loop" "$wrk_pid"
read -r ok failed <curl.count
echo "during the rotation: curl $ok answered, $failed failed; wrk: $(grep -E 'requests in' wrk.out)"
[ "$failed" = 0 ] && [ "$ok" -gt 0 ] || fail "$failed requests failed during the rotation ($ok answered)"
grep -qE 'Socket errors|Non-2xx' wrk.out && fail "wrk saw errors during the rotation: $(cat wrk.out)"
[ "$(serial_now)" = "$(openssl x509 -noout -serial -in rotated.pem)" ] || fail "new connections did not get the rotated certificate"
grep -q 'TLS certificate and key read again' "$log" || fail "the reload was not logged"

# A key that does not match its certificate: the reload is refused and the server keeps serving.
cp expired.pem live.pem  # with rotated.key: a mismatch
kill -HUP "$pid"
sleep 0.5
grep -q 'kept the TLS certificate in use' "$log" || fail "a mismatched key was not refused"
[ "$(code "$base/healthz")" = 200 ] || fail "the server stopped serving after a refused reload"

# An expired certificate and one for another host: the CLI refuses both.
cp expired.key live.key
kill -HUP "$pid"
sleep 0.5
out=$("$bin" status --server "$base" --token t --cacert ca.pem 2>&1 || true)
echo "$out" | grep -qi 'expired' || fail "the CLI accepted an expired certificate: $out"
cp otherhost.pem live.pem
cp otherhost.key live.key
kill -HUP "$pid"
sleep 0.5
"$bin" status --server "$base" --token t --cacert ca.pem >/dev/null 2>&1 && fail "the CLI accepted a certificate for another host"
kill -TERM "$pid"
wait "$pid" || true
pid=""

# ---- mutual TLS ---------------------------------------------------------------------------------
"$bin" token create ops --scope append --database-url "$db_url" >/dev/null || fail "token create"
DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --auth required --tls-cert server.pem --tls-key server.key \
  --tls-client-ca ca.pem >"$log" 2>&1 &
pid2=$!
for _ in $(seq 1 100); do base=$(grep -o 'https://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
[ -n "$base" ] || fail "the mTLS server did not start"
append='{"expected_version": "any", "events": [{"type": "car.created", "data": {"by": "M", "color": "mauve"}}]}'
curl -s -o /dev/null --cacert ca.pem "$base/healthz" && fail "a client without a certificate got through"
[ "$(code --cert ops.pem --key ops.key -X POST "$base/streams/mtls1/events" -d "$append")" = 201 ] ||
  fail "a certificate naming token ops could not append: $(cat body)"
[ "$(code --cert nobody.pem --key nobody.key -X POST "$base/streams/mtls2/events" -d "$append")" = 401 ] ||
  fail "a certificate naming no token appended"
[ "$(code --cert ops.pem --key ops.key "$base/admin/projections")" = 403 ] || fail "token ops reached an admin route"
echo "PASS"
