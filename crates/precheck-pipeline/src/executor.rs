//! Runs a [`Graph`]: each step as soon as the steps it waits for have succeeded (or were skipped by
//! their `when`), at most `parallelism` at once (and at most a stage's own limit), with retries, backoff
//! and timeouts; `finally` steps after everything else, whatever happened. Every transition rewrites the
//! run record and is told to an [`Observer`] (the terminal view).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use precheck::command::Withheld;
use precheck_lang::shorten;
use tokio::sync::Semaphore;

use crate::graph::{BoundAction, Graph, Node};
use crate::plan::{Pipeline, RetryPolicy};
use crate::record::{RecordError, RunDir, RunRecord, RunStatus, StepStatus, now_ms};
use crate::secret::Redactor;

/// What steps that run check files check against.
#[derive(Debug, Clone)]
pub struct ChecksTarget {
    /// The cluster source for `checks` steps.
    pub cluster: precheck::cluster::ClusterSource,
    /// How AWS sentences reach the account.
    #[cfg(feature = "aws")]
    pub aws: precheck::aws::AwsOptions,
}

impl Default for ChecksTarget {
    fn default() -> Self {
        Self {
            #[cfg(feature = "kube")]
            cluster: precheck::cluster::ClusterSource::Live(Default::default()),
            #[cfg(not(feature = "kube"))]
            cluster: precheck::cluster::ClusterSource::Fixed(Arc::new(precheck::cluster::Cluster::from_snapshot(
                Default::default(),
            ))),
            #[cfg(feature = "aws")]
            aws: Default::default(),
        }
    }
}

/// Settings of one execution.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Overrides the pipeline's `parallelism`.
    pub parallelism: Option<usize>,
    /// Where `checks` steps look.
    pub target: ChecksTarget,
    /// Extra environment for every step (`KUBECONFIG`, `AWS_*` of the target).
    pub env: Vec<(String, String)>,
    /// What steps see as `PRECHECK_RUN_ID` instead of the record's id (an orchestrator's run, such as
    /// the Argo Workflow a step's pod belongs to).
    pub run_id: Option<String>,
    /// Variables no started program inherits — `run` and `shell` steps and the commands of `checks` steps'
    /// check files alike: the trigger's token always, the pipeline's secret parameters always (added by the
    /// executor; a step that needs one names it in its `env:`), and these.
    pub withheld: precheck::command::Withheld,
}

/// A change worth showing.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An attempt of a step started.
    Started {
        /// The step's index.
        step: usize,
    },
    /// An attempt failed and another follows after `delay`.
    Retrying {
        /// The step's index.
        step: usize,
        /// How long until the next attempt.
        delay: Duration,
    },
    /// The step reached a final status.
    Finished {
        /// The step's index.
        step: usize,
    },
    /// The run ended.
    RunFinished,
}

/// Sees every transition, with the record as it now is.
pub trait Observer: Send + Sync {
    /// Called after the record was written.
    fn event(&self, record: &RunRecord, event: &Event);
}

/// Several observers, told in order.
pub struct Observers(pub Vec<Arc<dyn Observer>>);

impl Observer for Observers {
    fn event(&self, record: &RunRecord, event: &Event) {
        for observer in &self.0 {
            observer.event(record, event);
        }
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: &RunRecord, _: &Event) {}
}

/// Why an execution stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The record could not be written: the run cannot be trusted to resume, so it stops.
    #[error("cannot keep the run record: {0}")]
    Record(#[from] RecordError),
}

struct Shared {
    pipeline: Arc<Pipeline>,
    graph: Graph,
    run: RunDir,
    record: Mutex<RunRecord>,
    observer: Arc<dyn Observer>,
    options: ExecOptions,
    /// Results of `checks` steps by stage, for the stage's JUnit file.
    reports: Mutex<BTreeMap<String, Vec<precheck::outcome::TestResult>>>,
    /// The first error writing the record; execution stops starting steps after it.
    broken: Mutex<Option<RecordError>>,
    /// Told when the record changed; the record keeper writes it.
    changed: tokio::sync::Notify,
    /// Set when the run is over: the keeper stops after a last write.
    over: std::sync::atomic::AtomicBool,
    /// Masks the values of secret parameters in logs and messages.
    redactor: Arc<Redactor>,
}

