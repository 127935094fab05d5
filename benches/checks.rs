//! `cargo bench --bench checks`: 50 generated check files with 1,000 assertions over 200 pods run by Precheck
//! against the real test cluster (tests/support/cluster: kube-apiserver with kwok nodes, started for the
//! bench), beside the bats-detik way (one `kubectl get -o custom-columns` process per assertion), with 1, 2,
//! 4, 8, 16 and 32 test threads, and once more with names as unanchored patterns (no name for the server to
//! select by); the lint throughput of the parser; the cluster's startup. Prints figures;
//! asserts nothing about speed.
//!
//! `PRECHECK_BENCH_BASELINE=N` runs only the first N baseline assertions (the baseline is slow) and
//! extrapolates to 1,000.

#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/workspace.rs"]
mod workspace;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use precheck::cluster::{ClusterSource, Clusters, ConnectOptions};
use precheck::harness::{RunOptions, Suite};
use precheck::outcome::Status;

const FILES: usize = 50;
const TESTS_PER_FILE: usize = 4;
const ASSERTIONS_PER_TEST: usize = 5;
const PODS: usize = 200;

/// One assertion: the sentence, and the kubectl arguments and check that bats-detik would run for it.
struct Assertion {
    sentence: String,
    resource: &'static str,
    namespace: &'static str,
    column: &'static str,
    name: String,
    expect: Expect,
}

