//! The terminal's view of a check run: a line (`pretty`) or a mark (`terse`) per test as it ends, then what
//! went wrong and one summary line. A pipeline's `checks` step writes the same lines to its log.

use crate::outcome::{RunReport, Status, TestResult};

/// How many marks a terse line holds.
pub const TERSE_WIDTH: usize = 88;

/// What a test's line ends with: `ok`, `FAILED`, `ERROR`, `INVALID`, `ignored, REASON`, or `ok (flaky: …)`.
fn verdict(test: &TestResult) -> String {
    let tries = match test.attempts.len() {
        0 | 1 => String::new(),
        n => format!(" after {n} attempts"),
    };
    match test.status() {
        Status::Passed if test.is_flaky() => format!("ok (flaky: passed on attempt {})", test.attempts.len()),
        Status::Passed => "ok".to_owned(),
        Status::Skipped => match test.skipped.as_deref() {
            Some(reason) if !reason.is_empty() => format!("ignored, {reason}"),
            _ => "ignored".to_owned(),
        },
        Status::Failed => format!("FAILED{tries}"),
        Status::Errored => format!("ERROR{tries}"),
        Status::Invalid => "INVALID".to_owned(),
    }
}

/// A test's line: `test FILE::NAME ... ok`; a failed teardown reads `teardown FILE ... ERROR`.
///
/// ```
/// use precheck::outcome::{Attempt, Status, TestResult};
/// let attempt = |status| Attempt { status, message: String::new(), steps: vec![], duration: Default::default() };
/// let test = TestResult {
///     file: "a.check".into(),
///     name: "pods".into(),
///     tags: vec![],
///     attempts: vec![attempt(Status::Failed), attempt(Status::Passed)],
///     skipped: None,
/// };
/// assert_eq!(precheck::report::terminal::test_line(&test), "test a.check::pods ... ok (flaky: passed on attempt 2)");
/// ```
pub fn test_line(test: &TestResult) -> String {
    if test.is_teardown() {
        return format!("teardown {} ... {}", test.file, verdict(test));
    }
    format!("test {} ... {}", test.full_name(), verdict(test))
}

/// How the problems name a result: `FILE::NAME`, or `FILE (teardown)` for a file's failed teardown.
fn name(test: &TestResult) -> String {
    if test.is_teardown() { format!("{} (teardown)", test.file) } else { test.full_name() }
}

/// A test's mark on a terse line: `.` passed, `f` flaky, `i` skipped, `F` failed, `E` errored, `I` invalid.
pub fn mark(test: &TestResult) -> char {
    match test.status() {
        Status::Passed if test.is_flaky() => 'f',
        Status::Passed => '.',
        Status::Skipped => 'i',
        Status::Failed => 'F',
        Status::Errored => 'E',
        Status::Invalid => 'I',
    }
}

