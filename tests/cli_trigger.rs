//! End-to-end tests of the trigger API (`precheck pipeline serve`) over real HTTP on 127.0.0.1: tokens,
//! payloads mapped onto parameters, refusals with reasons, one stage alone, and many triggers at once.

#[path = "support/serve.rs"]
mod serve;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "trigger-token-5ecr3t-canary-0042";

const PIPELINE: &str = r#"
name: triggered
parameters:
  - name: CLUSTER
  - name: NODES
    type: integer
    default: 3
  - name: ZONES
    type: list
    default: [a]
stages:
  - name: build
    steps:
      - name: nodes
        run: [printf, "%s %s\n", "${CLUSTER}", "${NODES}"]
      - name: zone
        for_each: ZONES
        shell: printf '%s\n' "$ITEM"
  - name: addons
    depends: [build]
    steps:
      - name: install
        run: [echo, "addons for ${CLUSTER}"]
"#;

/// A running `precheck pipeline serve`, stopped when dropped.
struct Server {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(pipeline: &str) -> Self {
        Self::start_with(pipeline, false)
    }

    /// With the token in a file, or in `PRECHECK_TRIGGER_TOKEN`.
    fn start_with(pipeline: &str, token_in_environment: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.yaml"), pipeline).unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_precheck"));
        command.args(["pipeline", "serve", "p.yaml", "--listen", "127.0.0.1:0"]);
        if token_in_environment {
            command.env("PRECHECK_TRIGGER_TOKEN", TOKEN);
        } else {
            command.args(["--token-file", "token"]).env_remove("PRECHECK_TRIGGER_TOKEN");
        }
        let (child, address) = serve::start(
            command
                .args(["--state-dir", "state"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap()),
        );
        Self { child, address, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        request(&self.address, method, path, token, body)
    }

    fn post(&self, path: &str, payload: &serde_json::Value) -> (u16, serde_json::Value) {
        post(&self.address, path, payload)
    }

    /// Waits for run `id` to end; returns its record.
    fn finished(&self, id: &str) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.request("GET", &format!("/runs/{id}"), Some(TOKEN), b"");
            assert_eq!(status, 200, "{body}");
            let record: serde_json::Value = serde_json::from_str(&body).unwrap();
            if record["status"] != "running" {
                return record;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "run {id} never ended: {record}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One HTTP/1.1 request; returns the status and the body.
fn request(address: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        address,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

fn post(address: &str, path: &str, payload: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, body) = request(address, "POST", path, Some(TOKEN), payload.to_string().as_bytes());
    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    (status, value)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_payload_starts_a_run_and_its_values_stay_values() {
    let server = Server::start(PIPELINE);
    assert_eq!(server.request("GET", "/healthz", None, b"").0, 200);
    let hostile = "prod'; touch pwned; echo '$(touch pwned2)`touch pwned3`";
    let (status, answer) =
        server.post("/pipeline", &serde_json::json!({ "CLUSTER": hostile, "NODES": 5, "ZONES": ["x;y", "z"] }));
    assert_eq!(status, 202, "{answer}");
    let id = answer["run"].as_str().unwrap();
    assert_eq!(answer["status"], format!("/runs/{id}"));
    let record = server.finished(id);
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["values"]["NODES"], 5);
    let log = std::fs::read_to_string(server.path(&format!("state/runs/{id}/logs/build.nodes.log"))).unwrap();
    assert!(log.contains(&format!("{hostile} 5")), "{log}");
    for file in ["pwned", "pwned2", "pwned3"] {
        assert!(!server.path(file).exists(), "a payload value ran as code");
    }
    let ids: Vec<&str> = record["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["build/nodes", "build/zone[x;y]", "build/zone[z]", "addons/install"]);

    // One stage alone.
    let (status, answer) = server.post("/stages/addons", &serde_json::json!({ "CLUSTER": "c2" }));
    assert_eq!(status, 202, "{answer}");
    let record = server.finished(answer["run"].as_str().unwrap());
    assert_eq!(record["stage"], "addons");
    assert_eq!(record["steps"].as_array().unwrap().len(), 1);

    let (status, body) = server.request("GET", "/runs", Some(TOKEN), b"");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["runs"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_requests_are_refused_with_the_reason() {
    let server = Server::start(PIPELINE);
    let payload = br#"{"CLUSTER": "c"}"#;
    let (status, body) = server.request("POST", "/pipeline", None, payload);
    assert_eq!(status, 401, "{body}");
    let (status, _) = server.request("POST", "/pipeline", Some("trigger-token-5ecr3t-canary-0043"), payload);
    assert_eq!(status, 401);
    let (status, _) = server.request("GET", "/runs", Some(&TOKEN[..TOKEN.len() - 1]), b"");
    assert_eq!(status, 401);

    let (status, answer) = server.post("/pipeline", &serde_json::json!({ "CLUSTR": "c", "NODES": "3" }));
    assert_eq!(status, 400);
    assert_eq!(
        answer["problems"],
        serde_json::json!([
            "unknown parameter 'CLUSTR' (did you mean 'CLUSTER'?)",
            "parameter 'NODES': expected an integer, got \"3\"",
            "parameter 'CLUSTER' is required (a string)"
        ])
    );
    let (status, body) = server.request("POST", "/pipeline", Some(TOKEN), b"{\"CLUSTER\": ");
    assert_eq!(status, 400);
    assert!(body.contains("the body is not JSON"), "{body}");
    let (status, _) = server.post("/pipeline", &serde_json::json!(["CLUSTER"]));
    assert_eq!(status, 400);
    let big = format!("{{\"CLUSTER\": \"{}\"}}", "x".repeat(70 * 1024));
    assert_eq!(server.request("POST", "/pipeline", Some(TOKEN), big.as_bytes()).0, 413);
    assert_eq!(server.post("/stages/adons", &serde_json::json!({ "CLUSTER": "c" })).0, 404);
    assert_eq!(server.request("GET", "/pipeline", Some(TOKEN), b"").0, 405);
    for path in ["/runs/..", "/runs/.hidden", "/runs/%2e%2e", "/runs/../../etc"] {
        let (status, body) = server.request("GET", path, Some(TOKEN), b"");
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains(server.dir.path().to_str().unwrap()), "no local paths in answers: {body}");
    }
    assert!(!server.path("state/runs").exists() || std::fs::read_dir(server.path("state/runs")).unwrap().count() == 0);
}

#[test]
fn a_hundred_triggers_at_once_leave_consistent_records_and_no_token_in_any_output() {
    let server = Server::start(PIPELINE);
    let threads: Vec<_> = (0..100)
        .map(|n| {
            let address = server.address.clone();
            std::thread::spawn(move || post(&address, "/pipeline", &serde_json::json!({ "CLUSTER": format!("c{n}") })))
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for thread in threads {
        let (status, answer) = thread.join().unwrap();
        assert_eq!(status, 202, "{answer}");
        ids.insert(answer["run"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 100, "every trigger got its own run");
    for id in &ids {
        let record = server.finished(id);
        assert_eq!(record["status"], "succeeded", "{record}");
        let cluster = record["values"]["CLUSTER"].as_str().unwrap();
        let log = std::fs::read_to_string(server.path(&format!("state/runs/{id}/logs/build.nodes.log"))).unwrap();
        assert!(log.contains(&format!("{cluster} 3")), "each run saw its own payload: {log}");
    }
    let stderr = std::fs::read_to_string(server.path("stderr.txt")).unwrap();
    assert!(stderr.contains("succeeded"), "{stderr}");
    for entry in walk(&server.path("state")) {
        let text = std::fs::read(&entry).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains(TOKEN), "the token leaked into {}", entry.display());
    }
    assert!(!stderr.contains(TOKEN));
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn a_token_given_in_the_environment_never_reaches_the_steps() {
    // Every kind of step that starts a program: `shell`, `run`, and the `run` lines of a `checks` step's
    // check file (each writes the environment it was given to a file).
    let server = Server::start_with(
        "name: leaky
stages:
  - name: s
    steps:
      - name: env
        shell: env > shell-env.txt; echo \"token=[$PRECHECK_TRIGGER_TOKEN]\"
      - name: run
        run: [sh, -c, env > run-env.txt]
      - name: checks
        checks: [env.check]
",
        true,
    );
    std::fs::write(server.path("env.check"), "test 'env' {\n    run sh -c 'env > check-env.txt'\n}\n").unwrap();
    let (status, answer) = server.post("/pipeline", &serde_json::json!({}));
    assert_eq!(status, 202, "{answer}");
    let id = answer["run"].as_str().unwrap();
    let record = server.finished(id);
    assert_eq!(record["status"], "succeeded", "{record}");
    let log = std::fs::read_to_string(server.path(&format!("state/runs/{id}/logs/s.env.log"))).unwrap();
    assert!(log.contains("token=[]"), "{log}");
    assert!(!log.contains(TOKEN), "the step saw the token: {log}");
    for file in ["shell-env.txt", "run-env.txt", "check-env.txt"] {
        let env = std::fs::read_to_string(server.path(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(env.contains("PATH="), "{file} holds no environment: {env}");
        assert!(!env.contains(TOKEN), "the token reached a started program ({file}): {env}");
    }
}
