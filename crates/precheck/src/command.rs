//! Starting programs: the environment they get (never the trigger's token), their process group, and `run`
//! steps (a program started with an argument list, no shell, its exit status and output checked).

use std::path::Path;
use std::process::Stdio;

use precheck_lang::{Command, OutputExpectation, Stream};

use crate::outcome::Status;

/// Output kept in reports per stream; the rest is cut with a note, so a chatty command cannot flood them.
pub const OUTPUT_LIMIT: usize = 8 * 1024;

/// Output kept of a program: per stream of a check file's `run` line (for the `expect` checks), per attempt
/// in a pipeline step's log. What comes after is counted and dropped, so a command that prints without end
/// cannot exhaust memory or fill the disk.
pub const CAPTURE_LIMIT: usize = 16 * 1024 * 1024;

/// The variable that holds the trigger API's bearer token (`precheck pipeline serve`).
pub const TRIGGER_TOKEN_VARIABLE: &str = "PRECHECK_TRIGGER_TOKEN";

/// Variables never handed to a started program, whatever started Precheck with them: the trigger API's
/// token is for the server alone, not for the commands of the runs it starts.
pub const WITHHELD_VARIABLES: &[&str] = &[TRIGGER_TOKEN_VARIABLE];

/// The variables a started program never gets: [`WITHHELD_VARIABLES`] always, and those the caller marks
/// secret (a pipeline's `secret: true` parameters, which Precheck may read from its own environment). A
/// program that needs one is given it explicitly, by name (a step's `env:`), after this list is applied.
///
/// ```
/// use precheck::command::Withheld;
///
/// let withheld = Withheld::new(["REGISTRY_TOKEN"]);
/// let command = withheld.command("env");
/// let removed: Vec<_> = command.as_std().get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect();
/// assert_eq!(removed, ["PRECHECK_TRIGGER_TOKEN", "REGISTRY_TOKEN"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld(Vec<String>);

impl Default for Withheld {
    fn default() -> Self {
        Self::new(std::iter::empty::<String>())
    }
}

impl Withheld {
    /// [`WITHHELD_VARIABLES`] and `secret` names.
    pub fn new(secret: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut names: Vec<String> = WITHHELD_VARIABLES.iter().map(|n| (*n).to_owned()).collect();
        for name in secret {
            let name = name.into();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Self(names)
    }

    /// The names withheld.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// A command for `program` whose inherited environment lacks the withheld names. Build on it in one
    /// expression (`withheld.command(p).args(…).spawn()`), so it is dropped with the file descriptors given
    /// to it once the program started: a pipe's write end kept open would keep its reader waiting.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        for name in &self.0 {
            command.env_remove(name);
        }
        command
    }
}

/// The process group of a program started with [`Withheld::command`]`(…).process_group(0)`: its children,
/// and theirs, end with it. Killed when dropped (a timeout or a cancelled run drops the future that holds
/// it) unless [`ProcessGroup::release`]d, so a script's background child cannot outlive the step that
/// started it by accident, nor hold its output open.
#[derive(Debug)]
pub struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    /// The group led by `child` (started with `process_group(0)`); empty when it has already been waited for.
    pub fn of(child: &tokio::process::Child) -> Self {
        Self(child.id().and_then(|id| rustix::process::Pid::from_raw(i32::try_from(id).ok()?)))
    }

    /// The group of id `pgid` recorded earlier (by a process that crashed since), to end what it left.
    pub fn recorded(pgid: i32) -> Self {
        Self(rustix::process::Pid::from_raw(pgid))
    }

    /// The group's id, as `kill -- -ID` takes it.
    pub fn id(&self) -> Option<i32> {
        self.0.map(|pid| pid.as_raw_nonzero().get())
    }

    /// Kills every process of the group now.
    pub fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    /// Lets the group live on: what the program left running is meant to outlast it (a port-forward
    /// started in a setup).
    pub fn release(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A program to start, the one way Precheck starts programs (a check file's `run` line, a pipeline's `run`
/// and `shell` steps): an argument list (no shell), in `dir`, with the inherited environment less the
/// withheld names plus `env`, stdin closed, in a process group of its own.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use precheck::command::{Ended, Program, Withheld};
/// let argv = ["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
/// let program = Program { argv: &argv, dir: std::path::Path::new("."), env: &[], withheld: &Withheld::default() };
/// let mut running = program.start(std::process::Stdio::null(), std::process::Stdio::null()).unwrap();
/// let Ended::Exited(status) = running.wait(None).await else { panic!("it exits") };
/// assert_eq!(status.code(), Some(3));
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Program<'a> {
    /// The program and its arguments.
    pub argv: &'a [String],
    /// Where it runs.
    pub dir: &'a Path,
    /// Variables it gets beside the inherited ones (these may name a withheld one: given explicitly).
    pub env: &'a [(String, String)],
    /// Inherited variables it never gets.
    pub withheld: &'a Withheld,
}

/// A started [`Program`], and its process group: killed with it when dropped (a timeout, a cancelled run)
/// unless [`Running::release`]d.
#[derive(Debug)]
pub struct Running {
    /// The program (its piped output, if any, to take).
    pub child: tokio::process::Child,
    group: ProcessGroup,
}

/// How a [`Running`] program ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (or a signal ended it).
    Exited(std::process::ExitStatus),
    /// It was still running when the time was up: its whole group was killed.
    TimedOut(std::time::Duration),
    /// It could not be waited for.
    Lost(std::io::Error),
}

