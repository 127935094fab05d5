//! `precheck migrate kuttl` against kuttl itself on the real test cluster (tests/support/cluster.rs): the
//! test cases of tests/fixtures/migrate/kuttl (one that applies, waits, scales with a command and a script,
//! deletes and checks an errors file, then merges a partial Deployment into the live one; one whose assert
//! never holds) run with kuttl (built from its pinned
//! module by tests/support/cluster/build.sh), then converted with `precheck run`, and each case must end
//! the same way.

#[path = "support/bats.rs"]
mod bats;
#[path = "support/binary.rs"]
mod binary;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use bats::{expected, outcomes};
use binary::text;
use cluster::{programs, shared};
use workspace::repo_root;

/// Copies a directory tree.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `PASS`/`FAIL` of each test case in kuttl's output (`--- PASS: kuttl/harness/CASE (…)`), as TAP words.
fn kuttl_outcomes(output: &str) -> BTreeMap<String, &'static str> {
    let mut outcomes = BTreeMap::new();
    for line in output.lines() {
        let line = line.trim();
        for (word, outcome) in [("--- PASS: kuttl/harness/", "ok"), ("--- FAIL: kuttl/harness/", "not ok")] {
            if let Some(rest) = line.strip_prefix(word) {
                outcomes.insert(rest.split_whitespace().next().unwrap_or_default().to_owned(), outcome);
            }
        }
    }
    outcomes
}

#[test]
fn converted_kuttl_cases_end_as_kuttl_ends_them() {
    let cluster = shared();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let suite = dir.join("suite");
    copy(&repo_root().join("tests/fixtures/migrate/kuttl"), &suite);

    let kuttl = std::process::Command::new(programs().join("bin/kubectl-kuttl"))
        .args(["test", "suite", "--timeout", "30", "--parallel", "2", "--artifacts-dir", "artifacts"])
        .current_dir(dir)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("KUBECACHEDIR", dir.join("kube-cache"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let by_kuttl = kuttl_outcomes(&text(&kuttl));
    assert_eq!(by_kuttl, expected(&[("never-ready", "not ok"), ("web-scale", "ok")]), "kuttl:\n{}", text(&kuttl));

    let converted = binary::precheck(&cluster.kubeconfig, dir, &["migrate", "kuttl", "suite"]);
    assert_eq!(converted.status.code(), Some(0), "{}", text(&converted));
    let run = binary::precheck(&cluster.kubeconfig, dir, &["run", "suite", "--format", "tap", "-j", "2"]);
    assert_eq!(outcomes(&String::from_utf8_lossy(&run.stdout)), by_kuttl, "precheck:\n{}", text(&run));
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    // The cases' namespaces are gone with their teardown.
    for ns in ["kuttl-web-scale", "kuttl-never-ready"] {
        let left = cluster.kubectl(&["get", "namespace", ns, "-o", "jsonpath={.status.phase}"]);
        let phase = String::from_utf8_lossy(&left.stdout).into_owned();
        assert!(!left.status.success() || phase == "Terminating", "{ns}: {phase}");
    }
}
