#!/usr/bin/env bash
# Starts the real Kubernetes test cluster (tests/support/cluster) for a whole test run, then runs a command with
# PRECHECK_TEST_CLUSTER_KUBECONFIG naming its kubeconfig, and stops the cluster when the command ends — or when
# this script is interrupted or killed (the launcher follows its parent).
#
#   scripts/test-cluster.sh cargo test --workspace
#
# The programs are built on first use (tests/support/cluster/build.sh says so and shows its progress).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

programs="$(bash tests/support/cluster/build.sh)"
state="$(mktemp -d "${TMPDIR:-/tmp}/precheck-test-cluster-XXXXXX")"
"$programs/bin/precheck-test-cluster" -bin "$programs/bin" -dir "$state" </dev/null >"$state/ready" &
launcher=$!
stop() {
    kill "$launcher" 2>/dev/null || true
    wait "$launcher" 2>/dev/null || true
    rm -rf "$state"
}
trap stop EXIT
trap 'exit 130' INT TERM

while ! grep -q '^READY ' "$state/ready" 2>/dev/null; do
    if ! kill -0 "$launcher" 2>/dev/null; then
        echo "test-cluster: the test cluster did not start (see above)" >&2
        exit 1
    fi
    sleep 0.2
done
export PRECHECK_TEST_CLUSTER_KUBECONFIG="$state/kubeconfig"
"$@"
