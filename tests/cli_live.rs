//! End-to-end tests of the `precheck` binary against the real test cluster with the standard fixtures
//! (tests/support/cluster.rs; or the cluster named by `PRECHECK_E2E_KUBECONFIG`), with the real kubectl
//! beside it.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cluster::{TestCluster, repo_root, unreachable_kubeconfig};

fn precheck(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", kubeconfig.with_file_name("kube-cache"))
        .env_remove("DETIK_CLIENT_NAMESPACE")
        .env_remove("DETIK_CLIENT_NAMESPACE_ALL")
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_cluster_suite_passes_and_writes_junit() {
    let cluster = TestCluster::with_fixtures();
    let junit = cluster.dir().join("junit.xml");
    let out = precheck(&cluster.kubeconfig, &["run", "checks/cluster", "--junit", junit.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("precheck: 7 passed, 0 failed, 0 errors"), "{all}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 7, "{xml}");
    // A test for each item is a test case each, named with its item.
    assert!(xml.contains(r#"<testcase name="nginx service is there""#), "{xml}");
    assert!(!xml.contains("<failure") && !xml.contains("<error"), "{xml}");
    // The trace lists every object seen: the Deployment's pods, by their generated names.
    let seen = regex::Regex::new(r"default/nginx-[0-9a-z]+-[0-9a-z]{5}: Running").unwrap();
    let names: std::collections::BTreeSet<_> = seen.find_iter(&xml).map(|m| m.as_str()).collect();
    assert_eq!(names.len(), 2, "{xml}");
}

#[test]
fn a_failing_assertion_lists_each_object_with_its_value() {
    let cluster = TestCluster::with_fixtures();
    let check = cluster.write(
        "failing.check",
        "namespace 'default'\ntest 'every pod runs' {\n    verify 'status' is 'running' for pods named '.'\n}\n",
    );
    let junit = cluster.dir().join("junit.xml");
    let out = precheck(&cluster.kubeconfig, &["run", check.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("1 of 3 pods named '.' do not have 'status' = 'running'"), "{all}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<failure"), "{xml}");
    assert!(xml.contains("BAD default/metrics-server-xyz: Pending"), "{xml}");
    assert!(regex::Regex::new(r"ok  default/nginx-[0-9a-z]+-[0-9a-z]{5}: Running").unwrap().is_match(&xml), "{xml}");
}

#[test]
fn try_passes_as_soon_as_the_watch_sees_the_change() {
    let shared = cluster::shared();
    let ns = shared.namespace("watch");
    // With polling, a second evaluation would come only after 120 s; the watch sees the pod start at once.
    let mut child = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args([
            "try",
            "-n",
            &ns.name,
            "at most 2 times every 120s to get pods named '^late$' and verify that 'status' is 'running'",
        ])
        .env("KUBECONFIG", &shared.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "try ended before the pod existed");
    // Created, scheduled on a kwok node, marked Running: the controllers of a real cluster at work.
    ns.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: late}\nspec:\n  containers: [{name: c, image: example/late:1}]\n",
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "try did not see the change before its next poll");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("{}/late: Running", ns.name)), "{}", text(&out));
}

#[test]
fn an_unreachable_cluster_is_an_infrastructure_error_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(dir.path());
    let junit = dir.path().join("junit.xml");
    let out = precheck(
        &kubeconfig,
        &["run", "checks/cluster", "--exclude-tag", "kubectl", "--junit", junit.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("precheck: 0 passed, 0 failed, 6 errors"), "{all}");
    assert!(all.contains("could not ask the cluster"), "{all}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<error").count(), 6, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");

    let out = precheck(&kubeconfig, &["verify", "there are 2 pods named 'nginx'"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
}

#[test]
fn verify_and_try_use_detik_exit_codes_and_namespaces() {
    let cluster = TestCluster::with_fixtures();
    let k = &cluster.kubeconfig;
    let code = |args: &[&str]| precheck(k, args).status.code();
    assert_eq!(code(&["verify", "there", "are", "2", "pods", "named", "'^nginx-'"]), Some(0));
    assert_eq!(code(&["verify", "  "]), Some(1));
    assert_eq!(code(&["verify", "there are 2 pods namd 'nginx'"]), Some(2));
    assert_eq!(code(&["verify", "there are 3 pods named '^nginx-'"]), Some(3));
    assert_eq!(
        code(&["try", "at most 2 times every 1s to find 2 pods named '^nginx-' with 'status' being 'running'"]),
        Some(0)
    );
    assert_eq!(code(&["try", "there are 2 pods named 'nginx'"]), Some(2));
    assert_eq!(code(&["verify", "-n", "team-a", "there is 1 pod named '^api-'"]), Some(0));
    assert_eq!(code(&["verify", "-A", "there is 1 pod named '^api-'"]), Some(0));
    assert_eq!(code(&["verify", "--context", "team-a", "there is 1 pod named '^api-'"]), Some(0));
    let detik = |vars: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_precheck"));
        c.args(["verify", "there is 1 pod named '^api-'"]).env("KUBECONFIG", k);
        for (name, value) in vars {
            c.env(name, value);
        }
        c.output().unwrap().status.code()
    };
    assert_eq!(detik(&[]), Some(3));
    assert_eq!(detik(&[("DETIK_CLIENT_NAMESPACE", "team-a")]), Some(0));
    assert_eq!(detik(&[("DETIK_CLIENT_NAMESPACE_ALL", "true")]), Some(0));
    // bats-detik's order: a namespace that is set comes before `_ALL`.
    assert_eq!(detik(&[("DETIK_CLIENT_NAMESPACE", "default"), ("DETIK_CLIENT_NAMESPACE_ALL", "true")]), Some(3));
}

#[test]
fn resource_words_resolve_through_discovery_including_crds() {
    let cluster = TestCluster::with_fixtures();
    let k = &cluster.kubeconfig;
    for word in ["po", "pod", "pods", "Pod", "pods.v1"] {
        let out = precheck(k, &["verify", &format!("there are 2 {word} named '^nginx-'")]);
        assert_eq!(out.status.code(), Some(0), "{word}: {}", text(&out));
    }
    for word in ["wd", "widget", "widgets", "widgets.example.com", "Widget"] {
        let out = precheck(k, &["verify", &format!("there is 1 {word} named 'blue'")]);
        assert_eq!(out.status.code(), Some(0), "{word}: {}", text(&out));
    }
    for word in ["deploy", "deployments.apps", "deployment.v1.apps"] {
        let out = precheck(k, &["verify", &format!("there is 1 {word} named 'nginx'")]);
        assert_eq!(out.status.code(), Some(0), "{word}: {}", text(&out));
    }
    let out = precheck(k, &["verify", "there is 1 widgte named 'blue'"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unknown resource type 'widgte': did you mean 'widget'?"), "{}", text(&out));
}

#[test]
fn file_setup_and_teardown_apply_and_delete_with_kubectl() {
    let cluster = TestCluster::with_fixtures();
    cluster.write(
        "suite/green.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: green, namespace: default}\nspec: {size: 1}\nstatus: {state: Ready}\n",
    );
    let check = cluster.write(
        "suite/green.check",
        "namespace 'default'\n\nsetup {\n    run kubectl apply -f green.yaml\n}\n\nteardown {\n    run kubectl delete -f green.yaml\n}\n\n\
         test 'green widget exists' {\n    verify there is 1 widget named '^green$'\n}\n\n\
         test 'blue and green' {\n    verify there are 2 widgets named '^(blue|green)$'\n}\n",
    );
    let out = precheck(&cluster.kubeconfig, &["run", check.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = cluster.kubectl(&["get", "widget", "green"]);
    assert!(!after.status.success(), "teardown should have deleted the widget");
    assert!(String::from_utf8_lossy(&after.stderr).contains("NotFound"), "{}", String::from_utf8_lossy(&after.stderr));
}

#[test]
fn a_file_context_selects_the_namespace_of_that_context() {
    let cluster = TestCluster::with_fixtures();
    let check =
        cluster.write("ctx.check", "context 'team-a'\ntest 'api' {\n    verify there is 1 pod named '^api-'\n}\n");
    let out = precheck(&cluster.kubeconfig, &["run", check.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn the_bats_shim_runs_detik_sentences_through_precheck() {
    let cluster = TestCluster::with_fixtures();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_precheck")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let script = r#"
        source examples/bats/detik.bash
        verify "there are 2 pods named '^nginx-'"; echo "pass=$?"
        verify "there are 5 pods named '^nginx-'" >/dev/null; echo "fail=$?"
        try "at most 2 times every 1s to get pods named '^nginx-' and verify that 'status' is 'running'" >/dev/null; echo "try=$?"
        verify "" 2>/dev/null; echo "empty=$?"
        DETIK_CLIENT_NAMESPACE="team-a"  # a shell variable of the .bats file, as bats-detik reads it
        verify "there is 1 pod named '^api-'"; echo "namespace=$?"
    "#;
    let out = Command::new("bash")
        .args(["-c", script])
        .env("PATH", path)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("KUBECACHEDIR", cluster.dir().join("kube-cache"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in ["pass=0", "fail=3", "try=0", "empty=1", "namespace=0"] {
        assert!(stdout.contains(expected), "{expected} in {stdout}{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_pipeline_applies_with_kubectl_then_validates_with_checks_and_junit_per_stage() {
    let cluster = TestCluster::with_fixtures();
    cluster.write(
        "addon.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: addon-config\n  namespace: default\ndata:\n  mode: fast\n",
    );
    cluster.write(
        "addon.check",
        "namespace 'default'\n\ntest 'the addon is configured' {\n    verify there is 1 configmap named '^addon-config$'\n    verify '.data.mode' is '${MODE}' for configmaps named '^addon-config$'\n}\n",
    );
    cluster.write(
        "workloads.check",
        "namespace 'default'\n\ntest 'nginx runs' {\n    verify there are 2 pods named '^nginx-'\n}\n\ntest 'a missing addon' {\n    verify there is 1 deployment named '^metrics-server$'\n}\n",
    );
    let pipeline = cluster.write(
        "pipeline.yaml",
        r#"
name: addons-and-validation
parameters:
  - name: MODE
    enum: [fast, slow]
    default: fast
stages:
  - name: addons
    steps:
      - name: config
        run: [kubectl, apply, -f, addon.yaml]
  - name: validation
    depends: [addons]
    steps:
      - name: addon
        checks: [addon.check]
      - name: workloads
        checks: [workloads.check]
"#,
    );
    let state = cluster.dir().join("state");
    let out = precheck(
        &cluster.kubeconfig,
        &["pipeline", "run", pipeline.to_str().unwrap(), "--state-dir", state.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "the workloads step fails: {all}");
    assert!(all.contains("✓ validation/addon succeeded"), "kubectl applied it, the checks saw it: {all}");
    assert!(all.contains("✗ validation/workloads failed after 1 attempt"), "{all}");
    assert!(all.contains("1 of 2 tests failed"), "{all}");

    let run = std::fs::read_dir(state.join("runs")).unwrap().next().unwrap().unwrap().path();
    let junit = std::fs::read_to_string(run.join("junit/validation.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 3, "both steps' tests in the stage's file: {junit}");
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    assert!(junit.contains("validation/workloads"), "{junit}");
    let log = std::fs::read_to_string(run.join("logs/validation.workloads.log")).unwrap();
    assert!(log.contains("a missing addon"), "{log}");

    let out = precheck(
        &cluster.kubeconfig,
        &[
            "pipeline",
            "run",
            pipeline.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "-p",
            "MODE=slow",
            "--stage",
            "validation",
        ],
    );
    let all = text(&out);
    assert!(all.contains("✗ validation/addon failed"), "the parameter reached the check file: {all}");
    let out = precheck(&cluster.kubeconfig, &["pipeline", "plan", pipeline.to_str().unwrap(), "-p", "MODE=medium"]);
    assert!(text(&out).contains("parameter 'MODE': 'medium' is not one of fast, slow"), "{}", text(&out));
}

#[test]
fn apply_steps_use_server_side_apply_wait_for_crds_and_are_idempotent() {
    let cluster = TestCluster::with_fixtures();
    cluster.write(
        "addons.yaml",
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd] }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: example.com/v1
kind: Gadget
metadata: { name: sprocket, namespace: default }
spec: { size: 3 }
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: addon-settings }
    data: { level: high }
"#,
    );
    cluster.write("broken.yaml", "apiVersion: example.com/v1\nkind: Doohickey\nmetadata: { name: x }\n");
    cluster.write(
        "addons.check",
        "namespace 'default'\n\ntest 'applied' {\n    verify there is 1 gadget named '^sprocket$'\n    verify '.spec.size' is '3' for gd named '^sprocket$'\n    verify '.data.level' is 'high' for configmaps named '^addon-settings$'\n}\n",
    );
    let pipeline = cluster.write(
        "pipeline.yaml",
        "name: apply\nstages:\n  - name: addons\n    steps:\n      - name: install\n        apply: [addons.yaml]\n  - name: validation\n    depends: [addons]\n    steps:\n      - name: check\n        checks: [addons.check]\n",
    );
    let state = cluster.dir().join("state");
    let run = || {
        precheck(
            &cluster.kubeconfig,
            &["pipeline", "run", pipeline.to_str().unwrap(), "--state-dir", state.to_str().unwrap()],
        )
    };
    let out = run();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // The real kubectl sees what the step applied, and who manages it.
    let managers =
        cluster.kubectl_ok(&["get", "gadget", "sprocket", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    assert_eq!(managers, "precheck");
    assert_eq!(cluster.kubectl_ok(&["get", "configmap", "addon-settings", "-o", "jsonpath={.data.level}"]), "high");
    // Again: nothing changes, everything passes.
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let broken = cluster.write(
        "broken-pipeline.yaml",
        "name: broken\nstages:\n  - name: addons\n    steps:\n      - name: install\n        apply: [broken.yaml]\n",
    );
    let out = precheck(
        &cluster.kubeconfig,
        &["pipeline", "run", broken.to_str().unwrap(), "--state-dir", state.to_str().unwrap()],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("the cluster has no kind Doohickey in example.com/v1 (is its CRD installed?)"), "{all}");
}
