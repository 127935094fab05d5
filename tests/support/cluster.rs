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

pub use crate::workspace::repo_root;

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
        if let Some(kubeconfig) = std::env::var_os("PRECHECK_E2E_KUBECONFIG") {
            let scratch = scratch(&std::env::temp_dir());
            return Cluster { kubeconfig: kubeconfig.into(), launched: false, scratch, _launcher: None };
        }
        let (kubeconfig, launcher) = match std::env::var_os(RUN_CLUSTER_VARIABLE) {
            Some(kubeconfig) => (PathBuf::from(kubeconfig), None),
            None => return Cluster::own(&[]),
        };
        let scratch = scratch(kubeconfig.parent().expect("the kubeconfig is in the cluster's state directory"));
        Cluster { kubeconfig, launched: true, scratch, _launcher: launcher }
    })
}

/// kubectl's discovery caches and the like: beside a launched cluster's state, so they go with it.
fn scratch(dir: &Path) -> PathBuf {
    let scratch = dir.join(format!("precheck-tests-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    scratch
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
    /// A cluster of this caller's own, started with `extra` launcher arguments (such as
    /// `-apiserver-arg=--watch-cache-sizes=configmaps#0`) and stopped when dropped.
    pub fn own(extra: &[&str]) -> Cluster {
        let (child, stdin, kubeconfig) = launch(extra);
        let scratch = scratch(kubeconfig.parent().expect("the kubeconfig is in the cluster's state directory"));
        Cluster { kubeconfig, launched: true, scratch, _launcher: Some((child, stdin)) }
    }

    /// Compacts a launched cluster's etcd up to its current revision (through etcd's JSON gateway), as the
    /// API server does every minute: a watch from an older resourceVersion then gets 410 Gone. Returns the
    /// revision.
    pub fn compact_etcd(&self) -> u64 {
        let startup = self.kubeconfig.parent().expect("state directory").join("startup.json");
        let startup: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&startup).expect("read startup.json")).expect("startup.json");
        let etcd = startup["etcd"].as_str().expect("startup.json names etcd").trim_start_matches("http://");
        let post = |path: &str, body: &str| -> serde_json::Value {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(etcd).expect("connect to etcd");
            write!(
                stream,
                "POST {path} HTTP/1.1\r\nHost: {etcd}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .expect("send to etcd");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).expect("read etcd's answer");
            let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
            assert!(head.starts_with("HTTP/1.1 200"), "etcd {path}: {answer}");
            serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("etcd {path}: {e}: {body}"))
        };
        // Any key: the answer's header carries the store's revision.
        let range = post("/v3/kv/range", r#"{"key":"AA=="}"#);
        let revision: u64 = range["header"]["revision"].as_str().expect("a revision").parse().expect("a number");
        post("/v3/kv/compaction", &format!(r#"{{"revision":"{revision}","physical":true}}"#));
        revision
    }

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
        self.kubectl_ok_with(&self.kubeconfig, args)
    }

    /// Runs kubectl with another kubeconfig and asserts it succeeded; returns stdout.
    pub fn kubectl_ok_with(&self, kubeconfig: &Path, args: &[&str]) -> String {
        let out = self.kubectl_with(kubeconfig, args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `kubectl get OBJECT… -o jsonpath=PATH` prints `want` (at most 3 minutes). Unlike
    /// `kubectl wait --for=condition=…`, an object whose status has no conditions yet is waited for, not
    /// an error.
    pub fn wait_until(&self, object: &[&str], path: &str, want: &str) {
        let mut args = vec!["get"];
        args.extend_from_slice(object);
        let jsonpath = format!("jsonpath={path}");
        args.extend_from_slice(&["-o", &jsonpath]);
        let waited = std::time::Instant::now();
        loop {
            let out = self.kubectl(&args);
            let got = String::from_utf8_lossy(&out.stdout);
            if out.status.success() && got.trim() == want {
                return;
            }
            assert!(waited.elapsed() < Duration::from_secs(180), "{object:?}: {path} is {got:?}, not {want:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the CRD `name` is Established.
    pub fn wait_established(&self, name: &str) {
        self.wait_until(&["crd", name], "{.status.conditions[?(@.type==\"Established\")].status}", "True");
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
}

/// A kubeconfig in `dir` whose server listens nowhere (a port that was free a moment ago).
pub fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let path = dir.join("unreachable-kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: 'https://127.0.0.1:{port}'}}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: gone\n  context: {{cluster: gone, user: u}}\n\
             current-context: gone\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

impl Cluster {
    /// A kubeconfig in `dir` for a bearer token, verifying the server with the cluster's CA.
    pub fn token_kubeconfig(&self, dir: &Path, name: &str, token: &str, namespace: &str) -> PathBuf {
        let (server, _) = self.server_and_ca();
        self.kubeconfig_for(dir, name, &server, token, namespace)
    }

    /// A kubeconfig in `dir` for `server` (this cluster, or a proxy in front of it serving a certificate of
    /// its CA) and a bearer token.
    pub fn kubeconfig_for(&self, dir: &Path, name: &str, server: &str, token: &str, namespace: &str) -> PathBuf {
        let (_, ca) = self.server_and_ca();
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

    /// What a TLS proxy in front of the launched cluster needs; `None` for a cluster of your own (its
    /// serving certificate and key are not at hand).
    pub fn pki(&self) -> Option<Pki> {
        let dir = self.kubeconfig.parent()?.join("pki");
        let token = self.kubectl_ok(&[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[?(@.name==\"admin-token\")].user.token}",
        ]);
        if !dir.join("apiserver.key").exists() || token.is_empty() {
            return None;
        }
        Some(Pki {
            server: self.server_and_ca().0,
            cert: dir.join("apiserver.crt"),
            key: dir.join("apiserver.key"),
            ca: dir.join("ca.crt"),
            admin_token: token,
        })
    }
}

/// The launched cluster's API server and PEM files: its serving certificate and key (valid for 127.0.0.1),
/// the CA, and the token of a user in `system:masters`.
pub struct Pki {
    /// `https://127.0.0.1:PORT`
    pub server: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub admin_token: String,
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

/// The standard fixture files (`tests/fixtures/cluster/*.yaml`), in order.
pub fn fixture_files() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/fixtures/cluster");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

impl Cluster {
    /// Applies the standard fixtures (once per process; `kubectl apply` finds them in place when another
    /// process of the run applied them) and waits until the pods that can run do.
    pub fn load_fixtures(&self) {
        static LOADED: OnceLock<()> = OnceLock::new();
        LOADED.get_or_init(|| {
            for file in fixture_files() {
                self.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
                if file.to_string_lossy().contains("crd") {
                    self.wait_established("widgets.example.com");
                }
            }
            self.wait_until(&["-n", "default", "deployment", "nginx"], "{.status.readyReplicas}", "2");
            self.wait_until(&["-n", "team-a", "pod", "api-7d9f"], "{.status.phase}", "Running");
        });
    }

    /// A kubeconfig for this cluster with the contexts the fixture tests use: the current one in namespace
    /// `default`, and `team-a` in namespace `team-a` (same user).
    fn fixtures_kubeconfig(&self) -> &Path {
        static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();
        KUBECONFIG.get_or_init(|| {
            let path = self.scratch.join("fixtures.kubeconfig");
            let raw = self.kubectl_ok(&["config", "view", "--raw", "--minify", "--flatten"]);
            std::fs::write(&path, raw).expect("write kubeconfig");
            let with = |args: &[&str]| self.kubectl_ok_with(&path, args);
            with(&["config", "set-context", "--current", "--namespace=default"]);
            let cluster = with(&["config", "view", "-o", "jsonpath={.contexts[0].context.cluster}"]);
            let user = with(&["config", "view", "-o", "jsonpath={.contexts[0].context.user}"]);
            with(&["config", "set-context", "team-a", "--cluster", &cluster, "--user", &user, "--namespace=team-a"]);
            path
        })
    }
}

/// A test's view of the shared cluster with the standard fixtures: a kubeconfig (current context in
/// `default`, context `team-a`), and a scratch directory of its own.
pub struct TestCluster {
    /// The kubeconfig.
    pub kubeconfig: PathBuf,
    /// The shared cluster.
    pub cluster: &'static Cluster,
    dir: tempfile::TempDir,
}

impl TestCluster {
    /// The shared cluster with the fixtures loaded.
    pub fn with_fixtures() -> Self {
        let cluster = shared();
        cluster.load_fixtures();
        let dir = tempfile::tempdir().expect("temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::copy(cluster.fixtures_kubeconfig(), &kubeconfig).expect("copy kubeconfig");
        Self { kubeconfig, cluster, dir }
    }

    /// The scratch directory of this test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    /// Runs the real kubectl with this test's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.cluster.kubectl_with(&self.kubeconfig, args)
    }

    /// Runs kubectl and asserts it succeeded; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        self.cluster.kubectl_ok_with(&self.kubeconfig, args)
    }
}
