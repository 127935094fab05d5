#!/usr/bin/env bash
# Create/refresh the Python virtualenv used by the test-support tools
# (moto, awscli, tests/support/argo_validate.py).
#
#   scripts/test-env.sh            # venv at $REPO/.venv (or $PRECHECK_VENV)
#   PYTHON=python3.12 scripts/test-env.sh
#
# Idempotent: the pinned requirements are installed only when the venv is new
# or scripts/requirements-test.txt changed (a stamp file in the venv records
# the hash of the requirements that were installed). Prints one line on success.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQS="$REPO/scripts/requirements-test.txt"
VENV="${PRECHECK_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"

hash="$(sha256sum "$REQS" | cut -c1-16)"
stamp="$VENV/.precheck-requirements-$hash"

# Serialise concurrent runs (e.g. parallel test binaries): lock the
# requirements file itself, so no lock file is left behind.
if command -v flock >/dev/null 2>&1; then
    exec 9<"$REQS"
    flock 9
fi

if [[ -f "$stamp" ]] && "$VENV/bin/python" -c 'import moto, yaml, hera' >/dev/null 2>&1; then
    echo "test-env: $VENV up to date"
    exit 0
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "test-env: $PYTHON must be Python >= 3.11; set PYTHON=..." >&2
    exit 1
fi

# A venv whose interpreter no longer runs (python moved/upgraded) is rebuilt.
if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi

rm -f "$VENV"/.precheck-requirements-*
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQS"
touch "$stamp"
echo "test-env: installed $(basename "$REQS") into $VENV"
