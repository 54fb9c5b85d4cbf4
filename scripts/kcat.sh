#!/usr/bin/env bash
# kcat (the librdkafka command-line client) for the tests that need what kafka-python
# cannot send, e.g. a record header with a null value (`-H name` without `=`).
#
#   scripts/kcat.sh [kcat arguments...]     runs kcat, installing it first if needed
#   scripts/kcat.sh --install               installs it only, prints the binary's path
#
# A kcat on PATH is used as it is. Otherwise the Debian packages kcat, librdkafka1 and
# libyajl2 are fetched with `apt-get download` (no root, nothing installed system-wide)
# and unpacked into .cache/kcat/; the binary runs with that folder's libraries.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$ROOT/.cache/kcat
BIN=$CACHE/root/usr/bin/kcat
LIBS=$CACHE/root/usr/lib/$(uname -m)-linux-gnu

die() {
    echo "kcat.sh: $*" >&2
    exit 1
}

install() {
    [ -x "$BIN" ] && return 0
    command -v apt-get >/dev/null || die "kcat is not on PATH and apt-get is missing: install kcat"
    command -v dpkg-deb >/dev/null || die "dpkg-deb is missing: install kcat"
    mkdir -p "$(dirname "$CACHE")"
    # Two test processes may ask at once: one installs, the other waits for it.
    exec 9>"$CACHE.lock"
    flock 9
    [ -x "$BIN" ] && return 0
    local tmp
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcat.XXXXXX")
    # apt-get download writes to the working directory; it needs no root. A fresh machine
    # (a CI container) may have no package lists yet: as root, fetch them once and retry.
    if ! (cd "$tmp" && apt-get download -q kcat librdkafka1 libyajl2 >/dev/null 2>&1); then
        [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null 2>&1 || true
        (cd "$tmp" && apt-get download -q kcat librdkafka1 libyajl2 >/dev/null 2>&1) \
            || die "apt-get download kcat librdkafka1 libyajl2 failed (try apt-get update)"
    fi
    mkdir -p "$CACHE/root.new"
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$CACHE/root.new"; done
    rm -rf "$tmp" "$CACHE/root"
    mv "$CACHE/root.new" "$CACHE/root"
    [ -x "$BIN" ] || die "no kcat binary in the downloaded packages"
}

if command -v kcat >/dev/null; then
    [ "${1:-}" = --install ] && { command -v kcat; exit 0; }
    exec kcat "$@"
fi
install
[ "${1:-}" = --install ] && { echo "$BIN"; exit 0; }
LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$BIN" "$@"
