//! `precheck pipeline …`: plan, run, resume, status, logs and list of pipeline runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use precheck::cluster::Clusters;
use precheck::outcome::Classified;
use precheck_pipeline::executor::{ChecksTarget, ExecOptions};
use precheck_pipeline::executor::{Observer, Observers};
use precheck_pipeline::graph::BoundAction;
use precheck_pipeline::html::ReportFile;
use precheck_pipeline::progress::{Progress, mark, summary};
use precheck_pipeline::record::{RunRecord, RunState, Store};
use precheck_pipeline::run::RunError;
use precheck_pipeline::{LoadError, Pipeline};

use crate::cli::{Target, runtime};
use crate::exit_codes;

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Check a pipeline file (every error, with line and column) and print the steps a run would make.
    Plan {
        /// The pipeline file.
        file: PathBuf,
        #[command(flatten)]
        params: Params,
        /// Refuse unless the pipeline file (and its imports) has this digest: the one exported.
        #[arg(long, value_name = "DIGEST")]
        expect_digest: Option<String>,
        /// Also write, for every `when` of the pipeline, a file in DIR named by its key holding `true` or
        /// `false` for these values (what the exported Argo Workflow's `parameters` task hands on).
        #[arg(long, value_name = "DIR")]
        conditions: Option<PathBuf>,
    },
    /// Run a pipeline, or one stage of it, recording the run under the state directory.
    Run {
        /// The pipeline file.
        file: PathBuf,
        #[command(flatten)]
        params: Params,
        /// At most this many steps at once (default: the pipeline's `parallelism`).
        #[arg(short = 'j', long)]
        parallelism: Option<usize>,
        #[command(flatten)]
        state: StateDir,
        #[command(flatten)]
        target: Target,
    },
    /// Run one step once, alone, as an orchestrator that decided to run it does (Argo's containers from
    /// `export --argo`): no dependencies, no `when`, one attempt; its output goes to stdout as it comes.
    Step {
        /// The pipeline file.
        file: PathBuf,
        /// The step, `STAGE/STEP` (`finally/STEP` for a finally step).
        step: String,
        /// For a fan-out step: the item to run.
        #[arg(long)]
        item: Option<String>,
        /// A parameter value, `NAME=VALUE` (lists as `a,b,c` or a JSON list); repeatable.
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
        params: Vec<(String, String)>,
        /// Refuse to run unless the pipeline file (and its imports) has this digest: the one exported.
        #[arg(long, value_name = "DIGEST")]
        expect_digest: Option<String>,
        /// What the step sees as PRECHECK_RUN_ID (the orchestrator's run; default: this run's id).
        #[arg(long, value_name = "ID")]
        run_id: Option<String>,
        #[command(flatten)]
        state: StateDir,
        #[command(flatten)]
        target: Target,
    },
    /// Write the pipeline as Argo Workflows resources: a WorkflowTemplate per stage (and one for the
    /// finally steps) and a Workflow chaining them, each step running `precheck pipeline step` in IMAGE.
    Export {
        /// The pipeline file.
        file: PathBuf,
        /// The directory to write the resources to (files an earlier export wrote there are replaced).
        #[arg(long, value_name = "DIR")]
        argo: PathBuf,
        /// The container image steps run in: `precheck` on its PATH, the --root directory at --workdir.
        #[arg(long)]
        image: String,
        /// The local directory the image holds (default: the pipeline file's directory); the pipeline
        /// file, its imports and the files its steps read must be under it.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Where the image holds the --root directory.
        #[arg(long, value_name = "PATH", default_value = "/precheck")]
        workdir: PathBuf,
        /// The service account step pods run as (their cluster and AWS permissions).
        #[arg(long, value_name = "NAME")]
        service_account: Option<String>,
        /// The Kubernetes Secret step pods read secret parameters from, a key per parameter
        /// (default: PIPELINE-secrets).
        #[arg(long, value_name = "NAME")]
        secret: Option<String>,
    },
    /// Resume a run: steps that succeeded are not run again; the others get all their attempts.
    Resume {
        /// The run's id.
        run: String,
        /// The value of a secret parameter, which runs do not record, `NAME=VALUE` (default: the
        /// environment variable NAME); repeatable.
        #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
        secrets: Vec<(String, String)>,
        /// At most this many steps at once.
        #[arg(short = 'j', long)]
        parallelism: Option<usize>,
        #[command(flatten)]
        state: StateDir,
        #[command(flatten)]
        target: Target,
    },
    /// Show a run's steps, their status, attempts, durations and messages.
    Status {
        /// The run's id (default: the latest run).
        run: Option<String>,
        /// Print the run record as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateDir,
    },
    /// Print a run's logs: one step's (by id, or by a unique part of it), or every step's.
    Logs {
        /// The run's id.
        run: String,
        /// A step id such as `addons/metrics-server`.
        step: Option<String>,
        #[command(flatten)]
        state: StateDir,
    },
    /// Serve the trigger API: `POST /pipeline` or `POST /stages/STAGE` with a JSON object of parameters
    /// starts a run (202 with its id); `GET /runs/ID` returns its record. A bearer token is required.
    Serve {
        /// The pipeline file.
        file: PathBuf,
        /// Address to listen on; port 0 picks a free port (printed on start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// A file holding the bearer token (default: the PRECHECK_TRIGGER_TOKEN variable).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// At most this many steps at once, per run.
        #[arg(short = 'j', long)]
        parallelism: Option<usize>,
        #[command(flatten)]
        state: StateDir,
        #[command(flatten)]
        target: Target,
    },
    /// Write a run's HTML report (`report.html` in its directory: the DAG coloured by status, durations,
    /// attempts, links to logs and JUnit files) and print its path. Runs write it when they end.
    Report {
        /// The run's id (default: the latest run).
        run: Option<String>,
        #[command(flatten)]
        state: StateDir,
    },
    /// List the runs under the state directory, oldest first.
    List {
        #[command(flatten)]
        state: StateDir,
    },
}

