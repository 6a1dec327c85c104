#!/bin/sh
# Runs a command against a fresh lcm-sim on a free 127.0.0.1 port: starts the simulator,
# exports LCM_URL, runs "$@", stops the simulator, and exits with the command's status.
set -eu
sim=${LCM_SIM:-build/lcm-sim}
dir=$(mktemp -d)
# The simulator never inherits a sanitizer runtime preloaded for the Lua side.
# LCM_SIM_ARGS: more arguments for the simulator, e.g. --fixtures FILE.
# shellcheck disable=SC2086
env -u LD_PRELOAD "$sim" --quiet --port 0 --port-file "$dir/port" ${LCM_SIM_ARGS:-} &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ ! -s "$dir/port" ]; do
    i=$((i + 1))
    [ $i -le 500 ] || { echo "with-sim: lcm-sim did not start" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { echo "with-sim: lcm-sim exited" >&2; exit 1; }
    sleep 0.01
done
LCM_URL="http://127.0.0.1:$(cat "$dir/port")/api/{subtopic}"
export LCM_URL
echo "with-sim: lcm-sim at $LCM_URL" >&2
status=0
"$@" || status=$?
exit $status
