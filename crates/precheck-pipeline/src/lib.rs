//! Precheck pipelines: chain preflight → build → addons → validation as a DAG of steps, on one machine.
//!
//! A pipeline file (YAML) declares typed parameters, stages of steps (`run` a command, a `shell` script,
//! `checks` files), dependencies between steps and stages, `when` conditions, fan-out over items,
//! retries with backoff, timeouts, shared templates, and `finally` steps that always run.
//! [`Pipeline::load`] checks the whole file and reports every problem with its line and column;
//! [`Pipeline::bind`] turns it and the run's parameter values into a [`Graph`] of step instances.
//!
//! ```
//! use std::path::Path;
//! use precheck_pipeline::Pipeline;
//!
//! let pipeline = Pipeline::parse(Path::new("build.yaml"), r#"
//! name: build
//! parameters:
//!   - name: METRICS_SERVER
//!     default: none
//! stages:
//!   - name: addons
//!     steps:
//!       - name: metrics-server
//!         when: METRICS_SERVER != 'none'
//!         run: [echo, "installing ${METRICS_SERVER}"]
//! "#).unwrap();
//! let graph = pipeline.bind(&pipeline.values_from_args(&[]).unwrap(), None).unwrap();
//! assert_eq!(graph.nodes[0].id, "addons/metrics-server");
//! assert!(graph.nodes[0].skip.is_some(), "METRICS_SERVER is 'none'");
//! ```

#[cfg(feature = "kube")]
pub mod apply;
pub mod argo;
pub mod condition;
pub mod error;
pub mod executor;
pub mod file;
pub mod graph;
pub mod html;
pub mod plan;
pub mod progress;
pub mod record;
pub mod run;
pub mod secret;
#[cfg(feature = "aws")]
pub mod stack;
pub mod trigger;
pub mod value;

pub use error::{LoadError, PipelineError};
pub use graph::{Graph, Node};
pub use plan::{Action, Pipeline, RetryPolicy, Stage, Step};
pub use value::{Kind, Value, Values};
