//! The Kubernetes side under faults: the fault-injecting proxy (tests/support/fault_proxy.rs) sits between
//! `precheck` and the real test cluster's API server (TLS on both sides, with the cluster's CA). Transient faults (500, 429, resets, cut bodies) cause no
//! spurious failure; a server that is gone makes every test an infrastructure error, in bounded time; a
//! dropped watch is re-established without missing the change a `try` waits for.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cluster::TestCluster;
use fault_proxy::{FaultProxy, Faults, Tls};

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A proxy in front of the launched test cluster's API server (TLS on both sides, with its CA) and a
/// kubeconfig through it (the admin's token: a client certificate cannot pass a proxy). `None` on a cluster
/// of your own.
fn proxied(cluster: &TestCluster, faults: Faults, name: &str) -> Option<(FaultProxy, PathBuf)> {
    let pki = cluster.cluster.pki()?;
    let tls = Tls { cert: pki.cert, key: pki.key, ca: pki.ca };
    let proxy = FaultProxy::start_tls(&pki.server, faults, &tls);
    let kubeconfig = cluster.cluster.kubeconfig_for(cluster.dir(), name, &proxy.url, &pki.admin_token, "default");
    Some((proxy, kubeconfig))
}

const NO_PROXY: &str = "skipped: the fault proxy needs the launched cluster's certificates";

/// `tests` tests of four assertions each, over pods, services, deployments and a CRD in two namespaces:
/// every one holds for the standard fixtures.
fn suite(tests: usize) -> String {
    let mut text = String::from("namespace 'default'\n");
    let bodies = [
        "verify there are 2 pods named '^nginx-'\n    verify 'status' is 'running' for pods named '^nginx-'\n    \
         verify there are 2 pods with labels 'app=nginx,tier=web'\n    verify 'port' is '80' for svc named '^nginx$'",
        "verify there is 1 pod named '^api-' in namespace 'team-a'\n    verify there is 0 pod named '^api-'\n    \
         verify '.spec.replicas' is '2' for deployments.apps named '^nginx$'\n    \
         verify there are more than 3 pods named '.' in all namespaces",
        "verify there is 1 widget named '^blue$'\n    verify 'status.state' is 'Ready' for wd named '^blue$'\n    \
         verify 'targetPort' is '8080' for services named '^nginx$'\n    \
         verify there is 1 pod named '^metrics-server-'",
    ];
    for i in 0..tests {
        text.push_str(&format!("\ntest 'assertions {i}' {{\n    {}\n}}\n", bodies[i % bodies.len()]));
    }
    text
}

