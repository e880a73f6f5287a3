#!/usr/bin/env bash
# Issue 14, item 10, from outside: a server out of file descriptors backs off instead of spinning a
# core on accept errors, and serves again once clients leave; past REPROJ_MAX_CONNECTIONS a new
# connection gets 503 too_many_connections. Needs DATABASE_URL (scripts/test sets it).
set -euo pipefail
bin=$1
source "$(dirname "$0")/../support/throwaway_db.sh" limits
url=$db_url

start() {  # start ENV... : serve with the given environment, sets $pid and $base
  : >"$log"
  env "$@" DATABASE_URL="$url" "$bin" serve --listen 127.0.0.1:0 --admin-token t >"$log" 2>&1 &
  pid=$!
  base=""
  for _ in $(seq 1 100); do base=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
  [ -n "$base" ] || { cat "$log"; echo "FAIL: server did not start"; exit 1; }
  port=${base##*:}
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# 1. Out of descriptors: 96 allowed, the pool and the worker use some, 150 idle clients take the rest.
( ulimit -n 96; start REPROJ_MAX_CONNECTIONS=100000; echo "$pid $base" >"$log.pid"; wait "$pid" ) &
for _ in $(seq 1 100); do [ -s "$log.pid" ] && break; sleep 0.1; done
read -r pid base <"$log.pid"; rm -f "$log.pid"; port=${base##*:}
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || { echo "FAIL: /healthz before"; exit 1; }
fds=()
for i in $(seq 1 150); do exec {fd}<>"/dev/tcp/127.0.0.1/$port" && fds+=("$fd"); done
sleep 0.5
grep -q "accept:" "$log" || { cat "$log"; echo "FAIL: the server never ran out of descriptors (test setup)"; exit 1; }
before=$(cpu_ticks "$pid"); sleep 2; after=$(cpu_ticks "$pid")
used=$((after - before))  # in clock ticks (100 a second): a spinning accept loop uses ~200
echo "server CPU over 2 s while out of descriptors: $used ticks"
[ "$used" -lt 40 ] || { tail -5 "$log"; echo "FAIL: the accept loop spins ($used ticks in 2 s)"; exit 1; }
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 1.5
[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || { echo "FAIL: /healthz after the clients left"; exit 1; }
kill -TERM "$pid"; wait 2>/dev/null || true

# 2. A cap on open connections: the fifth gets 503 and the first four still work.
start REPROJ_MAX_CONNECTIONS=4
fds=()
for i in 1 2 3 4; do exec {fd}<>"/dev/tcp/127.0.0.1/$port"; fds+=("$fd"); done
sleep 0.3
reply=$(curl -s -m 5 -w ' %{http_code}' "$base/healthz" || true)
case "$reply" in
  *too_many_connections*503) ;;
  *) echo "FAIL: a fifth connection got '$reply', not 503 too_many_connections"; exit 1 ;;
esac
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"${fds[0]}"
head -c 12 <&"${fds[0]}" | grep -q "200" || { echo "FAIL: an open connection was not served"; exit 1; }
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 0.3
[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] || { echo "FAIL: /healthz once below the cap"; exit 1; }
echo "PASS: accept backs off when out of descriptors; the connection cap answers 503"
