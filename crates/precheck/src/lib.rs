//! Precheck: evaluate DETIK-style sentences and check files against Kubernetes clusters.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use precheck::cluster::{Cluster, Snapshot};
//!
//! let cluster = Cluster::from_snapshot(Snapshot::from_yaml(include_str!("../../../examples/offline_snapshot/cluster.yaml")).unwrap());
//! let verdict = cluster.verify("there are 2 pods named '^nginx-'").await.unwrap();
//! assert!(verdict.passed, "{verdict}");
//! # });
//! ```
//!
//! With the `kube` feature (on by default), `Cluster::from_kubeconfig().await?` connects like kubectl.
//!
//! - [`cluster`]: sources of objects (live, snapshot) and waiting;
//! - [`evaluate`]: the pure evaluation of a sentence on objects; [`object`]: partial objects compared
//!   with the cluster's (`expect object`); [`diagnosis`]: why a check failed, as
//!   the cluster tells it;
//! - [`field_values`]: properties read as `kubectl -o custom-columns` prints them;
//! - [`runner`] and [`command`]: running the steps of a test;
//! - [`harness`]: check files as libtest-mimic trials, in parallel, with retries; [`partition`]: one
//!   shard of them;
//! - [`outcome`] and [`report`]: one model of results, written as JUnit XML or TAP.

#[cfg(feature = "aws")]
pub mod aws;
pub mod cluster;
#[cfg(any(feature = "kube", feature = "aws"))]
mod coalesce;
pub mod command;
pub mod diagnosis;
pub mod evaluate;
pub mod field_values;
pub mod harness;
pub mod object;
pub mod outcome;
pub mod partition;
pub mod path_text;
pub mod report;
pub mod runner;
pub mod yaml_error;

pub use precheck_lang as lang;
