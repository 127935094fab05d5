//! Object assertions against the real test cluster (tests/support/cluster.rs): a kuttl-style assert file
//! matched at once and waited for through the watch, the first difference of a Deployment short of its
//! replicas, an errors file with labels.

#[path = "support/binary.rs"]
mod binary;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use binary::{precheck, text};
use cluster::shared;

fn deployment(name: &str, node_selector: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      nodeSelector: {{{node_selector}}}
      containers: [{{name: app, image: nginx}}]
"
    )
}

#[test]
fn kuttl_assert_and_errors_files_hold_against_the_cluster_and_a_try_waits_through_the_watch() {
    let cluster = shared();
    let ns = cluster.namespace("objects");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // kuttl's semantics: the conditions list has as many items as the object's, in order.
    write(
        "web-ready.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\nstatus:\n  readyReplicas: 2\n  conditions:\n    - {type: Available, status: 'True'}\n    - {type: Progressing}\n",
    );
    write(
        "short-ready.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: short}\nstatus:\n  conditions:\n    - {type: Available, reason: MinimumReplicasAvailable}\n    - {type: Progressing}\n",
    );
    write(
        "no-failed-pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {app: web}\nstatus: {phase: Failed}\n",
    );
    write(
        "objects.check",
        &format!(
            "namespace '{ns}'\n
test 'web becomes ready' {{
    run kubectl -n {ns} apply -f web.yaml
    try at most 60 times every 1s to expect object 'web-ready.yaml'
    expect object 'web-ready.yaml'
    expect no object 'no-failed-pods.yaml'
}}

test 'short is ready' {{
    expect object 'short-ready.yaml'
}}
",
            ns = ns.name
        ),
    );
    // `web` is applied by the test: the `try` sees it become ready through the watch; `short` never is.
    write("web.yaml", &deployment("web", ""));
    ns.apply(&deployment("short", "disk: none-such"));
    cluster.wait_until(
        &["-n", &ns.name, "deployment", "short"],
        "{.status.conditions[?(@.type==\"Available\")].reason}",
        "MinimumReplicasUnavailable",
    );
    let out = precheck(&cluster.kubeconfig, dir.path(), &["run", "objects.check", "-j", "2"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("test objects.check::web becomes ready ... ok"), "{all}");
    assert!(all.contains("test objects.check::short is ready ... FAILED"), "{all}");
    assert!(
        all.contains(&format!(
            "BAD {}/short (.status.conditions[0].reason: expected 'MinimumReplicasAvailable', found 'MinimumReplicasUnavailable')",
            ns.name
        )),
        "{all}"
    );
    // The failed match says why, as a failed sentence does.
    assert!(
        all.contains("diagnosis:\n  deployment ")
            && all.contains("condition Available=False MinimumReplicasUnavailable"),
        "{all}"
    );
}
