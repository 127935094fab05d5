#!/usr/bin/env bats
load test_helper
ARGS="--context kind"
setup() { kubectl get ns "$NS" >/dev/null 2>&1 || true; }
helper() {
  kubectl get pods | grep -q "${1:-x}"
}
# bats test_tags=a, b
@test "it's \"quoted\"" {
  run kubectl $ARGS get pods -o jsonpath='{.items[*].metadata.name}'
  [ "$status" -ne 0 ]
  [[ $output =~ ^a.*b$ ]] && [ -n "$output" ]
  if [ -f x ]; then skip "no"; fi
  kubectl apply -f - <<-EOF
	kind: ConfigMap
	EOF
  x=$(helper) ; echo "$x" >&3
  run verify "there are 2 pods named '$APP'"
  assert_failure 3
  assert_output --partial $'a\tb'
}
