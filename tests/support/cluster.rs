//! The real Kubernetes control plane under the tests (`tests/support/cluster/`): etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok nodes, built from pinned Go modules on first use.
//!
//! One cluster serves a whole test run, shared through namespaces: `scripts/test` starts it once and names its
//! kubeconfig in `PRECHECK_TEST_CLUSTER_KUBECONFIG`; a test binary run alone starts one for itself, stopped
//! when the binary exits (the launcher ends when its stdin closes). `PRECHECK_E2E_KUBECONFIG` names a
//! cluster of your own instead (tests that need the launcher's token users then use service accounts).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The repository root.
fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/support/cluster/build.sh").exists() {
        assert!(dir.pop(), "cannot find the repository root above {}", env!("CARGO_MANIFEST_DIR"));
    }
    dir
}

/// The directory with the built programs (`bin/`: the control plane, kwok, helm, the launcher), built by
/// `tests/support/cluster/build.sh` when missing.
pub fn programs() -> &'static Path {
    static PROGRAMS: OnceLock<PathBuf> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/support/cluster/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/support/cluster/build.sh");
        assert!(out.status.success(), "tests/support/cluster/build.sh failed");
        let text = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(text.lines().last().expect("build.sh names its directory").trim())
    })
}

/// The helm binary built with the cluster's programs.
pub fn helm() -> PathBuf {
    programs().join("bin/helm")
}

/// A running cluster: the one of the test run, or one started for this process.
pub struct Cluster {
    /// Its kubeconfig (admin; also the contexts `admin-token`, `alice` and `bob` on a launched cluster).
    pub kubeconfig: PathBuf,
    /// True when this process started it (it has the token users `alice` and `bob`).
    pub launched: bool,
    scratch: PathBuf,
    _launcher: Option<(Child, ChildStdin)>,
}

/// Set by `scripts/test` to the kubeconfig of the cluster it launched for the whole run.
pub const RUN_CLUSTER_VARIABLE: &str = "PRECHECK_TEST_CLUSTER_KUBECONFIG";

/// The cluster of this test run (started on first use when no `PRECHECK_E2E_KUBECONFIG` names one).
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| {
        let scratch = std::env::temp_dir().join(format!("precheck-tests-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        if let Some(kubeconfig) = std::env::var_os("PRECHECK_E2E_KUBECONFIG") {
            return Cluster { kubeconfig: kubeconfig.into(), launched: false, scratch, _launcher: None };
        }
        if let Some(kubeconfig) = std::env::var_os(RUN_CLUSTER_VARIABLE) {
            return Cluster { kubeconfig: kubeconfig.into(), launched: true, scratch, _launcher: None };
        }
        let (child, stdin, kubeconfig) = launch(&[]);
        Cluster { kubeconfig, launched: true, scratch, _launcher: Some((child, stdin)) }
    })
}

/// Starts the launcher with `extra` arguments; returns it, the stdin that keeps it alive, and the kubeconfig.
pub fn launch(extra: &[&str]) -> (Child, ChildStdin, PathBuf) {
    let bin = programs().join("bin");
    let mut child = Command::new(bin.join("precheck-test-cluster"))
        .arg("-bin")
        .arg(&bin)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start precheck-test-cluster");
    let stdin = child.stdin.take().expect("launcher stdin");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("launcher stdout")).read_line(&mut line).expect("launcher output");
    let Some(kubeconfig) = line.trim().strip_prefix("READY ") else {
        let _ = child.wait();
        panic!("the test cluster did not start (its reasons are above)");
    };
    (child, stdin, PathBuf::from(kubeconfig))
}

impl Cluster {
    /// Runs the real kubectl against this cluster (as the admin).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubeconfig, args)
    }

    /// Runs the real kubectl with another kubeconfig.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("KUBECACHEDIR", self.scratch.join("kube-cache"))
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

    /// A new namespace named after `purpose`, deleted when dropped.
    pub fn namespace(&'static self, purpose: &str) -> Namespace {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{purpose}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.kubectl_ok(&["create", "namespace", &name]);
        // Pods are admitted only once the namespace's default service account exists.
        let waited = std::time::Instant::now();
        while !self.kubectl(&["-n", &name, "get", "serviceaccount", "default"]).status.success() {
            assert!(waited.elapsed() < Duration::from_secs(60), "no default service account in {name}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Namespace { cluster: self, name }
    }

    /// The API server's URL and CA (base64 PEM) from the kubeconfig.
    pub fn server_and_ca(&self) -> (String, String) {
        let get = |path: &str| {
            self.kubectl_ok(&["config", "view", "--raw", "--minify", "-o", &format!("jsonpath={{{path}}}")])
        };
        (get(".clusters[0].cluster.server"), get(".clusters[0].cluster.certificate-authority-data"))
    }

    /// A kubeconfig in `dir` for a bearer token, verifying the server with the cluster's CA.
    pub fn token_kubeconfig(&self, dir: &Path, name: &str, token: &str, namespace: &str) -> PathBuf {
        let (server, ca) = self.server_and_ca();
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    \
                 certificate-authority-data: {ca}\nusers:\n- name: {name}\n  user:\n    token: {token}\n\
                 contexts:\n- name: {name}\n  context: {{cluster: c, user: {name}, namespace: {namespace}}}\n\
                 current-context: {name}\n"
            ),
        )
        .expect("write kubeconfig");
        path
    }
}

/// A namespace of the shared cluster, deleted (without waiting) when dropped.
pub struct Namespace {
    cluster: &'static Cluster,
    /// Its name.
    pub name: String,
}

impl Namespace {
    /// Applies YAML text in this namespace with kubectl.
    pub fn apply(&self, yaml: &str) {
        let file = self.cluster.scratch.join(format!("{}-{}.yaml", self.name, yaml.len()));
        std::fs::write(&file, yaml).expect("write manifest");
        self.cluster.kubectl_ok(&["-n", &self.name, "apply", "-f", &file.display().to_string()]);
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}
