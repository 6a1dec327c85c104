#!/bin/sh
# Installs the Debian 12 packages lcm needs to build, test and run its demo, when missing.
# Idempotent and quiet when everything is there. Used by `make deps` (and so by `make test`
# and `make demo`) and by .ci/run.
set -eu
pkgs="build-essential pkg-config curl libcurl4-openssl-dev zlib1g-dev libmicrohttpd-dev ca-certificates openssl
lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev lua5.4 liblua5.4-dev
luajit libluajit-5.1-dev lua-cjson lua-busted lua-check lua-socket luarocks cppcheck"
# --checks: also the tools of make asan, make valgrind and make fuzz.
[ "${1:-}" = "--checks" ] && pkgs="$pkgs clang libclang-rt-14-dev valgrind"
# --bench: also the fixed-response server and the peers of make bench.
[ "${1:-}" = "--bench" ] && pkgs="$pkgs nginx-light lua-sec curl"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
