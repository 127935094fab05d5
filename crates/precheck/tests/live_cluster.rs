//! The library against the real test cluster with the standard fixtures: connection, discovery, coalesced
//! lists.

#[path = "../../../tests/support/cluster.rs"]
mod cluster;
#[path = "../../../tests/support/workspace.rs"]
mod workspace;

use precheck::cluster::{Cluster, ConnectOptions, Namespaces};

async fn connect(cluster: &cluster::TestCluster) -> Cluster {
    Cluster::connect(&ConnectOptions { kubeconfig: Some(cluster.kubeconfig.clone()), context: None }).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_through_the_library() {
    let fixtures = cluster::TestCluster::with_fixtures();
    let cluster = connect(&fixtures).await;
    assert_eq!(cluster.namespaces(), &Namespaces::One("default".into()));
    let verdict = cluster.verify("there are 2 pods named '^nginx-'").await.unwrap();
    assert!(verdict.passed, "{verdict}");
    let verdict = cluster.verify("'.spec.size' is '3' for wd named 'blue'").await.unwrap();
    assert!(verdict.passed, "{verdict}");
    let cluster = cluster.with_namespaces(Namespaces::All);
    assert!(cluster.verify("there is 1 pod named '^api-'").await.unwrap().passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_lists_share_one_request() {
    let fixtures = cluster::TestCluster::with_fixtures();
    let cluster = connect(&fixtures).await;
    // Discovery first, so only lists are counted below.
    assert!(cluster.verify("there are 2 pods named '^nginx-'").await.unwrap().passed);
    // Parsed up front, so the 20 checks reach the cluster within microseconds of each other.
    let sentence = precheck_lang::parse_sentence("there are 2 pods named '^nginx-'").unwrap();
    let before = cluster.requests();
    let checks = (0..20).map(|_| cluster.check(&sentence, None));
    for verdict in futures::future::join_all(checks).await {
        assert!(verdict.unwrap().passed);
    }
    // One request when nothing stalls this task; a busy machine (the other test asks the cluster too) can
    // split the burst across the 1 ms gathering window, never into anything near one request per check.
    let made = cluster.requests() - before;
    assert!(made < 10, "20 identical concurrent LISTs made {made} requests");
    // Different queries are not merged.
    let before = cluster.requests();
    let (a, b) =
        tokio::join!(cluster.verify("there are 2 pods named 'nginx'"), cluster.verify("there is 1 svc named 'nginx'"));
    assert!(a.unwrap().passed && b.unwrap().passed);
    assert_eq!(cluster.requests() - before, 2);
}
