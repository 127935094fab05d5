//! A check run as a stream of JSON events, one object per line: the run's start, each test as it ends, the
//! run's end with its counts. Unlike libtest's JSON it says errored, invalid and flaky, and a file's failed
//! teardown is an event of its own.
//!
//! ```text
//! {"type":"run","event":"started","tests":3}
//! {"type":"test","event":"passed","name":"a.check::pods","file":"a.check","test":"pods","attempts":1,"duration":0.012}
//! {"type":"test","event":"errored","name":"a.check::nodes",…,"message":"could not ask the cluster (…): …"}
//! {"type":"teardown","event":"errored","file":"a.check","message":"line 9: …"}
//! {"type":"run","event":"finished","status":"errored","passed":1,"failed":0,"errored":2,…,"duration":0.4}
//! ```

use serde_json::{Value, json};

use crate::outcome::{RunReport, Status, TestResult};

/// The word an event says for `status`.
fn word(status: Status) -> &'static str {
    match status {
        Status::Passed => "passed",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::Errored => "errored",
        Status::Invalid => "invalid",
    }
}

/// The run starts with `tests` tests.
pub fn started(tests: usize) -> String {
    json!({ "type": "run", "event": "started", "tests": tests }).to_string()
}

/// A test ended: `passed`, `flaky` (passed on a retry), `skipped` (with the reason), `failed`, `errored`
/// or `invalid` (with the last attempt's message); a file's failed teardown is a `teardown` event.
///
/// ```
/// use precheck::outcome::{Attempt, Status, TestResult};
/// let attempt = Attempt { status: Status::Errored, message: "no cluster".into(), steps: vec![], duration: Default::default() };
/// let test = TestResult { file: "a.check".into(), name: "pods".into(), tags: vec![], attempts: vec![attempt], skipped: None };
/// let event: serde_json::Value = serde_json::from_str(&precheck::report::json::test(&test)).unwrap();
/// assert_eq!(event["event"], "errored");
/// assert_eq!(event["message"], "no cluster");
/// ```
pub fn test(test: &TestResult) -> String {
    let status = test.status();
    let event = if test.is_flaky() { "flaky" } else { word(status) };
    let mut value = if test.is_teardown() {
        json!({ "type": "teardown", "event": event, "file": test.file })
    } else {
        json!({
            "type": "test",
            "event": event,
            "name": test.full_name(),
            "file": test.file,
            "test": test.name,
            "tags": test.tags,
            "attempts": test.attempts.len(),
            "duration": test.duration().as_secs_f64(),
        })
    };
    let message = match status {
        Status::Passed => None,
        Status::Skipped => test.skipped.clone(),
        _ => test.attempts.last().map(|a| a.message.clone()),
    };
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        value["message"] = Value::String(message);
    }
    if let Some(diagnosis) = test.attempts.last().and_then(|a| a.diagnosis()).filter(|_| status != Status::Passed) {
        value["diagnosis"] = Value::String(diagnosis.to_owned());
    }
    value.to_string()
}

/// The run ended: its status (the worst of its tests) and how many tests ended each way.
pub fn finished(report: &RunReport) -> String {
    json!({
        "type": "run",
        "event": "finished",
        "status": word(report.status()),
        "passed": report.count(Status::Passed),
        "failed": report.count(Status::Failed),
        "errored": report.count(Status::Errored),
        "invalid": report.count(Status::Invalid),
        "skipped": report.count(Status::Skipped),
        "flaky": report.flaky().count(),
        "duration": report.duration.as_secs_f64(),
    })
    .to_string()
}
