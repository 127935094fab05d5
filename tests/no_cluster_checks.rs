//! `precheck::harness::cargo_test` with no usable cluster configuration: every check is ignored, with the
//! reason printed, and the run succeeds (so `cargo test` passes on machines without a cluster).

fn main() {
    let options = precheck::cluster::ConnectOptions {
        kubeconfig: Some("tests/fixtures/no-such-kubeconfig.yaml".into()),
        context: None,
    };
    let conclusion = precheck::harness::cargo_test(&["checks/cluster"], options);
    assert_eq!(conclusion.num_ignored, 7, "every check of checks/cluster is ignored");
    assert_eq!((conclusion.num_passed, conclusion.num_failed), (0, 0));
    conclusion.exit();
}
