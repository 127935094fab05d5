//! The check harness: discover check files, turn every test into a libtest-mimic trial, run them in
//! parallel with retries, and collect one [`RunReport`].
//!
//! A project can run its check files under `cargo test` with a `tests/checks.rs` like this (and
//! `harness = false` for that test target in Cargo.toml):
//!
//! ```no_run
//! // tests/checks.rs
//! precheck::harness::main(&["checks/cluster"]);
//! ```
//!
//! The tests are ignored, with the reason printed, when no cluster is configured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};
use precheck_lang::{CheckFile, Located, SyntaxError};

#[cfg(feature = "kube")]
use crate::cluster::{Cluster, ClusterSource};
use crate::cluster::{Clusters, Namespaces};
use crate::outcome::{Attempt, Classified, Fault, RunReport, Status, TestResult};
use crate::runner::{StepContext, file_namespaces, run_attempt, run_steps};

/// A parsed check file.
#[derive(Debug)]
pub struct SuiteFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The path as shown in reports.
    pub display: String,
    /// Its text.
    pub source: String,
    /// Its syntax tree.
    pub check: CheckFile,
    /// The files of partial objects its `expect object` steps name, read and checked, by the name they
    /// are written with.
    pub objects: BTreeMap<String, Arc<crate::object::ObjectFile>>,
}

impl SuiteFile {
    /// A check file from its text, as if read from `path`: parsed, and the object files it names read
    /// (relative to `path`'s directory). `precheck migrate` checks what it would write this way.
    pub fn from_text(path: PathBuf, source: String, vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, LoadError> {
        let display = path.display().to_string();
        match CheckFile::parse(&source, vars) {
            Ok(check) => match object_files(&path, &display, &source, &check) {
                Ok(objects) => Ok(SuiteFile { path, display, source, check, objects }),
                Err(located) => Err(LoadError::Objects { path: display, errors: located }),
            },
            Err(e) => Err(LoadError::Syntax { path: display, text: source, errors: e.errors }),
        }
    }
}

/// Check files ready to run.
#[derive(Debug, Default)]
pub struct Suite {
    /// In the order found (sorted within each directory).
    pub files: Vec<Arc<SuiteFile>>,
}

/// A check file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// The file is not UTF-8 text.
    #[error("{path}:{error}")]
    NotText {
        /// The path.
        path: String,
        /// Where it stops being text.
        error: precheck_lang::NotUtf8,
    },
    /// The file has syntax errors; every one of them is listed.
    #[error("{path}: {} error{}", .errors.len(), if .errors.len() == 1 { "" } else { "s" })]
    Syntax {
        /// The path.
        path: String,
        /// The text, for rendering.
        text: String,
        /// Every error, in file order.
        errors: Vec<SyntaxError>,
    },
    /// Files of partial objects the check file names cannot be read, or are not valid.
    #[error("{path}: {} error{} in its object files", .errors.len(), if .errors.len() == 1 { "" } else { "s" })]
    Objects {
        /// The check file.
        path: String,
        /// Every error, each at its place (in the object file; in the check file for one that cannot be
        /// read).
        errors: Vec<Located>,
    },
}

/// A check file that cannot be read or parsed is the input's fault.
impl Classified for LoadError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

impl LoadError {
    /// Every error of the file at its place (none for a file that could not be read).
    pub fn located(&self) -> Vec<Located> {
        match self {
            Self::Io { .. } | Self::NotText { .. } => Vec::new(),
            Self::Syntax { path, text, errors } => {
                let text: Arc<str> = Arc::from(text.as_str());
                errors.iter().map(|e| Located::syntax(path.clone(), text.clone(), e)).collect()
            }
            Self::Objects { errors, .. } => errors.clone(),
        }
    }

    /// `file:line:col: message` lines, one per error, for logs and plain terminals.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::Io { .. } | Self::NotText { .. } => vec![self.to_string()],
            Self::Syntax { .. } | Self::Objects { .. } => self.located().iter().map(ToString::to_string).collect(),
        }
    }
}

