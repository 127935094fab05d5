//! JUnit XML through quick-junit: `<failure>` for assertions, `<error>` for a cluster that could not be
//! asked or invalid input, flaky runs as `<flakyFailure>`/`<flakyError>`, the trace in `<system-out>`, a
//! failed test's diagnosis ([`crate::diagnosis`]) in `<system-err>`.

use std::collections::BTreeMap;

use quick_junit::{FlakyOrRerun, NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::outcome::{Attempt, RunReport, Status, TestResult};

fn kind(status: Status) -> NonSuccessKind {
    match status {
        Status::Failed => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    }
}

fn rerun(attempt: &Attempt) -> TestRerun {
    let mut rerun = TestRerun::new(kind(attempt.status));
    rerun.set_message(attempt.message.lines().next().unwrap_or_default()).set_type(attempt.status.as_str());
    rerun.set_description(&attempt.message).set_system_out(attempt.trace()).set_time(attempt.duration);
    rerun
}

fn test_case(test: &TestResult) -> TestCase {
    let status = match (test.status(), test.attempts.split_last()) {
        (Status::Skipped, _) | (_, None) => {
            let mut s = TestCaseStatus::skipped();
            if let Some(reason) = &test.skipped {
                s.set_message(reason.as_str());
            }
            s
        }
        (Status::Passed, Some((_, earlier))) => {
            TestCaseStatus::Success { flaky_runs: earlier.iter().map(rerun).collect() }
        }
        (status, Some((last, earlier))) => {
            let mut s = TestCaseStatus::non_success(kind(status));
            s.set_message(last.message.lines().next().unwrap_or_default()).set_type(status.as_str());
            s.set_description(&last.message);
            s.add_reruns(earlier.iter().map(rerun));
            s.set_rerun_kind(FlakyOrRerun::Rerun);
            s
        }
    };
    let mut case = TestCase::new(test.name.as_str(), status);
    case.set_classname(test.file.as_str()).set_time(test.duration());
    if let Some(last) = test.attempts.last() {
        case.set_system_out(last.trace());
        if let Some(diagnosis) = last.diagnosis().filter(|_| test.status() != Status::Passed) {
            case.set_system_err(diagnosis);
        }
    }
    for tag in &test.tags {
        case.add_property(quick_junit::Property::new("tag", tag.as_str()));
    }
    case
}

/// Renders a run as JUnit XML: one `<testsuite>` per check file.
pub fn junit_xml(report: &RunReport) -> String {
    let mut junit = Report::new("precheck");
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for test in &report.tests {
        suites
            .entry(test.file.as_str())
            .or_insert_with(|| TestSuite::new(test.file.as_str()))
            .add_test_case(test_case(test));
    }
    for (_, mut suite) in suites {
        let time = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(time);
        junit.add_test_suite(suite);
    }
    junit.set_time(report.duration);
    junit.to_string().unwrap_or_else(|e| format!("<!-- cannot serialize the report: {e} -->"))
}