#[derive(Debug, Args)]
pub struct Params {
    /// A parameter value, `NAME=VALUE` (lists as `a,b,c`); repeatable.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
    params: Vec<(String, String)>,
    /// Run only this stage (its dependencies on other stages are taken as met).
    #[arg(long)]
    stage: Option<String>,
}

#[derive(Debug, Args)]
pub struct StateDir {
    /// Where runs are recorded.
    #[arg(long, env = "PRECHECK_STATE_DIR", default_value = ".precheck", value_name = "DIR")]
    state_dir: PathBuf,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(n, v)| (n.trim().to_owned(), v.to_owned()))
        .filter(|(n, _)| !n.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got '{text}'"))
}

pub fn main(command: PipelineCommand) -> i32 {
    match command {
        PipelineCommand::Plan { file, params, expect_digest, conditions } => {
            plan(&file, &params, expect_digest.as_deref(), conditions.as_deref())
        }
        PipelineCommand::Run { file, params, parallelism, state, target } => {
            run(&file, &params, parallelism, &state, &target)
        }
        PipelineCommand::Step { file, step: id, item, params, expect_digest, run_id, state, target } => {
            let params = Params { params, stage: None };
            let digest = expect_digest.as_deref();
            step(&file, &id, item.as_deref(), &params, digest, run_id, &state, &target)
        }
        PipelineCommand::Export { file, argo, image, root, workdir, service_account, secret } => {
            export(&file, &argo, precheck_pipeline::argo::ArgoOptions { image, root, workdir, service_account, secret })
        }
        PipelineCommand::Resume { run, secrets, parallelism, state, target } => {
            resume(&run, &secrets, parallelism, &state, &target)
        }
        PipelineCommand::Status { run, json, state } => status(run.as_deref(), json, &state),
        PipelineCommand::Logs { run, step, state } => logs(&run, step.as_deref(), &state),
        PipelineCommand::List { state } => list(&state),
        PipelineCommand::Report { run, state } => report(run.as_deref(), &state),
        PipelineCommand::Serve { file, listen, token_file, parallelism, state, target } => {
            serve(&file, listen, token_file.as_deref(), parallelism, &state, &target)
        }
    }
}

/// The checked pipeline and the parameter values of the command line; errors are printed.
fn load(file: &Path, params: &Params) -> Result<(Pipeline, precheck_pipeline::Values), i32> {
    load_exported(file, params, None)
}

