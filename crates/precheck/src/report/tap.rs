//! TAP version 14, as BATS prints it, so existing TAP consumers keep working.

use crate::outcome::{RunReport, Status};

/// Renders a run as TAP: `ok`/`not ok` per test, `# SKIP` with the reason, diagnostics as YAML blocks.
pub fn tap(report: &RunReport) -> String {
    let mut out = format!("TAP version 14\n1..{}\n", report.tests.len());
    for (i, test) in report.tests.iter().enumerate() {
        let n = i + 1;
        let name = test.full_name().replace('#', "\\#");
        match test.status() {
            Status::Passed if test.is_flaky() => {
                out.push_str(&format!("ok {n} - {name} # flaky: passed on attempt {}\n", test.attempts.len()));
            }
            Status::Passed => out.push_str(&format!("ok {n} - {name}\n")),
            Status::Skipped => {
                let reason = test.skipped.as_deref().unwrap_or("");
                out.push_str(&format!("ok {n} - {name} # SKIP {reason}\n"));
            }
            status => {
                out.push_str(&format!("not ok {n} - {name}\n  ---\n  status: {}\n  message: |\n", status.as_str()));
                let last = test.attempts.last().map(|a| a.message.as_str()).unwrap_or_default();
                for line in last.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
                if let Some(diagnosis) = test.attempts.last().and_then(|a| a.diagnosis()) {
                    out.push_str("  diagnosis: |\n");
                    for line in diagnosis.lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
                out.push_str(&format!("  attempts: {}\n  ...\n", test.attempts.len()));
            }
        }
    }
    out
}
