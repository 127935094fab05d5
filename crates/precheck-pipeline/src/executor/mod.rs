//! Runs a [`Graph`]: each step as soon as the steps it waits for have succeeded (or were skipped by
//! their `when`), at most `parallelism` at once (and at most a stage's own limit), with retries, backoff
//! and timeouts; `finally` steps after everything else, whatever happened. Every transition rewrites the
//! run record and is told to an [`Observer`] (the terminal view).

mod actions;
mod process;
mod retry;
mod stage_report;
mod step_log;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use precheck::command::Withheld;
use tokio::sync::Semaphore;

use crate::graph::Graph;
use crate::plan::Pipeline;
use crate::record::{RecordError, RunDir, RunRecord, RunStatus, StepStatus, now_ms};
use crate::secret::Redactor;

pub use actions::AttemptError;
use retry::{Slots, run_node};

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
    /// Told when the run is over, so the keeper's last write does not wait for its pace.
    ended: tokio::sync::Notify,
    /// Masks the values of secret parameters in logs and messages.
    redactor: Arc<Redactor>,
}

impl Shared {
    /// Changes step `i` in the record, writes it and tells the observer.
    /// Changes step `i` in the record, has it written and tells the observer.
    fn update(&self, i: usize, event: Option<Event>, change: impl FnOnce(&mut crate::record::StepRecord)) {
        let mut record = self.record.lock().expect("record lock");
        change(&mut record.steps[i]);
        if !self.redactor.is_empty() {
            let step = &mut record.steps[i];
            for text in [&mut step.message, &mut step.diagnosis].into_iter().flatten() {
                *text = self.redactor.redact(text).into_owned();
            }
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

/// The least time between the starts of two writes of the record while a run goes (its last write, at
/// the run's end, does not wait).
const RECORD_PACE: Duration = Duration::from_millis(50);

/// Writes the record whenever it changed: transitions made while a write is under way, or within
/// [`RECORD_PACE`] of its start, go together in the next one, so a large graph does not rewrite its
/// record once per transition (1,000 quick steps: 840 writes of a 258 KiB record unpaced, a few dozen
/// paced). Every write is whole and atomic ([`RunDir::write`]); the last one happens after the last
/// transition, at once.
async fn keep_record(shared: Arc<Shared>) {
    use std::sync::atomic::Ordering;
    loop {
        shared.changed.notified().await;
        let began = Instant::now();
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
        let rest = RECORD_PACE.saturating_sub(began.elapsed());
        tokio::select! {
            () = tokio::time::sleep(rest) => {}
            () = shared.ended.notified() => {}
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
        ended: tokio::sync::Notify::new(),
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
    shared.ended.notify_one();
    let _ = keeper.await;
    if let Some(e) = shared.broken.lock().expect("broken lock").take() {
        return Err(e.into());
    }
    let record = shared.record.lock().expect("record lock").clone();
    shared.observer.event(&record, &Event::RunFinished);
    Ok(record)
}
