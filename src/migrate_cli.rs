//! `precheck migrate …`: bring existing suites over as check files.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use precheck_migrate::{Conversion, NotBats};

use crate::exit_codes;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Convert BATS + bats-detik files into check files: one `NAME.check` per `NAME.bats`. Lines with no
    /// faithful check-file form stay as comments and are listed on stderr. Exit 0 when every line was
    /// converted, 3 when some were left for a person, 2 for input that is not a bats file.
    Bats(BatsArgs),
    /// Convert kuttl test cases: DIR is a test case (its `NN-*.yaml` steps) or a directory of them. Each
    /// becomes `CASE.check` in its own directory (kuttl's working directory for commands), with copies of
    /// objects and scripts it needs. Exit codes as for `bats`.
    Kuttl(KuttlArgs),
}

#[derive(Debug, Args)]
pub struct KuttlArgs {
    /// Test case directories, or directories of them (a kuttl-test.yaml there gives `timeout`, `namespace`).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Convert in memory and check the result, writing nothing.
    #[arg(long)]
    check: bool,
    /// Overwrite files that exist.
    #[arg(long, conflicts_with = "check")]
    force: bool,
}

#[derive(Debug, Args)]
pub struct BatsArgs {
    /// `.bats` files, or directories searched for them.
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    paths: Vec<PathBuf>,
    /// Write the check files under DIR (a directory keeps its layout below it); default: beside each bats file.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Convert in memory and check the result, writing nothing (CI keeps a suite convertible).
    #[arg(long)]
    check: bool,
    /// Overwrite check files that exist.
    #[arg(long, conflicts_with = "check")]
    force: bool,
}

pub fn main(command: MigrateCommand) -> i32 {
    match command {
        MigrateCommand::Bats(args) => bats(&args),
        MigrateCommand::Kuttl(args) => kuttl(&args),
    }
}

/// A bats file and the check file it becomes.
struct Job {
    source: PathBuf,
    target: PathBuf,
}

fn bats(args: &BatsArgs) -> i32 {
    let jobs = match jobs(args) {
        Ok(jobs) => jobs,
        Err(message) => {
            eprintln!("error: {message}");
            return exit_codes::INVALID_INPUT;
        }
    };
    let mut outcome = Outcome::default();
    for job in &jobs {
        let shown = job.source.display().to_string();
        let text = match std::fs::read(&job.source).map(precheck_lang::decode_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                eprintln!("error: {shown}:{e}");
                outcome.worse(exit_codes::INVALID_INPUT);
                continue;
            }
            Err(e) => {
                eprintln!("error: cannot read {shown}: {e}");
                outcome.worse(exit_codes::INVALID_INPUT);
                continue;
            }
        };
        let options = precheck_migrate::bats::Options {
            test_dir: precheck::path_text::relative(
                job.target.parent().unwrap_or(Path::new(".")),
                job.source.parent().unwrap_or(Path::new(".")),
                &std::env::current_dir().unwrap_or_default(),
            ),
            source_name: job.source.file_name().map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned()),
        };
        let conversion = match precheck_migrate::bats::convert(&text, &options) {
            Ok(conversion) => conversion,
            Err(e) => {
                let (line, column, message) = match &e {
                    NotBats::Syntax { line, column, message } => (*line, *column, message.clone()),
                    NotBats::NoTests => (1, 1, "no `@test \"…\" {` block".to_owned()),
                };
                eprintln!("error: {shown}:{line}:{column}: not a bats file: {message}");
                outcome.worse(exit_codes::INVALID_INPUT);
                continue;
            }
        };
        for note in &conversion.notes {
            eprintln!("{shown}:{}: not converted: {}", note.line, note.why);
        }
        let target = job.target.display().to_string();
        if !lint(&job.target, &conversion) {
            outcome.worse(exit_codes::INVALID_INPUT);
            continue;
        }
        if !args.check
            && let Err(e) = write(&job.target, &conversion.text, args.force)
        {
            eprintln!("error: cannot write {target}: {e}");
            outcome.worse(exit_codes::INFRASTRUCTURE);
            continue;
        }
        outcome.converted(&shown, &target, &conversion, args.check);
    }
    outcome.code
}

