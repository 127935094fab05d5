#!/usr/bin/env bash
# Runs the cluster-build pipeline end to end on this machine: starts moto (AWS, from the test venv, created
# on first use) and a real Kubernetes control plane with kwok nodes on free 127.0.0.1 ports, points
# Precheck, the aws CLI, kubectl and helm at them, runs the pipeline, and stops both. Extra arguments go to `precheck pipeline run`
# (e.g. -p METRICS_SERVER=v0.7.2). The exit code is the pipeline's.
#
#   PRECHECK=path/to/precheck   use this binary instead of `cargo run`
#   STATE_DIR=dir               keep the run records there (default: a temporary directory, removed)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$REPO/scripts/test-env.sh" >/dev/null
VENV="${PRECHECK_VENV:-$REPO/.venv}"
export PATH="$VENV/bin:$PATH"

work="$(mktemp -d)"
moto_pid=""
cluster_pid=""
run_pid=""
cleanup() {
    set +e
    [[ -n "$run_pid" ]] && kill "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null
    [[ -n "$moto_pid" ]] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
    [[ -n "$cluster_pid" ]] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null
    # Run records stay where STATE_DIR says; without it they go with the rest of the scratch directory.
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# moto: retry with another port if the one picked is taken in between.
for _ in 1 2 3 4 5; do
    port="$(free_port)"
    moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
    moto_pid=$!
    for _ in $(seq 100); do
        # Our moto must still be alive: a port taken in between would answer for another server.
        kill -0 "$moto_pid" 2>/dev/null || break
        if python -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null \
            && kill -0 "$moto_pid" 2>/dev/null; then break 2; fi
        sleep 0.1
    done
    kill "$moto_pid" 2>/dev/null || true
    moto_pid=""
done
[[ -n "$moto_pid" ]] || { echo "run.sh: moto did not start: $(cat "$work/moto.log")" >&2; exit 4; }

# A real Kubernetes control plane with kwok nodes (tests/support/cluster: built from pinned Go modules on
# first use, which takes a while once). It prints `READY KUBECONFIG` and stops when this script ends.
programs="$(bash "$REPO/tests/support/cluster/build.sh")"
export PATH="$programs/bin:$PATH"   # helm
mkdir "$work/cluster"
"$programs/bin/precheck-test-cluster" -bin "$programs/bin" -dir "$work/cluster" </dev/null >"$work/cluster.out" 2>"$work/cluster.log" &
cluster_pid=$!
until grep -q '^READY ' "$work/cluster.out" 2>/dev/null; do
    kill -0 "$cluster_pid" 2>/dev/null || { echo "run.sh: the cluster did not start: $(cat "$work/cluster.log")" >&2; exit 4; }
    sleep 0.2
done

export KUBECONFIG="$work/cluster/kubeconfig" KUBECACHEDIR="$work/kube-cache"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_CONFIG_FILE="$work/none" AWS_SHARED_CREDENTIALS_FILE="$work/none" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

state="${STATE_DIR:-$work/state}"
echo "run.sh: moto on $AWS_ENDPOINT_URL, $(tail -n 1 "$work/cluster.log" | sed 's/^precheck-test-cluster: //'), run records in $state" >&2
if [[ -n "${PRECHECK:-}" ]]; then
    precheck=("$PRECHECK")
else
    precheck=(cargo run --quiet --manifest-path "$REPO/Cargo.toml" --)
fi
# In the background, so a signal to this script stops the run before the emulators go.
"${precheck[@]}" pipeline run "$REPO/examples/cluster-build/pipeline.yaml" --state-dir "$state" "$@" &
run_pid=$!
status=0
wait "$run_pid" || status=$?
run_pid=""
exit "$status"