/// Reads the files of partial objects the steps of `check` (at `path`, shown as `display`) name, relative to
/// its directory; every error of every file.
fn object_files(
    path: &Path,
    display: &str,
    source: &str,
    check: &CheckFile,
) -> Result<BTreeMap<String, Arc<crate::object::ObjectFile>>, Vec<Located>> {
    let tests = check.tests.iter().flat_map(|t| t.setup.iter().chain(&t.steps).chain(&t.teardown));
    let named = check.setup.iter().chain(&check.teardown).chain(tests).filter_map(|step| match &step.action {
        precheck_lang::Action::Object(object) => Some(&object.path),
        _ => None,
    });
    let dir = path.parent().unwrap_or(Path::new("."));
    let (mut files, mut errors) = (BTreeMap::new(), Vec::new());
    for name in named {
        if files.contains_key(&name.value) {
            continue;
        }
        let file = dir.join(&name.value);
        let shown = file.display().to_string();
        let read = match std::fs::read_to_string(&file) {
            Ok(text) => crate::object::parse(&text, &shown),
            Err(e) => {
                let text: Arc<str> = Arc::from(source);
                let span = name.span.start..name.span.end;
                errors.push(Located::new(
                    display,
                    text,
                    span,
                    "precheck::object_file",
                    format!("cannot read {shown}: {e}"),
                ));
                continue;
            }
        };
        match read {
            Ok(objects) => {
                files.insert(name.value.clone(), Arc::new(objects));
            }
            Err(located) => errors.extend(located),
        }
    }
    if errors.is_empty() { Ok(files) } else { Err(errors) }
}

/// Finds check files: files given by name, and `*.check` files below directories (sorted). A file named
/// twice (`checks checks/a.check`) is taken once.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| LoadError::Io { path: path.display().to_string(), message: e.to_string() })?;
        if meta.is_dir() {
            let io = |e: std::io::Error| LoadError::Io { path: path.display().to_string(), message: e.to_string() };
            found.extend(files_below(path, "check").map_err(io)?);
        } else {
            found.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(found)
}

/// The files below `dir` whose names end in `.EXTENSION`, at any depth, sorted within each directory.
pub fn files_below(dir: &Path, extension: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    let mut found = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            found.extend(files_below(&entry, extension)?);
        } else if entry.extension().is_some_and(|e| e == extension) {
            found.push(entry);
        }
    }
    Ok(found)
}

impl Suite {
    /// Discovers and parses every check file below `paths`, expanding `${VAR}` with `vars`. Every file is
    /// read, and every error of every file is returned.
    pub fn load(paths: &[PathBuf], vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<LoadError>> {
        let files = discover(paths).map_err(|e| vec![e])?;
        let mut suite = Suite::default();
        let mut errors = Vec::new();
        for path in files {
            let display = path.display().to_string();
            let source = match std::fs::read(&path) {
                Ok(bytes) => match precheck_lang::decode_utf8(bytes) {
                    Ok(text) => text,
                    Err(e) => {
                        errors.push(LoadError::NotText { path: display, error: e });
                        continue;
                    }
                },
                Err(e) => {
                    errors.push(LoadError::Io { path: display, message: e.to_string() });
                    continue;
                }
            };
            match SuiteFile::from_text(path, source, vars) {
                Ok(file) => suite.files.push(Arc::new(file)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(suite) } else { Err(errors) }
    }

    /// Number of tests in all files.
    pub fn test_count(&self) -> usize {
        self.files.iter().map(|f| f.check.tests.len()).sum()
    }
}

/// Options of a run beyond libtest's own.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Extra attempts for a failing test, unless the test sets `retries` itself.
    pub retries: u32,
    /// Run only tests with at least one of these tags (all tests when empty).
    pub tags: Vec<String>,
    /// Leave out tests with any of these tags.
    pub exclude_tags: Vec<String>,
    /// Stop starting tests after the first one that does not pass.
    pub fail_fast: bool,
    /// When set, every test is ignored with this reason (no cluster configured under `cargo test`).
    pub ignore_all: Option<String>,
    /// How AWS preflight sentences reach the account.
    #[cfg(feature = "aws")]
    pub aws: crate::aws::AwsOptions,
    /// When it turns `true`, the run is cancelled: tests under way stop at once (their commands are
    /// killed, their API calls dropped) and end as errors; tests not started are not run. A pipeline's
    /// `checks` step that timed out cancels its run this way.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    /// Variables the check files' `run` commands never get (the trigger's token always; a pipeline's
    /// secret parameters).
    pub withheld: crate::command::Withheld,
    /// Told of every test as it ends, from the threads tests run on (the terminal's view of the run).
    pub progress: Option<Arc<dyn Progress>>,
    /// How much a failed cluster sentence's diagnosis says (its objects' state and events by default).
    pub diagnostics: crate::diagnosis::Level,
    /// Run only this shard of the tests the filters and tags kept (the others are left out, as if
    /// filtered).
    pub partition: Option<crate::partition::Partition>,
}

/// Sees a run as it goes: how many tests it selected, then each test's result as soon as it is known —
/// skipped ones first, then each as it ends, then the files' teardowns that failed. Every result it is
/// told of is in the run's [`RunReport`] too.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The run starts with `count` tests (those the filters kept, skipped ones included).
    fn started(&self, count: usize);
    /// A test ended (or was skipped), or a file's teardown failed ([`TestResult::is_teardown`]).
    fn finished(&self, result: &TestResult);
}

/// What a test cancelled while it ran says.
pub const CANCELLED: &str = "cancelled while it ran (the run was stopped from outside, e.g. a timeout)";

/// Delays between attempts: exponential from 500 ms, at most 10 s, with jitter.
fn retry_delays(retries: u32) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(retries as usize)
        .with_jitter()
        .build()
}

