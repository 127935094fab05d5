#!/usr/bin/env bash
# Builds the test cluster's programs from the pinned Go modules beside this script — kube-apiserver,
# kube-controller-manager, kube-scheduler and etcd (controlplane/), kwok (kwok/), helm (helm/), kuttl (kuttl/) and the launcher
# (launcher/), and Argo Workflows' CRDs (argo/pin) — into a cache outside the repository, each keyed by its
# pins. A no-op when the cache is warm.
#
#   tests/support/cluster/build.sh    # prints, on its last line, a directory with bin/ and share/
#
# The cache is $PRECHECK_CLUSTER_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/precheck/test-cluster. Progress goes
# to stderr. Go builds with the machine's own toolchain (GOTOOLCHAIN=local) and without cgo.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PRECHECK_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/precheck/test-cluster}"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

if ! command -v go >/dev/null 2>&1; then
    echo "test-cluster: go is not on PATH; the test cluster is built from Go modules (Go >= 1.26)" >&2
    exit 1
fi
go_version="$(go env GOVERSION)"

# A module's key: its files, this script and the Go that builds it.
key() { (cd "$HERE" && cat build.sh "$1"/go.mod "$1"/go.sum "$1"/*.go "$1"/*/*.go "$1"/stages/* "$1"/pin 2>/dev/null; echo "$go_version") | sha256sum | cut -c1-16; }
# A version, read from the go.mod that pins it.
pinned() { awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$HERE/$1/go.mod"; }

mkdir -p "$CACHE"
# One build at a time (parallel test binaries may all ask): lock the cache directory itself.
exec 9<"$CACHE"
flock 9

built=()
# build MODULE DESCRIPTION RECIPE: runs RECIPE in the module directory with $work/bin as the output unless
# $CACHE/MODULE-KEY is complete; appends that directory to $built.
build() {
    local module="$1" what="$2" recipe="$3" out
    out="$CACHE/$module-$(key "$module")"
    if [[ ! -f "$out/complete" ]]; then
        local started=$SECONDS
        echo "test-cluster: building $what" >&2
        work="$(mktemp -d "$CACHE/.build-XXXXXX")"
        mkdir -p "$work/bin" "$work/share"
        (cd "$HERE/$module" && "$recipe" "$work") || { rm -rf "$work"; return 1; }
        touch "$work/complete"
        rm -rf "$out"
        mv "$work" "$out"
        echo "test-cluster: $module built in $((SECONDS - started)) s" >&2
    fi
    built+=("$out")
}

k8s="$(pinned controlplane k8s.io/kubernetes)"
kwok_version="$(pinned kwok sigs.k8s.io/kwok)"
helm_version="$(pinned helm helm.sh/helm/v3)"
kuttl_version="$(pinned kuttl github.com/kudobuilder/kuttl)"

controlplane() {
    local minor="${k8s#v1.}" flags="-s -w" pkg
    minor="${minor%%.*}"
    # /version tells the real release (helm and kubectl read it).
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
        flags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    go build -trimpath -ldflags "$flags" -o "$1/bin/" ./kube-apiserver ./kube-controller-manager ./kube-scheduler ./etcd
}
kwok() {
    go build -trimpath -ldflags "-s -w" -o "$1/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
    # kwok's stage files (its defaults are built in; tests copy and change them to hold pods, for example).
    cp -r "$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage" "$1/share/kwok-stage"
    chmod -R u+w "$1/share"
}
helm() {
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version" \
        -o "$1/bin/helm" helm.sh/helm/v3/cmd/helm
}
kuttl() {
    go build -trimpath -ldflags "-s -w -X github.com/kudobuilder/kuttl/internal/version.gitVersion=$kuttl_version" \
        -o "$1/bin/kubectl-kuttl" github.com/kudobuilder/kuttl/cmd/kubectl-kuttl
}
launcher() {
    go build -trimpath -ldflags "-s -w" -o "$1/bin/precheck-test-cluster" .
    # The kwok stages it gives kwok besides the module's (share/kwok-stage).
    cp -r stages "$1/share/precheck-stages"
}

argo() {
    # Argo Workflows' CRDs with their full schemas, as its module ships them (nothing of it is built or run:
    # the API server checks exported Workflows against them). The checksum is the pinned one.
    local module version sum info
    read -r module version sum <pin
    info="$(GOFLAGS=-mod=mod go mod download -json "$module@$version")"
    grep -q "\"Sum\": \"$sum\"" <<<"$info" || { echo "test-cluster: $module@$version is not $sum" >&2; return 1; }
    mkdir -p "$1/share/argo-crds"
    cp "$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")"/manifests/base/crds/full/argoproj.io_*.yaml "$1/share/argo-crds/"
    chmod -R u+w "$1/share"
}

build controlplane "kube-apiserver, kube-controller-manager, kube-scheduler $k8s and etcd (first use: 10-30 min on 2 cores)" controlplane
build kwok "kwok $kwok_version" kwok
build helm "helm $helm_version" helm
build kuttl "kuttl $kuttl_version" kuttl
build launcher "the launcher" launcher
build argo "Argo Workflows' CRDs ($(cut -d' ' -f2 "$HERE/argo/pin"))" argo

# One directory with everything, named by the modules' keys.
set_key="$(printf '%s\n' "${built[@]}" | sha256sum | cut -c1-16)"
set_dir="$CACHE/set-$set_key"
if [[ ! -f "$set_dir/complete" ]]; then
    rm -rf "$set_dir"
    mkdir -p "$set_dir/bin" "$set_dir/share"
    for dir in "${built[@]}"; do
        for f in "$dir"/bin/*; do ln -s "$f" "$set_dir/bin/"; done
        for f in "$dir"/share/*; do [[ -e "$f" ]] && ln -s "$f" "$set_dir/share/"; done
    done
    printf 'kubernetes %s\nkwok %s\nhelm %s\nkuttl %s\n' "$k8s" "$kwok_version" "$helm_version" "$kuttl_version" \
        >"$set_dir/versions"
    touch "$set_dir/complete"
fi
echo "test-cluster: programs ready in $set_dir" >&2
echo "$set_dir"
