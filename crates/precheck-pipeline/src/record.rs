//! Run records: one directory per run under a state directory, holding `run.json` (rewritten atomically
//! after step transitions, at most every 50 ms, so a run killed at any moment leaves the last whole
//! record), each step's log and each stage's JUnit file.
//!
//! ```text
//! STATE/runs/RUN_ID/run.json            the record
//! STATE/runs/RUN_ID/logs/STEP.log       output of every attempt of a step
//! STATE/runs/RUN_ID/junit/STAGE.xml     results of a stage's `checks` steps
//! STATE/runs/RUN_ID/lock                the process running it (a stale lock is taken over)
//! ```

use precheck::outcome::{Classified, Fault};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::graph::{BoundAction, Graph};
use crate::value::Values;

/// Version of the record's format.
pub const RECORD_VERSION: u32 = 1;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or killed: see [`RunDir::is_running`]).
    Running,
    /// Every step succeeded or was skipped by its `when`.
    Succeeded,
    /// A step failed, and none errored.
    Failed,
    /// A step could not be carried out: the cluster or AWS could not be asked, or a program could not start.
    Errored,
}

/// How a run stands as every view shows it (`status`, `list`, the trigger API, the HTML report): its
/// recorded status, except that a run recorded as running that no process holds any more was interrupted
/// (killed, or its machine went down) and waits for `resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// A process works on it.
    Running,
    /// Recorded as running, but no process holds it.
    Interrupted,
    /// Every step succeeded or was skipped by its `when`.
    Succeeded,
    /// A step failed, and none errored.
    Failed,
    /// A step could not be carried out (see [`RunStatus::Errored`]).
    Errored,
}

impl RunStatus {
    /// The status of a run whose steps stand so: errored when a step errored (the run could not be
    /// carried out, whatever else failed), failed when one failed, succeeded when every step is final,
    /// running while any is not.
    pub fn of(steps: &[StepRecord]) -> Self {
        if steps.iter().any(|s| s.status == StepStatus::Errored) {
            Self::Errored
        } else if steps.iter().any(|s| s.status == StepStatus::Failed) {
            Self::Failed
        } else if steps.iter().all(|s| s.status.is_final()) {
            Self::Succeeded
        } else {
            Self::Running
        }
    }
}

impl RunState {
    /// The state's name, as the views write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Interrupted => "interrupted",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Errored => "errored",
        }
    }
}

impl RunRecord {
    /// The record as `status --json` and `GET /runs/ID` show it: `status` is the run's [`RunState`].
    pub fn to_json(&self, state: RunState) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["status"] = state.as_str().into();
        value
    }
}

/// How a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Waiting for its dependencies or a free slot.
    Pending,
    /// An attempt is running.
    Running,
    /// An attempt failed; the next starts after a delay.
    Retrying,
    /// Done.
    Succeeded,
    /// Its last attempt failed: a command exited with another status than 0, a check did not hold, a stack
    /// rolled back, the attempt timed out.
    Failed,
    /// Its last attempt could not be carried out: the cluster or AWS could not be asked, or its program
    /// could not start.
    Errored,
    /// Not run: its `when` was false, or a dependency did not succeed (see the message).
    Skipped,
}

impl StepStatus {
    /// Finished one way or another.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Errored | Self::Skipped)
    }

    /// Ended without doing its work: the steps after it do not run.
    pub fn is_unsuccessful(self) -> bool {
        matches!(self, Self::Failed | Self::Errored)
    }

    /// The word shown in views.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Errored => "errored",
            Self::Skipped => "skipped",
        }
    }
}

