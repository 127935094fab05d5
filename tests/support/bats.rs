//! bats-core for the tests that run a bats suite beside its conversion (installed on first use by
//! tests/support/bats/install.sh, at the version its lock file pins), and the outcome of each test in a TAP
//! stream, bats' or Precheck's.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `bats` program.
pub fn bats() -> PathBuf {
    let script = super::workspace::repo_root().join("tests/support/bats/install.sh");
    let out = Command::new("bash").arg(script).stderr(Stdio::inherit()).output().expect("run install.sh");
    assert!(out.status.success(), "bats could not be installed (tests/support/bats/install.sh, above)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().expect("the path of bats").trim())
}

/// `ok`, `not ok` or `skip` for each test of a TAP stream, by name (without Precheck's `file::`).
pub fn outcomes(tap: &str) -> BTreeMap<String, &'static str> {
    let mut outcomes = BTreeMap::new();
    for line in tap.lines() {
        let (outcome, rest) = if let Some(rest) = line.strip_prefix("not ok ") {
            ("not ok", rest)
        } else if let Some(rest) = line.strip_prefix("ok ") {
            ("ok", rest)
        } else {
            continue;
        };
        // `N - name # SKIP why` (Precheck) or `N name # skip why` (bats).
        let rest = rest.split_once(' ').map_or("", |(_, r)| r);
        let rest = rest.strip_prefix("- ").unwrap_or(rest);
        let (name, directive) = rest.split_once(" # ").unwrap_or((rest, ""));
        let name = name.rsplit_once("::").map_or(name, |(_, n)| n);
        let outcome = if directive.to_ascii_lowercase().starts_with("skip") { "skip" } else { outcome };
        outcomes.insert(name.to_owned(), outcome);
    }
    outcomes
}

/// The expected outcomes, as a map to compare with [`outcomes`].
pub fn expected(pairs: &[(&str, &'static str)]) -> BTreeMap<String, &'static str> {
    pairs.iter().map(|(name, outcome)| ((*name).to_owned(), *outcome)).collect()
}
