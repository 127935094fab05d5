//! The one model of results that every report writer renders: steps, attempts, tests, a run.

use std::time::Duration;

/// How a step, an attempt or a test ended.
///
/// Ordered by severity, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Everything held.
    Passed,
    /// Not run (`skip`, `--fail-fast`).
    Skipped,
    /// An assertion did not hold, a command returned something else than expected, or a test timed out.
    Failed,
    /// The cluster or a command could not be asked (unreachable API server, missing program).
    Errored,
    /// The input is wrong: an unknown resource type, an invalid label selector.
    Invalid,
}

impl Status {
    /// A lower-case word for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Errored => "error",
            Self::Invalid => "invalid",
        }
    }
}

/// Whose side an error is on: the input, the thing checked, or what the check needed to ask. It decides a
/// test's status ([`Fault::status`]) and the `precheck` binary's exit code (2, 3 and 4).
///
/// ```
/// use precheck::outcome::{Classified, Fault, Status};
/// let error = precheck_lang::parse_sentence("there are 2 pods namd 'x'").unwrap_err();
/// assert_eq!(error.fault(), Fault::Input);
/// assert_eq!(error.fault().status(), Status::Invalid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The input is wrong: a file, a sentence, a name, a value, an option.
    Input,
    /// What was checked is not as asserted.
    Assertion,
    /// The cluster, AWS, a program or the file system could not be asked or used.
    Infrastructure,
}

impl Fault {
    /// The status of a test or step that ended with such an error.
    pub fn status(self) -> Status {
        match self {
            Self::Input => Status::Invalid,
            Self::Assertion => Status::Failed,
            Self::Infrastructure => Status::Errored,
        }
    }
}

/// An error that says whose side it is on. Every library error a sub-command can end with implements it,
/// so the exit code is decided from the error, in one place.
pub trait Classified {
    /// Whose side it is on.
    fn fault(&self) -> Fault;
}

/// An empty or invalid sentence.
impl Classified for precheck_lang::SentenceError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

/// One step of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The statement as written.
    pub text: String,
    /// Its line in the check file.
    pub line: usize,
    /// How it ended.
    pub status: Status,
    /// What was observed: the verdict with every object, or the command's output.
    pub detail: String,
    /// Why it did not hold, as the cluster tells it ([`crate::diagnosis`]): for a cluster sentence that
    /// failed on a live cluster, unless diagnostics are off.
    pub diagnosis: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

/// One run of a test (a test with retries has several).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// How it ended.
    pub status: Status,
    /// Why it did not pass (the first step that did not), empty when it passed.
    pub message: String,
    /// The steps that ran, setup and teardown included.
    pub steps: Vec<StepResult>,
    /// How long it took.
    pub duration: Duration,
}

impl Attempt {
    /// The diagnosis of the step that ended the attempt, when it has one.
    pub fn diagnosis(&self) -> Option<&str> {
        self.steps.iter().rev().find_map(|s| s.diagnosis.as_deref())
    }

    /// The evaluation trace: every step with its status and detail, as shown in JUnit's system-out.
    pub fn trace(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            out.push_str(&format!("[{}] line {}: {}\n", step.status.as_str(), step.line, step.text));
            for line in step.detail.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// A test and every attempt made at it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// The check file, as given on the command line.
    pub file: String,
    /// The test's name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Attempts in order; empty when the test was skipped.
    pub attempts: Vec<Attempt>,
    /// Why it was skipped, when it was.
    pub skipped: Option<String>,
}

/// The name of the result a file's failed teardown adds to a report, beside its tests.
pub const TEARDOWN: &str = "(file teardown)";

impl TestResult {
    /// The result of a file's teardown that failed, not of a test.
    pub fn is_teardown(&self) -> bool {
        self.name == TEARDOWN
    }

    /// `file::name`, the name the harness shows and filters on.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.file, self.name)
    }

    /// The status of the last attempt (`Skipped` when none ran).
    pub fn status(&self) -> Status {
        self.attempts.last().map_or(Status::Skipped, |a| a.status)
    }

    /// Passed, but only after failing: shown as flaky, never hidden as a plain pass.
    pub fn is_flaky(&self) -> bool {
        self.status() == Status::Passed && self.attempts.len() > 1
    }

    /// Total time over every attempt.
    pub fn duration(&self) -> Duration {
        self.attempts.iter().map(|a| a.duration).sum()
    }
}

/// Every test of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// In file order, then test order.
    pub tests: Vec<TestResult>,
    /// Wall time of the run.
    pub duration: Duration,
}

impl RunReport {
    /// The worst status of the run (`Passed` for an empty run).
    pub fn status(&self) -> Status {
        self.tests.iter().map(TestResult::status).filter(|s| *s != Status::Skipped).max().unwrap_or(Status::Passed)
    }

    /// How many tests ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.tests.iter().filter(|t| t.status() == status).count()
    }

    /// The tests that passed on a retry.
    pub fn flaky(&self) -> impl Iterator<Item = &TestResult> {
        self.tests.iter().filter(|t| t.is_flaky())
    }
}

/// What a caught panic said (its `&str` or `String` payload; empty otherwise), for the error that reports
/// it: a bug must not make a test or a step vanish from a report.
///
/// ```
/// let panic = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
/// assert_eq!(precheck::outcome::panic_message(&*panic), "boom 1");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