impl Shared {
    /// Changes step `i` in the record, writes it and tells the observer.
    /// Changes step `i` in the record, has it written and tells the observer.
    fn update(&self, i: usize, event: Option<Event>, change: impl FnOnce(&mut crate::record::StepRecord)) {
        let mut record = self.record.lock().expect("record lock");
        change(&mut record.steps[i]);
        if let Some(message) = &mut record.steps[i].message
            && !self.redactor.is_empty()
        {
            *message = self.redactor.redact(message).into_owned();
        }
        record.updated_ms = now_ms();
        self.changed.notify_one();
        if let Some(event) = event {
            self.observer.event(&record, &event);
        }
    }

    fn status(&self, i: usize) -> StepStatus {
        self.record.lock().expect("record lock").steps[i].status
    }
}

/// Writes the record whenever it changed: transitions made while a write is under way go together in
/// the next one, so a large graph does not rewrite its record once per transition. Every write is whole
/// and atomic ([`RunDir::write`]); the last one happens after the last transition.
async fn keep_record(shared: Arc<Shared>) {
    use std::sync::atomic::Ordering;
    loop {
        shared.changed.notified().await;
        let over = shared.over.load(Ordering::SeqCst);
        let json = {
            let record = shared.record.lock().expect("record lock");
            serde_json::to_vec(&*record)
        };
        let result = match json {
            Ok(json) => {
                let run = shared.run.clone();
                tokio::task::spawn_blocking(move || run.write_json(&json)).await.unwrap_or_else(|e| {
                    Err(RecordError::Io { path: shared.run.path().into(), source: std::io::Error::other(e) })
                })
            }
            Err(source) => Err(RecordError::Invalid { path: shared.run.path().join("run.json"), source }),
        };
        if let Err(e) = result {
            shared.broken.lock().expect("broken lock").get_or_insert(e);
        }
        if over {
            return;
        }
    }
}