/// [`load`], refusing a pipeline file whose digest is not `expected` (the one exported) before reading
/// the values, which a changed file may declare differently.
fn load_exported(
    file: &Path,
    params: &Params,
    expected: Option<&str>,
) -> Result<(Pipeline, precheck_pipeline::Values), i32> {
    let pipeline = Pipeline::load(file).map_err(|e| pipeline_error(&e))?;
    if let Some(expected) = expected.filter(|d| *d != pipeline.digest) {
        eprintln!(
            "error: {} (or a file it imports) is not the one exported (digest {} instead of {expected}): rebuild \
             the image or export again",
            file.display(),
            pipeline.digest
        );
        return Err(exit_codes::INVALID_INPUT);
    }
    // A secret parameter not on the command line comes from the environment variable of its name.
    let pairs = pipeline.with_secrets(&params.params, |name| std::env::var(name).ok());
    let values = pipeline.values_from_args(&pairs).map_err(|e| exit_codes::error(&RunError::Values(e)))?;
    Ok((pipeline, values))
}

/// Prints every error of a pipeline file that could not be loaded; returns the exit code.
fn pipeline_error(error: &LoadError) -> i32 {
    match error {
        LoadError::Invalid { errors } => {
            crate::cli::print_located(errors);
            eprintln!("error: {} error{} in the pipeline", errors.len(), if errors.len() == 1 { "" } else { "s" });
        }
        other => eprintln!("error: {other}"),
    }
    exit_codes::of_fault(error.fault())
}

fn plan(file: &Path, params: &Params, expect_digest: Option<&str>, conditions: Option<&Path>) -> i32 {
    let (pipeline, values) = match load_exported(file, params, expect_digest) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Some(dir) = conditions {
        if let Err(e) = precheck_pipeline::argo::check_values(&pipeline, &params.params) {
            return exit_codes::error(&e);
        }
        match precheck_pipeline::argo::write_conditions(&pipeline, &values, dir) {
            Ok(written) => {
                for (key, holds) in written {
                    println!("condition {key}: {holds}");
                }
            }
            Err(e) => return exit_codes::error(&e),
        }
    }
    let graph = match pipeline.bind(&values, params.stage.as_deref()) {
        Ok(g) => g,
        Err(e) => return exit_codes::error(&e),
    };
    let redactor = precheck_pipeline::secret::Redactor::new(&pipeline, &values);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "pipeline {}: {} steps, at most {} at once",
        pipeline.name,
        graph.nodes.len(),
        pipeline.parallelism
    );
    let mut stage = "";
    for node in &graph.nodes {
        if node.stage != stage {
            stage = &node.stage;
            let after = pipeline
                .stage(stage)
                .filter(|s| !s.depends.is_empty() && graph.stage.is_none())
                .map(|s| format!(" (after {})", s.depends.join(", ")))
                .unwrap_or_default();
            let when =
                pipeline.stage(stage).and_then(|s| s.when.as_ref()).map(|w| format!(" when {w}")).unwrap_or_default();
            let name = if node.finally { "finally (after everything, whatever happened)" } else { stage };
            let _ = writeln!(out, "stage {name}{after}{when}");
        }
        // Secrets are masked before quoting: a quoted secret (escapes added) would no longer match.
        let mask = |text: &str| redactor.redact(text).into_owned();
        let quoted = |texts: Vec<String>| format!("{:?}", texts.iter().map(|t| mask(t)).collect::<Vec<_>>());
        let paths = |paths: &[PathBuf]| quoted(paths.iter().map(|p| p.to_string_lossy().into_owned()).collect());
        let what = match &node.action {
            BoundAction::Run(argv) => format!("run {}", quoted(argv.clone())),
            BoundAction::Shell(script) => format!("shell {:?}", mask(script.lines().next().unwrap_or_default())),
            BoundAction::Checks(files) => format!("checks {}", paths(files)),
            BoundAction::Apply(files) => format!("apply {}", paths(files)),
            BoundAction::CloudFormation(stack) => {
                let parameters: BTreeMap<&str, String> =
                    stack.parameters.iter().map(|(k, v)| (k.as_str(), mask(v))).collect();
                let template = mask(&stack.template.display().to_string());
                format!("cloudformation stack {} from {template} {parameters:?}", mask(&stack.name))
            }
        };
        let after: Vec<&str> = node.after.iter().map(|&d| graph.nodes[d].id.as_str()).collect();
        let after = if after.is_empty() { String::new() } else { format!(" after {}", after.join(", ")) };
        let skip = node.skip.as_ref().map(|s| format!(" — skipped: {s}")).unwrap_or_default();
        let _ = writeln!(out, "  {}{after}: {what}{skip}", node.id);
    }
    exit_codes::SUCCESS
}