impl Program<'_> {
    /// Starts it with `stdout` and `stderr` as given (pipes, a log file, the null device). An empty
    /// `argv` is an [`std::io::ErrorKind::InvalidInput`] error.
    pub fn start(&self, stdout: Stdio, stderr: Stdio) -> std::io::Result<Running> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"));
        };
        // One expression: the command, holding the output's descriptors (a pipe's write end), is dropped
        // once the program started.
        let child = self
            .withheld
            .command(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let group = ProcessGroup::of(&child);
        Ok(Running { child, group })
    }
}

impl Running {
    /// The id of its process group, as `kill -- -ID` takes it.
    pub fn group_id(&self) -> Option<i32> {
        self.group.id()
    }

    /// Waits until it exits, at most `limit`: when the time is up, or it cannot be waited for, its whole
    /// group is killed.
    pub async fn wait(&mut self, limit: Option<std::time::Duration>) -> Ended {
        let waited = match limit {
            Some(limit) => match tokio::time::timeout(limit, self.child.wait()).await {
                Ok(waited) => waited,
                Err(_) => {
                    self.group.kill();
                    return Ended::TimedOut(limit);
                }
            },
            None => self.child.wait().await,
        };
        match waited {
            Ok(status) => Ended::Exited(status),
            Err(e) => {
                self.group.kill();
                Ended::Lost(e)
            }
        }
    }

    /// Ends what is left of its group now (background children it started).
    pub fn kill(&mut self) {
        self.group.kill();
    }

    /// Lets what it left running live on: meant to outlast it (a port-forward started in a setup).
    pub fn release(self) {
        self.group.release();
    }
}

/// What a stream printed: its first [`CAPTURE_LIMIT`] bytes, and how many more it printed.
async fn capture(from: Option<impl tokio::io::AsyncRead + Unpin>) -> (Vec<u8>, u64) {
    use tokio::io::AsyncReadExt;
    let (mut kept, mut dropped) = (Vec::new(), 0u64);
    let Some(mut from) = from else { return (kept, dropped) };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return (kept, dropped),
            Ok(n) => {
                let take = n.min(CAPTURE_LIMIT - kept.len());
                kept.extend_from_slice(&buffer[..take]);
                dropped += (n - take) as u64;
            }
        }
    }
}

