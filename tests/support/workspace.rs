//! Where the repository is, and the Python venv of its test tools (moto, the aws CLI, the Argo validator),
//! created by `scripts/test-env.sh` when missing.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root (where `scripts/test-env.sh` is).
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/test-env.sh").exists() {
        assert!(dir.pop(), "cannot find the repository root above {}", env!("CARGO_MANIFEST_DIR"));
    }
    dir
}

/// The Python interpreter of the test venv, created by `scripts/test-env.sh` when missing.
pub fn python() -> PathBuf {
    let root = repo_root();
    let venv = std::env::var_os("PRECHECK_VENV").map_or_else(|| root.join(".venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let ready = python.exists()
        && Command::new(&python).args(["-c", "import moto, yaml, hera"]).output().is_ok_and(|o| o.status.success());
    if !ready {
        let status =
            Command::new("bash").arg(root.join("scripts/test-env.sh")).status().expect("run scripts/test-env.sh");
        assert!(status.success(), "scripts/test-env.sh failed: the test venv is needed");
    }
    python
}