fn exec_options(target: &Target, parallelism: Option<usize>) -> Result<ExecOptions, i32> {
    let cluster = target.source(false).map_err(|e| exit_codes::error(&e))?;
    #[cfg_attr(not(feature = "aws"), allow(unused_mut))]
    let mut env = Clusters::new(cluster.clone(), None).command_env();
    #[cfg(feature = "aws")]
    let aws = target.aws();
    #[cfg(feature = "aws")]
    env.extend(aws.command_env());
    Ok(ExecOptions {
        parallelism,
        target: ChecksTarget {
            cluster,
            #[cfg(feature = "aws")]
            aws,
        },
        env,
        run_id: None,
        // The executor adds the pipeline's secret parameters to the trigger's token.
        withheld: Default::default(),
    })
}

/// The views of a run as it goes and when it ends: progress lines on stderr, the HTML report written as it
/// ends (its failed write is kept for [`finish`]).
fn views(store: &Store, progress: Progress<std::io::Stderr>) -> (Arc<dyn Observer>, Arc<ReportFile>) {
    let report = Arc::new(ReportFile::new(store.clone()));
    (Arc::new(Observers(vec![Arc::new(progress), report.clone()])), report)
}

/// The exit code of an execution, its errors printed; a run that ended but whose report could not be
/// written says so and ends as an infrastructure error.
fn finish(result: Result<RunRecord, RunError>, report: &ReportFile) -> i32 {
    match result {
        Ok(record) => match report.take_error() {
            Some(e) => {
                eprintln!("error: the run ended, but its report could not be written: {e}");
                exit_codes::of_fault(e.fault())
            }
            None => exit_codes::of_run(record.status),
        },
        Err(RunError::Load(e)) => pipeline_error(&e),
        Err(e) => exit_codes::error(&e),
    }
}

fn run(file: &Path, params: &Params, parallelism: Option<usize>, state: &StateDir, target: &Target) -> i32 {
    let (pipeline, values) = match load(file, params) {
        Ok((pipeline, values)) => (Arc::new(pipeline), values),
        Err(code) => return code,
    };
    let options = match exec_options(target, parallelism) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let store = Store::new(&state.state_dir);
    let (views, report) = views(&store, Progress::new(std::io::stderr()));
    let result =
        drive(precheck_pipeline::run::start(pipeline, &values, params.stage.as_deref(), &store, views, options));
    if let Ok(record) = &result {
        eprintln!("record: {}", store.runs().join(&record.id).join("run.json").display());
    }
    finish(result, &report)
}

fn export(file: &Path, dir: &Path, options: precheck_pipeline::argo::ArgoOptions) -> i32 {
    // No values: parameters stay parameters, given when the Workflow is submitted.
    let pipeline = match Pipeline::load(file) {
        Ok(pipeline) => pipeline,
        Err(e) => return pipeline_error(&e),
    };
    let written = precheck_pipeline::argo::export(&pipeline, &options)
        .and_then(|resources| precheck_pipeline::argo::write(dir, &pipeline, &resources));
    match written {
        Ok(paths) => {
            for path in paths {
                println!("{}", path.display());
            }
            exit_codes::SUCCESS
        }
        Err(e) => exit_codes::error(&e),
    }
}