/// One step instance of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// `stage/step[item]`.
    pub id: String,
    /// Its stage (`finally` for exit steps).
    pub stage: String,
    /// Its step.
    pub step: String,
    /// Its item, when fanned out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// `run`, `shell` or `checks`.
    pub kind: String,
    /// Ids of the steps of its stage it waits for (it also waits for its stage's dependencies).
    pub depends: Vec<String>,
    /// An exit step.
    #[serde(default)]
    pub finally: bool,
    /// Where it stands.
    pub status: StepStatus,
    /// Skipped because a dependency did not succeed (rather than by its `when`).
    #[serde(default)]
    pub blocked: bool,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When its first attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// When the next attempt starts, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
    /// Why it failed, was skipped or is retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a `checks` step whose last attempt failed: the diagnosis of its first failed test, as the
    /// cluster told it ([`precheck::diagnosis`]), secrets masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    /// Its log, relative to the run directory.
    pub log: String,
    /// Its stage's JUnit file, relative to the run directory (`checks` steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junit: Option<String>,
    /// The process group of the command it is running, so a resume after a crash can stop what the
    /// crashed run left behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i32>,
}

impl StepRecord {
    /// How long it ran (so far, while running).
    pub fn duration(&self) -> Option<Duration> {
        let start = self.started_ms?;
        let end = self.finished_ms.unwrap_or_else(now_ms);
        Some(Duration::from_millis(end.saturating_sub(start)))
    }
}

/// A stage of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Its name.
    pub name: String,
    /// The stages it waits for (among those run).
    pub depends: Vec<String>,
}

/// Everything known about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The run's id.
    pub id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file (absolute).
    pub file: PathBuf,
    /// The digest of the pipeline file when the run started.
    pub digest: String,
    /// The only stage run, if one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Parameter values, secret ones left out.
    pub values: Values,
    /// The secret parameters the run had values for, which are not recorded: a resume asks for them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// When it was created.
    pub created_ms: u64,
    /// When the record last changed.
    pub updated_ms: u64,
    /// How many times it was resumed.
    #[serde(default)]
    pub resumes: u32,
    /// The stages run and the stages each waits for.
    #[serde(default)]
    pub stages: Vec<StageRecord>,
    /// Step instances, in the graph's order.
    pub steps: Vec<StepRecord>,
}

/// A file name for a step id: `addons/per-az[a]` → `addons.per-az.a`. When the id had to be changed
/// beyond that (other characters become `_`, long ids are cut) a digest of the id is added, so two ids
/// never share a file.
pub fn file_name(id: &str) -> String {
    let plain = plain_file_name(id);
    let reversible = id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '[' | ']'))
        && id.matches('[').count() <= 1
        && id.ends_with(']') == id.contains('[')
        && plain.len() <= 120;
    if reversible {
        return plain;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let short: String = plain.chars().take(100).collect();
    format!("{short}~{:08x}", hash >> 32)
}

fn plain_file_name(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '/' | '[' => '.',
            ']' => '\0',
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '_',
        })
        .filter(|c| *c != '\0')
        .collect()
}

/// Where a step's log is, relative to its run's directory.
pub fn log_path(id: &str) -> String {
    format!("logs/{}.log", file_name(id))
}

impl RunRecord {
    /// A new record for a graph: every step pending.
    pub fn new(id: &str, pipeline: &crate::Pipeline, graph: &Graph) -> Self {
        let now = now_ms();
        let steps = graph
            .nodes
            .iter()
            .map(|n| StepRecord {
                id: n.id.clone(),
                stage: n.stage.clone(),
                step: n.step.clone(),
                item: n.item.clone(),
                kind: match &n.action {
                    BoundAction::Run(_) => "run",
                    BoundAction::Shell(_) => "shell",
                    BoundAction::Checks(_) => "checks",
                    BoundAction::Apply(_) => "apply",
                    BoundAction::CloudFormation(_) => "cloudformation",
                }
                .to_owned(),
                depends: n.after.iter().map(|&d| graph.nodes[d].id.clone()).collect(),
                finally: n.finally,
                // A step its `when` skips is skipped once the steps it waits for are done, so the steps that
                // wait for it do not start early.
                status: StepStatus::Pending,
                blocked: false,
                attempts: 0,
                max_attempts: n.retry.attempts,
                started_ms: None,
                finished_ms: None,
                retry_at_ms: None,
                message: None,
                diagnosis: None,
                log: log_path(&n.id),
                junit: matches!(n.action, BoundAction::Checks(_)).then(|| format!("junit/{}.xml", file_name(&n.stage))),
                pgid: None,
            })
            .collect();
        Self {
            version: RECORD_VERSION,
            id: id.to_owned(),
            pipeline: pipeline.name.clone(),
            file: std::path::absolute(&pipeline.path).unwrap_or_else(|_| pipeline.path.clone()),
            digest: pipeline.digest.clone(),
            stage: graph.stage.clone(),
            values: pipeline.without_secrets(&graph.values),
            secrets: pipeline
                .secret_names()
                .filter(|name| graph.values.contains_key(*name))
                .map(str::to_owned)
                .collect(),
            status: RunStatus::Running,
            created_ms: now,
            updated_ms: now,
            resumes: 0,
            stages: pipeline
                .stages
                .iter()
                .filter(|s| graph.stage.as_ref().is_none_or(|only| *only == s.name))
                .map(|s| StageRecord {
                    name: s.name.clone(),
                    depends: if graph.stage.is_some() { Vec::new() } else { s.depends.clone() },
                })
                .collect(),
            steps,
        }
    }

