//! A step's log as one attempt writes it: the file opened once for appending (opening it again for every
//! line took the log directory's lock each time, which parallel steps queued on), every line masked.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::secret::Redactor;

/// The log of a step being attempted: lines go to the end of its file, secrets masked.
pub(super) struct StepLog {
    path: PathBuf,
    file: std::fs::File,
    redactor: Arc<Redactor>,
}

impl StepLog {
    /// Opens (or creates) the log at `path` for appending.
    pub(super) fn open(path: PathBuf, redactor: Arc<Redactor>) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("cannot open the log {}: {e}", path.display()))?;
        Ok(Self { path, file, redactor })
    }

    /// Appends `line`, secrets masked, in one write (the log is opened for appending, so lines written
    /// at once by other writers of the file stay whole). A log that cannot be written loses the line.
    pub(super) fn line(&self, line: &str) {
        let mut text = self.redactor.redact(line).into_owned();
        text.push('\n');
        let _ = (&self.file).write_all(text.as_bytes());
    }

    /// Another handle on the file, for a writer of its own (a command's output copier).
    pub(super) fn handle(&self) -> Result<std::fs::File, String> {
        self.file.try_clone().map_err(|e| format!("cannot open the log {}: {e}", self.path.display()))
    }

    /// What masks the log's lines.
    pub(super) fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_masked_after_what_the_log_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step.log");
        std::fs::write(&path, "earlier attempt\n").unwrap();
        let log = StepLog::open(path.clone(), Arc::new(Redactor::of(vec!["s3cret".to_owned()]))).unwrap();
        log.line("== a attempt 2 of 2 ==");
        log.line("token s3cret");
        std::io::Write::write_all(&mut log.handle().unwrap(), b"copied\n").unwrap();
        log.line("== succeeded ==");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "earlier attempt\n== a attempt 2 of 2 ==\ntoken ***\ncopied\n== succeeded ==\n"
        );
    }

    #[test]
    fn a_log_that_cannot_be_opened_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("step.log");
        let error = StepLog::open(path.clone(), Arc::default()).err().unwrap();
        assert!(error.starts_with(&format!("cannot open the log {}: ", path.display())), "{error}");
    }
}