/// The exit code of a migration, from the worst that happened to one of its files.
#[derive(Default)]
struct Outcome {
    code: i32,
}

impl Outcome {
    /// Invalid input outranks a write that failed, which outranks lines left for a person.
    fn worse(&mut self, new: i32) {
        let rank = |c: i32| match c {
            exit_codes::INVALID_INPUT => 3,
            exit_codes::INFRASTRUCTURE => 2,
            exit_codes::FAILED => 1,
            _ => 0,
        };
        if rank(new) > rank(self.code) {
            self.code = new;
        }
    }

    /// `SOURCE → TARGET: N tests, every line converted` (or how many were left for a person).
    fn converted(&mut self, source: &str, target: &str, conversion: &Conversion, check: bool) {
        let tests = conversion.tests;
        let left = conversion.notes.len();
        let verb = if check { "would become" } else { "→" };
        let how = match left {
            0 => "every line converted".to_owned(),
            1 => "1 line left for a person".to_owned(),
            n => format!("{n} lines left for a person"),
        };
        println!("{source} {verb} {target}: {tests} test{}, {how}", if tests == 1 { "" } else { "s" });
        if left > 0 {
            self.worse(exit_codes::FAILED);
        }
    }
}

fn kuttl(args: &KuttlArgs) -> i32 {
    let mut outcome = Outcome::default();
    let mut cases = Vec::new();
    for dir in &args.dirs {
        match kuttl_cases(dir) {
            Ok(found) => cases.extend(found),
            Err(message) => {
                eprintln!("error: {message}");
                outcome.worse(exit_codes::INVALID_INPUT);
            }
        }
    }
    for (dir, case, options) in cases {
        let shown = dir.display().to_string();
        let converted = match precheck_migrate::kuttl::convert(&case, &options) {
            Ok(converted) => converted,
            Err(e @ precheck_migrate::kuttl::NotKuttl::NoSteps) => {
                eprintln!("error: {shown}: {e}");
                outcome.worse(exit_codes::INVALID_INPUT);
                continue;
            }
            Err(e) => {
                eprintln!("error: {shown}/{e}");
                outcome.worse(exit_codes::INVALID_INPUT);
                continue;
            }
        };
        for note in &converted.conversion.notes {
            let file = note.file.as_deref().unwrap_or_default();
            eprintln!("{shown}/{file}:{}: not converted: {}", note.line, note.why);
        }
        let target = dir.join(format!("{}.check", case.name));
        let shown_target = target.display().to_string();
        if !lint(&target, &converted.conversion) {
            outcome.worse(exit_codes::INVALID_INPUT);
            continue;
        }
        if !args.check {
            let files = std::iter::once((target.clone(), &converted.conversion.text))
                .chain(converted.files.iter().map(|(name, text)| (dir.join(name), text)));
            let mut failed = false;
            for (path, text) in files {
                if let Err(e) = write(&path, text, args.force) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    failed = true;
                }
            }
            if failed {
                outcome.worse(exit_codes::INFRASTRUCTURE);
                continue;
            }
        }
        outcome.converted(&shown, &shown_target, &converted.conversion, args.check);
    }
    outcome.code
}

/// A kuttl test case's directory, its files read, and the options of its suite.
type KuttlCase = (PathBuf, precheck_migrate::kuttl::Case, precheck_migrate::kuttl::Options);

