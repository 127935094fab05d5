//! What `checks` steps leave beside the record: the stage's JUnit file holding every `checks` step of the
//! stage so far. (The step's log gets the run's terminal view, `precheck::report::terminal::pretty`.)

use std::sync::Arc;

use crate::graph::Node;

use super::Shared;

/// Adds a `checks` step's results to its stage's JUnit file, replacing those of its earlier attempts.
/// Written under the lock, so steps of one stage finishing together write one after the other, the last
/// with everything; a file that cannot be written breaks the run like its record would.
pub(super) fn add(shared: &Arc<Shared>, node: &Node, report: &precheck::outcome::RunReport) {
    let mut reports = shared.reports.lock().expect("reports lock");
    let results = reports.entry(node.stage.clone()).or_default();
    results.retain(|t| !t.file.starts_with(&format!("{}: ", node.id)));
    for test in &report.tests {
        let mut test = test.clone();
        test.file = format!("{}: {}", node.id, test.file);
        results.push(test);
    }
    let junit = precheck::report::junit_xml(&precheck::outcome::RunReport {
        tests: results.clone(),
        duration: results.iter().map(|t| t.duration()).sum(),
    });
    let name = format!("junit/{}.xml", crate::record::file_name(&node.stage));
    // A sentence may compare with a secret (`${TOKEN}`): its messages are masked like the log.
    if let Err(e) = shared.run.write_file(&name, &shared.redactor.for_xml().redact_bytes(junit.as_bytes())) {
        shared.broken.lock().expect("broken lock").get_or_insert(e);
    }
}