#[allow(clippy::too_many_arguments)]
fn step(
    file: &Path,
    id: &str,
    item: Option<&str>,
    params: &Params,
    expect_digest: Option<&str>,
    run_id: Option<String>,
    state: &StateDir,
    target: &Target,
) -> i32 {
    let (pipeline, values) = match load_exported(file, params, expect_digest) {
        Ok((pipeline, values)) => (Arc::new(pipeline), values),
        Err(code) => return code,
    };
    let graph = match pipeline.bind(&values, None).and_then(|g| g.single(id, item)) {
        Ok(graph) => graph,
        Err(e) => return exit_codes::error(&e),
    };
    let options = match exec_options(target, None) {
        Ok(o) => ExecOptions { run_id, ..o },
        Err(code) => return code,
    };
    let store = Store::new(&state.state_dir);
    let log = graph.nodes[0].id.clone();
    let (views, report) = views(&store, Progress::new(std::io::stderr()));
    let prepared = match precheck_pipeline::run::Prepared::for_graph(pipeline, graph, &store) {
        Ok(p) => p,
        Err(e) => return finish(Err(e), &report),
    };
    let log = prepared.dir().join(precheck_pipeline::record::log_path(&log));
    let result = drive(async move {
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let follow = tokio::spawn(follow(log, finished));
        let result = prepared.execute(views, options).await;
        let _ = done.send(());
        let _ = follow.await;
        result
    });
    finish(result, &report)
}

/// Copies what is appended to `log` to stdout until `finished`, then the rest: a step's output as it comes.
async fn follow(log: PathBuf, mut finished: tokio::sync::oneshot::Receiver<()>) {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    let mut offset = 0u64;
    let mut stdout = tokio::io::stdout();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let last = matches!(finished.try_recv(), Ok(()) | Err(tokio::sync::oneshot::error::TryRecvError::Closed));
        if let Ok(mut file) = tokio::fs::File::open(&log).await
            && file.seek(std::io::SeekFrom::Start(offset)).await.is_ok()
        {
            while let Ok(n) = file.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                offset += n as u64;
                let _ = stdout.write_all(&buffer[..n]).await;
            }
            let _ = stdout.flush().await;
        }
        if last {
            return;
        }
        tokio::select! {
            _ = &mut finished => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
    }
}

fn resume(
    id: &str,
    secrets: &[(String, String)],
    parallelism: Option<usize>,
    state: &StateDir,
    target: &Target,
) -> i32 {
    let options = match exec_options(target, parallelism) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let store = Store::new(&state.state_dir);
    let (views, report) = views(&store, Progress::new(std::io::stderr()));
    let lookup = |name: &str| std::env::var(name).ok();
    finish(drive(precheck_pipeline::run::resume(&store, id, secrets, &lookup, views, options)), &report)
}

/// Runs a pipeline execution to its end on a runtime of its own. A `checks` step that timed out may still
/// be blocked on a cluster: the runtime is shut down without waiting for it.
fn drive<T>(execution: impl std::future::Future<Output = T>) -> T {
    let runtime = runtime();
    let result = runtime.block_on(execution);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn latest(store: &Store) -> Result<String, i32> {
    match store.list() {
        Ok(ids) => ids.last().cloned().ok_or_else(|| {
            eprintln!("error: no runs in {}", store.runs().display());
            exit_codes::INVALID_INPUT
        }),
        Err(e) => Err(exit_codes::error(&e)),
    }
}

/// Run `id` (the latest run when `None`) and its record; errors are printed.
fn open(store: &Store, id: Option<&str>) -> Result<(precheck_pipeline::record::RunDir, RunRecord), i32> {
    let id = match id {
        Some(id) => id.to_owned(),
        None => latest(store)?,
    };
    let run = store.open(&id).map_err(|e| exit_codes::error(&e))?;
    let record = run.read().map_err(|e| exit_codes::error(&e))?;
    Ok((run, record))
}

fn status(id: Option<&str>, json: bool, state: &StateDir) -> i32 {
    let store = Store::new(&state.state_dir);
    let (run, record) = match open(&store, id) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    let state = run.state(&record);
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&record.to_json(state)).unwrap_or_default());
        return exit_codes::SUCCESS;
    }
    let state = match state {
        RunState::Interrupted => format!("interrupted (resume it: precheck pipeline resume {})", record.id),
        state => state.as_str().to_owned(),
    };
    let resumed = match record.resumes {
        0 => String::new(),
        n => format!("; resumed {n} time{}", if n == 1 { "" } else { "s" }),
    };
    let _ = writeln!(out, "run {} ({}) {state}: {}{resumed}", record.id, record.pipeline, summary(&record));
    let width = record.steps.iter().map(|s| s.id.chars().count()).max().unwrap_or(0);
    for s in &record.steps {
        let mark = mark(s.status);
        let took = s.duration().map(|d| format!("{:.1}s", d.as_secs_f64())).unwrap_or_else(|| "-".into());
        let attempts = match s.attempts {
            0 => String::new(),
            1 => "1 attempt".to_owned(),
            n => format!("{n} attempts"),
        };
        let message = s.message.as_deref().unwrap_or_default();
        let _ =
            writeln!(out, "  {mark} {:width$}  {:9}  {took:>7}  {attempts:10}  {message}", s.id, s.status.as_str(),);
        for line in s.diagnosis.as_deref().unwrap_or_default().lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
    exit_codes::SUCCESS
}

