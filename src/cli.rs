//! Argument parsing, sub-commands and terminal output. The libraries never print; this module does.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use precheck::cluster::{Cluster, ClusterError, Namespaces, Snapshot, VerifyError};
use precheck::cluster::{ClusterSource, Clusters};
use precheck::harness::{LoadError, RunOptions, Suite};
use precheck::outcome::{RunReport, Status, TestResult};
use precheck::report::{json, junit_xml, tap, terminal};
use precheck_lang::{Located, SentenceError, parse_sentence};

use crate::exit_codes;

/// Test Kubernetes clusters with bats-detik sentences, natively.
#[derive(Debug, Parser)]
#[command(name = "precheck", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tests of check files (directories are searched for `*.check`).
    Run(RunArgs),
    /// Check files for errors without running them; reports every error of every file.
    Lint {
        /// Check files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Evaluate one sentence once (bats-detik's `verify`); exit 0 passed, 1 empty, 2 invalid, 3 failed,
    /// 4 cluster not reachable.
    Verify(SentenceArgs),
    /// Evaluate one `at most N times every Ds …` sentence, waiting for it (bats-detik's `try`).
    Try(SentenceArgs),
    /// Pipelines: chain preflight, build, addons and validation steps as a DAG, with run records.
    #[command(subcommand)]
    Pipeline(crate::pipeline_cli::PipelineCommand),
    /// Bring existing suites over: convert BATS + bats-detik files into check files.
    #[command(subcommand)]
    Migrate(crate::migrate_cli::MigrateCommand),
}

#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Evaluate against `kubectl get -o yaml` output instead of a live cluster (repeatable).
    #[arg(long, value_name = "FILE")]
    snapshot: Vec<PathBuf>,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kube context (default: the current context).
    #[arg(long)]
    context: Option<String>,
    /// Namespace for sentences and files that do not name one (default: the context's).
    #[arg(short, long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Look in every namespace when a sentence or file does not name one.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// AWS profile for preflight sentences (default: AWS_PROFILE, then `default`).
    #[arg(long, value_name = "NAME")]
    aws_profile: Option<String>,
    /// AWS region (default: AWS_REGION, then the profile's).
    #[arg(long, value_name = "REGION")]
    aws_region: Option<String>,
    /// Endpoint URL for every AWS service (default: AWS_ENDPOINT_URL), e.g. a local emulator.
    #[arg(long, value_name = "URL")]
    aws_endpoint_url: Option<String>,
}

impl Target {
    #[cfg(feature = "aws")]
    pub(crate) fn aws(&self) -> precheck::aws::AwsOptions {
        precheck::aws::AwsOptions {
            profile: self.aws_profile.clone(),
            region: self.aws_region.clone(),
            endpoint_url: self.aws_endpoint_url.clone(),
        }
    }

    fn namespaces(&self, detik_env: bool) -> Option<Namespaces> {
        if self.all_namespaces {
            return Some(Namespaces::All);
        }
        if let Some(ns) = &self.namespace {
            return Some(Namespaces::One(ns.clone()));
        }
        // bats-detik's order: the namespace when it is set, else all namespaces when asked.
        if detik_env {
            if let Ok(ns) = std::env::var("DETIK_CLIENT_NAMESPACE")
                && !ns.is_empty()
            {
                return Some(Namespaces::One(ns));
            }
            if std::env::var("DETIK_CLIENT_NAMESPACE_ALL").is_ok_and(|v| v == "true") {
                return Some(Namespaces::All);
            }
        }
        None
    }

