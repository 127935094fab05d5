//! Commands of `run` and `shell` steps, started as every program is ([`precheck::command::Program`]): in a
//! process group of their own (killed whole on a timeout or when the attempt is dropped), without the
//! withheld variables; their output appended to the step's log a line at a time, secrets masked, at most
//! [`CAPTURE_LIMIT`] bytes of it per attempt.

use std::sync::Arc;
use std::time::Duration;

use precheck_lang::shorten;

use crate::graph::{BoundAction, Node};

use super::Shared;
use super::actions::AttemptError;
use super::step_log::StepLog;
use precheck::command::{CAPTURE_LIMIT, Ended, Program};

/// How long the end of a command's output may take to reach the log once the command exited.
const COPY_GRACE: Duration = Duration::from_secs(2);

/// How much of a command's last line a failure message quotes, in characters at most.
const QUOTED: usize = 200;

/// Runs the command `argv` of step `i` once, its output going to `log`: `Ok` when it exited with status 0,
/// failed when it exited otherwise or timed out (with its last line), errored when it could not start.
pub(super) async fn command(
    shared: &Arc<Shared>,
    i: usize,
    node: &Node,
    log: &StepLog,
    argv: &[String],
) -> Result<(), AttemptError> {
    // A pipe that cannot be had, a program that cannot start: the command was not run.
    let errored = AttemptError::Errored;
    let file = log.handle().map_err(errored)?;
    // Stdout and stderr share one pipe (their order kept, as in a file) that the executor copies to the
    // log a line at a time, secrets masked and at most CAPTURE_LIMIT bytes per attempt kept.
    let broken = |e: std::io::Error| errored(format!("cannot make a pipe for the output: {e}"));
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| broken(e.into()))?;
    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(read).map_err(broken)?;
    let write_err = write.try_clone().map_err(broken)?;
    let record_id = match &shared.options.run_id {
        Some(id) => id.clone(),
        None => shared.record.lock().expect("record lock").id.clone(),
    };
    let mut env: Vec<(String, String)> = shared.options.env.iter().chain(&node.env).cloned().collect();
    env.push(("PRECHECK_RUN_ID".to_owned(), record_id));
    env.push(("PRECHECK_STEP".to_owned(), node.id.clone()));
    let program = Program { argv, dir: &shared.pipeline.dir, env: &env, withheld: &shared.options.withheld };
    // Its group is killed with the attempt when it is dropped (a timeout, a cancelled run): scripts start
    // children. The pipe's write end went with the command once the program started.
    let mut running = program
        .start(write.into(), write_err.into())
        .map_err(|e| errored(format!("cannot start '{}': {e}", argv[0])))?;
    let copy = tokio::spawn(log.redactor().clone().copy_lines(reader, file, CAPTURE_LIMIT));
    let pgid = running.group_id();
    shared.update(i, None, |s| s.pgid = pgid);
    let ended = running.wait(node.timeout).await;
    shared.update(i, None, |s| s.pgid = None);
    if !matches!(&ended, Ended::Exited(status) if status.success()) {
        running.kill();
    }
    // What the command printed last reaches the log before the step ends. A background child of a command
    // that succeeded keeps its output open: it is not waited for beyond the grace (its copy goes on, as
    // its writes to the log would).
    let last_line = tokio::time::timeout(COPY_GRACE, copy).await.ok().and_then(Result::ok).flatten();
    let status = match ended {
        Ended::Exited(status) => status,
        Ended::TimedOut(limit) => return Err(AttemptError::Failed(format!("timed out after {limit:?}"))),
        Ended::Lost(e) => return Err(errored(format!("waiting for '{}': {e}", argv[0]))),
    };
    if status.success() {
        // What its group still holds (background children) belongs to the step: `running` ends it here.
        return Ok(());
    }
    let what =
        if matches!(node.action, BoundAction::Shell(_)) { "the script".to_owned() } else { format!("'{}'", argv[0]) };
    let how = match status.code() {
        Some(code) => format!("{what} exited with status {code}"),
        None => format!("{what} was killed by a signal"),
    };
    Err(AttemptError::Failed(match last_line {
        Some(line) => format!("{how}: {}", shorten(&line, QUOTED)),
        None => how,
    }))
}