struct Shared {
    clusters: Arc<Clusters>,
    #[cfg(feature = "aws")]
    aws: crate::aws::AwsConnector,
    options: RunOptions,
    results: Mutex<Vec<(usize, usize, TestResult)>>,
    setups: Vec<tokio::sync::OnceCell<Result<(), String>>>,
    stop: AtomicBool,
    runtime: tokio::runtime::Handle,
}

fn test_result(file: &SuiteFile, index: usize, attempts: Vec<Attempt>, skipped: Option<String>) -> TestResult {
    let test = &file.check.tests[index];
    TestResult {
        file: file.display.clone(),
        name: test.name.value.clone(),
        tags: file.check.tags.iter().chain(&test.tags).map(|t| t.value.clone()).collect(),
        attempts,
        skipped,
    }
}

impl Shared {
    fn step_context<'a>(&'a self, file: &'a SuiteFile, namespaces: Option<&'a Namespaces>) -> StepContext<'a> {
        StepContext {
            clusters: &self.clusters,
            context: file.check.context.as_ref().map(|c| c.value.as_str()),
            #[cfg(feature = "aws")]
            aws: &self.aws,
            namespaces,
            dir: file.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")),
            source: &file.source,
            withheld: &self.options.withheld,
            diagnostics: self.options.diagnostics,
            objects: &file.objects,
            deadline: None,
        }
    }

    async fn run_test(&self, file: &SuiteFile, file_index: usize, test_index: usize) -> TestResult {
        let test = &file.check.tests[test_index];
        let error = |message: String| {
            let attempt = Attempt { status: Status::Errored, message, steps: Vec::new(), duration: Duration::ZERO };
            test_result(file, test_index, vec![attempt], None)
        };
        let namespaces = file_namespaces(file.check.scope.as_ref());
        let ctx = self.step_context(file, namespaces.as_ref());
        let setup = self.setups[file_index]
            .get_or_init(|| async {
                let mut steps = Vec::new();
                match run_steps(ctx, &file.check.setup, &mut steps).await {
                    Status::Passed => Ok(()),
                    _ => Err(Attempt {
                        status: Status::Errored,
                        message: String::new(),
                        steps,
                        duration: Duration::ZERO,
                    }
                    .trace()),
                }
            })
            .await;
        if let Err(trace) = setup {
            return error(format!("the file's setup failed:\n{trace}"));
        }
        let retries = test.retries.unwrap_or(self.options.retries);
        let mut delays = retry_delays(retries);
        let mut attempts = Vec::new();
        loop {
            let attempt = run_attempt(ctx, test).await;
            let status = attempt.status;
            attempts.push(attempt);
            if matches!(status, Status::Passed | Status::Invalid) {
                break;
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        test_result(file, test_index, attempts, None)
    }

    /// Keeps a test's result for the report and tells the progress view.
    fn finished(&self, file: usize, test: usize, result: TestResult) {
        if let Some(progress) = &self.options.progress {
            progress.finished(&result);
        }
        self.results.lock().expect("results lock").push((file, test, result));
    }

    fn cancelled(&self) -> bool {
        self.options.cancel.as_ref().is_some_and(|c| *c.borrow())
    }

    /// [`Shared::run_test`], ended at once when the run is cancelled: dropping it kills the test's commands
    /// and drops its API calls.
    async fn run_cancellable(&self, file: &SuiteFile, file_index: usize, test_index: usize) -> TestResult {
        let Some(mut cancel) = self.options.cancel.clone() else {
            return self.run_test(file, file_index, test_index).await;
        };
        let started = Instant::now();
        tokio::select! {
            result = self.run_test(file, file_index, test_index) => result,
            // A sender gone without cancelling is no cancellation: wait for the test.
            Ok(_) = cancel.wait_for(|c| *c) => {
                let message = CANCELLED.to_owned();
                let attempt = Attempt { status: Status::Errored, message, steps: Vec::new(), duration: started.elapsed() };
                test_result(file, test_index, vec![attempt], None)
            }
        }
    }

    async fn teardown(&self, files: &[Arc<SuiteFile>]) -> Vec<(usize, TestResult)> {
        let mut failures = Vec::new();
        for (i, file) in files.iter().enumerate() {
            if file.check.teardown.is_empty() || self.setups[i].get().is_none() {
                continue;
            }
            let namespaces = file_namespaces(file.check.scope.as_ref());
            let ctx = self.step_context(file, namespaces.as_ref());
            let started = Instant::now();
            let mut steps = Vec::new();
            let status = run_steps(ctx, &file.check.teardown, &mut steps).await;
            if status != Status::Passed {
                let message = crate::runner::first_problem(&steps);
                let attempt = Attempt { status: Status::Errored, message, steps, duration: started.elapsed() };
                failures.push((
                    i,
                    TestResult {
                        file: file.display.clone(),
                        name: crate::outcome::TEARDOWN.into(),
                        tags: Vec::new(),
                        attempts: vec![attempt],
                        skipped: None,
                    },
                ));
            }
        }
        failures
    }
}

fn tag_selected(tags: &[String], options: &RunOptions) -> bool {
    (options.tags.is_empty() || tags.iter().any(|t| options.tags.contains(t)))
        && !tags.iter().any(|t| options.exclude_tags.contains(t))
}

/// Tests run at the same time when `--test-threads` is not given. Checks wait on the API server, not on the
/// CPU: the 1,000-assertion bench (`cargo bench --bench checks`, 2 cores) ran in 6.2 s with 1 thread, 2.8 s
/// with 2 (libtest's default here: the core count), 1.9 s with 4, 1.0 s with 8, 1.0 s with 16 and 0.7 s with
/// 32, using 54 MiB at 16; 16 keeps a run's load on a shared API server modest. A `try` that waits holds one
/// of them.
pub const DEFAULT_TEST_THREADS: usize = 16;

/// Runs every test of `suite` as a libtest-mimic trial (filters, `--exact`, `--skip`, `--list`,
/// `--ignored`, `--test-threads` as `cargo test` has them) and returns libtest's conclusion with the
/// report of every test. Tests with `skip` are libtest's ignored tests; `--ignored` runs them. Without
/// `--test-threads`, [`DEFAULT_TEST_THREADS`] tests run at once.
pub fn run(
    args: &Arguments,
    suite: &Suite,
    clusters: Arc<Clusters>,
    options: RunOptions,
    runtime: &tokio::runtime::Runtime,
) -> (Conclusion, RunReport) {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        clusters,
        #[cfg(feature = "aws")]
        aws: crate::aws::AwsConnector::new(options.aws.clone()),
        setups: suite.files.iter().map(|_| tokio::sync::OnceCell::new()).collect(),
        options,
        results: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        runtime: runtime.handle().clone(),
    });
    let mut trials = Vec::new();
    let mut not_run = Vec::new();
    let mut selected = 0;
    // The place of each test the filters and tags kept, for `count:` partitions.
    let mut kept = 0;
    let partition = shared.options.partition;
    for (fi, file) in suite.files.iter().enumerate() {
        for (ti, test) in file.check.tests.iter().enumerate() {
            let result = test_result(file, ti, Vec::new(), None);
            if !tag_selected(&result.tags, &shared.options) {
                continue;
            }
            let shared = shared.clone();
            let trial_file = file.clone();
            let trial = Trial::ignorable_test(result.full_name(), move || {
                if let Some(reason) = &shared.options.ignore_all {
                    return Ok(Completion::ignored_with(reason));
                }
                let file = trial_file;
                let not_run = if shared.cancelled() {
                    Some("not run: the run was cancelled")
                } else if shared.stop.load(Ordering::SeqCst) {
                    Some("not run: --fail-fast after an earlier failure")
                } else {
                    None
                };
                if let Some(reason) = not_run {
                    let reason = reason.to_owned();
                    let result = test_result(&file, ti, Vec::new(), Some(reason.clone()));
                    shared.finished(fi, ti, result);
                    return Ok(Completion::ignored_with(reason));
                }
                // A bug must not make a test vanish from the report: a panic is recorded as an error.
                let run =
                    std::panic::AssertUnwindSafe(|| shared.runtime.block_on(shared.run_cancellable(&file, fi, ti)));
                let result = std::panic::catch_unwind(run).unwrap_or_else(|panic| {
                    let what = crate::outcome::panic_message(&*panic);
                    let attempt = Attempt {
                        status: Status::Errored,
                        message: format!("precheck panicked (please report this bug): {what}"),
                        steps: Vec::new(),
                        duration: Duration::ZERO,
                    };
                    test_result(&file, ti, vec![attempt], None)
                });
                let status = result.status();
                let message = result.attempts.last().map(|a| a.message.clone()).unwrap_or_default();
                let attempts = result.attempts.len();
                shared.finished(fi, ti, result);
                match status {
                    Status::Passed => Ok(Completion::Completed),
                    status => {
                        if shared.options.fail_fast {
                            shared.stop.store(true, Ordering::SeqCst);
                        }
                        let tries = if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
                        Err(Failed::from(format!("{}{tries}: {message}", status.as_str())))
                    }
                }
            })
            .with_ignored_flag(test.skip.is_some());
            if !args.is_filtered_out(&trial) {
                kept += 1;
                if let Some(partition) = &partition
                    && !partition.contains(trial.name(), kept - 1)
                {
                    continue;
                }
                selected += 1;
                if args.is_ignored(&trial) {
                    let reason = test.skip.as_ref().map(|s| s.value.clone()).unwrap_or_default();
                    not_run.push((fi, ti, test_result(file, ti, Vec::new(), Some(reason))));
                }
            }
            trials.push(trial);
        }
    }
    let args = Arguments { test_threads: Some(args.test_threads.unwrap_or(DEFAULT_TEST_THREADS)), ..args.clone() };
    if !args.list
        && let Some(progress) = &shared.options.progress
    {
        progress.started(selected);
    }
    for (fi, ti, result) in not_run {
        shared.finished(fi, ti, result);
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if args.list {
        return (conclusion, RunReport::default());
    }
    let teardown_failures = runtime.block_on(shared.teardown(&suite.files));
    let mut results = std::mem::take(&mut *shared.results.lock().expect("results lock"));
    for (file, failure) in teardown_failures {
        if let Some(progress) = &shared.options.progress {
            progress.finished(&failure);
        }
        // After its file's tests.
        results.push((file, usize::MAX, failure));
    }
    results.sort_by_key(|(f, t, _)| (*f, *t));
    let tests: Vec<TestResult> = results.into_iter().map(|(_, _, r)| r).collect();
    (conclusion, RunReport { tests, duration: started.elapsed() })
}