    /// The cluster source; a snapshot that cannot be read is invalid input (exit 2), reported here.
    pub(crate) fn source(&self, detik_env: bool) -> Result<ClusterSource, ClusterError> {
        if !self.snapshot.is_empty() {
            let snapshot = Snapshot::from_files(&self.snapshot)?;
            let mut cluster = Cluster::from_snapshot(snapshot);
            if let Some(ns) = self.namespaces(detik_env) {
                cluster = cluster.with_namespaces(ns);
            }
            return Ok(ClusterSource::Fixed(Arc::new(cluster)));
        }
        Ok(ClusterSource::Live(precheck::cluster::ConnectOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// A line per test as it ends, then what went wrong and one summary line.
    Pretty,
    /// A mark per test as it ends (`.` passed, `f` flaky, `i` skipped, `F` failed, `E` errored, `I`
    /// invalid), then what went wrong and one summary line.
    Terse,
    /// A JSON object per line: the run's start, each test as it ends (passed, flaky, skipped, failed,
    /// errored, invalid; a file's failed teardown), the run's end with its status and counts.
    Json,
    /// TAP version 14, as BATS prints it.
    Tap,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Check files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: Target,
    /// Run only tests whose name (`file::test`) contains this text.
    #[arg(short, long)]
    filter: Option<String>,
    /// Match `--filter` and `--skip` against the whole name.
    #[arg(long)]
    exact: bool,
    /// Leave out tests whose name contains this text (repeatable).
    #[arg(long, value_name = "FILTER")]
    skip: Vec<String>,
    /// List the tests instead of running them.
    #[arg(long)]
    list: bool,
    /// Run only tests marked `skip`.
    #[arg(long, conflicts_with = "include_ignored")]
    ignored: bool,
    /// Run tests marked `skip` too.
    #[arg(long)]
    include_ignored: bool,
    /// Run only tests with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Leave out tests with this tag (repeatable).
    #[arg(long = "exclude-tag", value_name = "TAG")]
    exclude_tags: Vec<String>,
    /// Run one shard of the tests the filters and tags kept: `hash:K/N` (a test's shard from its name) or
    /// `count:K/N` (every N-th test), K from 1; the N shards together run every test once.
    #[arg(long, value_name = "KIND:K/N")]
    partition: Option<precheck::partition::Partition>,
    /// Tests run at the same time (default: 16; checks wait on the API server, not on the CPU).
    #[arg(long, short = 'j', value_name = "N")]
    test_threads: Option<usize>,
    /// Extra attempts for a failing test; a test's own `retries` wins. A test that passes on a retry is
    /// reported as flaky.
    #[arg(long, default_value_t = 0, value_name = "N")]
    retries: u32,
    /// Start no more tests after the first one that does not pass.
    #[arg(long)]
    fail_fast: bool,
    /// What a failed cluster check adds from a live cluster: `summary` (its objects' state — phase,
    /// conditions, container states with their reasons — and recent events), `full` (and the last lines
    /// of the logs of containers that are not ready), or `none`.
    #[arg(long, value_name = "LEVEL", default_value = "summary")]
    diagnostics: precheck::diagnosis::Level,
    /// Write a JUnit XML report to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Terminal output format.
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    format: Format,
    /// Less output: a mark per test, as `--format terse`.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct SentenceArgs {
    #[command(flatten)]
    target: Target,
    /// The sentence; several arguments are joined with single spaces, as DETIK does.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "SENTENCE")]
    sentence: Vec<String>,
}

/// Runs the command line and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit_codes::INVALID_INPUT } else { exit_codes::SUCCESS };
        }
    };
    match cli.command {
        Command::Run(args) => run(args),
        Command::Lint { paths } => lint(&paths),
        Command::Verify(args) => sentence(args, false),
        Command::Try(args) => sentence(args, true),
        Command::Pipeline(command) => crate::pipeline_cli::main(command),
        Command::Migrate(command) => crate::migrate_cli::main(command),
    }
}

pub(crate) fn handler() -> miette::GraphicalReportHandler {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1)
}

/// Source lines longer than this are not quoted in reports (a one-megabyte line would be printed whole,
/// more than once): the error is then one `file:line:col: message` line.
pub(crate) const LONG_LINE: usize = 400;

/// Writes errors found at a place in a file, the one way every kind of file's errors are shown: the line
/// with a caret under the place and what was expected (miette), or one `file:line:col: message` line when
/// the source line is too long to quote.
pub(crate) fn print_located(errors: &[Located]) {
    let handler = handler();
    let mut stderr = std::io::stderr().lock();
    for error in errors {
        if error.line_len() > LONG_LINE {
            let _ = writeln!(stderr, "error: {error}");
        } else {
            let mut out = String::new();
            let _ = handler.render_report(&mut out, &Drawn(error));
            let _ = writeln!(stderr, "{out}");
        }
    }
}

