# Sourced by the shell tests that start `reproj serve --listen 127.0.0.1:0`: server_base LOG prints
# the URL the server logged once it listens (waiting up to 10 s), or fails.
server_base() {
  local base=""
  for _ in $(seq 1 100); do
    base=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 || true)
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] && echo "$base"
}
