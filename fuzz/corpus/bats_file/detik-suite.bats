#!/usr/bin/env bats
# A bats-detik suite as teams write them, for tests/migrate_bats.rs: it runs with bats on the test cluster,
# then converted by `precheck migrate bats`, and each test must end the same way in both.
# MIGRATE_NS comes from the environment: a namespace of its own for each run.
load "detik"

DETIK_CLIENT_NAME="kubectl"
DETIK_CLIENT_NAMESPACE="$MIGRATE_NS"
APP="web"

setup_file() {
    kubectl create namespace "$MIGRATE_NS"
    kubectl create deployment "$APP" --image=registry.example/web:1.0 --replicas=2 -n "$MIGRATE_NS"
}

teardown_file() {
    kubectl delete namespace "$MIGRATE_NS" --wait=false >/dev/null 2>&1 || true
}

setup() {
    run kubectl get namespace "$MIGRATE_NS"
    [ "$status" -eq 0 ]
}

# bats test_tags=smoke
@test "the web pods run" {
    run try "at most 90 times every 1s to get pods named '^web-' and verify that 'status' is 'running'"
    [ "$status" -eq 0 ]
    run verify "there are 2 pods named '^$APP-'"
    [ "$status" -eq 0 ]
}

@test "kubectl finds the deployment" {
    run kubectl get deployment web -n "$MIGRATE_NS" -o name
    [ "$status" -eq 0 ]
    [ "$output" = "deployment.apps/web" ]
}

@test "a sentence that must not hold" {
    run verify "there are 5 pods named '^web-'"
    [ "$status" -eq 3 ]
}

@test "kubectl cannot find what is not there" {
    run kubectl get configmap absent -n "$MIGRATE_NS"
    [ "$status" -ne 0 ]
    [[ "$output" == *"not found"* ]]
}

@test "this one fails: there is no web service" {
    run verify "there is 1 service named '^web$'"
    [ "$status" -eq 0 ]
}

@test "this one fails too: the image is not 2.0" {
    verify "'.spec.template.spec.containers[0].image' matches ':2\.0$' for deployments named '^web$'"
}

@test "not yet" {
    skip "waiting for the ingress"
    verify "there is 1 ingress named 'web'"
}
