#!/usr/bin/env bash
# The installable product (issue 13), checked as a team would use it:
#  1. `cmake --install` into a staging root; examples/custom_projection (its own CMakeLists.txt,
#     one projection, a main of a few lines) is configured and built out of tree against it with
#     find_package(reproj), and its binary serves its own projection over HTTP on the test cluster;
#  2. `cpack` builds the .deb packages; their contents are listed and the extracted
#     `reproj --version` runs.
#   package.sh BUILD_DIR SOURCE_DIR        (needs DATABASE_URL; scripts/test sets it)
set -euo pipefail
build=$1
src=$2
: "${DATABASE_URL:?run through scripts/test}"
work=$(mktemp -d)
db="reproj_pkg_$$"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---- 1. install, then a team's own server built out of tree ----
DESTDIR="$work/root" cmake --install "$build" --prefix /usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "cmake --install"; }
prefix="$work/root/usr/local"
for f in bin/reproj include/reproj/engine/projection.hpp include/reproj/api/cli/cli.hpp \
         lib/cmake/reproj/reprojConfig.cmake lib/cmake/reproj/reprojTargets.cmake lib/libreproj_engine.a; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
"$prefix/bin/reproj" --version | grep -q '^reproj [0-9]' || fail "installed reproj --version"
cmake -S "$src/examples/custom_projection" -B "$work/example" -DCMAKE_PREFIX_PATH="$prefix" >"$work/example.log" 2>&1 \
  || { cat "$work/example.log"; fail "configuring the example against the installed package"; }
cmake --build "$work/example" -j"${REPROJ_JOBS:-2}" >>"$work/example.log" 2>&1 || { tail -30 "$work/example.log"; fail "building the example"; }
bin="$work/example/balances_server"
"$bin" --version | grep -q '^reproj [0-9]' || fail "the example's --version"

psql -q "$DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
url="${DATABASE_URL%/*}/$db"
printf '%s\n' '{"stream_id": "acc1", "type": "account.opened", "data": {"owner": "Ada"}}' \
  '{"stream_id": "acc1", "type": "account.credited", "data": {"amount": 100}}' \
  '{"stream_id": "acc1", "type": "account.debited", "data": {"amount": 30}}' >"$work/events.ndjson"
DATABASE_URL=$url "$bin" import "$work/events.ndjson" >/dev/null || fail "the example's import"
DATABASE_URL=$url "$bin" serve --listen 127.0.0.1:0 --admin-token t >"$work/serve.log" 2>&1 &
pid=$!
base=""
for _ in $(seq 1 100); do base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
[ -n "$base" ] || { cat "$work/serve.log"; fail "the example's server did not start"; }
answer=$(curl -s "$base/balances/acc1")
echo "$answer" | grep -q '"balance":70' || fail "GET /balances/acc1 answered $answer"
echo "$answer" | grep -q '"owner":"Ada"' || fail "GET /balances/acc1 answered $answer"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/cars/x")
[ "$code" = 404 ] || fail "the example serves only its own projection, yet /cars/x answered $code"

# ---- 2. the .deb packages ----
(cd "$build" && cpack -G DEB -B "$work/debs" >"$work/cpack.log" 2>&1) || { tail -30 "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/debs/reproj_*.deb 2>/dev/null | head -1)
dev=$(ls "$work"/debs/reproj-dev_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] && [ -n "$dev" ] || { ls "$work/debs"; fail "cpack made no reproj and reproj-dev packages"; }
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/reproj ./lib/systemd/system/reproj.service ./etc/reproj/reproj.env ./usr/share/doc/reproj/reproj-help.txt; do
  echo "$contents" | grep -q " $f\$" || fail "$deb lacks $f"
done
info=$(dpkg-deb --info "$deb")
echo "$info" | grep -q 'Depends:.*libpqxx' || fail "$deb does not depend on libpqxx: $info"
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
echo "$control" | grep -q 'postinst' || fail "$deb has no postinst (the reproj user)"
echo "$control" | grep -q 'conffiles' || fail "$deb has no conffiles (/etc/reproj/reproj.env would be overwritten)"
dev_contents=$(dpkg-deb --contents "$dev")
echo "$dev_contents" | grep -q 'usr/lib/cmake/reproj/reprojConfig.cmake' || fail "$dev lacks the CMake package"
dpkg -x "$deb" "$work/x"
"$work/x/usr/bin/reproj" --version | grep -q '^reproj [0-9]' || fail "the packaged reproj --version"
grep -q 'ExecStart=/usr/bin/reproj serve' "$work/x/lib/systemd/system/reproj.service" || fail "the unit does not run reproj serve"
echo "package passed: installed, example built out of tree and served balances/acc1 = 70;" \
     "$(basename "$deb") ($(du -h "$deb" | cut -f1)) and $(basename "$dev"); $("$work/x/usr/bin/reproj" --version)"