/// `cargo test` entry point: runs the check files below `paths` against the cluster of the current
/// kube context, with libtest's command line. Ignores every test (and says why) when no cluster is
/// configured. Exits the process.
#[cfg(feature = "kube")]
pub fn main<P: AsRef<Path>>(paths: &[P]) -> ! {
    cargo_test(paths, crate::cluster::ConnectOptions::default()).exit()
}

/// Like [`main`], with explicit connection options, returning libtest's conclusion so the caller can
/// clean up (stop a test cluster) before exiting with `conclusion.exit()`.
#[cfg(feature = "kube")]
pub fn cargo_test<P: AsRef<Path>>(paths: &[P], options: crate::cluster::ConnectOptions) -> Conclusion {
    let args = Arguments::from_args();
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let suite = match Suite::load(&paths, &|name| std::env::var(name).ok()) {
        Ok(suite) => suite,
        Err(errors) => {
            for e in &errors {
                for line in e.lines() {
                    eprintln!("{line}");
                }
            }
            std::process::exit(101);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut run_options = RunOptions::default();
    if let Err(e) = runtime.block_on(Cluster::connect(&options)) {
        let reason = format!("no cluster configured: {e}");
        eprintln!("precheck: {reason}; every check is ignored");
        run_options.ignore_all = Some(reason);
    }
    let clusters = Arc::new(Clusters::new(ClusterSource::Live(options), None));
    run(&args, &suite, clusters, run_options, &runtime).0
}