enum Expect {
    Count(usize),
    Value(&'static str),
}

fn assertions() -> Vec<Assertion> {
    let mut all = Vec::new();
    for i in 0..FILES * TESTS_PER_FILE * ASSERTIONS_PER_TEST {
        let pod = i % PODS;
        let ns = if pod.is_multiple_of(2) { "default" } else { "team-a" };
        let a = match i % 5 {
            0 => Assertion {
                sentence: format!("there is 1 pod named '^bench-{pod}$' in namespace '{ns}'"),
                resource: "pods",
                namespace: ns,
                column: ".metadata.name",
                name: format!("^bench-{pod}$"),
                expect: Expect::Count(1),
            },
            1 => Assertion {
                sentence: format!("'status' is 'running' for pods named '^bench-{pod}$' in namespace '{ns}'"),
                resource: "pods",
                namespace: ns,
                column: ".status.phase",
                name: format!("^bench-{pod}$"),
                expect: Expect::Value("Running"),
            },
            2 => Assertion {
                sentence: format!(
                    "'.spec.containers[0].image' is 'nginx:1.27' for po named '^bench-{pod}$' in namespace '{ns}'"
                ),
                resource: "pods",
                namespace: ns,
                column: ".spec.containers[0].image",
                name: format!("^bench-{pod}$"),
                expect: Expect::Value("nginx:1.27"),
            },
            3 => Assertion {
                sentence: "'port' is '80' for svc named '^nginx$'".into(),
                resource: "services",
                namespace: "default",
                column: ".spec.ports[*].port",
                name: "^nginx$".into(),
                expect: Expect::Value("80"),
            },
            _ => Assertion {
                sentence: "'.spec.replicas' is '2' for deployments named '^nginx$'".into(),
                resource: "deployments",
                namespace: "default",
                column: ".spec.replicas",
                name: "^nginx$".into(),
                expect: Expect::Value("2"),
            },
        };
        all.push(a);
    }
    all
}

fn pods_yaml() -> String {
    let mut y = String::new();
    for i in 0..PODS {
        let ns = if i.is_multiple_of(2) { "default" } else { "team-a" };
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: bench-{i}, namespace: {ns}, labels: {{app: bench}}}}\n\
             spec: {{containers: [{{name: nginx, image: \"nginx:1.27\"}}]}}\n"
        );
    }
    y
}

fn write_suite(dir: &Path, assertions: &[Assertion]) {
    let mut chunks = assertions.chunks(ASSERTIONS_PER_TEST);
    for f in 0..FILES {
        let mut text = String::new();
        for t in 0..TESTS_PER_FILE {
            let _ = writeln!(text, "test 'file {f} test {t}' {{");
            for a in chunks.next().expect("enough assertions") {
                let _ = writeln!(text, "    verify {}", a.sentence);
            }
            text.push_str("}\n\n");
        }
        std::fs::write(dir.join(format!("bench-{f:02}.check")), text).expect("write check file");
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// What bats-detik does for one assertion: a kubectl process, then a grep over its table.
fn baseline_one(kubeconfig: &Path, a: &Assertion) -> bool {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", a.resource, "-n", a.namespace, "--no-headers"])
        .arg(format!("-o=custom-columns=NAME:.metadata.name,PROP:{}", a.column))
        .output()
        .expect("run kubectl");
    let table = String::from_utf8_lossy(&out.stdout);
    let name = regex::Regex::new(&a.name).expect("name regex");
    let rows: Vec<(&str, &str)> = table
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace).map(|(n, v)| (n, v.trim())))
        .filter(|(n, _)| name.is_match(n))
        .collect();
    match a.expect {
        Expect::Count(n) => rows.len() == n,
        Expect::Value(v) => !rows.is_empty() && rows.iter().all(|(_, got)| got.eq_ignore_ascii_case(v)),
    }
}

/// How soon a `try` passes once what it waits for happens: 20 waits on ConfigMaps through the library,
/// each changed by `kubectl patch` while the wait is under way. Two figures per wait: from kubectl's return
/// (the API server acknowledged the change) to the pass, and from kubectl's start to the pass (its process
/// start-up included: an upper bound).
fn reaction_times(cluster: &'static cluster::Cluster, runtime: &tokio::runtime::Runtime, options: &ConnectOptions) {
    const WAITS: usize = 20;
    let ns = cluster.namespace("reaction");
    let mut gates = String::new();
    for i in 0..WAITS {
        let _ = write!(
            gates,
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: gate-{i}}}\ndata: {{state: closed}}\n"
        );
    }
    ns.apply(&gates);
    let live = runtime
        .block_on(precheck::cluster::Cluster::connect(options))
        .expect("connect")
        .with_namespaces(precheck::cluster::Namespaces::One(ns.name.clone()));
    let live = Arc::new(live);
    let (mut acknowledged, mut started) = (Vec::new(), Vec::new());
    for i in 0..WAITS {
        let sentence = format!(
            "at most 10 times every 60s to get configmaps named '^gate-{i}$' and verify that '.data.state' is 'open'"
        );
        let waiting = {
            let live = live.clone();
            runtime.spawn(async move {
                let verdict = live.verify(&sentence).await;
                (verdict, Instant::now())
            })
        };
        // Long enough for the first LIST and the watch to be under way.
        std::thread::sleep(Duration::from_millis(500));
        let before = Instant::now();
        cluster.kubectl_ok(&[
            "-n",
            &ns.name,
            "patch",
            "configmap",
            &format!("gate-{i}"),
            "-p",
            r#"{"data":{"state":"open"}}"#,
        ]);
        let after = Instant::now();
        let (verdict, done) = runtime.block_on(waiting).expect("the wait ran");
        assert!(verdict.expect("the wait asked the cluster").passed, "gate-{i} was opened");
        acknowledged.push(done.saturating_duration_since(after));
        started.push(done.saturating_duration_since(before));
    }
    let percentile = |times: &mut Vec<Duration>, p: usize| {
        times.sort();
        times[(times.len() * p / 100).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "try reaction over {WAITS} waits: after the change was acknowledged p50 {:.1} ms, p95 {:.1} ms; after \
         kubectl started p50 {:.1} ms, p95 {:.1} ms (polling every 60s would take up to 60,000 ms)",
        percentile(&mut acknowledged, 50),
        percentile(&mut acknowledged, 95),
        percentile(&mut started, 50),
        percentile(&mut started, 95)
    );
}

fn lint_throughput() -> (f64, f64) {
    let sentences: Vec<String> = assertions().into_iter().map(|a| a.sentence).collect();
    let started = Instant::now();
    let mut parsed = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        for s in &sentences {
            precheck_lang::parse_sentence(s).expect("valid sentence");
            parsed += 1;
        }
    }
    let sentences_per_s = parsed as f64 / started.elapsed().as_secs_f64();
    let dir = tempfile::tempdir().expect("tempdir");
    write_suite(dir.path(), &assertions());
    let texts: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let started = Instant::now();
    let mut rounds = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        for t in &texts {
            precheck_lang::CheckFile::parse(t, &|_| None).expect("valid file");
        }
        rounds += 1;
    }
    let mib_per_s = (bytes * rounds) as f64 / started.elapsed().as_secs_f64() / (1024.0 * 1024.0);
    (sentences_per_s, mib_per_s)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` builds benches too but must not run this one.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (sentences_per_s, mib_per_s) = lint_throughput();
    println!("lint: {sentences_per_s:.0} sentences/s; check files {mib_per_s:.1} MiB/s");

    let started = Instant::now();
    let cluster = cluster::shared();
    cluster.load_fixtures();
    let startup = cluster.kubeconfig.parent().and_then(|d| std::fs::read_to_string(d.join("startup.json")).ok());
    println!(
        "test cluster: ready with its fixtures in {:.1}s (launcher: {})",
        started.elapsed().as_secs_f64(),
        startup.as_deref().unwrap_or("a cluster of your own").trim()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pods = dir.path().join("bench-pods.yaml");
    std::fs::write(&pods, pods_yaml()).expect("write pods");
    cluster.kubectl_ok(&["apply", "-f", pods.to_str().unwrap()]);
    let running = vec!["Running"; PODS / 2].join(" ");
    for ns in ["default", "team-a"] {
        cluster.wait_until(&["-n", ns, "pods", "-l", "app=bench"], "{.items[*].status.phase}", &running);
    }
    let assertions = assertions();
    let suite_dir = dir.path().join("suite");
    std::fs::create_dir(&suite_dir).expect("suite dir");
    write_suite(&suite_dir, &assertions);

    let suite = Suite::load(std::slice::from_ref(&suite_dir), &|_| None).expect("generated suite parses");
    // The same assertions with names as many bats-detik suites write them (`'bench-4$'`, not `'^bench-4$'`):
    // no exact name, so every assertion lists its whole namespace.
    let patterns_dir = dir.path().join("patterns");
    std::fs::create_dir(&patterns_dir).expect("patterns dir");
    write_suite(&patterns_dir, &assertions);
    for entry in std::fs::read_dir(&patterns_dir).expect("read patterns dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read check file");
        std::fs::write(&path, text.replace("named '^", "named '")).expect("write check file");
    }
    let patterns = Suite::load(std::slice::from_ref(&patterns_dir), &|_| None).expect("pattern suite parses");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let options = ConnectOptions { kubeconfig: Some(cluster.kubeconfig.clone()), context: None };
    let (mut precheck_time, mut pattern_time) = (Duration::MAX, Duration::MAX);
    let runs = [1, 2, 4, 8, 16, 32].map(|threads| (threads, &suite, "")).into_iter().chain([(
        precheck::harness::DEFAULT_TEST_THREADS,
        &patterns,
        ", names as unanchored patterns (whole namespaces listed)",
    )]);
    for (threads, suite, what) in runs {
        // A new client each time: discovery and connections are part of what a run costs.
        let clusters = Arc::new(Clusters::new(ClusterSource::Live(options.clone()), None));
        let args = libtest_mimic::Arguments {
            quiet: true,
            format: Some(libtest_mimic::FormatSetting::Terse),
            test_threads: Some(threads),
            ..Default::default()
        };
        let started = Instant::now();
        let (_, report) = precheck::harness::run(&args, suite, clusters.clone(), RunOptions::default(), &runtime);
        let took = started.elapsed();
        let requests = runtime.block_on(clusters.requests());
        assert_eq!(report.count(Status::Passed), FILES * TESTS_PER_FILE, "every generated test should pass");
        println!(
            "precheck -j {threads}{what}: {} files, {} assertions in {:.2}s, {requests} API requests, peak memory \
             {:.1} MiB",
            FILES,
            assertions.len(),
            took.as_secs_f64(),
            peak_memory_mib()
        );
        if what.is_empty() {
            precheck_time = precheck_time.min(took);
        } else {
            pattern_time = took;
        }
    }

    reaction_times(cluster, &runtime, &options);

    let sample = std::env::var("PRECHECK_BENCH_BASELINE").ok().and_then(|v| v.parse().ok()).unwrap_or(assertions.len());
    let sample = sample.clamp(1, assertions.len());
    let started = Instant::now();
    for a in &assertions[..sample] {
        assert!(baseline_one(&cluster.kubeconfig, a), "baseline assertion failed: {}", a.sentence);
    }
    let measured = started.elapsed();
    let baseline = measured.mul_f64(assertions.len() as f64 / sample as f64);
    println!(
        "baseline (kubectl per assertion): {} processes in {:.2}s{}, at least one API request each",
        sample,
        measured.as_secs_f64(),
        if sample < assertions.len() {
            format!(" (extrapolated to 1000: {:.2}s)", baseline.as_secs_f64())
        } else {
            String::new()
        }
    );
    println!(
        "ratio: precheck (best of the thread counts) is {:.1}x faster; with names as patterns {:.1}x",
        baseline.as_secs_f64() / precheck_time.as_secs_f64(),
        baseline.as_secs_f64() / pattern_time.as_secs_f64()
    );
}