/// The test cases of a directory, each read once: itself when it holds steps, else each directory in it
/// that does; with the `timeout` and `namespace` of a kuttl-test.yaml beside them.
fn kuttl_cases(dir: &Path) -> Result<Vec<KuttlCase>, String> {
    // `.` has no parent to look in: parents are looked for where the file system has the directory.
    let real = std::fs::canonicalize(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let suite = |dir: &Path| -> Result<precheck_migrate::kuttl::Options, String> {
        let file = dir.join("kuttl-test.yaml");
        match std::fs::read_to_string(&file) {
            Ok(text) => precheck_migrate::kuttl::suite_options(&text).map_err(|e| format!("{}/{e}", dir.display())),
            Err(_) => Ok(precheck_migrate::kuttl::Options::default()),
        }
    };
    // kuttl-test.yaml beside the cases, or one directory up (a repository's root names `testDirs`).
    let suite_of = |cases: &Path| -> Result<precheck_migrate::kuttl::Options, String> {
        if cases.join("kuttl-test.yaml").exists() { suite(cases) } else { suite(cases.parent().unwrap_or(cases)) }
    };
    let has_steps = |case: &precheck_migrate::kuttl::Case| {
        case.files.iter().any(|(name, _)| precheck_migrate::kuttl::is_step_file(name))
    };
    let case = read_case(dir)?;
    if has_steps(&case) {
        let options = suite_of(real.parent().unwrap_or(&real))?;
        return Ok(vec![(dir.to_path_buf(), case, options)]);
    }
    let options = suite_of(&real)?;
    let mut cases = Vec::new();
    for name in &case.dirs {
        let sub = dir.join(name);
        let inner = read_case(&sub)?;
        if has_steps(&inner) {
            cases.push((sub, inner, options.clone()));
        }
    }
    if cases.is_empty() {
        return Err(format!(
            "{}: no kuttl test case (no `NN-NAME.yaml` step in it or in a directory in it)",
            dir.display()
        ));
    }
    Ok(cases)
}

/// A test case's files (text) and directories, sorted.
fn read_case(dir: &Path) -> Result<precheck_migrate::kuttl::Case, String> {
    let io = |e: std::io::Error| format!("cannot read {}: {e}", dir.display());
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
    entries.sort();
    let name = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut case = precheck_migrate::kuttl::Case {
        name: name.file_name().map_or_else(|| "case".to_owned(), |n| n.to_string_lossy().into_owned()),
        ..Default::default()
    };
    for entry in entries {
        let file_name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if entry.is_dir() {
            case.dirs.push(file_name);
        } else if file_name.ends_with(".yaml") {
            let bytes = std::fs::read(&entry).map_err(|e| format!("cannot read {}: {e}", entry.display()))?;
            let text = precheck_lang::decode_utf8(bytes).map_err(|e| format!("{}:{e}", entry.display()))?;
            case.files.push((file_name, text));
        }
    }
    Ok(case)
}

/// Checks the converted text as `precheck lint` would (the object files it names too), every `${VAR}` set to
/// its own name (the variables come from the environment of a later run). Nothing is written when it fails.
fn lint(target: &Path, conversion: &Conversion) -> bool {
    let vars = |name: &str| Some(name.to_owned());
    match precheck::harness::SuiteFile::from_text(target.to_path_buf(), conversion.text.clone(), &vars) {
        Ok(_) => true,
        Err(error) => {
            let syntax = matches!(error, precheck::harness::LoadError::Syntax { .. });
            crate::cli::print_load_errors(&[error]);
            if syntax {
                let target = target.display();
                eprintln!(
                    "error: the converted {target} is not a valid check file (a fault of `precheck migrate`: please report it)"
                );
            }
            false
        }
    }
}

fn write(target: &Path, text: &str, force: bool) -> std::io::Result<()> {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    match options.open(target) {
        Ok(mut file) => std::io::Write::write_all(&mut file, text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(std::io::Error::new(e.kind(), "it exists (pass --force to overwrite it)"))
        }
        Err(e) => Err(e),
    }
}

/// The bats files named, or found below directories (sorted), and where each check file goes.
fn jobs(args: &BatsArgs) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for path in &args.paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let found = precheck::harness::files_below(path, "bats")
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!("no .bats file below {}", path.display()));
            }
            for source in found {
                let below = source.strip_prefix(path).unwrap_or(&source).with_extension("check");
                let target = match &args.out {
                    Some(out) => out.join(below),
                    None => source.with_extension("check"),
                };
                jobs.push(Job { source, target });
            }
        } else {
            let target = match &args.out {
                Some(out) => out.join(Path::new(path.file_name().unwrap_or_default()).with_extension("check")),
                None => path.with_extension("check"),
            };
            jobs.push(Job { source: path.clone(), target });
        }
    }
    Ok(jobs)
}
