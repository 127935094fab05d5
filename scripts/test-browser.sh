#!/usr/bin/env bash
# Make sure headless Chromium is there for the HTML report test (tests/cli_pipeline.rs): Debian's
# `chromium` package, installed with apt when missing (as root, or through passwordless sudo).
# Prints one line on success.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "test-browser: $(command -v chromium) present"
    exit 0
fi
if [[ "$(id -u)" == 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "test-browser: chromium is missing and apt cannot be run here: install Debian's chromium package" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
    "${as_root[@]}" apt-get update -q >/dev/null
    "${as_root[@]}" apt-get install -y -q --no-install-recommends chromium >/dev/null
fi
echo "test-browser: installed $(chromium --version 2>/dev/null || echo chromium)"
