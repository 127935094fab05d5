//! `examples/cluster-build/run.sh` end to end — the README's one command for the example: moto and the
//! Kubernetes API emulator started by the script, the pipeline deploying stacks into moto, applying addons
//! to the emulator and validating both, with and without the optional addon.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs the script, with a watchdog: a run that hangs is stopped (SIGTERM, which the script passes on)
/// and fails the test instead of holding CI.
fn run_example(state: &Path, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let child = Command::new(root.join("examples/cluster-build/run.sh"))
        .args(args)
        .env("PRECHECK", env!("CARGO_BIN_EXE_precheck"))
        .env("STATE_DIR", state)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run examples/cluster-build/run.sh");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(600)).is_err() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().expect("wait for run.sh");
    let _ = done.send(());
    let _ = watchdog.join();
    out
}

/// Command lines of live processes started by the example's script (its Kubernetes emulator).
fn listening_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("examples/cluster-build/emulator-namespaces.yaml") {
                found.push(cmdline);
            }
        }
    }
    found
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn record_of(state: &Path) -> serde_json::Value {
    let run = std::fs::read_dir(state.join("runs")).unwrap().next().unwrap().unwrap().path();
    serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap()
}

fn status<'a>(record: &'a serde_json::Value, id: &str) -> &'a str {
    record["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["status"].as_str().unwrap()
}

#[test]
fn the_cluster_build_example_runs_end_to_end() {
    let without = tempfile::tempdir().unwrap();
    let out = run_example(without.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let record = record_of(without.path());
    for id in ["network/stack", "network/dhcp-options", "preflight/account", "build/control-plane", "addons/platform"] {
        assert_eq!(status(&record, id), "succeeded", "{id}: {record}");
    }
    assert_eq!(status(&record, "validation/cluster"), "succeeded");
    assert_eq!(status(&record, "addons/metrics-server"), "skipped", "METRICS_SERVER is none");
    assert_eq!(status(&record, "validation/metrics-server"), "skipped");
    assert_eq!(status(&record, "finally/diagnostics"), "succeeded");
    let run = without.path().join("runs").join(record["id"].as_str().unwrap());
    for file in ["junit/preflight.xml", "junit/validation.xml", "report.html"] {
        assert!(run.join(file).is_file(), "{file}");
    }
    let junit = std::fs::read_to_string(run.join("junit/preflight.xml")).unwrap();
    assert!(junit.matches("<testcase ").count() >= 6 && !junit.contains("<failure"), "{junit}");

    let with = tempfile::tempdir().unwrap();
    let out = run_example(with.path(), &["-p", "METRICS_SERVER=v0.7.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let record = record_of(with.path());
    assert_eq!(status(&record, "addons/metrics-server"), "succeeded");
    assert_eq!(status(&record, "validation/metrics-server"), "succeeded");
    // The script stopped the emulator it started (moto's port is gone with it: checked by the records'
    // runs having ended; the emulator is found by its command line).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(listening_processes(), Vec::<String>::new(), "the emulator was stopped");
}
