//! Starting and resuming runs: bind the pipeline, create or reopen the run's directory, hold its lock,
//! and execute.

use precheck::outcome::{Classified, Fault};
use std::sync::Arc;

use crate::LoadError;
use crate::executor::{ExecError, ExecOptions, Observer, execute};
use crate::graph::{BindError, ValuesError};
use crate::plan::Pipeline;
use crate::record::{RecordError, RunRecord, RunStatus, StepStatus, Store};
use crate::value::Values;

/// Why a run could not start, resume or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pipeline file is unreadable or invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Parameter values were refused.
    #[error("invalid parameters: {0}")]
    Values(#[from] ValuesError),
    /// The stage asked for does not exist.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The run's directory or record.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Execution stopped.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A resumed run needs the values of secret parameters again (they are not recorded).
    #[error(
        "run '{id}' had secret parameters, which are not recorded: give {} again (`-p NAME=…` or the \
         environment variable of the same name)",
        names.join(", ")
    )]
    SecretsNeeded {
        /// The run.
        id: String,
        /// The secret parameters without a value.
        names: Vec<String>,
    },
    /// A value given on resume for a parameter the run does not hold as a secret: a resumed run keeps the
    /// values it started with.
    #[error(
        "run '{id}' has no secret parameter '{name}': a resumed run keeps the values it started with; only \
         secret ones, which are not recorded, are given again"
    )]
    NotSecret {
        /// The run.
        id: String,
        /// The parameter named.
        name: String,
    },
    /// The pipeline file changed since the run started: resuming could run a different graph.
    #[error("{} changed since run '{id}' started; start a new run", file.display())]
    Changed {
        /// The run.
        id: String,
        /// The pipeline file.
        file: std::path::PathBuf,
    },
}

/// The input is at fault for the pipeline file, the values, a stage or run that does not exist, a resume
/// that lacks or adds values; otherwise Precheck could not do its work (the run's record, its report).
impl Classified for RunError {
    fn fault(&self) -> Fault {
        match self {
            Self::Load(_)
            | Self::Values(_)
            | Self::Bind(_)
            | Self::Changed { .. }
            | Self::SecretsNeeded { .. }
            | Self::NotSecret { .. } => Fault::Input,
            Self::Record(e) => e.fault(),
            Self::Exec(ExecError::Record(_)) => Fault::Infrastructure,
        }
    }
}

/// Starts a new run of `pipeline` with `values` (all of it, or one `stage`) and runs it to the end.
pub async fn start(
    pipeline: Arc<Pipeline>,
    values: &Values,
    stage: Option<&str>,
    store: &Store,
    observer: Arc<dyn Observer>,
    options: ExecOptions,
) -> Result<RunRecord, RunError> {
    Prepared::new(pipeline, values, stage, store)?.execute(observer, options).await
}

/// A run created, recorded and locked, not started yet: its id can be handed out (the trigger API answers
/// with it) before the work begins.
pub struct Prepared {
    pipeline: Arc<Pipeline>,
    graph: crate::Graph,
    run: crate::record::RunDir,
    record: RunRecord,
    lock: crate::record::RunLock,
}

impl Prepared {
    /// Binds the values, creates the run's directory and record, and takes its lock.
    pub fn new(pipeline: Arc<Pipeline>, values: &Values, stage: Option<&str>, store: &Store) -> Result<Self, RunError> {
        let graph = pipeline.bind(values, stage)?;
        Self::for_graph(pipeline, graph, store)
    }

    /// Like [`Prepared::new`] for a graph already bound (e.g. one step alone, [`crate::Graph::single`]).
    pub fn for_graph(pipeline: Arc<Pipeline>, graph: crate::Graph, store: &Store) -> Result<Self, RunError> {
        let record = RunRecord::new(&store.new_id(&pipeline.name), &pipeline, &graph);
        let run = store.create(&record)?;
        let lock = run.lock()?;
        Ok(Self { pipeline, graph, run, record, lock })
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The run's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.run.path()
    }

    /// Runs it to the end, telling `observer` of every transition (the views: progress lines, the HTML
    /// report's [`crate::html::ReportFile`]).
    pub async fn execute(self, observer: Arc<dyn Observer>, options: ExecOptions) -> Result<RunRecord, RunError> {
        let _lock = self.lock;
        Ok(execute(self.pipeline, self.graph, self.run, self.record, observer, options).await?)
    }
}

/// Resumes run `id`: steps that succeeded stay done; every other step runs again with all its attempts
/// (steps skipped by their `when` are skipped again). The values of secret parameters, which the record
/// does not keep, are given again: `NAME=VALUE` pairs in `given`, else from `lookup` (the environment
/// variable of their name), as [`Pipeline::with_secrets`] reads them. Refused when `given` names another
/// parameter, the pipeline file changed, a secret is missing or another process runs it.
pub async fn resume(
    store: &Store,
    id: &str,
    given: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
    observer: Arc<dyn Observer>,
    options: ExecOptions,
) -> Result<RunRecord, RunError> {
    let run = store.open(id)?;
    let _lock = run.lock()?;
    let mut record = run.read()?;
    if let Some((name, _)) = given.iter().find(|(name, _)| !record.secrets.contains(name)) {
        return Err(RunError::NotSecret { id: id.to_owned(), name: name.clone() });
    }
    let pipeline = Arc::new(Pipeline::load(&record.file)?);
    if pipeline.digest != record.digest {
        return Err(RunError::Changed { id: id.to_owned(), file: record.file.clone() });
    }
    let pairs = pipeline.with_secrets(given, lookup);
    let mut values = record.values.clone();
    let mut missing = Vec::new();
    for name in &record.secrets {
        match pairs.iter().rev().find(|(n, _)| n == name) {
            Some((_, text)) => {
                values.insert(name.clone(), crate::Value::String(text.clone()));
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(RunError::SecretsNeeded { id: id.to_owned(), names: missing });
    }
    let graph = pipeline.bind(&values, record.stage.as_deref())?;
    let same =
        graph.nodes.len() == record.steps.len() && graph.nodes.iter().zip(&record.steps).all(|(n, s)| n.id == s.id);
    if !same {
        return Err(RunError::Changed { id: id.to_owned(), file: record.file.clone() });
    }
    // Done for good: succeeded. Skipped steps are decided again once what they wait for is done.
    let redo = |s: &crate::record::StepRecord| s.status != StepStatus::Succeeded;
    let any_redone = record.steps.iter().any(|s| !s.finally && redo(s));
    for step in &mut record.steps {
        // What the crashed run started is still running in its own process group: stop it first, so the
        // step does not run twice at once.
        if let Some(pgid) = step.pgid.take() {
            precheck::command::ProcessGroup::recorded(pgid).kill();
        }
        if redo(step) || (step.finally && any_redone) {
            step.status = StepStatus::Pending;
            step.blocked = false;
            step.attempts = 0;
            step.message = None;
            step.diagnosis = None;
            step.retry_at_ms = None;
            step.started_ms = None;
            step.finished_ms = None;
        }
    }
    record.status = RunStatus::Running;
    record.resumes += 1;
    run.write(&record)?;
    Ok(execute(pipeline, graph, run, record, observer, options).await?)
}
