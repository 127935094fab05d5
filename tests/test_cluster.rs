//! The launcher of the test cluster (`tests/support/cluster`): a cluster it starts answers kubectl with nodes
//! Ready, and no process of it is left once it is stopped — by closing its stdin, as a test binary's exit
//! does, or by SIGKILL.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Processes whose command line mentions `text` (zombies have none, so they do not count).
fn processes_mentioning(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let path = entry.expect("entry").path();
        if let Ok(cmdline) = std::fs::read(path.join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(text) {
                found.push(cmdline);
            }
        }
    }
    found
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("KUBECACHEDIR", kubeconfig.with_file_name("kube-cache"))
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_launched_cluster_serves_and_leaves_no_process_when_stopped_or_killed() {
    for killed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap();
        let started = Instant::now();
        let (mut launcher, stdin, kubeconfig) = cluster::launch(&["-dir", state, "-nodes", "2"]);
        eprintln!("test cluster started in {:.1} s", started.elapsed().as_secs_f64());
        let nodes = kubectl(
            &kubeconfig,
            &["get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}"],
        );
        assert_eq!(nodes, "True True");
        let version = kubectl(&kubeconfig, &["get", "--raw", "/version"]);
        assert!(version.contains("\"gitVersion\": \"v1.") && !version.contains("v0.0.0"), "{version}");
        // etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, all with the state directory.
        let running = processes_mentioning(state);
        assert_eq!(running.len(), 6, "the launcher and 5 programs: {running:#?}");

        if killed {
            launcher.kill().unwrap();
        } else {
            drop(stdin);
        }
        let status = launcher.wait().unwrap();
        let waited = Instant::now();
        loop {
            let left = processes_mentioning(state);
            if left.is_empty() {
                break;
            }
            assert!(waited.elapsed() < Duration::from_secs(15), "left running (killed: {killed}): {left:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        if !killed {
            assert!(status.success(), "a launcher asked to stop exits 0: {status}");
        }
    }
}