/// Every test that did not pass, with why (its last attempt's message), and the flaky ones; empty when
/// every test passed at once.
pub fn problems(report: &RunReport) -> String {
    let mut out = String::new();
    let failed: Vec<&TestResult> =
        report.tests.iter().filter(|t| !matches!(t.status(), Status::Passed | Status::Skipped)).collect();
    if !failed.is_empty() {
        out.push_str("\nfailures:\n");
        for test in &failed {
            out.push_str(&format!("\n---- {} [{}] ----\n", name(test), test.status().as_str()));
            let message = test.attempts.last().map(|a| a.message.as_str()).unwrap_or_default();
            for line in message.lines() {
                out.push_str(line);
                out.push('\n');
            }
            if let Some(diagnosis) = test.attempts.last().and_then(|a| a.diagnosis()) {
                out.push_str("diagnosis:\n");
                for line in diagnosis.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
    }
    let flaky: Vec<&TestResult> = report.flaky().collect();
    if !flaky.is_empty() {
        out.push_str("\nflaky tests (passed on a retry):\n");
        for test in flaky {
            out.push_str(&format!("    {} (passed on attempt {})\n", test.full_name(), test.attempts.len()));
        }
    }
    let could_not_run: Vec<&TestResult> =
        report.tests.iter().filter(|t| matches!(t.status(), Status::Errored | Status::Invalid)).collect();
    if !could_not_run.is_empty() {
        out.push_str("\ntests that could not run (infrastructure or invalid input, not assertion failures):\n");
        for test in could_not_run {
            out.push_str(&format!("    {} [{}]\n", name(test), test.status().as_str()));
        }
    }
    out
}

/// The one summary line: `precheck: 3 passed, 1 failed, 0 errors, 0 invalid, 0 skipped, 0 flaky in 1.20s`.
pub fn summary(report: &RunReport) -> String {
    format!(
        "precheck: {} passed, {} failed, {} errors, {} invalid, {} skipped, {} flaky in {:.2}s",
        report.count(Status::Passed),
        report.count(Status::Failed),
        report.count(Status::Errored),
        report.count(Status::Invalid),
        report.count(Status::Skipped),
        report.flaky().count(),
        report.duration.as_secs_f64()
    )
}

/// A whole run as `pretty` shows it: a line per test in the report's order, the problems, the summary.
pub fn pretty(report: &RunReport) -> String {
    let mut out = String::new();
    for test in &report.tests {
        out.push_str(&test_line(test));
        out.push('\n');
    }
    out.push_str(&problems(report));
    out.push('\n');
    out.push_str(&summary(report));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Attempt, TEARDOWN};

    fn test(name: &str, statuses: &[Status], message: &str) -> TestResult {
        let attempt = |status: &Status| Attempt {
            status: *status,
            message: message.to_owned(),
            steps: Vec::new(),
            duration: Default::default(),
        };
        TestResult {
            file: "a.check".into(),
            name: name.into(),
            tags: Vec::new(),
            attempts: statuses.iter().map(attempt).collect(),
            skipped: statuses.is_empty().then(|| "not today".to_owned()),
        }
    }

    #[test]
    fn every_outcome_has_its_line_and_mark_and_the_problems_say_why() {
        let report = RunReport {
            tests: vec![
                test("ok", &[Status::Passed], ""),
                test("flaky", &[Status::Failed, Status::Passed], ""),
                test("skipped", &[], ""),
                test("failed", &[Status::Failed, Status::Failed], "expected 2 pods, found 1"),
                test("errored", &[Status::Errored], "could not ask the cluster"),
                test("invalid", &[Status::Invalid], "unknown resource type 'podz'"),
                test(TEARDOWN, &[Status::Errored], "line 9: exit status 1"),
            ],
            duration: std::time::Duration::from_millis(1500),
        };
        let lines: Vec<String> = report.tests.iter().map(test_line).collect();
        assert_eq!(
            lines,
            [
                "test a.check::ok ... ok",
                "test a.check::flaky ... ok (flaky: passed on attempt 2)",
                "test a.check::skipped ... ignored, not today",
                "test a.check::failed ... FAILED after 2 attempts",
                "test a.check::errored ... ERROR",
                "test a.check::invalid ... INVALID",
                "teardown a.check ... ERROR",
            ]
        );
        let marks: String = report.tests.iter().map(mark).collect();
        assert_eq!(marks, ".fiFEIE");
        let said = problems(&report);
        assert!(said.contains("---- a.check::failed [failed] ----\nexpected 2 pods, found 1\n"), "{said}");
        assert!(said.contains("---- a.check (teardown) [error] ----\nline 9: exit status 1\n"), "{said}");
        assert!(said.contains("    a.check::flaky (passed on attempt 2)\n"), "{said}");
        assert_eq!(summary(&report), "precheck: 2 passed, 1 failed, 2 errors, 1 invalid, 1 skipped, 1 flaky in 1.50s");
        assert!(problems(&RunReport { tests: vec![test("ok", &[Status::Passed], "")], ..report }).is_empty());
    }
}
