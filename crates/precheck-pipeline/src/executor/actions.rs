//! What a step's attempt does, by kind: a command (see [`super::process`]), check files through the
//! harness, manifests applied to the cluster, a CloudFormation stack; and how an attempt that did not
//! succeed ended ([`AttemptError`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use precheck_lang::shorten;

use crate::graph::{BoundAction, Node};
use crate::record::StepStatus;

use super::Shared;
use super::process::command;
use super::stage_report;
use super::step_log::StepLog;

/// Why an attempt of a step did not succeed, and so how the step ends when it was the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// The work was done and did not hold: a command exited with another status than 0, a check failed,
    /// a stack rolled back, a manifest was refused, the attempt timed out.
    Failed(String),
    /// The work could not be carried out: the cluster or AWS could not be asked, the program could not
    /// start.
    Errored(String),
}

impl AttemptError {
    /// An attempt that ended with an error on `fault`'s side: errored when it is the infrastructure's,
    /// failed otherwise (the step's input or what it did was wrong).
    pub fn of(fault: precheck::outcome::Fault, message: String) -> Self {
        match fault {
            precheck::outcome::Fault::Infrastructure => Self::Errored(message),
            precheck::outcome::Fault::Input | precheck::outcome::Fault::Assertion => Self::Failed(message),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        match self {
            Self::Failed(m) | Self::Errored(m) => m,
        }
    }

    /// What went wrong, as owned text.
    pub fn into_message(self) -> String {
        match self {
            Self::Failed(m) | Self::Errored(m) => m,
        }
    }

    /// The same, said of `place` (`file (document 2): …`).
    pub fn at(self, place: &str) -> Self {
        match self {
            Self::Failed(m) => Self::Failed(format!("{place}: {m}")),
            Self::Errored(m) => Self::Errored(format!("{place}: {m}")),
        }
    }

    /// The step's status when this was its last attempt.
    pub fn status(&self) -> StepStatus {
        match self {
            Self::Failed(_) => StepStatus::Failed,
            Self::Errored(_) => StepStatus::Errored,
        }
    }
}

/// A plain message is a failure: the work was done and did not hold.
impl From<String> for AttemptError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

/// One attempt of step `i`: a header line in its log, the work of its kind (bounded by its `timeout`),
/// a last line saying how it ended. Errored when the log cannot be opened: nothing it did could be kept.
pub(super) async fn attempt_node(
    shared: &Arc<Shared>,
    i: usize,
    node: &Node,
    log: &Path,
    attempt: u32,
) -> Result<(), AttemptError> {
    let log = StepLog::open(log.to_path_buf(), shared.redactor.clone()).map_err(AttemptError::Errored)?;
    log.line(&format!("== {} attempt {attempt} of {} ==", node.id, node.retry.attempts));
    let work = async {
        match &node.action {
            BoundAction::Run(argv) => command(shared, i, node, &log, argv).await,
            BoundAction::Shell(script) => {
                command(shared, i, node, &log, &["sh".to_owned(), "-e".to_owned(), "-c".to_owned(), script.clone()])
                    .await
            }
            BoundAction::Checks(paths) => checks(shared, i, node, &log, paths.clone()).await,
            BoundAction::Apply(files) => apply(shared, &log, files).await,
            BoundAction::CloudFormation(stack) => cloudformation(shared, &log, stack).await,
        }
    };
    // A command keeps its own time (it kills its group, then lets its last output reach the log before
    // the attempt's last line); the other actions are dropped when the time is up.
    let commands_keep_time = matches!(node.action, BoundAction::Run(_) | BoundAction::Shell(_));
    let result = match node.timeout.filter(|_| !commands_keep_time) {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(result) => result,
            Err(_) => Err(AttemptError::Failed(format!("timed out after {limit:?}"))),
        },
        None => work.await,
    };
    match &result {
        Ok(()) => log.line("== succeeded =="),
        Err(e) => log.line(&format!("== {}: {} ==", e.status().as_str(), e.message())),
    }
    result
}

/// Applies manifests to the target's live cluster.
async fn apply(shared: &Arc<Shared>, log: &StepLog, files: &[PathBuf]) -> Result<(), AttemptError> {
    #[cfg(feature = "kube")]
    {
        #[allow(irrefutable_let_patterns)]
        let precheck::cluster::ClusterSource::Live(options) = &shared.options.target.cluster else {
            return Err(AttemptError::Failed(
                "`apply` needs a live cluster (--kubeconfig / --context), not a snapshot".into(),
            ));
        };
        crate::apply::apply(options, files, &mut |line: &str| log.line(line)).await
    }
    #[cfg(not(feature = "kube"))]
    {
        let _ = (shared, log, files);
        Err(AttemptError::Failed("`apply` needs Precheck built with the `kube` feature".into()))
    }
}

