//! Secrets never leave: canary values — an SSM SecureString, a kubeconfig bearer token, an AWS secret
//! key, the trigger API's token — are planted where Precheck reads them, every command that could show
//! them runs (check runs in every output format, failures and infrastructure errors included, a pipeline
//! triggered over the API with `checks`, `apply` and `cloudformation` steps, its report and status), and
//! every byte Precheck wrote — stdout, stderr, logs, JUnit, TAP, JSON, HTML, run records — is scanned.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/workspace.rs"]
mod workspace;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SSM_CANARY: &str = "canary-ssm-7Qx2Lm9Pz";
const AWS_CANARY: &str = "canary-aws-secret-Hn3Bq6Yc0";
const TRIGGER_CANARY: &str = "canary-trigger-token-Ws5Fj2Ue8";
/// The value of a pipeline's secret parameter (`secret: true`), from the server's environment.
const PARAM_CANARY: &str = "canary-param-Zp4Rn7Tq3";

/// Everything Precheck printed or wrote, by where it came from.
#[derive(Default)]
struct Outputs(Vec<(String, Vec<u8>)>);

impl Outputs {
    fn command(&mut self, what: &str, out: &Output) {
        self.0.push((format!("{what}: stdout"), out.stdout.clone()));
        self.0.push((format!("{what}: stderr"), out.stderr.clone()));
    }