fn run(file: &Path, kubeconfig: &Path, junit: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["run", file.to_str().unwrap(), "--kubeconfig", kubeconfig.to_str().unwrap()])
        .args(["--junit", junit.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

/// (tests, failures, errors) of a JUnit file.
fn junit_counts(path: &Path) -> (usize, usize, usize) {
    let xml = std::fs::read_to_string(path).expect("JUnit file");
    (xml.matches("<testcase").count(), xml.matches("<failure").count(), xml.matches("<error").count())
}

#[test]
fn transient_faults_on_the_api_server_cause_no_spurious_failure() {
    let cluster = TestCluster::with_fixtures();
    let file = cluster.write("faults.check", &suite(50));
    let (mut requests, mut injected) = (0, 0);
    for seed in 1..=3u64 {
        let Some((proxy, kubeconfig)) = proxied(&cluster, Faults { seed, ..Faults::all(0.2) }, "faults") else {
            return eprintln!("{NO_PROXY}");
        };
        let junit = cluster.dir().join(format!("faults-{seed}.xml"));
        let out = run(&file, &kubeconfig, &junit);
        assert!(
            out.status.success(),
            "seed {seed}: {} faults injected of {}\n{}",
            proxy.injected(),
            proxy.requests(),
            text(&out)
        );
        assert_eq!(junit_counts(&junit), (50, 0, 0), "seed {seed}: 200 assertions, none failed");
        requests += proxy.requests();
        injected += proxy.injected();
        assert!(proxy.injected() >= 10, "seed {seed}: only {} faults injected", proxy.injected());
    }
    eprintln!(
        "kubernetes faults: 3 runs of 200 assertions, {injected} faults injected in {requests} requests, 0 spurious failures"
    );
}

#[test]
fn with_the_api_server_gone_every_test_is_an_infrastructure_error_in_bounded_time() {
    let cluster = TestCluster::with_fixtures();
    let file = cluster.write("gone.check", &suite(20));
    let Some((proxy, kubeconfig)) = proxied(&cluster, Faults::all(1.0), "gone") else {
        return eprintln!("{NO_PROXY}");
    };
    let junit = cluster.dir().join("gone.xml");
    let started = Instant::now();
    let out = run(&file, &kubeconfig, &junit);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(junit_counts(&junit), (20, 0, 20), "every test an error, none a failure:\n{}", text(&out));
    assert!(text(&out).contains("could not ask the cluster"), "{}", text(&out));
    eprintln!("kubernetes gone: 20 tests ended as errors in {took:?} after {} requests", proxy.requests());
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

#[test]
fn a_dropped_watch_is_re_established_without_missing_the_change() {
    let cluster = TestCluster::with_fixtures();
    let ns = cluster.cluster.namespace("gate");
    ns.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gate}\ndata: {state: closed}\n");
    let Some((proxy, config)) = proxied(&cluster, Faults { rate: 0.0, kinds: Vec::new(), seed: 1 }, "gate") else {
        return eprintln!("{NO_PROXY}");
    };
    // Every watch is cut 300 ms after it opened: the change below lands while one is down or new.
    proxy.cut_watches(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let waiting = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["try", "--kubeconfig", config.to_str().unwrap(), "-n", &ns.name])
        .arg("at most 30 times every 2s to get configmaps named '^gate$' and verify that '.data.state' is 'open'")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for several watches to be cut and opened again before the change.
    std::thread::sleep(Duration::from_millis(4_500));
    cluster.kubectl_ok(&[
        "-n",
        &ns.name,
        "patch",
        "configmap",
        "gate",
        "--type=merge",
        "-p",
        r#"{"data":{"state":"open"}}"#,
    ]);
    let changed = started.elapsed();
    let out = waiting.wait_with_output().unwrap();
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert!(proxy.watches() >= 3, "the watch was cut and opened again: {} watches", proxy.watches());
    // Seen through the re-established watch (or the list after a cut), not at the end of the 60 s budget.
    assert!(took < changed + Duration::from_secs(5), "changed after {changed:?}, seen after {took:?}");
    eprintln!("dropped watches: {} watches opened, change at {changed:?} seen at {took:?}", proxy.watches());
}

/// A pipeline whose `apply` step installs a CRD, two of its objects and ten ConfigMaps, then checks them.
fn apply_pipeline(cluster: &TestCluster) -> PathBuf {
    let mut manifests = String::from(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: { name: gizmos.example.com }\n\
         spec:\n  group: example.com\n  scope: Namespaced\n  names: { plural: gizmos, singular: gizmo, kind: Gizmo }\n  \
         versions:\n    - name: v1\n      served: true\n      storage: true\n      \
         schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }\n",
    );
    for name in ["left", "right"] {
        manifests.push_str(&format!(
            "---\napiVersion: example.com/v1\nkind: Gizmo\nmetadata: {{ name: {name}, namespace: default }}\nspec: {{ size: 2 }}\n"
        ));
    }
    for i in 0..10 {
        manifests.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{ name: setting-{i}, namespace: default }}\ndata: {{ n: '{i}' }}\n"
        ));
    }
    cluster.write("addons.yaml", &manifests);
    cluster.write(
        "addons.check",
        "namespace 'default'\n\ntest 'applied' {\n    verify there are 2 gizmos named '.'\n    \
         verify there are 10 configmaps named '^setting-'\n    verify '.data.n' is '7' for configmaps named '^setting-7$'\n}\n",
    );
    cluster.write(
        "apply.yaml",
        "name: apply-faults\nstages:\n  - name: addons\n    steps:\n      - { name: install, apply: [addons.yaml] }\n      \
         - { name: check, depends: [install], checks: [addons.check] }\n",
    )
}

