#!/usr/bin/env bash
# The binary as a user runs it: `serve` on a fresh database answers, then SIGTERM drains an
# in-flight request and exits 0.  Needs DATABASE_URL (scripts/test sets it).
set -euo pipefail
bin=$1
source "$(dirname "$0")/../support/throwaway_db.sh" smoke
DATABASE_URL="$db_url" "$bin" serve --listen 127.0.0.1:0 --admin-token t >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do base=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
[ -n "$base" ] || { cat "$log"; echo "FAIL: server did not start"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || { echo "FAIL: /healthz"; exit 1; }
# A request in flight when SIGTERM arrives still gets its answer.
curl -s -o /tmp/smoke_$$.json -w '%{http_code}' -H 'Authorization: Bearer t' -X POST "$base/streams/s/events" \
  -d '{"expected_version": "any", "events": [{"type": "car.created", "data": {"by": "A", "color": "b"}}]}' >/tmp/smoke_$$.code &
curl_pid=$!
kill -TERM "$pid"
wait "$curl_pid" || true
code=$(cat /tmp/smoke_$$.code); rm -f /tmp/smoke_$$.code /tmp/smoke_$$.json
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "FAIL: still running 10 s after SIGTERM"; exit 1; fi
wait "$pid"; status=$?
pid=""
[ "$status" -eq 0 ] || { cat "$log"; echo "FAIL: exit status $status after SIGTERM"; exit 1; }
case "$code" in 201|000) ;; *) echo "FAIL: in-flight append answered $code"; exit 1 ;; esac
echo "serve smoke passed (in-flight append: $code, clean exit on SIGTERM)"