/// A located error as miette draws it: the message alone on top, since the place and the help are drawn
/// below it (its one-line form, `file:line:col: message (help)`, says them all).
struct Drawn<'a>(&'a Located);

impl std::fmt::Display for Drawn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::fmt::Debug for Drawn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl std::error::Error for Drawn<'_> {}

impl miette::Diagnostic for Drawn<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.code()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
}

pub(crate) fn print_load_errors(errors: &[LoadError]) {
    let mut count = 0;
    for error in errors {
        let located = error.located();
        if located.is_empty() {
            eprintln!("error: {error}");
            count += 1;
        }
        print_located(&located);
        count += located.len();
    }
    let files = errors.len();
    eprintln!(
        "error: {count} error{} in {files} file{}",
        if count == 1 { "" } else { "s" },
        if files == 1 { "" } else { "s" }
    );
}

fn lint(paths: &[PathBuf]) -> i32 {
    match Suite::load(paths, &|name| std::env::var(name).ok()) {
        Ok(suite) => {
            println!("{} files, {} tests: no errors", suite.files.len(), suite.test_count());
            exit_codes::SUCCESS
        }
        Err(errors) => {
            print_load_errors(&errors);
            exit_codes::INVALID_INPUT
        }
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

fn run(args: RunArgs) -> i32 {
    let suite = match Suite::load(&args.paths, &|name| std::env::var(name).ok()) {
        Ok(suite) => suite,
        Err(errors) => {
            print_load_errors(&errors);
            return exit_codes::INVALID_INPUT;
        }
    };
    let source = match args.target.source(false) {
        Ok(source) => source,
        Err(e) => return exit_codes::error(&e),
    };
    let clusters = Arc::new(Clusters::new(source, args.target.namespaces(false)));
    let format = if args.quiet && args.format == Format::Pretty { Format::Terse } else { args.format };
    let live = Arc::new(Live { format, marks: AtomicUsize::new(0) });
    let options = RunOptions {
        retries: args.retries,
        tags: args.tags.clone(),
        exclude_tags: args.exclude_tags.clone(),
        fail_fast: args.fail_fast,
        ignore_all: None,
        #[cfg(feature = "aws")]
        aws: args.target.aws(),
        cancel: None,
        withheld: Default::default(),
        progress: Some(live.clone()),
        partition: args.partition,
        diagnostics: args.diagnostics,
    };
    let runtime = runtime();
    let (conclusion, report) = precheck::harness::run(&libtest_args(&args), &suite, clusters, options, &runtime);
    if args.list {
        return exit_codes::SUCCESS;
    }
    live.end(&report);
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit_xml(&report))
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return exit_codes::INFRASTRUCTURE;
    }
    match report.status() {
        // libtest saw a failure the report does not explain: never let that pass.
        Status::Passed | Status::Skipped if conclusion.has_failed() => exit_codes::INFRASTRUCTURE,
        status => exit_codes::of_status(status),
    }
}

/// libtest's part of a run: which tests (filters, `--ignored`), how many at once, `--list`. Its own lines
/// go to the null device (except a listing): the terminal shows the run's report ([`Live`]).
fn libtest_args(args: &RunArgs) -> libtest_mimic::Arguments {
    libtest_mimic::Arguments {
        filter: args.filter.clone(),
        exact: args.exact,
        skip: args.skip.clone(),
        list: args.list,
        ignored: args.ignored,
        include_ignored: args.include_ignored,
        test_threads: args.test_threads,
        logfile: (!args.list).then(|| "/dev/null".to_owned()),
        ..Default::default()
    }
}

/// The terminal's view of a check run, from its results: each test as it ends, then the end of the run.
#[derive(Debug)]
struct Live {
    format: Format,
    /// Marks on the current terse line.
    marks: AtomicUsize,
}

