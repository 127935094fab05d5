//! What only a real API server shows, through the `precheck` binary: controllers that turn a Deployment into
//! pods that kwok nodes run, RBAC, TLS verified with the cluster's CA, LIST pages, server-side apply's field
//! ownership, CRDs usable in the run that creates them, an aggregated API that is down. Against the test
//! cluster of `tests/support/cluster` (or the cluster named by `PRECHECK_E2E_KUBECONFIG`), each test in
//! namespaces of its own; the watch-expiry test on a cluster of its own (it compacts etcd).

#[path = "support/binary.rs"]
mod binary;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binary::{precheck, text};
use cluster::{Cluster, shared};
use fault_proxy::{FaultProxy, Faults, Tls};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write file");
}

fn deployment(namespace: &str, name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - {{name: {name}, image: 'registry.example/{name}:1.0'}}
"
    )
}

#[test]
fn a_deployment_applied_by_a_pipeline_runs_on_kwok_nodes_and_try_sees_it_through_the_watch() {
    let cluster = shared();
    let ns = cluster.namespace("deploy");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "web.yaml", &deployment(&ns.name, "web", 3));
    // Polling would evaluate a second time only after 120 s: passing sooner means the watch saw the pods.
    write(
        dir.path(),
        "web.check",
        &format!(
            "namespace '{}'
test 'web runs' {{
    try at most 2 times every 120s to find 3 pods named '^web-' with 'status' being 'running'
    verify there is 1 replicaset named '^web-'
    verify '.spec.nodeName' matches '^kwok-node-' for pods named '^web-'
}}
",
            ns.name
        ),
    );
    write(
        dir.path(),
        "p.yaml",
        "name: deploy
stages:
  - name: addons
    steps:
      - { name: web, apply: [web.yaml] }
  - name: validation
    depends: [addons]
    steps:
      - { name: running, checks: [web.check] }
",
    );
    let started = Instant::now();
    let out = precheck(&cluster.kubeconfig, dir.path(), &["pipeline", "run", "p.yaml", "--state-dir", "state"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(took < Duration::from_secs(90), "the try waited for its next poll ({took:?}): {}", text(&out));
    let phases = cluster.kubectl_ok(&["-n", &ns.name, "get", "pods", "-o", "jsonpath={.items[*].status.phase}"]);
    assert_eq!(phases.split_whitespace().collect::<Vec<_>>(), ["Running"; 3], "{phases}");
}

#[test]
fn lists_of_thousands_of_objects_are_counted_exactly_across_pages() {
    let cluster = shared();
    let ns = cluster.namespace("pages");
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..2000 {
        list.push_str(&format!(
            "- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: cm-{i:04}}}, data: {{i: '{i}'}}}}\n"
        ));
    }
    write(dir.path(), "many.yaml", &list);
    let file = dir.path().join("many.yaml");
    cluster.kubectl_ok(&["-n", &ns.name, "create", "-f", file.to_str().unwrap(), "-o", "name"]);
    let verify = |sentence: &str| {
        let out = precheck(&cluster.kubeconfig, dir.path(), &["verify", "-n", &ns.name, sentence]);
        (out.status.code(), text(&out))
    };
    let (code, all) = verify("there are 2000 configmaps named '^cm-'");
    assert_eq!(code, Some(0), "{all}");
    let (code, all) = verify("there are 1999 configmaps named '^cm-'");
    assert_eq!(code, Some(3), "{all}");
    assert!(all.contains("found 2000"), "{all}");
    let (code, all) = verify("'.data.i' matches '^[0-9]+$' for configmaps named '^cm-'");
    assert_eq!(code, Some(0), "{all}");
}

#[test]
fn rbac_denials_are_errors_naming_the_verb_and_resource_never_failures() {
    let cluster = shared();
    let allowed = cluster.namespace("rbac-allowed");
    let elsewhere = cluster.namespace("rbac-elsewhere");
    let dir = tempfile::tempdir().unwrap();
    // A service account that may list pods in one namespace only, and one that may do nothing.
    allowed.apply(&format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: nobody}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader}}
