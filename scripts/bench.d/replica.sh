# Read replicas (issue 43), sourced by scripts/bench: consistency=eventual point reads under wrk's
# read load against one server that reads from the primary only and one that also has a streaming
# standby of the same cluster (--replica-url), alternately twice, on the fast cluster. Also the CPU
# each part spent per 1,000 answered reads: the primary's PostgreSQL, the standby's, the server.
# On 2 cores all of it shares the machine. Uses bench's $bin, $work, $events, newdb, ratio, say,
# wrk_run, append_pids and $REPROJ_PGDIR. Writes its lines to $work/replica.out.
cluster_cpu() {  # cluster_cpu DATA_DIR -> CPU seconds of its postmaster and every backend, ended ones included
  local pm pid total=0 f
  pm=$(head -1 "$1/postmaster.pid")
  read -ra f < <(sed 's/^.*) //' "/proc/$pm/stat")
  total=$(( f[11] + f[12] + f[13] + f[14] ))  # utime stime cutime cstime (fields 14-17)
  for pid in $(ps --ppid "$pm" -o pid=); do
    read -ra f < <(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    total=$(( total + f[11] + f[12] ))
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc -l
}
process_cpu() {  # process_cpu PID -> its CPU seconds
  local f
  read -ra f < <(sed 's/^.*) //' "/proc/$1/stat")
  echo "scale=2; (${f[11]} + ${f[12]}) / $(getconf CLK_TCK)" | bc -l
}
replica_bench() {
  local n=$(( events < 200000 ? events : 200000 )) R replica_env replica_dir replica_url
  head -n "$n" "$work/events.ndjson" >"$work/events_r.ndjson"
  R=$(newdb bench_r)
  DATABASE_URL=$R "$bin" migrate >/dev/null
  DATABASE_URL=$R "$bin" import "$work/events_r.ndjson" >/dev/null
  psql -q "$R" -c "VACUUM ANALYZE"
  say "read replica: a standby of the fast cluster (scripts/pg replica start)"
  replica_env=$(scripts/pg replica start "$REPROJ_PGDIR")
  replica_dir=$(sed -n 's/^export REPROJ_REPLICA_DIR=//p' <<<"$replica_env")
  replica_url=$(sed -n 's/^export REPROJ_REPLICA_URL=//p' <<<"$replica_env")
  local name log pid url
  declare -A rurl=() rpid=()
  for name in primary replica; do
    log="$work/serve_r_$name.log"
    DATABASE_URL=$R "$bin" serve --listen 127.0.0.1:0 --admin-token bench \
      $([ "$name" = replica ] && echo "--replica-url ${replica_url%/*}/bench_r") >"$log" 2>&1 &
    pid=$!
    append_pids+=("$pid")
    url=""
    for _ in $(seq 1 100); do url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
    for _ in $(seq 1 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.5; done
    rurl[$name]=$url
    rpid[$name]=$pid
  done
  for _ in $(seq 1 100); do
    [ "$(curl -s -D - -o /dev/null "${rurl[replica]}/cars?consistency=eventual&limit=1" | tr -d '\r' |
      sed -n 's/^[Xx]-[Ss]erved-[Bb]y: //p')" = replica ] && break
    sleep 0.1
  done
  psql -qtA "$R" -c "SELECT car_id FROM reproj_data.cars" >"$work/ids_r"
  declare -A rps=() p99=() reads=() pg_cpu=() standby_cpu=() server_cpu=()
  local round rps1 p991 c0 s0 v0 r
  for round in 1 2; do
    for name in primary replica; do
      say "eventual reads, $name, round $round (${load_seconds}s, 32 connections)"
      c0=$(cluster_cpu "$REPROJ_PGDIR/data"); s0=$(cluster_cpu "$replica_dir/data"); v0=$(process_cpu "${rpid[$name]}")
      read -r _ rps1 _ p991 _ _ _ < <(IDS_FILE="$work/ids_r" QUERY="?consistency=eventual" wrk_run "replica_$name" "${rurl[$name]}")
      pg_cpu[$name]=$(echo "${pg_cpu[$name]:-0} + $(cluster_cpu "$REPROJ_PGDIR/data") - $c0" | bc -l)
      standby_cpu[$name]=$(echo "${standby_cpu[$name]:-0} + $(cluster_cpu "$replica_dir/data") - $s0" | bc -l)
      server_cpu[$name]=$(echo "${server_cpu[$name]:-0} + $(process_cpu "${rpid[$name]}") - $v0" | bc -l)
      rps[$name]=$(echo "${rps[$name]:-0} + $rps1 / 2" | bc -l)
      p99[$name]="${p99[$name]:-}${p99[$name]:+ / }$p991"
      reads[$name]=$(echo "${reads[$name]:-0} + $rps1 * $load_seconds" | bc -l)
    done
  done
  local served
  served=$(curl -s -H "Authorization: Bearer bench" "${rurl[replica]}/admin/replicas" | sed -n 's/.*"reads":\([0-9]*\).*/\1/p')
  per_k() { printf '%.1f' "$(echo "1000000 * $1 / $2" | bc -l)"; }  # CPU ms per 1,000 reads
  {
    echo "ratio reads_with_replica/reads_primary_only $(ratio "${rps[replica]}" "${rps[primary]}") (eventual point reads, $(printf '%.0f' "${rps[replica]}") vs $(printf '%.0f' "${rps[primary]}")/s; p99_ms ${p99[replica]} vs ${p99[primary]}; $served answered by the standby)"
    echo "primary cpu_ms per 1k reads $(per_k "${pg_cpu[replica]}" "${reads[replica]}") with the replica vs $(per_k "${pg_cpu[primary]}" "${reads[primary]}") primary only (standby $(per_k "${standby_cpu[replica]}" "${reads[replica]}"), server $(per_k "${server_cpu[replica]}" "${reads[replica]}") vs $(per_k "${server_cpu[primary]}" "${reads[primary]}"))"
  } >"$work/replica.out"
  for name in primary replica; do kill "${rpid[$name]}" 2>/dev/null || true; wait "${rpid[$name]}" 2>/dev/null || true; done
  scripts/pg stop "$replica_dir"
}