impl precheck::harness::Progress for Live {
    fn started(&self, count: usize) {
        match self.format {
            Format::Pretty | Format::Terse => println!("\nrunning {count} test{}", if count == 1 { "" } else { "s" }),
            Format::Json => println!("{}", json::started(count)),
            Format::Tap => {}
        }
    }

    fn finished(&self, result: &TestResult) {
        let mut out = std::io::stdout().lock();
        let _ = match self.format {
            Format::Pretty => writeln!(out, "{}", terminal::test_line(result)),
            Format::Terse => {
                let marks = self.marks.fetch_add(1, Ordering::SeqCst) + 1;
                let end = if marks.is_multiple_of(terminal::TERSE_WIDTH) { "\n" } else { "" };
                write!(out, "{}{end}", terminal::mark(result)).and_then(|()| out.flush())
            }
            Format::Json => writeln!(out, "{}", json::test(result)),
            Format::Tap => Ok(()),
        };
    }
}

impl Live {
    /// What the terminal shows once every test ended.
    fn end(&self, report: &RunReport) {
        match self.format {
            Format::Pretty | Format::Terse => {
                if self.format == Format::Terse
                    && !self.marks.load(Ordering::SeqCst).is_multiple_of(terminal::TERSE_WIDTH)
                {
                    println!();
                }
                print!("{}", terminal::problems(report));
                println!("\n{}", terminal::summary(report));
            }
            Format::Json => println!("{}", json::finished(report)),
            Format::Tap => print!("{}", tap(report)),
        }
    }
}

fn sentence(args: SentenceArgs, retried: bool) -> i32 {
    let text = args.sentence.join(" ");
    let command = if retried { "try" } else { "verify" };
    let sentence = match parse_sentence(&text) {
        Ok(s) => s,
        Err(SentenceError::Empty) => {
            eprintln!("error: empty sentence");
            return exit_codes::EMPTY_SENTENCE;
        }
        Err(SentenceError::Syntax(e)) => {
            print_located(&[Located::syntax(command, text.as_str().into(), &e)]);
            return exit_codes::INVALID_INPUT;
        }
    };
    if sentence.retry.is_some() != retried {
        eprintln!(
            "error: invalid sentence for `{command}`: {}",
            if retried {
                "`try` takes a sentence that starts with `at most N times every Ds`"
            } else {
                "`verify` evaluates once; use `try` for `at most …` sentences"
            }
        );
        return exit_codes::INVALID_INPUT;
    }
    #[cfg(not(feature = "aws"))]
    if sentence.aws().is_some() {
        eprintln!("error: AWS sentences need precheck built with its `aws` feature");
        return exit_codes::INVALID_INPUT;
    }
    #[cfg(feature = "aws")]
    if sentence.aws().is_some() {
        let runtime = runtime();
        let result = runtime.block_on(async {
            let aws = precheck::aws::Aws::connect(&args.target.aws()).await?;
            aws.check(&sentence).await
        });
        return match result {
            Ok(verdict) => {
                println!("{verdict}");
                if verdict.passed { exit_codes::SUCCESS } else { exit_codes::FAILED }
            }
            Err(e) => exit_codes::error(&e),
        };
    }
    let source = match args.target.source(true) {
        Ok(source) => source,
        Err(e) => return exit_codes::error(&e),
    };
    let runtime = runtime();
    let result: Result<_, VerifyError> = runtime.block_on(async {
        let cluster = match source {
            ClusterSource::Fixed(cluster) => cluster,
            ClusterSource::Live(options) => {
                let mut cluster = Cluster::connect(&options).await?;
                if let Some(ns) = args.target.namespaces(true) {
                    cluster = cluster.with_namespaces(ns);
                }
                Arc::new(cluster)
            }
            _ => unreachable!("every cluster source is handled"),
        };
        Ok(cluster.check(&sentence, None).await?)
    });
    match result {
        Ok(verdict) if verdict.passed => {
            println!("{verdict}");
            exit_codes::SUCCESS
        }
        Ok(verdict) => {
            println!("{verdict}");
            exit_codes::FAILED
        }
        Err(e) => exit_codes::error(&e),
    }
}
