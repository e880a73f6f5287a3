# Reactors (issues 19 and 42), sourced by scripts/bench: one reactor delivering over loopback, its
# checkpoints on the durable cluster (tests/bench/reactor_throughput.cpp), for each ordering against
# a receiver that answers at once and one that takes 20 ms, and "stream" over HTTPS against the same
# over HTTP (keep-alive: one handshake per connection). Uses bench's $work, ratio, say, start_durable
# and $durable_url. Sets reactor_lines.
reactor_run() {  # reactor_run EVENTS ORDERING DELAY_MS [CERT_DIR] -> deliveries/s
  DATABASE_URL=$durable_url build/tests/reproj_reactor_throughput "$@" 2>/dev/null >"$work/reactor.out"
  awk '/^reactor deliveries\/s/ { print $3 }' "$work/reactor.out"
}
reactor_bench() {
  start_durable
  say "reactor deliveries per ordering, receivers answering at once and after 20 ms, HTTP and HTTPS (durable)"
  local certs="$work/reactor_certs"
  mkdir -p "$certs"
  tests/support/make_certs.sh "$certs" >/dev/null
  reactor_lines=()
  local ordering n20
  declare -gA reactor_dps
  for ordering in global stream none; do
    reactor_dps[$ordering]=$(reactor_run 20000 "$ordering" 0)
    # At 20 ms a request, "global" manages 50/s: fewer events keep each run near 10 s.
    n20=$([ "$ordering" = global ] && echo 500 || echo 4000)
    reactor_dps[$ordering-20]=$(reactor_run "$n20" "$ordering" 20)
    reactor_lines+=("reactor deliveries/s ${reactor_dps[$ordering]} ($ordering, receiver answering at once; at 20 ms: ${reactor_dps[$ordering-20]})")
  done
  reactor_dps[https]=$(reactor_run 20000 stream 0 "$certs")
  reactor_dps[https-20]=$(reactor_run 4000 stream 20 "$certs")
  reactor_lines+=("ratio https/http $(ratio "${reactor_dps[https]}" "${reactor_dps[stream]}") (stream, at once: ${reactor_dps[https]} vs ${reactor_dps[stream]}/s; at 20 ms: ${reactor_dps[https-20]} vs ${reactor_dps[stream-20]}/s)")
}
reactor_report() { printf '%s\n' "${reactor_lines[@]}"; }