/// Deploys a CloudFormation stack in the target's account.
async fn cloudformation(
    shared: &Arc<Shared>,
    log: &StepLog,
    stack: &crate::graph::BoundStack,
) -> Result<(), AttemptError> {
    #[cfg(feature = "aws")]
    {
        use precheck::outcome::Classified;
        let aws = precheck::aws::Aws::connect(&shared.options.target.aws)
            .await
            .map_err(|e| AttemptError::of(e.fault(), e.to_string()))?;
        crate::stack::deploy(aws.cloudformation(), stack, &mut |line: &str| log.line(line)).await
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = (shared, log, stack);
        Err(AttemptError::Failed("`cloudformation` needs Precheck built with the `aws` feature".into()))
    }
}

/// Runs check files through the harness. On a timeout the attempt is dropped and the harness cancelled:
/// tests under way stop at once (their commands killed, their API calls dropped), the others do not start.
async fn checks(
    shared: &Arc<Shared>,
    i: usize,
    node: &Node,
    log: &StepLog,
    paths: Vec<PathBuf>,
) -> Result<(), AttemptError> {
    let suite = {
        let env = node.env.clone();
        let vars = move |name: &str| {
            env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| std::env::var(name).ok())
        };
        precheck::harness::Suite::load(&paths, &vars).map_err(|errors| {
            let lines: Vec<String> = errors.iter().flat_map(|e| e.lines()).collect();
            for line in &lines {
                log.line(line);
            }
            format!("invalid check files: {}", lines.first().cloned().unwrap_or_default())
        })?
    };
    let target = shared.options.target.clone();
    let withheld = shared.options.withheld.clone();
    // Dropped with this attempt (a timeout): the harness stops its tests at once.
    let (cancel, cancelled) = tokio::sync::watch::channel(false);
    let _cancel = CancelOnDrop(cancel);
    let report = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
        let clusters = Arc::new(precheck::cluster::Clusters::new(target.cluster, None));
        let options = precheck::harness::RunOptions {
            #[cfg(feature = "aws")]
            aws: target.aws,
            cancel: Some(cancelled),
            withheld,
            ..Default::default()
        };
        // libtest's own lines are not kept (they would reach a file unmasked, and a cancelled run's file
        // would outlive the attempt): the log gets the report's lines instead.
        let args = libtest_mimic::Arguments { logfile: Some("/dev/null".into()), ..Default::default() };
        let (_, report) = precheck::harness::run(&args, &suite, clusters, options, &runtime);
        Ok::<_, String>(report)
    })
    .await
    .map_err(|e| format!("the checks panicked: {e}"))?
    .map_err(AttemptError::Errored)?;
    // The lines `precheck run` shows, from the same report.
    for line in precheck::report::terminal::pretty(&report).lines() {
        log.line(line);
    }
    stage_report::add(shared, node, &report);
    use precheck::outcome::Status;
    let count = |s| report.count(s);
    let worst = report.status();
    let summary = match worst {
        Status::Passed | Status::Skipped => return Ok(()),
        Status::Failed => format!("{} of {} tests failed", count(Status::Failed), report.tests.len()),
        Status::Errored => format!("{} of {} tests could not run", count(Status::Errored), report.tests.len()),
        Status::Invalid => format!("{} of {} tests are invalid", count(Status::Invalid), report.tests.len()),
    };
    // The first such test and why (its message on one line), so the record, `status` and the report say
    // more than a count: the sentence, the verdict, the objects that did not satisfy it.
    let first = report.tests.iter().find(|t| t.status() == worst);
    // Why, as the cluster told it, for the record (`status`, the HTML report); the log has every test's.
    let diagnosis = first.and_then(|t| t.attempts.last()?.diagnosis()).map(str::to_owned);
    shared.update(i, None, |s| s.diagnosis = diagnosis);
    let message = match first.and_then(|t| Some((t, &t.attempts.last()?.message))) {
        Some((test, why)) if !why.is_empty() => {
            let why: Vec<&str> = why.lines().map(str::trim).collect();
            format!("{summary}, first '{}': {}", test.name, shorten(&why.join("; "), 500))
        }
        _ => summary,
    };
    // Tests that could not ask the cluster or AWS make the step errored; invalid ones (an unknown
    // resource type) and failed ones make it failed.
    Err(match worst {
        Status::Errored => AttemptError::Errored(message),
        _ => AttemptError::Failed(message),
    })
}

/// Cancels a `checks` step's harness run when dropped: at the end of the attempt, or when its timeout
/// drops it while the tests run.
struct CancelOnDrop(tokio::sync::watch::Sender<bool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}
