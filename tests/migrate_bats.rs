//! `precheck migrate bats` against the original on the real test cluster (tests/support/cluster.rs): a
//! bats-detik suite written for it (tests/fixtures/migrate/web.bats: passing and failing tests, setup and
//! teardown of the file and of each test, a namespace, a `try`, a sentence expected to fail, a skip) runs
//! with bats-core, then its conversion runs with `precheck run`, and every test must end the same way.
//!
//! bats-core comes from npm at the version tests/support/bats pins. bats-detik is served by no package
//! registry, so the suite loads the drop-in shim (examples/bats/detik.bash, whose sentences agree with
//! bats-detik's); set `PRECHECK_BATS_DETIK` to the `lib` directory of a bats-detik checkout to run the
//! original against bats-detik itself.

#[path = "support/bats.rs"]
mod bats;
#[path = "support/binary.rs"]
mod binary;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bats::{bats, expected, outcomes};
use binary::text;
use cluster::{Cluster, shared};
use workspace::repo_root;

/// Deletes the suite's namespaces, whatever became of its teardown.
struct Namespaces<'a>(&'a Cluster, Vec<String>);

impl Drop for Namespaces<'_> {
    fn drop(&mut self) {
        for ns in &self.1 {
            let _ = self.0.kubectl(&["delete", "namespace", ns, "--ignore-not-found", "--wait=false"]);
        }
    }
}

/// A command as both runs start it: the cluster's kubeconfig, `precheck` on PATH, the run's namespace.
fn command(program: &Path, dir: &Path, cluster: &Cluster, namespace: &str) -> Command {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_precheck")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env("PATH", path)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("KUBECACHEDIR", dir.join("kube-cache"))
        .env("MIGRATE_NS", namespace)
        .env("NO_COLOR", "1")
        .env_remove("DETIK_CLIENT_NAMESPACE")
        .env_remove("DETIK_CLIENT_NAMESPACE_ALL")
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("start the command")
}

#[test]
fn a_converted_bats_detik_suite_ends_each_test_as_bats_does() {
    let cluster = shared();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::copy(repo_root().join("tests/fixtures/migrate/web.bats"), dir.join("web.bats")).unwrap();
    let detik = match std::env::var_os("PRECHECK_BATS_DETIK") {
        Some(lib) => format!("source '{}/detik.bash'\n", Path::new(&lib).display()),
        None => std::fs::read_to_string(repo_root().join("examples/bats/detik.bash")).unwrap(),
    };
    std::fs::write(dir.join("detik.bash"), detik).unwrap();
    let pid = std::process::id();
    let (bats_ns, check_ns) = (format!("migrate-bats-{pid}"), format!("migrate-check-{pid}"));
    let _namespaces = Namespaces(cluster, vec![bats_ns.clone(), check_ns.clone()]);

    let mut original = command(&bats(), dir, cluster, &bats_ns);
    original.args(["--tap", "web.bats"]);
    let original = run(original);
    let by_bats = outcomes(&String::from_utf8_lossy(&original.stdout));

    let converted = binary::precheck(&cluster.kubeconfig, dir, &["migrate", "bats", "web.bats", "--out", "converted"]);
    assert_eq!(converted.status.code(), Some(0), "{}", text(&converted));
    let mut lint = command(Path::new(env!("CARGO_BIN_EXE_precheck")), dir, cluster, &check_ns);
    lint.args(["lint", "converted"]);
    let lint = run(lint);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));
    let mut checks = command(Path::new(env!("CARGO_BIN_EXE_precheck")), dir, cluster, &check_ns);
    checks.args(["run", "converted", "--format", "tap"]);
    let checks = run(checks);
    let by_precheck = outcomes(&String::from_utf8_lossy(&checks.stdout));

    let expected = expected(&[
        ("the web pods run", "ok"),
        ("kubectl finds the deployment", "ok"),
        ("a sentence that must not hold", "ok"),
        ("kubectl cannot find what is not there", "ok"),
        ("this one fails: there is no web service", "not ok"),
        ("this one fails too: the image is not 2.0", "not ok"),
        ("not yet", "skip"),
    ]);
    assert_eq!(by_bats, expected, "bats:\n{}", text(&original));
    assert_eq!(by_precheck, by_bats, "precheck:\n{}", text(&checks));
    assert_eq!((original.status.code(), checks.status.code()), (Some(1), Some(3)));
}