/// Runs `graph` (of `pipeline`) in `run`, whose record holds its state: steps already succeeded or
/// skipped stay so (a resumed run), the others run. Returns the final record.
pub async fn execute(
    pipeline: Arc<Pipeline>,
    graph: Graph,
    run: RunDir,
    record: RunRecord,
    observer: Arc<dyn Observer>,
    options: ExecOptions,
) -> Result<RunRecord, ExecError> {
    let parallelism = options.parallelism.unwrap_or(pipeline.parallelism).max(1);
    let global = Arc::new(Semaphore::new(parallelism));
    let mut stage_limits: BTreeMap<String, Arc<Semaphore>> = BTreeMap::new();
    for node in &graph.nodes {
        if let Some(limit) = node.stage_parallelism {
            stage_limits.entry(node.stage.clone()).or_insert_with(|| Arc::new(Semaphore::new(limit.max(1))));
        }
    }
    let redactor = Arc::new(Redactor::new(&pipeline, &graph.values));
    // The pipeline's secret parameters may sit in Precheck's own environment (where they are read from):
    // no step inherits them.
    let mut options = options;
    options.withheld = Withheld::new(options.withheld.names().chain(pipeline.secret_names()).map(str::to_owned));
    let shared = Arc::new(Shared {
        redactor,
        pipeline,
        graph,
        run,
        record: Mutex::new(record),
        observer,
        options,
        reports: Mutex::new(BTreeMap::new()),
        broken: Mutex::new(None),
        changed: tokio::sync::Notify::new(),
        over: std::sync::atomic::AtomicBool::new(false),
    });
    let keeper = tokio::spawn(keep_record(shared.clone()));
    let count = shared.graph.nodes.len();
    // Each step waits for its dependencies to be final: how many are not yet, and who waits for whom, so
    // a step's end settles only the steps after it (not a scan of the whole graph).
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, node) in shared.graph.nodes.iter().enumerate() {
        for &d in &node.depends {
            dependents[d].push(i);
        }
    }
    let mut started: Vec<bool> = (0..count).map(|i| shared.status(i).is_final()).collect();
    let mut waiting: Vec<usize> = shared
        .graph
        .nodes
        .iter()
        .map(|node| node.depends.iter().filter(|&&d| !shared.status(d).is_final()).count())
        .collect();
    // Steps whose dependencies are all final, lowest index first (file order).
    let mut ready: std::collections::BTreeSet<usize> = (0..count).filter(|&i| !started[i] && waiting[i] == 0).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut running: std::collections::HashMap<tokio::task::Id, usize> = std::collections::HashMap::new();
    // A step became final: the steps waiting for it may be ready.
    let done = |i: usize, waiting: &mut Vec<usize>, ready: &mut std::collections::BTreeSet<usize>| {
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert(j);
            }
        }
    };
    loop {
        // Settle what can be settled without running anything (skips that follow from failures, `when`),
        // and start the rest.
        while let Some(i) = ready.pop_first() {
            if std::mem::replace(&mut started[i], true) {
                continue;
            }
            let node = &shared.graph.nodes[i];
            let blocker = node.depends.iter().find(|&&d| {
                let record = shared.record.lock().expect("record lock");
                let dep = &record.steps[d];
                dep.status.is_unsuccessful() || (dep.status == StepStatus::Skipped && dep.blocked)
            });
            match blocker {
                // A failure stops everything after it, also past steps a `when` skips.
                Some(&d) if !node.finally => {
                    let why = format!("not run: {} did not succeed", shared.graph.nodes[d].id);
                    shared.update(i, Some(Event::Finished { step: i }), |s| {
                        s.status = StepStatus::Skipped;
                        s.blocked = true;
                        s.message = Some(why);
                        s.finished_ms = Some(now_ms());
                    });
                    done(i, &mut waiting, &mut ready);
                }
                _ if node.skip.is_some() => {
                    let why = node.skip.clone();
                    shared.update(i, Some(Event::Finished { step: i }), |s| {
                        s.status = StepStatus::Skipped;
                        s.message = why;
                        s.finished_ms = Some(now_ms());
                    });
                    done(i, &mut waiting, &mut ready);
                }
                _ => {
                    let shared = shared.clone();
                    let slots = Slots { global: global.clone(), stage: stage_limits.get(&node.stage).cloned() };
                    let task = tasks.spawn(async move {
                        if shared.broken.lock().expect("broken lock").is_none() {
                            run_node(&shared, i, &slots).await;
                        }
                    });
                    running.insert(task.id(), i);
                }
            }
        }
        let (id, panicked) = match tasks.join_next_with_id().await {
            None => break,
            Some(Ok((id, ()))) => (id, None),
            Some(Err(e)) => (e.id(), e.is_panic().then(|| e.into_panic())),
        };
        let Some(i) = running.remove(&id) else { continue };
        if let Some(panic) = panicked {
            // A bug must not leave a step running forever in the record: it failed, and says so.
            let what = precheck::outcome::panic_message(&*panic);
            shared.update(i, Some(Event::Finished { step: i }), |s| {
                s.status = StepStatus::Failed;
                s.message = Some(format!("precheck panicked while running it (please report this bug): {what}"));
                s.finished_ms = Some(now_ms());
            });
        }
        // A step left unfinished (the record could not be written) holds the steps after it back.
        if shared.status(i).is_final() {
            done(i, &mut waiting, &mut ready);
        }
    }
    {
        let mut record = shared.record.lock().expect("record lock");
        record.status = RunStatus::of(&record.steps);
        record.updated_ms = now_ms();
    }
    shared.over.store(true, std::sync::atomic::Ordering::SeqCst);
    shared.changed.notify_one();
    let _ = keeper.await;
    if let Some(e) = shared.broken.lock().expect("broken lock").take() {
        return Err(e.into());
    }
    let record = shared.record.lock().expect("record lock").clone();
    shared.observer.event(&record, &Event::RunFinished);
    Ok(record)
}

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