    fn tree(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                self.tree(&path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                self.0.push((path.display().to_string(), bytes));
            }
        }
    }

    /// (outputs scanned, bytes scanned); panics naming every leak of a canary.
    fn scan(&self, canaries: &[&str]) -> (usize, usize) {
        let mut leaks = Vec::new();
        for (what, bytes) in &self.0 {
            let text = String::from_utf8_lossy(bytes);
            for &canary in canaries {
                if text.contains(canary) {
                    leaks.push(format!("{canary} in {what}"));
                }
            }
        }
        assert!(leaks.is_empty(), "canaries leaked:\n{}", leaks.join("\n"));
        (self.0.len(), self.0.iter().map(|(_, b)| b.len()).sum())
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `precheck` with moto's environment, its secret key replaced by the canary.
fn precheck(moto: &moto::Moto, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .envs(moto.env())
        .env("AWS_SECRET_ACCESS_KEY", AWS_CANARY)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TRIGGER_CANARY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

#[test]
fn no_canary_reaches_any_output() {
    let moto = moto::Moto::start();
    let cluster = cluster::TestCluster::with_fixtures();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The kube canary is a real credential: the token of a service account that may edit `default`.
    let ns = cluster.cluster.namespace("secrets");
    let binding = format!("canary-{}", ns.name);
    ns.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: canary}\n");
    cluster.kubectl_ok(&[
        "-n",
        "default",
        "create",
        "rolebinding",
        &binding,
        "--clusterrole=edit",
        &format!("--serviceaccount={}:canary", ns.name),
    ]);
    let kube_canary = cluster.kubectl_ok(&["-n", &ns.name, "create", "token", "canary"]).trim().to_owned();
    let canaries = [SSM_CANARY, &kube_canary, AWS_CANARY, TRIGGER_CANARY, PARAM_CANARY];
    let config = cluster.cluster.token_kubeconfig(dir, "canary", &kube_canary, "default");
    let config = config.to_str().unwrap();
    moto.aws_ok(&[
        "ssm",
        "put-parameter",
        "--name",
        "/app/db/password",
        "--type",
        "SecureString",
        "--value",
        SSM_CANARY,
    ]);
    std::fs::write(
        dir.join("secret.check"),
        "test 'passes' {\n    verify parameter '/app/db/password' is '${DB_PASSWORD}'\n    \
         verify there are 2 pods named '^nginx-'\n}\n\n\
         test 'fails on the secret' {\n    verify parameter '/app/db/password' is 'wrong'\n}\n\n\
         test 'fails on the cluster' {\n    verify there are 5 pods named '^nginx-'\n}\n\n\
         test 'waits' {\n    try at most 2 times every 1s to get pods named '^nginx-' and verify that 'status' is 'pending'\n}\n",
    )
    .unwrap();
    let mut outputs = Outputs::default();
    let secret = [("DB_PASSWORD", SSM_CANARY)];

    // Check runs in every format, with JUnit.
    for format in ["pretty", "tap", "json"] {
        let junit = dir.join(format!("junit-{format}.xml"));
        let out = precheck(
            &moto,
            dir,
            &["run", "secret.check", "--kubeconfig", config, "--format", format, "--junit", junit.to_str().unwrap()],
            &secret,
        );
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        outputs.command(&format!("run --format {format}"), &out);
    }
    // The token was sent, and the answers were read (the checks passed above).
    for sentence in ["there are 2 pods named '^nginx-'", "parameter '/app/db/password' is 'wrong'"] {
        let out = precheck(&moto, dir, &["verify", "--kubeconfig", config, sentence], &[]);
        outputs.command(&format!("verify {sentence}"), &out);
    }
    // Infrastructure errors: the cluster and AWS unreachable, with the same credentials.
    let gone = cluster::unreachable_kubeconfig(dir);
    let gone_config =
        std::fs::read_to_string(&gone).unwrap().replace("user: {}", &format!("user: {{token: {kube_canary}}}"));
    std::fs::write(&gone, gone_config).unwrap();
    let out = precheck(
        &moto,
        dir,
        &["run", "secret.check", "--kubeconfig", gone.to_str().unwrap()],
        &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("DB_PASSWORD", SSM_CANARY)],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    outputs.command("run against nothing", &out);

    // A pipeline triggered over the API: checks, apply and cloudformation steps, the report and status.
    std::fs::write(
        dir.join("network.yaml"),
        "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.9.0.0/16}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: canary-free, namespace: default}\ndata: {a: b}\n",
    )
    .unwrap();
    // A secret parameter: not recorded, masked wherever a step or Precheck prints it.
    std::fs::write(
        dir.join("pipeline.check"),
        "test 'secret' {\n    verify parameter '/app/db/password' has type 'SecureString'\n    \
         verify parameter '/app/db/password' is 'wrong'\n}\n\ntest 'cluster' {\n    \
         verify there are 2 pods named '^nginx-'\n}\n\ntest 'secret parameter' {\n    \
         verify '.data.a' is '${DB_TOKEN}' for configmaps named '^canary-free$' in namespace 'default'\n}\n\n\
         test 'environment' {\n    run sh -c 'env > check-env.txt'\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "name: secrets\nparameters:\n  - { name: DB_TOKEN, secret: true }\nstages:\n  - name: all\n    steps:\n      \
         - { name: stack, cloudformation: { stack: canary-free, template: network.yaml } }\n      \
         - { name: apply, apply: [config.yaml] }\n      - { name: checks, checks: [pipeline.check] }\n      \
         - { name: env-names, shell: 'env | cut -d= -f1 | sort' }\n      \
         - { name: shell-env, shell: 'env > shell-env.txt' }\n      \
         - { name: run-env, run: [sh, -c, 'env > run-env.txt'] }\n      \
         - { name: use-secret, run: [sh, -c, 'echo \"token: $DB_TOKEN\"; echo \"argument: $1\" >&2', sh, '${DB_TOKEN}'] }\n      \
         - { name: fail-on-secret, shell: 'echo \"refused: $DB_TOKEN\"; exit 1' }\n",
    )
    .unwrap();
    std::fs::write(dir.join("token"), TRIGGER_CANARY).unwrap();
    let (mut server, address) = serve::start(
        Command::new(env!("CARGO_BIN_EXE_precheck"))
            .args(["pipeline", "serve", "p.yaml", "--listen", "127.0.0.1:0", "--token-file", "token"])
            .args(["--state-dir", "state", "--kubeconfig", config])
            .envs(moto.env())
            .env("AWS_SECRET_ACCESS_KEY", AWS_CANARY)
            .env("DB_TOKEN", PARAM_CANARY)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.stderr")).unwrap()),
    );
    let (status, body) = http(&address, "POST", "/pipeline", "{}");
    assert_eq!(status, 202, "{body}");
    outputs.0.push(("POST /pipeline answer".into(), body.clone().into_bytes()));
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["run"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let record = loop {
        let (status, body) = http(&address, "GET", &format!("/runs/{id}"), "");
        assert_eq!(status, 200, "{body}");
        outputs.0.push((format!("GET /runs/{id} answer"), body.clone().into_bytes()));
        let record: serde_json::Value = serde_json::from_str(&body).unwrap();
        if record["status"] != "running" {
            break record;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "the run never ended: {record}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, list) = http(&address, "GET", "/runs", "");
    outputs.0.push(("GET /runs answer".into(), list.into_bytes()));
    let _ = server.kill();
    let _ = server.wait();
    let mut rest = Vec::new();
    let _ = server.stdout.take().expect("stdout is piped").read_to_end(&mut rest);
    outputs.0.push(("serve: stdout".into(), rest));
    // The run did its work (the checks step fails on purpose: the secret is not 'wrong').
    let steps = record["steps"].as_array().unwrap();
    let status_of = |id: &str| steps.iter().find(|s| s["id"] == id).map(|s| s["status"].clone()).unwrap();
    assert_eq!(status_of("all/stack"), "succeeded", "{record}");
    assert_eq!(status_of("all/apply"), "succeeded", "{record}");
    assert_eq!(status_of("all/checks"), "failed", "{record}");
    for (what, args) in [
        ("status", vec!["pipeline", "status", &id, "--state-dir", "state"]),
        ("status --json", vec!["pipeline", "status", &id, "--json", "--state-dir", "state"]),
        ("logs", vec!["pipeline", "logs", &id, "--state-dir", "state"]),
        ("report", vec!["pipeline", "report", &id, "--state-dir", "state"]),
    ] {
        let out = precheck(&moto, dir, &args, &[]);
        assert!(out.status.success(), "{what}: {}", text(&out));
        outputs.command(what, &out);
    }
    // The step got the secret (what it printed is masked: only the secret itself becomes ***), in its
    // environment and as an argument; the failure message quoting it is masked too.
    assert_eq!(status_of("all/use-secret"), "succeeded", "{record}");
    let logs = precheck(&moto, dir, &["pipeline", "logs", &id, "all/use-secret", "--state-dir", "state"], &[]);
    assert!(text(&logs).contains("token: ***") && text(&logs).contains("argument: ***"), "{}", text(&logs));
    assert_eq!(status_of("all/fail-on-secret"), "failed", "{record}");
    let message = steps.iter().find(|s| s["id"] == "all/fail-on-secret").unwrap()["message"].clone();
    assert!(message.as_str().unwrap().ends_with("refused: ***"), "{message}");
    assert_eq!(record["secrets"], serde_json::json!(["DB_TOKEN"]), "{record}");
    // A check comparing with the secret failed, and its JUnit message shows the mask where the value was.
    let junit = std::fs::read_to_string(dir.join("state/runs").join(&id).join("junit/all.xml")).unwrap();
    let case = &junit[junit.find("secret parameter").expect("the check ran")..];
    let case = &case[..case.find("</testcase>").unwrap()];
    assert!(case.contains("<failure") && case.contains("***"), "{case}");
    let plan = precheck(&moto, dir, &["pipeline", "plan", "p.yaml"], &[("DB_TOKEN", PARAM_CANARY)]);
    assert!(plan.status.success() && text(&plan).contains("\"***\""), "{}", text(&plan));
    outputs.command("plan", &plan);
    let logs = precheck(&moto, dir, &["pipeline", "logs", &id, "all/env-names", "--state-dir", "state"], &[]);
    assert!(text(&logs).contains("AWS_SECRET_ACCESS_KEY"), "steps get the credentials they need: {}", text(&logs));
    assert!(dir.join("state/runs").join(&id).join("report.html").exists());
    // What a check file's command inherits: the credentials it needs (the aws CLI's), never the trigger's
    // token nor a secret parameter the check file does not name.
    let env = std::fs::read_to_string(dir.join("check-env.txt")).expect("the check file's command ran");
    assert!(env.contains("AWS_SECRET_ACCESS_KEY="), "{env}");
    for canary in canaries.iter().filter(|c| **c != AWS_CANARY) {
        assert!(!env.contains(canary), "{canary} reached a check file's command");
    }
    // What a `shell` and a `run` step inherit: the credentials and the pipeline's parameters (a secret one
    // too: steps see every parameter), never the trigger's token nor anything else.
    for file in ["shell-env.txt", "run-env.txt"] {
        let env = std::fs::read_to_string(dir.join(file)).expect("the step ran");
        assert!(env.contains(&format!("DB_TOKEN={PARAM_CANARY}")), "{file}: {env}");
        for canary in canaries.iter().filter(|c| ![AWS_CANARY, PARAM_CANARY].contains(*c)) {
            assert!(!env.contains(canary), "{canary} reached the command of a step ({file})");
        }
    }

    // Every file written: JUnit, run records, logs, the HTML report, the server's stderr.
    outputs.tree(&dir.join("state"));
    for name in ["junit-pretty.xml", "junit-tap.xml", "junit-json.xml", "serve.stderr"] {
        outputs.0.push((name.into(), std::fs::read(dir.join(name)).unwrap()));
    }
    let _ = cluster.kubectl(&["-n", "default", "delete", "rolebinding", &binding]);
    let (count, bytes) = outputs.scan(&canaries);
    eprintln!("secrets: 5 canaries, {count} outputs ({bytes} bytes) scanned, 0 leaks");
    assert!(count > 30, "{count} outputs");
}
