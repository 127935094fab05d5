#!/usr/bin/env bash
# Installs bats-core at the version package-lock.json pins (npm checks its integrity) into a cache outside the
# repository, keyed by the lock file. A no-op when the cache is warm.
#
#   tests/support/bats/install.sh    # prints, on its last line, the path of the `bats` program
#
# The cache is $PRECHECK_BATS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/precheck/bats. Needs npm (Node.js).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PRECHECK_BATS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/precheck/bats}"
if ! command -v npm >/dev/null 2>&1; then
    echo "test-bats: npm is not on PATH; the bats-detik comparison tests install bats-core with it (Node.js)" >&2
    exit 1
fi
key="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -c1-16)"
out="$CACHE/bats-$key"

mkdir -p "$CACHE"
# Test binaries may ask at once: one install at a time.
exec 9<"$CACHE"
flock 9
if [[ ! -f "$out/complete" ]]; then
    rm -rf "$out"
    mkdir -p "$out"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$out/"
    (cd "$out" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    touch "$out/complete"
    echo "test-bats: installed $(cd "$out" && node_modules/bats/bin/bats --version) into $out" >&2
fi
echo "$out/node_modules/bats/bin/bats"
