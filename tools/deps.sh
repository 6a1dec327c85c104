#!/bin/sh
# Installs the Debian 12 packages lcm needs to build, test and run its demo, when missing.
# Idempotent and quiet when everything is there. Used by `make deps` (and so by `make test`
# and `make demo`) and by .ci/run.
#   --checks  also the tools of make asan, make valgrind and make fuzz
#   --bench   also the fixed-response server and the peers of make bench
#   --deb     also what make deb needs (Debian's packaging tools, and LDoc for the reference)
#   --docs    also what make docs needs (LDoc, and lua-discount, its Markdown renderer)
# As root it runs apt-get; otherwise sudo apt-get when sudo exists; otherwise it prints the
# one command to run as root and exits 1. LCM_DEPS_EXTRA: more package names to require
# (the specs use it to check the message for a package that is not installed).
set -eu
pkgs="build-essential pkg-config curl libcurl4-openssl-dev zlib1g-dev libmicrohttpd-dev ca-certificates openssl
lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev lua5.4 liblua5.4-dev
luajit libluajit-5.1-dev lua-cjson lua-busted lua-check lua-socket lua-cqueues luarocks cppcheck locales
libpq-dev postgresql postgresql-common"
case "${1:-}" in
    --checks) pkgs="$pkgs clang libclang-rt-14-dev valgrind" ;;
    --bench) pkgs="$pkgs nginx-light libnginx-mod-http-echo lua-sec lua-http lua-cqueues" ;;
    --deb) pkgs="$pkgs debhelper dh-lua dpkg-dev fakeroot lintian lua-ldoc lua-discount" ;;
    --docs) pkgs="$pkgs lua-ldoc lua-discount" ;;
    "") ;;
    *) echo "usage: tools/deps.sh [--checks | --bench | --deb | --docs]" >&2; exit 2 ;;
esac
pkgs="$pkgs ${LCM_DEPS_EXTRA:-}"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query); install the equivalents of: $pkgs" >&2
    exit 1
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

run=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        run="sudo"
    else
        echo "deps: missing Debian packages:$missing" >&2
        echo "deps: you are not root and there is no sudo; run this as root, then again:" >&2
        echo "apt-get update && apt-get install -y --no-install-recommends$missing" >&2
        exit 1
    fi
fi
echo "deps: installing$missing" >&2
# env: sudo would not pass DEBIAN_FRONTEND on.
$run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