fn run_pipeline(cluster: &TestCluster, pipeline: &Path, kubeconfig: &Path, state: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["pipeline", "run", pipeline.to_str().unwrap(), "--state-dir"])
        .arg(cluster.dir().join(state))
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

#[test]
fn apply_steps_ride_out_transient_faults_and_end_in_bounded_time_when_the_server_is_gone() {
    let cluster = TestCluster::with_fixtures();
    let pipeline = apply_pipeline(&cluster);
    let (mut requests, mut injected) = (0, 0);
    for seed in 1..=3u64 {
        // The first run creates everything, the next ones apply it again (no change): faults in both.
        let Some((proxy, kubeconfig)) = proxied(&cluster, Faults { seed, ..Faults::all(0.2) }, "apply") else {
            return eprintln!("{NO_PROXY}");
        };
        let out = run_pipeline(&cluster, &pipeline, &kubeconfig, &format!("state-{seed}"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "seed {seed}: {} faults injected in {} requests\n{}",
            proxy.injected(),
            proxy.requests(),
            text(&out)
        );
        requests += proxy.requests();
        injected += proxy.injected();
    }
    assert!(injected >= 5, "only {injected} faults injected in {requests} requests");
    // What the steps applied is there, seen by kubectl without the proxy.
    assert_eq!(cluster.kubectl_ok(&["get", "configmap", "setting-9", "-o", "jsonpath={.data.n}"]), "9");
    eprintln!("apply under faults: 3 runs, {injected} faults injected in {requests} requests, 0 failed steps");

    let (proxy, kubeconfig) = proxied(&cluster, Faults::all(1.0), "apply-gone").expect("proxied above");
    let started = Instant::now();
    let out = run_pipeline(&cluster, &pipeline, &kubeconfig, "state-gone");
    let took = started.elapsed();
    let all = text(&out);
    // The cluster could not be asked: the step errored (not failed), and so did the run (exit 4).
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("⚠ addons/install errored after 1 attempt"), "{all}");
    assert!(all.contains("gave up after"), "the step says the cluster did not answer: {all}");
    assert!(took < Duration::from_secs(150), "took {took:?}");
    eprintln!("apply with the server gone: the step errored in {took:?} after {} requests", proxy.requests());
}

#[test]
fn exact_names_are_selected_by_the_server_and_one_that_cannot_select_is_asked_for_all() {
    let cluster = TestCluster::with_fixtures();
    let Some((proxy, kubeconfig)) = proxied(&cluster, Faults::all(0.0), "by-name") else {
        return eprintln!("{NO_PROXY}");
    };
    let verify = |sentence: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
            .args(["verify", "--kubeconfig", kubeconfig.to_str().unwrap(), "-n", "default", sentence])
            .stdin(Stdio::null())
            .output()
            .expect("run precheck");
        (out.status.code(), text(&out))
    };
    let sentences = [
        ("there is 1 svc named '^nginx$'", 0),
        ("there are 2 svc named '^nginx$'", 3),
        ("'port' is '80' for services named '^nginx$'", 0),
        // The nginx pods are nginx-<hash>-<id>: none is named exactly nginx.
        ("there are 0 pods named '^nginx$'", 0),
    ];
    for refuse in [false, true] {
        proxy.refuse_field_selectors(refuse);
        let before = proxy.field_selected();
        for (sentence, code) in sentences {
            let (got, all) = verify(sentence);
            assert_eq!(got, Some(code), "{sentence} (field selectors refused: {refuse}): {all}");
        }
        assert_eq!(proxy.field_selected() - before, sentences.len() as u64, "each exact name asked by field selector");
    }
    // An unanchored name is not an exact one: the whole namespace is listed and the pattern applied here.
    let before = proxy.field_selected();
    assert_eq!(verify("there are 2 pods named 'nginx-'").0, Some(0));
    assert_eq!(proxy.field_selected(), before);
}
