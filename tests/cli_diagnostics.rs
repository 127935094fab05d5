//! A failed cluster check says why, from the real test cluster (tests/support/cluster.rs): an unschedulable
//! pod (the scheduler's event), a pod held Pending on a kwok node, a Deployment short of its replicas (its
//! condition and its pods), in every view; Secrets' values masked; a diagnosis that cannot be had never
//! changes an outcome. kwok serves the test support's container logs (tests/support/cluster/launcher/stages),
//! read through the API server's `pods/log` as from a kubelet.

#[path = "support/binary.rs"]
mod binary;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::time::{Duration, Instant};

use binary::{precheck, text};
use cluster::shared;

const SECRET: &str = "hunter2-diagnosis-canary";

/// A pod no node can take: the scheduler says why in its condition and an event.
const STUCK: &str = "apiVersion: v1
kind: Pod
metadata: {name: stuck}
spec:
  nodeSelector: {disk: none-such}
  containers: [{name: app, image: nginx}]
";

/// A pod no node can take, a pod kwok holds Pending (label `precheck.test/hold`) that reads a Secret, a pod
/// in CrashLoopBackOff (label `precheck.test/crash`; kwok serves its logs, which quote the Secret), and a
/// Deployment of two replicas no node can take.
fn workloads() -> String {
    format!(
        "{STUCK}---
apiVersion: v1
kind: Secret
metadata: {{name: db}}
stringData: {{password: {SECRET}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: held, labels: {{precheck.test/hold: 'true'}}}}
spec:
  containers:
    - name: app
      image: nginx
      env: [{{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: api, labels: {{precheck.test/crash: 'true'}}}}
spec:
  containers:
    - name: app
      image: api
      env: [{{name: PASSWORD, valueFrom: {{secretKeyRef: {{name: db, key: password}}}}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: short}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: short}}}}
  template:
    metadata: {{labels: {{app: short}}}}
    spec:
      nodeSelector: {{disk: none-such}}
      containers: [{{name: app, image: nginx}}]
"
    )
}

const CHECKS: &str = "\
test 'the stuck pod runs' {
    verify 'status' is 'running' for pod named '^stuck$'
}

test 'the held pod runs' {
    verify 'status' is 'running' for pod named '^held$'
}

test 'the short deployment is ready' {
    verify '.status.readyReplicas' is '2' for deployment named '^short$'
}

test 'the api is ready' {
    verify '.status.containerStatuses[0].ready' is 'true' for pod named '^api$'
}

test 'no pod is missing' {
    verify there is 1 pod named '^missing$'
}
";

/// Waits until `check` holds for the output of kubectl `args`.
fn wait_for(cluster: &cluster::Cluster, args: &[&str], check: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let out = cluster.kubectl(args);
        if check(&String::from_utf8_lossy(&out.stdout)) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "kubectl {args:?} never got there: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_failed_check_says_why_from_the_objects_state_events_and_pods_in_every_view() {
    let cluster = shared();
    let ns = cluster.namespace("why");
    ns.apply(&workloads());
    let n = ["-n", ns.name.as_str()];
    // The scheduler has said why, kwok has taken the held pod, the Deployment has counted its pods.
    wait_for(cluster, &[&n[..], &["get", "events", "-o", "jsonpath={.items[*].reason}"]].concat(), |r| {
        r.contains("FailedScheduling")
    });
    wait_for(cluster, &[&n[..], &["get", "pod", "held", "-o", "jsonpath={.spec.nodeName}"]].concat(), |n| {
        !n.is_empty()
    });
    wait_for(
        cluster,
        &[&n[..], &["get", "deployment", "short", "-o", "jsonpath={.status.conditions[*].reason}"]].concat(),
        |r| r.contains("MinimumReplicasUnavailable"),
    );
    // An event of the held pod's that quotes its Secret (a careless controller's), to see it masked.
    ns.apply(&format!(
        "apiVersion: v1
kind: Event
metadata: {{name: held.leak}}
involvedObject: {{kind: Pod, name: held, namespace: {ns}, apiVersion: v1}}
reason: Leaky
message: 'connecting with password {SECRET}'
type: Warning
count: 2
source: {{component: careless-controller}}
",
        ns = ns.name
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("why.check"), CHECKS).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "why.check", "-n", ns.name.as_str(), "-j", "1"];
        args.extend_from_slice(extra);
        let out = precheck(&cluster.kubeconfig, dir.path(), &args);
        assert_eq!(out.status.code(), Some(3), "the checks fail, whatever the diagnosis: {}", text(&out));
        text(&out)
    };

    let all = run(&["--junit", "junit.xml"]);
    let stuck = format!("pod {}/stuck: Pending", ns.name);
    for expected in [
        stuck.as_str(),
        "condition PodScheduled=False Unschedulable: 0/",
        "event Warning FailedScheduling",
        "didn't match Pod's node affinity/selector",
        &format!("pod {}/held: Pending", ns.name),
        "event Normal Scheduled",
        &format!("deployment {}/short: 0/2 ready, 2 unavailable", ns.name),
        "condition Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability.",
        "event Normal ScalingReplicaSet",
        &format!("  pod {}/short-", ns.name),
        &format!("[no pod matched in namespace {}: nothing to describe]", ns.name),
    ] {
        assert!(all.contains(expected), "no '{expected}' in:\n{all}");
    }
    assert!(
        all.contains("container app: waiting CrashLoopBackOff: back-off 40s restarting failed container=app, restarted 3 times, last ended Error (exit 1)"),
        "{all}"
    );
    // Summary reads no Secret (and shows no logs): the leaky event is shown as it is.
    assert!(all.contains("event Warning Leaky (x2"), "{all}");
    assert!(!all.contains("log of") && !all.contains("logs:"), "{all}");
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert_eq!(xml.matches("<system-err>").count(), 5, "one diagnosis per failed test: {xml}");
    assert!(xml.contains("condition PodScheduled=False Unschedulable"), "{xml}");

    // Full: the Secrets the pod reads are read to mask what is said of it; kwok's pods have no logs.
    let all = run(&["--diagnostics", "full", "--format", "json"]);
    assert!(!all.contains(SECRET), "the Secret's value shows:\n{all}");
    assert!(all.contains("connecting with password ***"), "{all}");
    assert!(all.contains("logs: none yet (no container has started)"), "{all}");
    // The crashing container's last lines, and its previous run's, the Secret it reads masked.
    for line in [
        "log of app, last lines:",
        "fatal: the database refused the connection",
        "connecting to the database as api with password ***",
        "log of app (previous run), last lines:",
        "fatal: the database refused the connection (previous run)",
    ] {
        assert!(all.contains(line), "no '{line}' in:\n{all}");
    }
    let events: Vec<serde_json::Value> =
        all.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    let failed: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "failed").collect();
    assert_eq!(failed.len(), 5, "{all}");
    assert!(failed.iter().all(|e| e["diagnosis"].is_string()), "{all}");

    // None: nothing asked, nothing shown.
    let all = run(&["--diagnostics", "none", "--format", "tap"]);
    assert!(!all.contains("diagnosis: |") && !all.contains("FailedScheduling"), "{all}");
    let all = run(&["--format", "tap"]);
    assert!(all.contains("  diagnosis: |\n    pod "), "{all}");
}

