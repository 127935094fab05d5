//! Evaluating sentences from your own Rust code.
//!
//! ```text
//! cargo run --example library_verify            # against the bundled snapshot
//! cargo run --example library_verify -- --live  # against the current kube context
//! ```

use precheck::cluster::{Cluster, Snapshot};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = if std::env::args().any(|a| a == "--live") {
        Cluster::from_kubeconfig().await?
    } else {
        Cluster::from_snapshot(Snapshot::from_files(&["examples/offline_snapshot/cluster.yaml"])?)
    };
    let sentences = [
        "there are 2 pods named '^nginx-'",
        "'status' is 'running' for pods named '^nginx-'",
        "'.status.containerStatuses[0].restartCount' is less than '1' for pods named '^nginx-'",
    ];
    // The last sentence fails on the snapshot (one pod restarted twice): the verdict lists every object.
    for sentence in sentences {
        let verdict = cluster.verify(sentence).await?;
        println!("{} {sentence}\n  {verdict}", if verdict.passed { "PASS" } else { "FAIL" });
    }
    Ok(())
}