/// Runs `command` in `dir`, with the inherited environment less `withheld`, plus `env`, and checks it.
/// Returns the status and a detail text with the exit status and the (bounded) output.
pub async fn run_command(
    command: &Command,
    dir: &Path,
    env: &[(String, String)],
    withheld: &Withheld,
) -> (Status, String) {
    let program = command.argv.first().map(String::as_str).unwrap_or_default();
    let started = Program { argv: &command.argv, dir, env, withheld }.start(Stdio::piped(), Stdio::piped());
    // Dropped with this future (the test's timeout): the whole group goes, background children included.
    let mut running = match started {
        Ok(running) => running,
        Err(e) if command.argv.is_empty() => return (Status::Invalid, e.to_string()),
        Err(e) => return (Status::Errored, format!("cannot start `{program}`: {e}")),
    };
    let (out, err) = (running.child.stdout.take(), running.child.stderr.take());
    let ((stdout, stdout_dropped), (stderr, stderr_dropped)) = tokio::join!(capture(out), capture(err));
    let status = match running.wait(None).await {
        Ended::Exited(status) => status,
        Ended::Lost(e) => return (Status::Errored, format!("`{program}` could not be waited for: {e}")),
        // Not given a limit: the test's own timeout drops this future instead.
        Ended::TimedOut(limit) => return (Status::Failed, format!("timed out after {limit:?}")),
    };
    // It ended and closed its output: what it left running (with its output elsewhere) is meant to stay.
    running.release();
    let stdout = String::from_utf8_lossy(&stdout);
    let stderr = String::from_utf8_lossy(&stderr);
    let combined = format!("{stdout}{stderr}");
    let code = status.code();
    let mut problems = Vec::new();
    if !command.status.allows(code) {
        let got = code.map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit status {c}"));
        problems.push(format!("expected {}, got {got}", command.status));
    }
    for check in &command.output {
        let (name, text, dropped) = match check.stream {
            Stream::Output => ("output", combined.as_str(), stdout_dropped + stderr_dropped),
            Stream::Stdout => ("stdout", &*stdout, stdout_dropped),
            Stream::Stderr => ("stderr", &*stderr, stderr_dropped),
        };
        let (ok, wanted) = match &check.expect {
            OutputExpectation::Contains(s) => (text.contains(s.as_str()), format!("to contain '{s}'")),
            // Without its final newline, as BATS' `$output` is: `'^ok$'` matches a program that prints `ok`.
            OutputExpectation::Matches(p) => (p.is_match(printed(text)), format!("to match '{p}'")),
            OutputExpectation::Is(s) => (printed(text) == s, format!("to be '{s}'")),
        };
        if !ok && dropped > 0 {
            problems.push(format!(
                "expected {name} {wanted} (only the first {} MiB of each stream were kept: {dropped} more bytes \
                 were not checked)",
                CAPTURE_LIMIT >> 20
            ));
        } else if !ok {
            problems.push(format!("expected {name} {wanted}"));
        }
    }
    let mut detail = String::new();
    for p in &problems {
        detail.push_str(p);
        detail.push('\n');
    }
    detail.push_str(&format!("exit status: {}\n", code.map_or("signal".into(), |c| c.to_string())));
    append_bounded(&mut detail, "stdout", &stdout, stdout_dropped);
    append_bounded(&mut detail, "stderr", &stderr, stderr_dropped);
    (if problems.is_empty() { Status::Passed } else { Status::Failed }, detail)
}

fn append_bounded(detail: &mut String, name: &str, text: &str, dropped: u64) {
    if text.is_empty() {
        return;
    }
    let dropped = dropped as usize;
    detail.push_str(name);
    detail.push_str(":\n");
    if text.len() > OUTPUT_LIMIT {
        let mut cut = OUTPUT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.push_str(&text[..cut]);
        detail.push_str(&format!("\n… {} more bytes not shown\n", text.len() - cut + dropped));
    } else {
        detail.push_str(text);
        if !text.ends_with('\n') {
            detail.push('\n');
        }
    }
}