#[test]
fn a_diagnosis_the_cluster_refuses_is_said_and_the_outcome_stays_a_failure() {
    let cluster = shared();
    let ns = cluster.namespace("why-rbac");
    // A service account that may read pods, not events.
    ns.apply(
        "apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader}
rules:
  - {apiGroups: [''], resources: [pods], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
  - {kind: ServiceAccount, name: reader}
",
    );
    ns.apply(STUCK);
    let dir = tempfile::tempdir().unwrap();
    let token = cluster.kubectl_ok(&["-n", &ns.name, "create", "token", "reader"]).trim().to_owned();
    let reader = cluster.token_kubeconfig(dir.path(), "reader", &token, &ns.name);
    std::fs::write(dir.path().join("why.check"), CHECKS.split("\n\n").next().unwrap()).unwrap();
    let out = precheck(&reader, dir.path(), &["run", "why.check", "-n", &ns.name]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "a failure, not an error: {all}");
    assert!(all.contains(&format!("pod {}/stuck: Pending", ns.name)), "{all}");
    assert!(all.contains("events: cannot be listed:") && all.contains("forbidden"), "{all}");
}

#[test]
fn a_pipeline_checks_step_keeps_the_diagnosis_in_its_log_record_status_and_report() {
    let cluster = shared();
    let ns = cluster.namespace("why-pipeline");
    ns.apply(STUCK);
    let events = ["-n", ns.name.as_str(), "get", "events", "-o", "jsonpath={.items[*].reason}"];
    wait_for(cluster, &events, |reasons| reasons.contains("FailedScheduling"));
    let dir = tempfile::tempdir().unwrap();
    let first_test = CHECKS.split("\n\n").next().unwrap();
    std::fs::write(dir.path().join("why.check"), format!("namespace '{}'\n\n{first_test}\n", ns.name)).unwrap();
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "name: why\nstages:\n  - name: validation\n    steps:\n      - { name: pods, checks: [why.check] }\n",
    )
    .unwrap();
    let out = precheck(&cluster.kubeconfig, dir.path(), &["pipeline", "run", "pipeline.yaml", "--state-dir", "state"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run = std::fs::read_dir(dir.path().join("state/runs")).unwrap().next().unwrap().unwrap().path();
    let stuck = format!("pod {}/stuck: Pending", ns.name);
    let unschedulable = "condition PodScheduled=False Unschedulable";

    let log = std::fs::read_to_string(run.join("logs/validation.pods.log")).unwrap();
    assert!(log.contains("diagnosis:") && log.contains(&stuck) && log.contains(unschedulable), "{log}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let diagnosis = record["steps"][0]["diagnosis"].as_str().unwrap_or_default();
    assert!(diagnosis.starts_with(&stuck) && diagnosis.contains("event Warning FailedScheduling"), "{record}");
    let out = precheck(&cluster.kubeconfig, dir.path(), &["pipeline", "status", "--state-dir", "state"]);
    assert!(text(&out).contains(&format!("      {stuck}")), "{}", text(&out));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains(&format!("<summary>why, as the cluster tells it</summary><pre>{stuck}")), "{html}");
}
