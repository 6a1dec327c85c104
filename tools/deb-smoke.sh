#!/bin/sh
# Smoke test of the installed Debian packages (lua-lcm, lua-lcm-postgresql, lcm-tools, lcm-sim), as .ci/run runs
# it after `make deb` and `apt-get install ./build/deb/*.deb`: every Lua Debian ships, and
# LuaJIT, loads lcm from the installed files only (from /, no LUA_PATH or LUA_CPATH) and
# talks to the installed lcm-sim; then the installed lcm-flush-outbox flushes an outbox.
set -eu
tools=$(cd "$(dirname "$0")" && pwd)
unset LUA_PATH LUA_CPATH LUA_PATH_5_2 LUA_CPATH_5_2 LUA_PATH_5_3 LUA_CPATH_5_3 LUA_PATH_5_4 \
    LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_2 LUA_INIT_5_3 LUA_INIT_5_4
export LCM_SIM=/usr/bin/lcm-sim
cd /
for lua in lua5.1 lua5.2 lua5.3 lua5.4 luajit; do
    sh "$tools/with-sim.sh" "$lua" "$tools/smoke.lua"
    # lua-lcm-postgresql: the PostgreSQL outbox's module loads from the installed files
    "$lua" -e 'assert(require("lcm.outbox.postgresql").SCHEMA_VERSION == 1)'
done
# lua-lcm alone does not link libpq (lua-lcm-postgresql does)
if ldd /usr/lib/*/lua/5.4/lcm/core.so | grep -q libpq; then echo "deb-smoke: lcm.core links libpq" >&2; exit 1; fi
outbox=$(mktemp -d)
trap 'rm -rf "$outbox"' EXIT
out=$(sh "$tools/with-sim.sh" sh -c 'lcm-flush-outbox "$1"' sh "$outbox")
[ "$out" = "sent 0, failed 0 (see dead.log), remaining 0, damaged 0" ] || {
    echo "deb-smoke: lcm-flush-outbox said: $out" >&2; exit 1; }
echo "deb-smoke: lcm-flush-outbox ($(head -n 1 /usr/bin/lcm-flush-outbox)): ok"
# The guide and the API reference, for a PBX without the repository.
for f in README.md docs/outbox.md docs/asterisk.md docs/freeswitch.md reference/index.html reference/classes/Client.html; do
    [ -s "/usr/share/doc/lua-lcm/$f" ] || { echo "deb-smoke: /usr/share/doc/lua-lcm/$f is missing" >&2; exit 1; }
done
echo "deb-smoke: /usr/share/doc/lua-lcm: ok"
