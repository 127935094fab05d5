#!/usr/bin/env bash
# Smoke test of tests/support/kube_emulator.py with the real kubectl.
#
#   tests/support/test_kube_emulator.sh
#
# Starts the emulator (venv from scripts/test-env.sh), points kubectl at it
# through a temporary kubeconfig and checks what the Rust tests rely on.
# Exits non-zero on the first failure; ends with "N passed, 0 failed".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
FIX="$REPO/tests/fixtures/emulator"
VENV="${PRECHECK_VENV:-$REPO/.venv}"
PY="$VENV/bin/python"

command -v kubectl >/dev/null || { echo "FAIL: kubectl not found on PATH" >&2; exit 1; }
"$REPO/scripts/test-env.sh" >/dev/null

tmp="$(mktemp -d)"
emu_pid=""
watch_pid=""
cleanup() {
    [[ -n "$watch_pid" ]] && kill "$watch_pid" 2>/dev/null || true
    [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
fail() {
    echo "FAIL: $*" >&2
    if [[ -f "$tmp/emu.err" ]]; then
        echo "--- emulator stderr (last lines):" >&2
        tail -n 20 "$tmp/emu.err" >&2
    fi
    echo "$passed passed, 1 failed"
    exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }

# start_emulator ARGS...: runs it with its stdin on fd 3 of this shell (closing fd 3
# makes it exit), waits for the READY line and writes a kubeconfig for it.
start_emulator() {
    : > "$tmp/emu.out"
    exec 3> >(exec "$PY" "$HERE/kube_emulator.py" "$@" > "$tmp/emu.out" 2> "$tmp/emu.err")
    emu_pid=$!
    for _ in $(seq 100); do
        [[ -s "$tmp/emu.out" ]] && break
        kill -0 "$emu_pid" 2>/dev/null || fail "emulator exited before READY"
        sleep 0.1
    done
    read -r ready url < "$tmp/emu.out" || true
    [[ "$ready" == READY && "$url" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "bad READY line: $(cat "$tmp/emu.out")"
    cat > "$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: emulator
  cluster:
    server: $url
users:
- name: emulator
  user: {}
contexts:
- name: emulator
  context: {cluster: emulator, user: emulator, namespace: default}
current-context: emulator
EOF
}

export KUBECONFIG="$tmp/kubeconfig" KUBECACHEDIR="$tmp/cache"
k() { kubectl --request-timeout=5s "$@" 3>&-; }

# expect DESCRIPTION EXPECTED -- COMMAND...: COMMAND succeeds and prints exactly EXPECTED.
expect() {
    local desc="$1" want="$2" got
    shift 3
    got="$("$@" 2>&1)" || fail "$desc: command failed: $*"$'\n'"$got"
    [[ "$got" == "$want" ]] || fail "$desc: $*"$'\n'"--- expected:"$'\n'"$want"$'\n'"--- got:"$'\n'"$got"
    ok "$desc"
}
# expect_grep DESCRIPTION REGEX -- COMMAND...: COMMAND succeeds and some output line matches REGEX.
expect_grep() {
    local desc="$1" re="$2" got
    shift 3
    got="$("$@" 2>&1)" || fail "$desc: command failed: $*"$'\n'"$got"
    grep -Eq -- "$re" <<<"$got" || fail "$desc: no line matches /$re/ in output of: $*"$'\n'"$got"
    ok "$desc"
}
# json_check DESCRIPTION PYTHON_EXPR PATH: `kubectl get --raw PATH` parsed as `d`, PYTHON_EXPR must be true.
json_check() {
    local raw
    raw="$(k get --raw "$3" 2>&1)" || fail "$1: get --raw $3 failed: $raw"
    "$PY" -c "import json, sys; d = json.loads(sys.stdin.read()); sys.exit(0 if ($2) else 1)" <<<"$raw" \
        || fail "$1: $2 is false for $3: ${raw:0:400}"
    ok "$1"
}

start_emulator --load "$FIX/00-namespaces.yaml"

# Discovery.
expect_grep "api-resources lists pods (po)" '^pods +po +v1 +true +Pod$' -- k api-resources
expect_grep "api-resources lists services (svc)" '^services +svc +v1 +true +Service$' -- k api-resources
expect_grep "api-resources lists deployments (apps/v1)" '^deployments +deploy +apps/v1 +true +Deployment$' -- k api-resources
expect_grep "api-resources lists namespaces" '^namespaces +ns +v1 +false +Namespace$' -- k api-resources
expect_grep "api-resources lists CRDs" '^customresourcedefinitions +crd,crds +apiextensions.k8s.io/v1 +false' -- k api-resources
json_check "/api/v1 groupVersion is v1" 'd["groupVersion"] == "v1"' /api/v1
json_check "sub-resources carry no short names" \
    'all(not r["shortNames"] for r in d["resources"] if "/" in r["name"]) and any(r["name"] == "services/proxy" for r in d["resources"])' /api/v1

# Writes through kubectl apply (client-side: create, then strategic-merge patch).
expect "apply pods" $'pod/nginx-1 created\npod/nginx-2 created\npod/metrics-server-xyz created\npod/api-7d9f created' \
    -- k apply -f "$FIX/10-pods.yaml"
expect "apply service, deployment, configmap" \
    $'service/nginx created\ndeployment.apps/nginx created\nconfigmap/nginx-config created' -- k apply -f "$FIX/20-nginx.yaml"
expect "apply CRD" "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created" \
    -- k apply -f "$FIX/30-widgets-crd.yaml"
expect "apply custom resource" "widget.example.com/blue created" -- k apply -f "$FIX/40-widgets.yaml"
expect "re-apply is unchanged" "widget.example.com/blue unchanged" -- k apply -f "$FIX/40-widgets.yaml"

# Reads.
expect "get po,svc,deploy" $'pod/metrics-server-xyz\npod/nginx-1\npod/nginx-2\nservice/nginx\ndeployment.apps/nginx' \
    -- k get po,svc,deploy -o name
expect "get deployments.apps" "nginx 2/2" \
    -- k get deployments.apps nginx -o jsonpath='{.metadata.name} {.spec.replicas}/{.status.readyReplicas}'
expect "get svc ports" "80->8080" -- k get svc nginx -o jsonpath='{.spec.ports[0].port}->{.spec.ports[0].targetPort}'
expect "label selector a=b" $'pod/nginx-1\npod/nginx-2' -- k get pods -l app=nginx -o name
expect "label selector set-based, all namespaces" $'default/nginx-1\ndefault/nginx-2\nteam-a/api-7d9f' \
    -- k get pods -A -l 'app in (nginx,api),tier notin (db)' \
    -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}'
expect "label selector !key and !=" "pod/metrics-server-xyz" -- k get pods -l '!tier,app!=api' -o name
expect "field selector status.phase" $'pod/nginx-1\npod/nginx-2' -- k get pods --field-selector status.phase=Running -o name
expect "field selector metadata.namespace" "pod/api-7d9f" \
    -- k get pods -A --field-selector metadata.namespace=team-a -o name
expect "custom-columns" $'NAME                 STATUS\nmetrics-server-xyz   Pending\nnginx-1              Running\nnginx-2              Running' \
    -- k get pods -o custom-columns=NAME:.metadata.name,STATUS:.status.phase
expect_grep "get widgets (CRD)" '^blue ' -- k get widgets
expect "get wd (short name)" "blue 3" -- k get wd blue -o jsonpath='{.metadata.name} {.spec.size}'
expect "get ns default" "namespace/default" -- k get ns default -o name
expect "get ns" $'namespace/default\nnamespace/team-a' -- k get ns -o name
json_check "list has kind, apiVersion, resourceVersion" \
    'd["kind"] == "PodList" and d["apiVersion"] == "v1" and int(d["metadata"]["resourceVersion"]) > 0' \
    /api/v1/namespaces/default/pods
json_check "objects have uid, resourceVersion, creationTimestamp" \
    'all(i["metadata"].get(f) for i in d["items"] for f in ("uid", "resourceVersion", "creationTimestamp"))' \
    /apis/apps/v1/deployments

# Errors.
out="$(k get pod missing 2>&1)" && fail "get pod missing: expected a non-zero exit"
grep -q 'Error from server (NotFound): pods "missing" not found' <<<"$out" || fail "get pod missing: $out"
ok "get pod missing is NotFound"

# Watch receives a status update made through the /status sub-resource.
timeout 10 kubectl get pods -w --output-watch-events \
    -o custom-columns=EVENT:.type,NAME:.object.metadata.name,PHASE:.object.status.phase \
    > "$tmp/watch.out" 2>&1 3>&- &
watch_pid=$!
for _ in $(seq 50); do grep -q nginx-2 "$tmp/watch.out" && break; sleep 0.1; done
grep -q nginx-2 "$tmp/watch.out" || fail "get pods -w printed no initial state: $(cat "$tmp/watch.out")"
expect "patch --subresource=status" "pod/metrics-server-xyz patched" \
    -- k patch pod metrics-server-xyz --subresource=status --type=merge -p '{"status":{"phase":"Running"}}'
for _ in $(seq 50); do grep -Eq '^MODIFIED +metrics-server-xyz +Running' "$tmp/watch.out" && break; sleep 0.1; done
grep -Eq '^MODIFIED +metrics-server-xyz +Running' "$tmp/watch.out" || fail "watch missed the update: $(cat "$tmp/watch.out")"
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
ok "get pods -w receives the update"
expect "patched phase is stored" "Running" -- k get pod metrics-server-xyz -o jsonpath='{.status.phase}'

# Delete.
expect "delete pod" 'pod "nginx-2" deleted' -- k delete pod nginx-2
out="$(k get pod nginx-2 2>&1)" && fail "deleted pod still found"
grep -q NotFound <<<"$out" || fail "get deleted pod: $out"
ok "deleted pod is NotFound"

# Exits when its stdin closes.
exec 3>&-
for _ in $(seq 50); do kill -0 "$emu_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$emu_pid" 2>/dev/null && fail "emulator still running after its stdin closed"
ok "exits at stdin EOF"

# Preloading every fixture (CRD and custom resource in one run).
loads=()
for f in "$FIX"/*.yaml; do loads+=(--load "$f"); done
start_emulator "${loads[@]}"
expect "preloaded objects" $'pod/metrics-server-xyz\npod/nginx-1\npod/nginx-2\nwidget.example.com/blue' \
    -- k get pods,widgets -o name
kill -TERM "$emu_pid"
wait "$emu_pid" || fail "emulator exit status $? after SIGTERM"
emu_pid=""
ok "exits 0 on SIGTERM"

echo "$passed passed, 0 failed"
