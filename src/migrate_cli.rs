//! `precheck migrate …`: bring existing suites over as check files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use precheck_lang::{CheckFile, Located};
use precheck_migrate::{Conversion, NotBats};

use crate::cli::print_located;
use crate::exit_codes;

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Convert BATS + bats-detik files into check files: one `NAME.check` per `NAME.bats`. Lines with no
    /// faithful check-file form stay as comments and are listed on stderr. Exit 0 when every line was
    /// converted, 3 when some were left for a person, 2 for input that is not a bats file.
    Bats(BatsArgs),
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
    let mut code = exit_codes::SUCCESS;
    let worse = |code: &mut i32, new: i32| {
        // Invalid input outranks a write that failed, which outranks lines left for a person.
        let rank = |c: i32| match c {
            exit_codes::INVALID_INPUT => 3,
            exit_codes::INFRASTRUCTURE => 2,
            exit_codes::FAILED => 1,
            _ => 0,
        };
        if rank(new) > rank(*code) {
            *code = new;
        }
    };
    for job in &jobs {
        let shown = job.source.display().to_string();
        let text = match std::fs::read(&job.source).map(precheck_lang::decode_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => {
                eprintln!("error: {shown}:{e}");
                worse(&mut code, exit_codes::INVALID_INPUT);
                continue;
            }
            Err(e) => {
                eprintln!("error: cannot read {shown}: {e}");
                worse(&mut code, exit_codes::INVALID_INPUT);
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
                worse(&mut code, exit_codes::INVALID_INPUT);
                continue;
            }
        };
        for note in &conversion.notes {
            eprintln!("{shown}:{}: not converted: {}", note.line, note.why);
        }
        let target = job.target.display().to_string();
        if !lint(&target, &conversion) {
            worse(&mut code, exit_codes::INVALID_INPUT);
            continue;
        }
        if !args.check
            && let Err(e) = write(&job.target, &conversion.text, args.force)
        {
            eprintln!("error: cannot write {target}: {e}");
            worse(&mut code, exit_codes::INFRASTRUCTURE);
            continue;
        }
        let tests = conversion.tests;
        let left = conversion.notes.len();
        let verb = if args.check { "would become" } else { "→" };
        let how = match left {
            0 => "every line converted".to_owned(),
            1 => "1 line left for a person".to_owned(),
            n => format!("{n} lines left for a person"),
        };
        println!("{shown} {verb} {target}: {tests} test{}, {how}", if tests == 1 { "" } else { "s" });
        if left > 0 {
            worse(&mut code, exit_codes::FAILED);
        }
    }
    code
}

/// Checks the converted text as `precheck lint` would, every `${VAR}` set to its own name (the variables
/// come from the environment of a later run). An error here is a converter's fault: it says so.
fn lint(target: &str, conversion: &Conversion) -> bool {
    let vars = |name: &str| Some(name.to_owned());
    match CheckFile::parse(&conversion.text, &vars) {
        Ok(_) => true,
        Err(errors) => {
            let text: Arc<str> = Arc::from(conversion.text.as_str());
            let located: Vec<Located> =
                errors.errors.iter().map(|e| Located::syntax(target, text.clone(), e)).collect();
            print_located(&located);
            eprintln!(
                "error: the converted {target} is not a valid check file (a fault of `precheck migrate`: please report it)"
            );
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
