//! Starts the Kubernetes API emulator (`tests/support/kube_emulator.py`, kmock with fix-ups) for a test,
//! on 127.0.0.1 with a port chosen at run time, and stops it when dropped.
//!
//! Set `PRECHECK_E2E_KUBECONFIG` to a kubeconfig to run the same tests against a real cluster instead:
//! the fixtures are then applied with `kubectl apply -f`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::workspace::{python, repo_root};

/// The fixture files of the emulated cluster (`tests/fixtures/emulator/*.yaml`), in order.
pub fn cluster_fixtures() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/emulator");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// A cluster for a test: the emulator, or the real cluster named by `PRECHECK_E2E_KUBECONFIG`.
pub struct TestCluster {
    emulator: Option<Emulator>,
    /// A kubeconfig for it, with contexts `emulator` (namespace default) and `team-a` (namespace team-a)
    /// when emulated.
    pub kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    _stdout: ChildStdout,
    url: String,
    log: PathBuf,
}

impl TestCluster {
    /// Starts a cluster loaded with `fixtures`.
    pub fn start(fixtures: &[PathBuf]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        if let Some(real) = std::env::var_os("PRECHECK_E2E_KUBECONFIG") {
            let cluster = Self { emulator: None, kubeconfig: PathBuf::from(real), dir };
            for f in fixtures {
                let out = cluster.kubectl(&["apply", "-f", &f.display().to_string()]);
                assert!(
                    out.status.success(),
                    "kubectl apply {}: {}",
                    f.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            return cluster;
        }
        let log = dir.path().join("emulator.log");
        let mut command = Command::new(python());
        command.arg(repo_root().join("tests/support/kube_emulator.py"));
        for f in fixtures {
            command.arg("--load").arg(f);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("emulator log"))
            .spawn()
            .expect("start the Kubernetes emulator");
        let stdin = child.stdin.take().expect("emulator stdin");
        let stdout = child.stdout.take().expect("emulator stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            reader.into_inner()
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("READY ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            let mut text = String::new();
            let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
            panic!("the Kubernetes emulator did not start (got {line:?}); its log:\n{text}");
        };
        let stdout = reader.join().expect("emulator reader");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&url)).expect("write kubeconfig");
        Self { emulator: Some(Emulator { child, _stdin: stdin, _stdout: stdout, url, log }), kubeconfig, dir }
    }

    /// Starts a cluster with the standard fixtures.
    pub fn with_fixtures() -> Self {
        Self::start(&cluster_fixtures())
    }

    /// True when this is the emulator (some tests change objects in ways only safe there).
    pub fn is_emulated(&self) -> bool {
        self.emulator.is_some()
    }

    /// The API server URL, when emulated.
    pub fn url(&self) -> Option<&str> {
        self.emulator.as_ref().map(|e| e.url.as_str())
    }

    /// A scratch directory that lives as long as the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the real kubectl against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            // Discovery caches of random ports stay in the scratch directory, not in ~/.kube.
            .env("KUBECACHEDIR", self.dir.path().join("kube-cache"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl and asserts it succeeded; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes `text` to a file in the scratch directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directory");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// The emulator's log so far.
    pub fn log(&self) -> String {
        self.emulator.as_ref().and_then(|e| std::fs::read_to_string(&e.log).ok()).unwrap_or_default()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(e) = &mut self.emulator {
            let _ = e.child.kill();
            let _ = e.child.wait();
        }
    }
}

/// A kubeconfig for `url` with no credentials: contexts `emulator` (current, namespace default) and
/// `team-a` (namespace team-a).
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
  - name: emulator
    cluster: {{server: \"{url}\"}}
users:
  - name: emulator
    user: {{}}
contexts:
  - name: emulator
    context: {{cluster: emulator, user: emulator, namespace: default}}
  - name: team-a
    context: {{cluster: emulator, user: emulator, namespace: team-a}}
current-context: emulator
"
    )
}
