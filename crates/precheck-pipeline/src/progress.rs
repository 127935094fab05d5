//! The terminal view of a run: one line per transition (started, retrying with the reason and delay,
//! succeeded, failed, skipped with the reason), then a summary. Plain lines, so CI logs read well.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::executor::{Event, Observer};
use crate::record::{RunRecord, StepStatus};

/// Writes progress lines to a writer (the CLI passes stderr).
pub struct Progress<W: Write + Send> {
    out: Mutex<W>,
    started: Instant,
    run_ids: bool,
}

impl<W: Write + Send> Progress<W> {
    /// Progress written to `out`.
    pub fn new(out: W) -> Self {
        Self { out: Mutex::new(out), started: Instant::now(), run_ids: false }
    }

    /// Starts each line with the run's id (for a server with several runs at once).
    pub fn with_run_ids(mut self) -> Self {
        self.run_ids = true;
        self
    }
}

/// The mark a step's status is shown with on a terminal.
pub fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "✓",
        StepStatus::Failed => "✗",
        StepStatus::Errored => "⚠",
        StepStatus::Skipped => "⤼",
        StepStatus::Running => "▶",
        StepStatus::Retrying => "↻",
        StepStatus::Pending => "·",
    }
}

/// The summary line of a finished record: `3 succeeded, 1 failed, 2 skipped`.
pub fn summary(record: &RunRecord) -> String {
    use StepStatus::{Errored, Failed, Pending, Skipped, Succeeded};
    let parts: Vec<String> = [Succeeded, Failed, Errored, Skipped, Pending]
        .into_iter()
        .map(|s| (s, record.count(s)))
        .filter(|(s, n)| *n > 0 || *s == StepStatus::Succeeded)
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    parts.join(", ")
}

impl<W: Write + Send> Observer for Progress<W> {
    fn event(&self, record: &RunRecord, event: &Event) {
        let at = self.started.elapsed().as_secs_f64();
        let line = match event {
            Event::Started { step } => {
                let s = &record.steps[*step];
                format!("{} {} started (attempt {}/{})", mark(s.status), s.id, s.attempts, s.max_attempts)
            }
            Event::Retrying { step, delay } => {
                let s = &record.steps[*step];
                format!(
                    "{} {} attempt {}/{} failed: {}; retrying in {:.1}s",
                    mark(s.status),
                    s.id,
                    s.attempts,
                    s.max_attempts,
                    s.message.as_deref().unwrap_or_default(),
                    delay.as_secs_f64()
                )
            }
            Event::Finished { step } => {
                let s = &record.steps[*step];
                let took = s.duration().map(|d| format!(" in {:.1}s", d.as_secs_f64())).unwrap_or_default();
                let (mark, status, why) = (mark(s.status), s.status.as_str(), s.message.as_deref().unwrap_or_default());
                match s.status {
                    StepStatus::Succeeded => format!("{mark} {} {status}{took}", s.id),
                    StepStatus::Failed | StepStatus::Errored => format!(
                        "{mark} {} {status} after {} attempt{}{took}: {why}",
                        s.id,
                        s.attempts,
                        if s.attempts == 1 { "" } else { "s" },
                    ),
                    _ => format!("{mark} {} {status}: {why}", s.id),
                }
            }
            Event::RunFinished => format!(
                "run {} {}: {}",
                record.id,
                serde_json::to_value(record.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                summary(record)
            ),
        };
        let mut out = self.out.lock().expect("progress lock");
        if self.run_ids && !matches!(event, Event::RunFinished) {
            let _ = writeln!(out, "[{at:7.1}s] {}: {line}", record.id);
        } else {
            let _ = writeln!(out, "[{at:7.1}s] {line}");
        }
    }
}