/// Delays between attempts: exponential from the policy's first delay, at most its maximum, with jitter.
fn delays(policy: &RetryPolicy) -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(policy.backoff)
        .with_max_delay(policy.max_backoff)
        .with_factor(policy.factor)
        .with_max_times(policy.attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build()
}

/// The limits a step's attempts take a place in: the stage's own first (so steps queued behind a narrow
/// stage do not hold places of the whole run), then the run's.
struct Slots {
    global: Arc<Semaphore>,
    stage: Option<Arc<Semaphore>>,
}

impl Slots {
    async fn take(&self) -> (Option<tokio::sync::OwnedSemaphorePermit>, Option<tokio::sync::OwnedSemaphorePermit>) {
        let stage = match &self.stage {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        (stage, self.global.clone().acquire_owned().await.ok())
    }
}

async fn run_node(shared: &Arc<Shared>, i: usize, slots: &Slots) {
    let node = &shared.graph.nodes[i];
    let first = Instant::now();
    let mut delays = delays(&node.retry);
    // Made from the step's id, never read from the record (a changed record must not choose the file).
    let log_path = shared.run.path().join(crate::record::log_path(&node.id));
    loop {
        let attempt = {
            let record = shared.record.lock().expect("record lock");
            record.steps[i].attempts + 1
        };
        // Places are held for an attempt only, not through the backoff after it.
        let places = slots.take().await;
        shared.update(i, Some(Event::Started { step: i }), |s| {
            s.status = StepStatus::Running;
            s.attempts = attempt;
            s.retry_at_ms = None;
            s.started_ms.get_or_insert_with(now_ms);
        });
        let result = attempt_node(shared, i, node, &log_path, attempt).await;
        drop(places);
        let error = match result {
            Ok(()) => {
                shared.update(i, Some(Event::Finished { step: i }), |s| {
                    s.status = StepStatus::Succeeded;
                    s.message = None;
                    s.finished_ms = Some(now_ms());
                });
                return;
            }
            Err(e) => e,
        };
        let next = delays.next().filter(|_| attempt < node.retry.attempts);
        let within = |delay: Duration| node.retry.max_duration.is_none_or(|max| first.elapsed() + delay < max);
        match next {
            Some(delay) if within(delay) => {
                shared.update(i, Some(Event::Retrying { step: i, delay }), |s| {
                    s.status = StepStatus::Retrying;
                    s.message = Some(error.into_message());
                    s.retry_at_ms = Some(now_ms() + delay.as_millis() as u64);
                });
                tokio::time::sleep(delay).await;
            }
            next => {
                let status = error.status();
                let why = match (next, node.retry.max_duration) {
                    (Some(_), Some(max)) => {
                        format!("{} (no more attempts: max_duration {max:?} reached)", error.message())
                    }
                    _ => error.into_message(),
                };
                shared.update(i, Some(Event::Finished { step: i }), |s| {
                    s.status = status;
                    s.message = Some(why);
                    s.retry_at_ms = None;
                    s.finished_ms = Some(now_ms());
                });
                return;
            }
        }
    }
}

/// Appends a line to a step's log, secrets masked.
fn log_line(redactor: &Redactor, path: &std::path::Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{}", redactor.redact(line));
    }
}