    /// Steps in a given status.
    pub fn count(&self, status: StepStatus) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }
}

/// A run that does not exist is the input's fault; one another process runs, or a record that cannot be
/// read or written, is not.
impl Classified for RecordError {
    fn fault(&self) -> Fault {
        match self {
            Self::NotFound { .. } => Fault::Input,
            _ => Fault::Infrastructure,
        }
    }
}

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No such run.
    #[error("no run '{id}' in {}", dir.display())]
    NotFound {
        /// The id asked for.
        id: String,
        /// Where runs are kept.
        dir: PathBuf,
    },
    /// Another live process runs it.
    #[error("run '{id}' is being run by process {pid}")]
    Busy {
        /// The run.
        id: String,
        /// The process.
        pid: i32,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The record is not valid JSON of this format.
    #[error("{}: not a run record: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io { path: path.to_path_buf(), source }
}

/// The state directory: where runs are kept.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Runs kept under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory of every run.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// A new run id: the pipeline's name, the time in milliseconds (so ids sort by creation) and a suffix
    /// from the clock, the process and a counter (so ids made at the same moment differ).
    pub fn new_id(&self, pipeline: &str) -> String {
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let now = now_ms();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let suffix = (u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(17) ^ now ^ n.rotate_left(40))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let name: String = crate::record::file_name(pipeline).chars().take(40).collect();
        format!("{name}-{now}-{:06x}", suffix >> 40)
    }

    /// The directory of run `id` (which must exist).
    pub fn open(&self, id: &str) -> Result<RunDir, RecordError> {
        let dir = self.runs().join(id);
        if id.contains(['/', '\\']) || id.starts_with('.') || !dir.join("run.json").is_file() {
            return Err(RecordError::NotFound { id: id.to_owned(), dir: self.runs() });
        }
        Ok(RunDir { dir })
    }

    /// Creates the directory of a new run and writes its first record.
    pub fn create(&self, record: &RunRecord) -> Result<RunDir, RecordError> {
        let dir = self.runs().join(&record.id);
        std::fs::create_dir_all(self.runs()).map_err(io(&self.runs()))?;
        // Never over an existing run: the same id twice is refused as busy.
        if let Err(e) = std::fs::create_dir(&dir) {
            return Err(match e.kind() {
                std::io::ErrorKind::AlreadyExists => RecordError::Busy { id: record.id.clone(), pid: 0 },
                _ => io(&dir)(e),
            });
        }
        for sub in ["logs", "junit"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir))?;
        }
        let run = RunDir { dir };
        run.write(record)?;
        Ok(run)
    }

    /// Ids of every run, oldest first.
    pub fn list(&self) -> Result<Vec<String>, RecordError> {
        let runs = self.runs();
        let mut ids = Vec::new();
        match std::fs::read_dir(&runs) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    if entry.path().join("run.json").is_file() {
                        ids.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&runs)(e)),
        }
        ids.sort_by_key(|id| id.rsplit('-').nth(1).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0));
        Ok(ids)
    }
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    dir: PathBuf,
}

