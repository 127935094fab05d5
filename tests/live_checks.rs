//! `cargo test --test live_checks`: the check files of `checks/cluster` under libtest, through
//! `precheck::harness`, as a project's own `tests/checks.rs` would run them — here against the real
//! test cluster with the standard fixtures (or the cluster named by `PRECHECK_E2E_KUBECONFIG`).

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

fn main() {
    let cluster = cluster::TestCluster::with_fixtures();
    let options = precheck::cluster::ConnectOptions { kubeconfig: Some(cluster.kubeconfig.clone()), context: None };
    let conclusion = precheck::harness::cargo_test(&["checks/cluster"], options);
    drop(cluster);
    conclusion.exit();
}