async fn attempt_node(
    shared: &Arc<Shared>,
    i: usize,
    node: &Node,
    log: &PathBuf,
    attempt: u32,
) -> Result<(), AttemptError> {
    log_line(&shared.redactor, log, &format!("== {} attempt {attempt} of {} ==", node.id, node.retry.attempts));
    let work = async {
        match &node.action {
            BoundAction::Run(argv) => command(shared, i, node, log, &argv[0], &argv[1..]).await,
            BoundAction::Shell(script) => {
                command(shared, i, node, log, "sh", &["-e".to_owned(), "-c".to_owned(), script.clone()]).await
            }
            BoundAction::Checks(paths) => checks(shared, node, log, paths.clone()).await,
            BoundAction::Apply(files) => apply(shared, log, files).await,
            BoundAction::CloudFormation(stack) => cloudformation(shared, log, stack).await,
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
        Ok(()) => log_line(&shared.redactor, log, "== succeeded =="),
        Err(e) => {
            let status = e.status().as_str();
            log_line(&shared.redactor, log, &format!("== {status}: {} ==", e.message()))
        }
    }
    result
}

/// How long the end of a command's output may take to reach the log once the command exited.
const COPY_GRACE: Duration = Duration::from_secs(2);

async fn command(
    shared: &Arc<Shared>,
    i: usize,
    node: &Node,
    log: &PathBuf,
    program: &str,
    args: &[String],
) -> Result<(), AttemptError> {
    // The log or a pipe that cannot be had, a program that cannot start: the command was not run.
    let errored = AttemptError::Errored;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| errored(format!("cannot open the log {}: {e}", log.display())))?;
    let err = file.try_clone().map_err(|e| errored(format!("cannot open the log {}: {e}", log.display())))?;
    // With secrets to mask, stdout and stderr share one pipe (their order kept, as in a file) that the
    // executor copies to the log a line at a time; without, both go straight to the log.
    let (stdout, stderr, pipe): (std::process::Stdio, std::process::Stdio, _) = if shared.redactor.is_empty() {
        (file.into(), err.into(), None)
    } else {
        let broken = |e: std::io::Error| errored(format!("cannot make a pipe for the output: {e}"));
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| broken(e.into()))?;
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(read).map_err(broken)?;
        let write_err = write.try_clone().map_err(broken)?;
        (write.into(), write_err.into(), Some((reader, file)))
    };
    let record_id = match &shared.options.run_id {
        Some(id) => id.clone(),
        None => shared.record.lock().expect("record lock").id.clone(),
    };
    // One expression: the command, holding the pipe's write end, is dropped once the program started.
    let mut child = shared
        .options
        .withheld
        .command(program)
        .args(args)
        .current_dir(&shared.pipeline.dir)
        .envs(shared.options.env.iter().map(|(k, v)| (k, v)))
        .envs(node.env.iter().map(|(k, v)| (k, v)))
        .env("PRECHECK_RUN_ID", record_id)
        .env("PRECHECK_STEP", &node.id)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| errored(format!("cannot start '{program}': {e}")))?;
    let copy = pipe.map(|(reader, log)| tokio::spawn(shared.redactor.clone().copy_lines(reader, log)));
    // Killed with the attempt when it is dropped (a timeout, a cancelled run): scripts start children.
    let mut group = precheck::command::ProcessGroup::of(&child);
    let pgid = group.id();
    shared.update(i, None, |s| s.pgid = pgid);
    let waited = match node.timeout {
        Some(limit) => tokio::time::timeout(limit, child.wait()).await.ok(),
        None => Some(child.wait().await),
    };
    shared.update(i, None, |s| s.pgid = None);
    let succeeded = matches!(&waited, Some(Ok(status)) if status.success());
    if !succeeded {
        group.kill();
    }
    // What the command printed last reaches the log before the step ends. A background child of a command
    // that succeeded keeps its output open: it is not waited for beyond the grace (its copy goes on, as
    // its writes to the log would).
    if let Some(copy) = copy {
        let _ = tokio::time::timeout(COPY_GRACE, copy).await;
    }
    let status = match waited {
        Some(status) => status.map_err(|e| errored(format!("waiting for '{program}': {e}")))?,
        None => return Err(AttemptError::Failed(format!("timed out after {:?}", node.timeout.unwrap_or_default()))),
    };
    if status.success() {
        // The group may still hold background children; they belong to the step and end with it.
        return Ok(());
    }
    let what =
        if matches!(node.action, BoundAction::Shell(_)) { "the script".to_owned() } else { format!("'{program}'") };
    let how = match status.code() {
        Some(code) => format!("{what} exited with status {code}"),
        None => format!("{what} was killed by a signal"),
    };
    Err(AttemptError::Failed(match last_line(log) {
        Some(line) => format!("{how}: {line}"),
        None => how,
    }))
}