rules:
  - {{apiGroups: [''], resources: [pods], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
subjects:
  - {{kind: ServiceAccount, name: reader, namespace: {}}}
",
        allowed.name
    ));
    let token = |sa: &str| cluster.kubectl_ok(&["-n", &allowed.name, "create", "token", sa]).trim().to_owned();
    let reader = cluster.token_kubeconfig(dir.path(), "reader", &token("reader"), &allowed.name);
    let nobody = cluster.token_kubeconfig(dir.path(), "nobody", &token("nobody"), &allowed.name);

    let sentence = "there are 0 pods named '^nothing$'";
    let out = precheck(&reader, dir.path(), &["verify", "-n", &allowed.name, sentence]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (kubeconfig, namespace) in [(&reader, &elsewhere.name), (&nobody, &allowed.name)] {
        let out = precheck(kubeconfig, dir.path(), &["verify", "-n", namespace, sentence]);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(4), "{all}");
        assert!(all.contains("list pods") && all.contains(namespace), "names neither verb nor resource: {all}");
        assert!(all.contains("forbidden") && all.contains("(403 Forbidden)"), "{all}");
    }
    // In a check run, a denial is an error in JUnit, not a failure.
    write(dir.path(), "pods.check", &format!("test 'no stray pods' {{\n    verify {sentence}\n}}\n"));
    let out = precheck(&reader, dir.path(), &["run", "pods.check", "-n", &elsewhere.name, "--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let xml = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(xml.contains("<error") && !xml.contains("<failure"), "{xml}");
}

#[test]
fn tls_is_verified_with_the_kubeconfigs_ca_for_certificate_and_token_users() {
    let cluster = shared();
    let ns = cluster.namespace("tls");
    let dir = tempfile::tempdir().unwrap();
    let sentence = "there are 0 pods named '^nothing$'";
    // The admin kubeconfig: a client certificate, the server checked against the CA it carries.
    let out = precheck(&cluster.kubeconfig, dir.path(), &["verify", "-n", &ns.name, sentence]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    if cluster.launched {
        // A token user of the API server's token file.
        let out = precheck(
            &cluster.kubeconfig,
            dir.path(),
            &["verify", "--context", "admin-token", "-n", &ns.name, sentence],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        // A token user without rights is known to the server (403, not 401).
        let out =
            precheck(&cluster.kubeconfig, dir.path(), &["verify", "--context", "alice", "-n", &ns.name, sentence]);
        assert_eq!(out.status.code(), Some(4), "{}", text(&out));
        assert!(text(&out).contains("forbidden"), "{}", text(&out));
    }
    // Without the CA the same server is not trusted: no certificate check is skipped.
    let (server, _) = cluster.server_and_ca();
    let untrusted = dir.path().join("untrusted.kubeconfig");
    write(
        dir.path(),
        "untrusted.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}'}}\nusers:\n- name: u\n  \
             user: {{token: not-needed}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"
        ),
    );
    let started = Instant::now();
    let out = precheck(&untrusted, dir.path(), &["verify", "-n", &ns.name, sentence]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("invalid peer certificate: UnknownIssuer"), "{all}");
    // A refused certificate is not asked again 8 times: it stays refused.
    assert!(!all.contains("gave up after"), "{all}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn server_side_apply_owns_its_fields_changes_nothing_twice_and_forces_conflicts() {
    let cluster = shared();
    let ns = cluster.namespace("ssa");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cm.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {}}}\ndata: {{mode: fast}}\n",
            ns.name
        ),
    );
    write(
        dir.path(),
        "p.yaml",
        "name: ssa\nstages:\n  - name: s\n    steps:\n      - { name: cm, apply: [cm.yaml] }\n",
    );
    let run = || {
        let out = precheck(&cluster.kubeconfig, dir.path(), &["pipeline", "run", "p.yaml", "--state-dir", "state"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    let get = |path: &str| {
        cluster.kubectl_ok(&["-n", &ns.name, "get", "configmap", "settings", "-o", &format!("jsonpath={path}")])
    };
    run();
    let managers = get("{.metadata.managedFields[*].manager}/{.metadata.managedFields[*].operation}");
    assert_eq!(managers, "precheck/Apply");
    let version = get("{.metadata.resourceVersion}");
    run();
    assert_eq!(get("{.metadata.resourceVersion}"), version, "a second apply of the same manifest changed the object");

    // Another manager takes the field; Precheck's apply is forced (documented): the manifest wins and
    // Precheck owns the field again.
    let theirs = dir.path().join("theirs.yaml");
    std::fs::write(
        &theirs,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {}}}\ndata: {{mode: slow}}\n",
            ns.name
        ),
    )
    .unwrap();
    let out = cluster.kubectl(&["apply", "--server-side", "--field-manager=other", "-f", theirs.to_str().unwrap()]);
    assert!(!out.status.success(), "kubectl should meet a conflict with precheck's field");
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict"), "{}", String::from_utf8_lossy(&out.stderr));
    cluster.kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=other",
        "-f",
        theirs.to_str().unwrap(),
    ]);
    assert_eq!(get("{.data.mode}"), "slow");
    run();
    assert_eq!(get("{.data.mode}"), "fast");
    assert!(get("{.metadata.managedFields[?(@.manager==\"precheck\")].fieldsV1}").contains("f:mode"));
}

#[test]
fn a_crd_and_its_objects_in_one_manifest_are_usable_in_the_same_run() {
    let cluster = shared();
    let ns = cluster.namespace("crd");
    let dir = tempfile::tempdir().unwrap();
    // A group and a short name of this test's own: CRDs are cluster-wide, and other tests of the run
    // install kinds named Gadget with the short name `gd` (a word that two CRDs share resolves to either).
    let id = std::process::id();
    let group = format!("g{id}.precheck.test");
    write(
        dir.path(),
        "gadgets.yaml",
        &format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd{id}]}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, properties: {{size: {{type: integer}}}}}}