/// A program's output without one final newline.
fn printed(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use precheck_lang::{CheckFile, Step};
    use std::time::Duration;

    /// Process `pid` lives (a zombie, killed and not reaped yet, does not).
    pub(crate) fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
    }

    /// Process `pid` ends within `limit`.
    pub(crate) fn gone_within(pid: &str, limit: Duration) -> bool {
        let started = std::time::Instant::now();
        while running(pid) {
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn command(line: &str) -> Command {
        let file = CheckFile::parse(&format!("test 't' {{\n{line}\n}}\n"), &|_| None).unwrap();
        match &file.tests[0].steps[..] {
            [Step { action: precheck_lang::Action::Run(c), .. }] => c.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_program_past_its_limit_is_killed_with_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        // The program leaves a background child and waits: both must go when the time is up.
        let script = "sleep 30 & echo $! > child.pid; wait";
        let argv = ["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let program = Program { argv: &argv, dir: dir.path(), env: &[], withheld: &Withheld::default() };
        let mut running = program.start(Stdio::null(), Stdio::null()).unwrap();
        assert!(running.group_id().is_some());
        let limit = Duration::from_millis(300);
        assert!(matches!(running.wait(Some(limit)).await, Ended::TimedOut(l) if l == limit));
        let pid = std::fs::read_to_string(dir.path().join("child.pid")).unwrap().trim().to_owned();
        assert!(gone_within(&pid, Duration::from_secs(5)), "the background child {pid} outlived the group's kill");
    }

    #[tokio::test]
    async fn a_status_other_than_one_or_any_status_is_wanted_as_written() {
        let run = |line: &'static str| async move {
            run_command(&command(line), Path::new("."), &[], &Withheld::default()).await
        };
        assert_eq!(run("run sh -c 'exit 3'\nexpect status not 0").await.0, Status::Passed);
        let (status, message) = run("run true\nexpect status not 0").await;
        assert_eq!(status, Status::Failed);
        assert!(message.starts_with("expected an exit status other than 0, got exit status 0\n"), "{message}");
        assert_eq!(run("run sh -c 'kill -9 $$'\nexpect status not 0").await.0, Status::Failed);
        assert_eq!(run("run sh -c 'kill -9 $$'\nexpect status any").await.0, Status::Passed);
        assert_eq!(run("run false\nexpect status any").await.0, Status::Passed);
        // A regex anchored at the end matches before the final newline, as against BATS' `$output`.
        assert_eq!(run("run echo ok\nexpect output matches '^ok$'").await.0, Status::Passed);
        assert_eq!(run("run printf 'ok\\n\\n'\nexpect output matches '^ok$'").await.0, Status::Failed);
    }

    #[tokio::test]
    async fn an_empty_command_is_invalid_and_a_missing_program_an_error() {
        let (s, d) = run_command(
            &Command { argv: Vec::new(), ..command("run true") },
            Path::new("."),
            &[],
            &Withheld::default(),
        )
        .await;
        assert_eq!((s, d.as_str()), (Status::Invalid, "empty command"));
        let (s, d) =
            run_command(&command("run precheck-no-such-program"), Path::new("."), &[], &Withheld::default()).await;
        assert_eq!(s, Status::Errored);
        assert!(d.starts_with("cannot start `precheck-no-such-program`"), "{d}");
    }

    #[tokio::test]
    async fn status_and_output_are_checked() {
        let dir = Path::new(".");
        let (s, _) =
            run_command(&command("run printf 'a b'\nexpect output is 'a b'"), dir, &[], &Withheld::default()).await;
        assert_eq!(s, Status::Passed);
        let (s, d) = run_command(&command("run sh -c 'echo oops >&2; exit 3'\nexpect status 3\nexpect stderr contains 'oops'\nexpect stdout is ''"), dir, &[], &Withheld::default()).await;
        assert_eq!(s, Status::Passed, "{d}");
        let (s, d) = run_command(&command("run false"), dir, &[], &Withheld::default()).await;
        assert_eq!(s, Status::Failed);
        assert!(d.starts_with("expected exit status 0, got exit status 1"), "{d}");
        let (s, d) =
            run_command(&command("run echo hello\nexpect output matches '^bye'"), dir, &[], &Withheld::default()).await;
        assert_eq!(s, Status::Failed);
        assert!(d.contains("expected output to match '^bye'"), "{d}");
    }

    #[tokio::test]
    async fn arguments_reach_the_program_literally() {
        let (s, d) = run_command(
            &command("run printf '%s|' '$(id)' '`id`' 'a;b'\nexpect output is '$(id)|`id`|a;b|'"),
            Path::new("."),
            &[],
            &Withheld::default(),
        )
        .await;
        assert_eq!(s, Status::Passed, "{d}");
    }

    #[tokio::test]
    async fn a_withheld_variable_given_by_name_reaches_the_program() {
        // Withheld from what is inherited (tests/secrets.rs and cli_pipeline.rs check that end to end),
        // but a step's `env:` names it on purpose.
        let withheld = Withheld::new(["PRECHECK_TEST_WITHHELD"]);
        let env = [("PRECHECK_TEST_WITHHELD".to_owned(), "given".to_owned())];
        let (s, d) = run_command(&command("run env"), Path::new("."), &env, &withheld).await;
        assert_eq!(s, Status::Passed, "{d}");
        assert!(d.contains("PRECHECK_TEST_WITHHELD=given"), "{d}");
    }

    #[tokio::test]
    async fn endless_output_is_kept_to_a_bound_and_says_so() {
        let line = "run sh -c 'head -c 20000000 /dev/zero | tr \\\\0 a; echo end'";
        let (s, d) = run_command(
            &command(&format!("{line}\nexpect output contains 'aaaa'")),
            Path::new("."),
            &[],
            &Withheld::default(),
        )
        .await;
        assert_eq!(s, Status::Passed, "{}", &d[..300]);
        assert!(
            d.contains(&format!("… {} more bytes not shown", 20_000_004 - OUTPUT_LIMIT)),
            "{}",
            &d[d.len() - 300..]
        );
        let (s, d) = run_command(
            &command(&format!("{line}\nexpect stdout contains 'end'")),
            Path::new("."),
            &[],
            &Withheld::default(),
        )
        .await;
        assert_eq!(s, Status::Failed);
        assert!(d.starts_with("expected stdout to contain 'end' (only the first 16 MiB of each stream were kept: 3222788 more bytes were not checked)"), "{}", &d[..300]);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_failure() {
        let (s, d) =
            run_command(&command("run precheck-no-such-program"), Path::new("."), &[], &Withheld::default()).await;
        assert_eq!(s, Status::Errored);
        assert!(d.contains("cannot start `precheck-no-such-program`"), "{d}");
    }

    #[tokio::test]
    async fn huge_output_is_bounded() {
        let (_, d) =
            run_command(&command("run head -c 100000 /dev/zero"), Path::new("."), &[], &Withheld::default()).await;
        assert!(d.len() < OUTPUT_LIMIT + 200, "{}", d.len());
        assert!(d.contains("more bytes not shown"));
    }
}
