//! `examples/cluster-build/run.sh` end to end — the README's one command for the example: moto and a real
//! Kubernetes control plane started by the script, the pipeline deploying stacks into moto, installing
//! addons (an `apply` step, a helm chart) and validating both — with and without the optional addon, and
//! with an addon whose pods never start.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Runs the script, with a watchdog: a run that hangs is stopped (SIGTERM, which the script passes on)
/// and fails the test instead of holding CI.
/// The script's scratch directory (its cluster's state among it) goes under `tmp`.
fn run_example(state: &Path, tmp: &Path, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let child = Command::new(root.join("examples/cluster-build/run.sh"))
        .args(args)
        .env("PRECHECK", env!("CARGO_BIN_EXE_precheck"))
        .env("STATE_DIR", state)
        .env("TMPDIR", tmp)
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

/// Command lines of live processes that mention `dir` (the script's cluster: etcd, the API server…).
fn processes_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&dir) {
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
    let tmp = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let out = run_example(without.path(), tmp.path(), &[]);
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

    // With the addon: helm installs the chart, its pods are scheduled on kwok nodes and run, the try sees it.
    let with = tempfile::tempdir().unwrap();
    let out = run_example(with.path(), tmp.path(), &["-p", "METRICS_SERVER=v0.7.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let record = record_of(with.path());
    assert_eq!(status(&record, "addons/metrics-server"), "succeeded");
    assert_eq!(status(&record, "validation/metrics-server"), "succeeded");
    let run = with.path().join("runs").join(record["id"].as_str().unwrap());
    let junit = std::fs::read_to_string(run.join("junit/validation.xml")).unwrap();
    let running = regex::Regex::new(r"kube-system/metrics-server-[0-9a-z]+-[0-9a-z]{5}: Running").unwrap();
    let seen: std::collections::BTreeSet<_> = running.find_iter(&junit).map(|m| m.as_str()).collect();
    assert_eq!(seen.len(), 2, "both pods seen running: {junit}");

    // An addon whose pods never start (kwok holds pods labelled precheck.test/hold in Pending): the try
    // fails naming the pods and their phase, and the record, JUnit and HTML report say so.
    let held = tempfile::tempdir().unwrap();
    let values = held.path().join("held-values.yaml");
    std::fs::write(&values, "replicas: 2\npodLabels: {precheck.test/hold: pending}\n").unwrap();
    let values = format!("METRICS_SERVER_VALUES={}", values.display());
    let out = run_example(held.path(), tmp.path(), &["-p", "METRICS_SERVER=v0.7.2", "-p", &values]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    let record = record_of(held.path());
    assert_eq!(status(&record, "addons/metrics-server"), "succeeded", "helm does not wait: {record}");
    assert_eq!(status(&record, "validation/metrics-server"), "failed", "{record}");
    let run = held.path().join("runs").join(record["id"].as_str().unwrap());
    let junit = std::fs::read_to_string(run.join("junit/validation.xml")).unwrap();
    let pending = regex::Regex::new(r"kube-system/metrics-server-[0-9a-z]+-[0-9a-z]{5}: Pending").unwrap();
    let named: std::collections::BTreeSet<_> = pending.find_iter(&junit).map(|m| m.as_str()).collect();
    assert_eq!(named.len(), 2, "both pods named with their phase: {junit}");
    assert_eq!(junit.matches("<failure").count(), 2, "the pods and the assert file: {junit}");
    let message = record["steps"].as_array().unwrap().iter().find(|s| s["id"] == "validation/metrics-server").unwrap()
        ["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.starts_with("2 of 3 tests failed, first 'metrics-server runs': line 11: "), "{message}");
    // Why, as the cluster tells it: the pods, each with its phase and events.
    let step = record["steps"].as_array().unwrap().iter().find(|s| s["id"] == "validation/metrics-server").unwrap();
    let diagnosis = step["diagnosis"].as_str().unwrap_or_default();
    assert!(diagnosis.starts_with("pod kube-system/metrics-server-") && diagnosis.contains(": Pending"), "{diagnosis}");
    assert!(diagnosis.contains("event Normal Scheduled"), "{diagnosis}");
    assert!(
        message.contains("0 of 2 pods named '^metrics-server-' have 'status' = 'running', expected 2"),
        "{message}"
    );
    assert_eq!(pending.find_iter(&message).count(), 2, "the record names both pods and their phase: {message}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("validation/metrics-server") && html.contains("metrics-server runs"), "{html}");

    // The script stopped the cluster and moto it started.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(processes_under(tmp.path()), Vec::<String>::new(), "the cluster was stopped");
}