impl RunDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads the record.
    pub fn read(&self) -> Result<RunRecord, RecordError> {
        let path = self.dir.join("run.json");
        let text = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&text).map_err(|source| RecordError::Invalid { path, source })
    }

    /// Replaces the record atomically: a temporary file, flushed to disk, renamed over the old one, and
    /// the directory flushed, so a crash leaves either the old record or the new one, never a mix.
    pub fn write(&self, record: &RunRecord) -> Result<(), RecordError> {
        let json = serde_json::to_vec(record)
            .map_err(|source| RecordError::Invalid { path: self.dir.join("run.json"), source })?;
        self.write_json(&json)
    }

    /// [`RunDir::write`] with the record already serialized.
    pub fn write_json(&self, json: &[u8]) -> Result<(), RecordError> {
        let path = self.dir.join("run.json");
        let temporary = self.dir.join(format!(".run.json.{}", std::process::id()));
        write_durably(&temporary, json).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        Ok(())
    }

    /// Writes a file of the run (a JUnit file) atomically.
    pub fn write_file(&self, relative: &str, contents: &[u8]) -> Result<(), RecordError> {
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(relative);
        let temporary = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        write_durably(&temporary, contents).map_err(io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(io(&path))
    }

    /// Takes the run's lock: an advisory `flock` on `lock`, which the kernel releases when the process
    /// ends in any way (SIGKILL included), so a crashed run's lock is never in the way and two live
    /// processes never run the same run. The file holds the holder's pid, for messages.
    pub fn lock(&self) -> Result<RunLock, RecordError> {
        use rustix::fs::{FlockOperation, flock};
        let path = self.dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {
                file.set_len(0).map_err(io(&path))?;
                file.write_all(std::process::id().to_string().as_bytes()).map_err(io(&path))?;
                Ok(RunLock { _file: file })
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
                Err(RecordError::Busy { id: self.id(), pid })
            }
            Err(e) => Err(io(&path)(e.into())),
        }
    }

    /// How the run with this `record` stands now.
    pub fn state(&self, record: &RunRecord) -> RunState {
        match record.status {
            RunStatus::Running if self.is_running() => RunState::Running,
            RunStatus::Running => RunState::Interrupted,
            RunStatus::Succeeded => RunState::Succeeded,
            RunStatus::Failed => RunState::Failed,
            RunStatus::Errored => RunState::Errored,
        }
    }

    /// Whether a live process holds the run's lock.
    pub fn is_running(&self) -> bool {
        use rustix::fs::{FlockOperation, flock};
        let Ok(file) = std::fs::File::open(self.dir.join("lock")) else { return false };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = flock(&file, FlockOperation::Unlock);
                false
            }
            Err(_) => true,
        }
    }

    fn id(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The run's lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_ids_make_safe_file_names() {
        assert_eq!(file_name("addons/per-az[eu-west-1a]"), "addons.per-az.eu-west-1a");
        assert_eq!(file_name("stage_1/step-2"), "stage_1.step-2");
        let odd = ["a/b[../../etc]", "a/b[x y;$]", "a/b[x_y;$]", "a/b.c", "a/b[c]", "a/b[é]", "a/b[è]"];
        let names: std::collections::BTreeSet<String> = odd.iter().map(|id| file_name(id)).collect();
        assert_eq!(names.len(), odd.len(), "no two ids share a file: {names:?}");
        assert!(names.iter().all(|n| !n.contains('/') && n.is_ascii()), "{names:?}");
        assert!(file_name(&format!("s/{}", "x".repeat(500))).len() < 120);
    }

    #[test]
    fn locks_are_exclusive_and_a_dead_holder_leaves_none() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir { dir: dir.path().to_path_buf() };
        // A lock file left by a process that died holds no lock.
        std::fs::write(dir.path().join("lock"), "999999").unwrap();
        assert!(!run.is_running());
        let lock = run.lock().unwrap();
        assert!(run.is_running());
        let me = std::process::id() as i32;
        assert!(matches!(run.lock(), Err(RecordError::Busy { pid, .. }) if pid == me));
        drop(lock);
        assert!(!run.is_running());
        run.lock().unwrap();
    }
}