fn logs(id: &str, step: Option<&str>, state: &StateDir) -> i32 {
    let store = Store::new(&state.state_dir);
    let (run, record) = match open(&store, Some(id)) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let steps: Vec<_> = match step {
        None => record.steps.iter().collect(),
        Some(wanted) => {
            let exact: Vec<_> = record.steps.iter().filter(|s| s.id == wanted).collect();
            let found =
                if exact.is_empty() { record.steps.iter().filter(|s| s.id.contains(wanted)).collect() } else { exact };
            if found.is_empty() {
                eprintln!("error: run {id} has no step '{wanted}'");
                return exit_codes::INVALID_INPUT;
            }
            found
        }
    };
    let mut out = std::io::stdout().lock();
    for s in steps {
        let path = run.path().join(precheck_pipeline::record::log_path(&s.id));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let _ = write!(out, "{text}");
            }
            Err(_) if step.is_none() => {}
            Err(_) => {
                let _ = writeln!(out, "(no log: {} has not run)", s.id);
            }
        }
    }
    exit_codes::SUCCESS
}

fn list(state: &StateDir) -> i32 {
    let store = Store::new(&state.state_dir);
    let ids = match store.list() {
        Ok(ids) => ids,
        Err(e) => return exit_codes::error(&e),
    };
    let mut out = std::io::stdout().lock();
    for id in ids {
        if let Ok(run) = store.open(&id)
            && let Ok(record) = run.read()
        {
            let status = run.state(&record).as_str();
            let _ = writeln!(out, "{id}  {status:11}  {}", summary(&record));
        }
    }
    exit_codes::SUCCESS
}

fn serve(
    file: &Path,
    listen: std::net::SocketAddr,
    token_file: Option<&Path>,
    parallelism: Option<usize>,
    state: &StateDir,
    target: &Target,
) -> i32 {
    use precheck_pipeline::trigger::{Token, Trigger};
    let pipeline = match Pipeline::load(file) {
        Ok(p) => Arc::new(p),
        Err(e) => return pipeline_error(&e),
    };
    let text = match token_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return exit_codes::INVALID_INPUT;
            }
        },
        None => match std::env::var(precheck_pipeline::trigger::TOKEN_VARIABLE) {
            Ok(text) => text,
            Err(_) => {
                eprintln!("error: the trigger API needs a token: --token-file FILE or PRECHECK_TRIGGER_TOKEN");
                return exit_codes::INVALID_INPUT;
            }
        },
    };
    let token = match Token::new(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_codes::INVALID_INPUT;
        }
    };
    let options = match exec_options(target, parallelism) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let store = Store::new(&state.state_dir);
    // A report that cannot be written is not the caller's to see (it left with its 202): the run's record
    // stays whole and `pipeline report` writes the page again.
    let (observer, _report) = views(&store, Progress::new(std::io::stderr()).with_run_ids());
    let trigger = Arc::new(Trigger { pipeline, store, token, options, observer });
    runtime().block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return exit_codes::INFRASTRUCTURE;
            }
        };
        let address = listener.local_addr().map_or_else(|_| listen.to_string(), |a| a.to_string());
        println!("listening on http://{address}");
        let _ = std::io::stdout().flush();
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        match trigger.serve(listener, stop).await {
            Ok(()) => exit_codes::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                exit_codes::INFRASTRUCTURE
            }
        }
    })
}

fn report(id: Option<&str>, state: &StateDir) -> i32 {
    let store = Store::new(&state.state_dir);
    let (run, record) = match open(&store, id) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match run.write_file("report.html", precheck_pipeline::html::render(&record, run.state(&record)).as_bytes()) {
        Ok(()) => {
            println!("{}", run.path().join("report.html").display());
            exit_codes::SUCCESS
        }
        Err(e) => exit_codes::error(&e),
    }
}
