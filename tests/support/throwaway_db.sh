# Sourced by the shell tests that run `reproj serve`: a database of their own on the throwaway
# cluster (DATABASE_URL, set by scripts/test), a log file, and a cleanup on exit that kills the
# server in $pid and drops both. Sets $db_url and $log.
: "${DATABASE_URL:?run through scripts/test}"
db="reproj_${1:-shell}_$$"
psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
db_url="${DATABASE_URL%/*}/$db"
log=$(mktemp)
cleanup() {
  [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  [ -n "${KEEP_LOG:-}" ] && cp "$log" /tmp/kept.log; rm -f "$log"
}
trap cleanup EXIT
