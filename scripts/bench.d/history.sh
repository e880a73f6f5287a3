# Time travel (issue 41), sourced by scripts/bench: the same cars version with and without history,
# side by side in one run. Uses bench's $bin, $work, $events, $load_seconds, newdb, now, since,
# ratio, say, start_durable, settle and the throwaway clusters. Writes its lines to
# $work/history.out:
#   ratio rebuild_history/rebuild   cars v4 (v3 + "history": true) against v3, the same log, in-process
#   history bytes/event             the history table (with its key) over the log's events
#   as_of p99_ms                    GET /cars/{id}?as_of=P under the read load, beside a strong read's
#   ratio append_history/append     appends of car events (durable) with cars at v4 against v3
history_bench() {
  local n=$(( events < 1000000 ? events : 1000000 ))
  local specs="$work/history_specs"
  mkdir -p "$specs"
  cp examples/specs/cars_v3.json examples/specs/cars_v4.json "$specs/"
  head -n "$n" "$work/events.ndjson" >"$work/events_h.ndjson"
  local H
  H=$(newdb bench_h)
  DATABASE_URL=$H REPROJ_PROJECTIONS_DIR=$specs "$bin" migrate >/dev/null
  DATABASE_URL=$H REPROJ_PROJECTIONS_DIR=$specs "$bin" import "$work/events_h.ndjson" --initial-version cars=1 >/dev/null
  psql -q "$H" -c "VACUUM ANALYZE reproj.events"
  psql -q "$admin" -c "CHECKPOINT"
  local t3=() t4=() t0 v
  for round in 1 2; do  # alternately: the machine's drift lands on both
    for v in 3 4; do
      say "history: rebuild cars to v$v, round $round ($n events)"
      t0=$(now)
      DATABASE_URL=$H REPROJ_PROJECTIONS_DIR=$specs "$bin" rebuild cars --version "$v" >"$work/rebuild_h.out" 2>&1 ||
        { cat "$work/rebuild_h.out"; exit 1; }
      if [ "$v" = 3 ]; then t3+=("$(since "$t0")"); else t4+=("$(since "$t0")"); fi
    done
  done
  local t_plain t_history bytes
  t_plain=$(echo "(${t3[0]} + ${t3[1]}) / 2" | bc -l)
  t_history=$(echo "(${t4[0]} + ${t4[1]}) / 2" | bc -l)
  bytes=$(psql -qtA "$H" -c "SELECT pg_total_relation_size('reproj_data.cars__h') / $n")
  # Every car's history against its row: the newest version is the row (a check, not a figure).
  local differ
  differ=$(psql -qtA "$H" -c "SELECT count(*) FROM reproj_data.cars c LEFT JOIN LATERAL (SELECT * FROM reproj_data.cars__h h
                                WHERE h.car_id = c.car_id ORDER BY h._position DESC LIMIT 1) h ON true
                              WHERE h._deleted IS NOT false OR (h.color, h.customer_name, h.repaints) IS DISTINCT FROM (c.color, c.customer_name, c.repaints)")
  [ "$differ" = 0 ] || { echo "BENCH FAILED: $differ cars differ from their newest history version" >&2; exit 1; }

  # as_of under the read load, beside the plain strong read, on one server.
  local log="$work/serve_h.log" url="" pid tail p_mid
  DATABASE_URL=$H REPROJ_PROJECTIONS_DIR=$specs "$bin" serve --listen 127.0.0.1:0 --admin-token bench >"$log" 2>&1 &
  pid=$!
  append_pids+=("$pid")
  for _ in $(seq 1 100); do url=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$url" ] && break; sleep 0.1; done
  for _ in $(seq 1 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break; sleep 0.5; done
  psql -qtA "$H" -c "SELECT car_id FROM reproj_data.cars" >"$work/ids_h"
  tail=$(psql -qtA "$H" -c "SELECT max(global_position) FROM reproj.events")
  p_mid=$(( tail / 2 ))
  local rps_strong p99_strong rps_asof p99_asof
  read -r _ rps_strong _ p99_strong _ _ _ < <(IDS_FILE="$work/ids_h" wrk_run history_strong "$url")
  # The cars that existed as of P: every as_of read finds its row, as every strong read does.
  psql -qtA "$H" -c "SELECT DISTINCT car_id FROM reproj_data.cars__h WHERE _position <= $p_mid" >"$work/ids_h_then"
  read -r _ rps_asof _ p99_asof _ non2xx_asof _ < <(IDS_FILE="$work/ids_h_then" QUERY="?as_of=$p_mid" wrk_run history_as_of "$url")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true

  # Appends of car events with the projection kept caught up, durable: v4 (history) against v3.
  start_durable
  local name db aurl
  declare -A hurl=()
  for v in 3 4; do
    name="history_v$v"
    psql -q "$durable_url" -c "CREATE DATABASE $name" >/dev/null
    db="${durable_url%/*}/$name"
    DATABASE_URL=$db REPROJ_PROJECTIONS_DIR=$specs "$bin" migrate >/dev/null
    log="$work/serve_$name.log"
    DATABASE_URL=$db REPROJ_PROJECTIONS_DIR=$specs "$bin" serve --listen 127.0.0.1:0 --admin-token bench \
      --initial-version "cars=$v" >"$log" 2>&1 &
    append_pids+=($!)
    aurl=""
    for _ in $(seq 1 100); do aurl=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 || true); [ -n "$aurl" ] && break; sleep 0.1; done
    hurl[$v]=$aurl
  done
  local seconds=$(( load_seconds / 2 > 5 ? load_seconds / 2 : 5 ))
  declare -A hrps=([3]=0 [4]=0)
  settle
  for round in 1 2; do
    for v in 3 4; do
      say "history: appends of car events, cars v$v, round $round (${seconds}s, 32 connections, durable)"
      wrk -t2 -c32 -d"${seconds}s" -s scripts/bench.d/append_cars.lua "${hurl[$v]}" >"$work/append_h$v.wrk"
      hrps[$v]=$(( ${hrps[$v]} + $(awk '/requests in/ { print $1 }' "$work/append_h$v.wrk") ))
    done
  done
  {
    echo "ratio rebuild_history/rebuild $(ratio "$t_history" "$t_plain") ($(fmt "$t_history") / $(fmt "$t_plain") s, $n events, cars v4 vs v3)"
    echo "history bytes/event $bytes (cars__h with its key, $n events)"
    echo "as_of p99_ms $p99_asof (strong read p99_ms $p99_strong; ratio $(ratio "$p99_asof" "$p99_strong"); as_of $rps_asof/s, strong $rps_strong/s; non2xx=$non2xx_asof)"
    echo "ratio append_history/append $(ratio "${hrps[4]}" "${hrps[3]}") (${hrps[4]} / ${hrps[3]} requests in 2 x ${seconds}s, car events, durable)"
  } >"$work/history.out"
  psql -q "$admin" -c "DROP DATABASE bench_h" >/dev/null
}
