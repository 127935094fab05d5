//! Commands of `run` and `shell` steps: started in a process group of their own (killed whole on a
//! timeout or when the attempt is dropped), without the withheld variables, their output appended to the
//! step's log (a line at a time through the redactor when there are secrets to mask).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use precheck_lang::shorten;

use crate::graph::{BoundAction, Node};
use crate::secret::Redactor;

use super::Shared;
use super::actions::AttemptError;

/// Appends a line to a step's log, secrets masked.
pub(super) fn log_line(redactor: &Redactor, path: &std::path::Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{}", redactor.redact(line));
    }
}

/// How long the end of a command's output may take to reach the log once the command exited.
const COPY_GRACE: Duration = Duration::from_secs(2);

pub(super) async fn command(
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