/// The last line a step printed (before the executor's own lines), shortened, for failure messages.
fn last_line(log: &PathBuf) -> Option<String> {
    const MAX: usize = 200;
    let text = std::fs::read_to_string(log).ok()?;
    // Only this attempt's output: what follows the last header line.
    let line = text.lines().rev().take_while(|l| !l.starts_with("== ")).find(|l| !l.trim().is_empty())?;
    Some(shorten(line.trim(), MAX))
}

/// Applies manifests to the target's live cluster.
async fn apply(shared: &Arc<Shared>, log: &std::path::Path, files: &[PathBuf]) -> Result<(), AttemptError> {
    #[cfg(feature = "kube")]
    {
        #[allow(irrefutable_let_patterns)]
        let precheck::cluster::ClusterSource::Live(options) = &shared.options.target.cluster else {
            return Err(AttemptError::Failed(
                "`apply` needs a live cluster (--kubeconfig / --context), not a snapshot".into(),
            ));
        };
        let (log, redactor) = (log.to_path_buf(), shared.redactor.clone());
        let mut write = move |line: &str| log_line(&redactor, &log, line);
        crate::apply::apply(options, files, &mut write).await
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
    log: &std::path::Path,
    stack: &crate::graph::BoundStack,
) -> Result<(), AttemptError> {
    #[cfg(feature = "aws")]
    {
        use precheck::outcome::Classified;
        let aws = precheck::aws::Aws::connect(&shared.options.target.aws)
            .await
            .map_err(|e| AttemptError::of(e.fault(), e.to_string()))?;
        let (log, redactor) = (log.to_path_buf(), shared.redactor.clone());
        let mut write = move |line: &str| log_line(&redactor, &log, line);
        crate::stack::deploy(aws.cloudformation(), stack, &mut write).await
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
    node: &Node,
    log: &std::path::Path,
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
                log_line(&shared.redactor, log, line);
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
    for line in report_lines(&report) {
        log_line(&shared.redactor, log, &line);
    }
    // The stage's JUnit file holds every `checks` step of the stage so far; written under the lock, so
    // steps of one stage finishing together write one after the other, the last with everything.
    {
        let mut reports = shared.reports.lock().expect("reports lock");
        let results = reports.entry(node.stage.clone()).or_default();
        results.retain(|t| !t.file.starts_with(&format!("{}: ", node.id)));
        for test in &report.tests {
            let mut test = test.clone();
            test.file = format!("{}: {}", node.id, test.file);
            results.push(test);
        }
        let junit = precheck::report::junit_xml(&precheck::outcome::RunReport {
            tests: results.clone(),
            duration: results.iter().map(|t| t.duration()).sum(),
        });
        let name = format!("junit/{}.xml", crate::record::file_name(&node.stage));
        // A sentence may compare with a secret (`${TOKEN}`): its messages are masked like the log.
        if let Err(e) = shared.run.write_file(&name, &shared.redactor.for_xml().redact_bytes(junit.as_bytes())) {
            shared.broken.lock().expect("broken lock").get_or_insert(e);
        }
    }
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

/// A line per test (its status, its attempts, the last attempt's message when it did not pass), then the counts.
fn report_lines(report: &precheck::outcome::RunReport) -> Vec<String> {
    use precheck::outcome::Status;
    let mut lines: Vec<String> = report
        .tests
        .iter()
        .map(|t| {
            let attempts =
                if t.attempts.len() > 1 { format!(" ({} attempts)", t.attempts.len()) } else { String::new() };
            match (t.status(), t.attempts.last()) {
                (Status::Passed, _) | (_, None) => format!("{} {}{attempts}", t.status().as_str(), t.full_name()),
                (status, Some(last)) => format!("{} {}{attempts}: {}", status.as_str(), t.full_name(), last.message),
            }
        })
        .collect();
    let count = |s| report.count(s);
    lines.push(format!(
        "{} tests: {} passed, {} failed, {} errors, {} invalid, {} skipped",
        report.tests.len(),
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Errored),
        count(Status::Invalid),
        count(Status::Skipped)
    ));
    lines
}