---
apiVersion: {group}/v1
kind: Gadget
metadata: {{name: one, namespace: {ns}}}
spec: {{size: 3}}
",
            ns = ns.name
        ),
    );
    write(
        dir.path(),
        "gadgets.check",
        &format!(
            "namespace '{}'\ntest 'gadgets' {{\n    verify there is 1 gd{id} named '^one$'\n    verify '.spec.size' is '3' for gadgets.{group} named '^one$'\n}}\n",
            ns.name
        ),
    );
    write(
        dir.path(),
        "p.yaml",
        "name: crd\nstages:\n  - name: s\n    steps:\n      - { name: apply, apply: [gadgets.yaml] }\n      - { name: check, depends: [apply], checks: [gadgets.check] }\n",
    );
    let out = precheck(&cluster.kubeconfig, dir.path(), &["pipeline", "run", "p.yaml", "--state-dir", "state"]);
    let _ = cluster.kubectl(&["delete", "crd", &format!("gadgets.{group}"), "--wait=false"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_aggregated_api_that_is_down_holds_no_run_up() {
    let cluster = shared();
    if !cluster.launched {
        eprintln!("skipped on a cluster of your own: it would replace its metrics.k8s.io APIService");
        return;
    }
    let ns = cluster.namespace("apiservice");
    let dir = tempfile::tempdir().unwrap();
    // metrics.k8s.io served by a Service with no pods behind it, as on a cluster whose metrics-server is gone.
    ns.apply(&format!(
        "apiVersion: v1
kind: Service
metadata: {{name: metrics-server}}
spec: {{ports: [{{port: 443}}]}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.metrics.k8s.io}}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {{name: metrics-server, namespace: {}}}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
",
        ns.name
    ));
    let started = Instant::now();
    let out = precheck(
        &cluster.kubeconfig,
        dir.path(),
        &["verify", "-n", &ns.name, "there is 1 service named '^metrics-server$'"],
    );
    let took = started.elapsed();
    let _ = cluster.kubectl(&["delete", "apiservice", "v1beta1.metrics.k8s.io", "--wait=false"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(took < Duration::from_secs(20), "a down APIService held the sentence up for {took:?}");
}

#[test]
fn a_watch_whose_resource_version_expired_is_re_established_after_a_fresh_list_and_misses_nothing() {
    // A cluster of its own: configmaps served without the API server's watch cache, so a watch goes to
    // etcd, which answers 410 Gone for a revision it has compacted away.
    let cluster = Cluster::own(&["-nodes", "1", "-apiserver-arg", "--watch-cache-sizes=configmaps#0"]);
    let pki = cluster.pki().expect("a launched cluster's PEM files");
    let tls = Tls { cert: pki.cert.clone(), key: pki.key.clone(), ca: pki.ca.clone() };
    let proxy = FaultProxy::start_tls(&pki.server, Faults { rate: 0.0, kinds: vec![], seed: 1 }, &tls);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = cluster.kubeconfig_for(dir.path(), "admin", &proxy.url, &pki.admin_token, "default");
    cluster.kubectl_ok(&["create", "configmap", "awaited", "--from-literal=state=waiting"]);

    // The try lists (state: waiting) and opens its watch from that list's resourceVersion; the proxy holds
    // the watch back while the awaited change happens and etcd compacts past it.
    proxy.hold_watches(true);
    let started = Instant::now();
    let mut run = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args([
            "try",
            "at most 2 times every 120s to get configmaps named '^awaited$' and verify that 'data.state' is 'ready'",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBECACHEDIR", dir.path().join("kube-cache"))
        .env_remove("DETIK_CLIENT_NAMESPACE")
        .env_remove("DETIK_CLIENT_NAMESPACE_ALL")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start precheck try");
    while proxy.held_watches() == 0 {
        assert!(
            run.try_wait().unwrap().is_none(),
            "precheck ended before it watched: {}",
            text(&run.wait_with_output().unwrap())
        );
        assert!(started.elapsed() < Duration::from_secs(60), "precheck opened no watch");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.kubectl_ok(&["patch", "configmap", "awaited", "--type", "merge", "-p", r#"{"data":{"state":"ready"}}"#]);
    // One more revision, so the compaction passes the change's revision too.
    cluster.kubectl_ok(&["create", "configmap", "later"]);
    let revision = cluster.compact_etcd();
    proxy.hold_watches(false);

    let out = run.wait_with_output().expect("precheck try");
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(proxy.expired_watches() >= 1, "etcd (compacted at {revision}) answered no watch with 410 Gone");
    // Without a fresh list the change would be seen only by the last attempt, after 240 s.
    assert!(took < Duration::from_secs(60), "the change was missed until the deadline ({took:?}): {}", text(&out));
}
