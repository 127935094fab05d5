//! End-to-end tests of `precheck pipeline`: plans, runs with retries, fan-out, conditions, parallelism,
//! timeouts and `finally` steps; parameters that never reach a shell; run records that survive SIGKILL.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temporary directory") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_precheck"));
        command
            .arg("pipeline")
            .args(args)
            .env("PRECHECK_STATE_DIR", self.path("state"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        command
    }

    fn precheck(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run precheck")
    }

    /// The record of the latest run, as JSON.
    fn record(&self) -> serde_json::Value {
        let out = self.precheck(&["status", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn step<'a>(record: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    record["steps"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("no step {id}"))
}

const DEMO: &str = r#"
name: demo
parameters:
  - name: CLUSTER
  - name: METRICS_SERVER
    default: none
  - name: AZS
    type: list
    default: [a, b, c]
stages:
  - name: preflight
    steps:
      - name: hello
        run: [echo, "hello ${CLUSTER}"]
  - name: build
    depends: [preflight]
    steps:
      - name: flaky
        retry: { attempts: 3, backoff: 100ms }
        shell: |
          n=$(cat flaky.count 2>/dev/null || echo 0)
          echo $((n+1)) > flaky.count
          echo "attempt $((n+1))"
          [ "$n" -ge 1 ]
      - name: per-az
        for_each: AZS
        depends: [flaky]
        run: [sh, -c, 'echo "subnet in $ITEM for $CLUSTER"']
  - name: addons
    depends: [build]
    steps:
      - name: metrics-server
        when: METRICS_SERVER != 'none'
        run: [echo, "installing ${METRICS_SERVER}"]
      - name: broken
        run: [sh, -c, 'echo "cannot reach the registry" >&2; exit 7']
      - name: after-broken
        depends: [broken]
        run: [echo, never]
finally:
  - name: diagnostics
    shell: echo "diagnostics for $CLUSTER" > diagnostics.txt
"#;

#[test]
fn a_run_retries_fans_out_skips_and_always_runs_finally() {
    let ws = Workspace::new();
    ws.write("p.yaml", DEMO);
    let out = ws.precheck(&["run", "p.yaml", "-p", "CLUSTER=prod-eu-1"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "a step failed: {all}");
    assert!(
        all.contains("↻ build/flaky attempt 1/3 failed: the script exited with status 1: attempt 1; retrying"),
        "{all}"
    );
    assert!(all.contains("✗ addons/broken failed after 1 attempt"), "{all}");
    assert!(all.contains("exited with status 7: cannot reach the registry"), "{all}");
    assert!(all.contains("⤼ addons/metrics-server skipped: `when: METRICS_SERVER != 'none'` is false"), "{all}");

    let record = ws.record();
    assert_eq!(record["status"], "failed");
    assert_eq!(record["values"]["CLUSTER"], "prod-eu-1");
    assert_eq!(step(&record, "build/flaky")["attempts"], 2);
    assert_eq!(step(&record, "build/flaky")["status"], "succeeded");
    for az in ["a", "b", "c"] {
        assert_eq!(step(&record, &format!("build/per-az[{az}]"))["status"], "succeeded");
    }
    assert_eq!(step(&record, "addons/after-broken")["status"], "skipped");
    assert_eq!(step(&record, "addons/after-broken")["blocked"], true);
    assert_eq!(step(&record, "finally/diagnostics")["status"], "succeeded");
    assert_eq!(std::fs::read_to_string(ws.path("diagnostics.txt")).unwrap(), "diagnostics for prod-eu-1\n");

    let id = record["id"].as_str().unwrap();
    let logs = text(&ws.precheck(&["logs", id, "per-az[b]"]));
    assert!(logs.contains("subnet in b for prod-eu-1"), "{logs}");
    assert!(!logs.contains("subnet in a"), "one step's log: {logs}");
    let status = text(&ws.precheck(&["status", id]));
    assert!(status.contains(&format!("run {id} (demo) failed: 6 succeeded, 1 failed, 2 skipped")), "{status}");

    // With the addon asked for, it runs; the stage alone runs without the others.
    let out = ws.precheck(&["run", "p.yaml", "-p", "CLUSTER=c", "-p", "METRICS_SERVER=v0.7.2", "--stage", "addons"]);
    let record = ws.record();
    assert_eq!(record["stage"], "addons", "{}", text(&out));
    let ids: Vec<&str> = record["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["addons/metrics-server", "addons/broken", "addons/after-broken", "finally/diagnostics"]);
    assert_eq!(step(&record, "addons/metrics-server")["status"], "succeeded");
    let list = text(&ws.precheck(&["list"]));
    assert_eq!(list.lines().count(), 2, "{list}");
}

#[test]
fn parameters_never_reach_a_shell() {
    let ws = Workspace::new();
    ws.write(
        "p.yaml",
        r#"
name: hostile
parameters:
  - name: NAME
stages:
  - name: s
    steps:
      - name: argv
        run: [printf, "%s\n", "${NAME}"]
      - name: script
        shell: printf '%s\n' "$NAME"
"#,
    );
    let hostile = "x'; touch pwned-1; echo '$(touch pwned-2)`touch pwned-3`\"";
    let out = ws.precheck(&["run", "p.yaml", "-p", &format!("NAME={hostile}")]);
    assert!(out.status.success(), "{}", text(&out));
    for n in 1..=3 {
        assert!(!ws.path(&format!("pwned-{n}")).exists(), "a parameter was run as code");
    }
    let record = ws.record();
    let id = record["id"].as_str().unwrap();
    for s in ["argv", "script"] {
        let logs = text(&ws.precheck(&["logs", id, &format!("s/{s}")]));
        assert!(logs.contains(hostile), "{s}: the value arrives literally: {logs}");
    }
}

#[test]
fn bad_files_and_values_are_refused_with_their_place() {
    let ws = Workspace::new();
    ws.write("bad.yaml", "name: bad\nstages:\n  - name: a\n    steps:\n      - name: s\n        when: FLAG == 'x'\n        rnu: [echo]\n");
    let out = ws.precheck(&["run", "bad.yaml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("bad.yaml:7:9"), "{all}");
    assert!(all.contains("unknown field `rnu`"), "{all}");
    assert!(all.contains("did you mean `run`?"), "{all}");
    assert!(!ws.path("state").exists(), "nothing ran, nothing recorded");

    ws.write("p.yaml", DEMO);
    let out = ws.precheck(&["run", "p.yaml", "-p", "CLUSTR=x", "-p", "AZS"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("expected NAME=VALUE, got 'AZS'"), "{all}");
    let out = ws.precheck(&["plan", "p.yaml", "-p", "CLUSTR=x"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("unknown parameter 'CLUSTR' (did you mean 'CLUSTER'?)"), "{all}");
    assert!(all.contains("parameter 'CLUSTER' is required"), "{all}");
    let out = ws.precheck(&["run", "p.yaml", "-p", "CLUSTER=x", "--stage", "addon"]);
    assert!(text(&out).contains("no stage named 'addon' (did you mean 'addons'?)"), "{}", text(&out));
}

#[test]
fn parallelism_is_bounded_and_timeouts_kill_the_whole_step() {
    let ws = Workspace::new();
    // Each step notes how many steps run at the moment it starts (a directory entry per running step).
    ws.write(
        "p.yaml",
        r#"
name: bounded
parallelism: 2
stages:
  - name: s
    steps:
      - name: work
        for_each: [1, 2, 3, 4, 5, 6]
        shell: |
          mkdir -p running
          touch "running/$ITEM"
          ls running | wc -l >> concurrency.txt
          sleep 0.4
          rm "running/$ITEM"
  - name: slow
    steps:
      - name: hang
        timeout: 1s
        shell: |
          sleep 30 &
          echo $! > sleeper.pid
          wait
"#,
    );
    let started = Instant::now();
    let out = ws.precheck(&["run", "p.yaml"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let counts: Vec<usize> = std::fs::read_to_string(ws.path("concurrency.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts.iter().max(), Some(&2), "2 at once, never more: {counts:?}");
    assert!(took < Duration::from_secs(20), "the timeout ended the hang: {took:?}");
    let record = ws.record();
    assert!(step(&record, "slow/hang")["message"].as_str().unwrap().contains("timed out after 1s"), "{record}");
    // The script's background child went with it.
    let pid = std::fs::read_to_string(ws.path("sleeper.pid")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Gone, or a zombie nobody reaped yet (pid 1 of a container may not reap): either way, not running.
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = state.rsplit(')').next().unwrap_or_default().split_whitespace().next().unwrap_or("gone").to_owned();
    assert!(state == "gone" || state == "Z", "the step's children were killed: state {state}");
}

fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_run_killed_at_any_moment_resumes_without_redoing_finished_steps() {
    let ws = Workspace::new();
    let steps: String = (1..=8)
        .map(|n| {
            let depends = if n > 1 { format!("\n        depends: [s{}]", n - 1) } else { String::new() };
            format!("      - name: s{n}{depends}\n        shell: echo start >> s{n}.ran; sleep 0.15\n")
        })
        .collect();
    ws.write("p.yaml", &format!("name: chain\nstages:\n  - name: c\n    steps:\n{steps}"));
    let mut child = ws.command(&["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill it once two steps are done (of eight): the run is in the middle of its work.
    let started = Instant::now();
    let succeeded = |ws: &Workspace| {
        let out = ws.precheck(&["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .map(|r| r["steps"].as_array().map_or(0, |s| s.iter().filter(|s| s["status"] == "succeeded").count()))
            .unwrap_or(0)
    };
    while succeeded(&ws) < 2 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(succeeded(&ws) < 8, "killed before the end");

    let mut kills = 1;
    let mut resumed = 0;
    loop {
        // Whatever the moment of the kill, the record is whole and readable.
        let record = ws.record();
        let id = record["id"].as_str().unwrap().to_owned();
        let runs = |name: &str| std::fs::read_to_string(ws.path(&format!("{name}.ran"))).unwrap().lines().count();
        // Steps done before this resume, and how often they had started (a killed attempt counts too).
        let done: Vec<(String, usize)> = record["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "succeeded")
            .map(|s| s["step"].as_str().unwrap().to_owned())
            .map(|name| {
                let count = runs(&name);
                (name, count)
            })
            .collect();
        if record["status"] == "succeeded" {
            break;
        }
        let status = text(&ws.precheck(&["status", &id]));
        assert!(status.contains("interrupted (resume it: precheck pipeline resume"), "{status}");
        if kills == 1 {
            // Every view says so: the record as JSON, the list, the HTML report.
            let json: serde_json::Value =
                serde_json::from_slice(&ws.precheck(&["status", &id, "--json"]).stdout).unwrap();
            assert_eq!(json["status"], "interrupted", "{json}");
            let list = text(&ws.precheck(&["list"]));
            assert!(list.contains(&format!("{id}  interrupted")), "{list}");
            let report = ws.precheck(&["report", &id]);
            let page = std::fs::read_to_string(String::from_utf8_lossy(&report.stdout).trim()).unwrap();
            assert!(page.contains(r#"<span id="status">interrupted</span>"#), "{page}");
        }
        let before = record["resumes"].as_u64().unwrap();
        let mut child = ws.command(&["resume", &id]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        resumed += 1;
        if kills < 3 {
            // Kill it again once it has taken over the run (the record counts the resume), at some point
            // of its work.
            let waiting = Instant::now();
            while ws.record()["resumes"].as_u64().unwrap() == before && waiting.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(100 * kills));
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        } else {
            let status = wait_for(&mut child, Duration::from_secs(60)).expect("resume finishes");
            assert!(status.success());
        }
        // Steps that had succeeded before this resume never ran again.
        for (name, count) in &done {
            assert_eq!(runs(name), *count, "{name} ran again after it had succeeded");
        }
        assert!(resumed < 10, "the run never finished");
    }
    let record = ws.record();
    assert!(resumed >= 3, "it was killed twice and resumed three times");
    assert_eq!(record["resumes"], resumed, "{record}");
    for n in 1..=8 {
        assert!(ws.path(&format!("s{n}.ran")).exists(), "s{n} ran");
    }
}

#[test]
fn the_offline_example_runs_and_a_skipped_stage_still_orders_the_stages_around_it() {
    let ws = Workspace::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pipeline = root.join("examples/offline_pipeline/pipeline.yaml");
    let snapshot = root.join("examples/offline_snapshot/cluster.yaml");
    let out = ws.precheck(&["run", pipeline.to_str().unwrap(), "--snapshot", snapshot.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let record = ws.record();
    assert_eq!(step(&record, "addons/metrics-server")["status"], "skipped");
    // validation waits for addons, which waits for preflight: skipping addons' only step does not let
    // validation start before preflight is done.
    let preflight_done = ["preflight/announce", "preflight/per-zone[eu-west-1a]", "preflight/per-zone[eu-west-1b]"]
        .iter()
        .map(|id| step(&record, id)["finished_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    let validation_started = step(&record, "validation/workloads")["started_ms"].as_u64().unwrap();
    assert!(validation_started >= preflight_done, "{record}");
    let junit =
        std::fs::read_dir(ws.path("state/runs")).unwrap().next().unwrap().unwrap().path().join("junit/validation.xml");
    assert!(std::fs::read_to_string(junit).unwrap().contains("<testcase "));
}

#[test]
fn a_failure_stops_the_steps_behind_a_skipped_stage_and_narrow_stages_do_not_starve_others() {
    let ws = Workspace::new();
    ws.write(
        "p.yaml",
        r#"
name: order
parameters:
  - name: ADDON
    default: none
stages:
  - name: build
    steps:
      - name: fails
        run: ["false"]
  - name: addons
    depends: [build]
    when: ADDON != 'none'
    steps:
      - name: install
        run: [echo, install]
  - name: validation
    depends: [addons]
    steps:
      - name: check
        run: [echo, check]
"#,
    );
    let out = ws.precheck(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let record = ws.record();
    assert_eq!(step(&record, "addons/install")["status"], "skipped");
    assert_eq!(step(&record, "validation/check")["status"], "skipped", "{record}");
    assert_eq!(step(&record, "validation/check")["message"], "not run: addons/install did not succeed");

    // A stage that runs one step at a time does not hold the run's places while its steps wait.
    ws.write(
        "q.yaml",
        r#"
name: places
parallelism: 4
stages:
  - name: narrow
    parallelism: 1
    steps:
      - name: slow
        for_each: [1, 2, 3, 4]
        run: [sleep, "0.3"]
  - name: other
    steps:
      - name: quick
        run: ["true"]
"#,
    );
    let out = ws.precheck(&["run", "q.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    let record = ws.record();
    let started = |id: &str| step(&record, id)["started_ms"].as_u64().unwrap();
    assert!(started("other/quick") < started("narrow/slow[2]"), "{record}");
}

/// Headless Chromium (Debian's, installed by scripts/test-browser.sh), with the flags this network needs.
fn chromium(args: &[&str], profile: &std::path::Path) -> Output {
    Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("chromium (scripts/test-browser.sh installs it)")
}

#[test]
fn the_html_report_loads_in_chromium_and_shows_every_step() {
    let ws = Workspace::new();
    ws.write("p.yaml", DEMO);
    let out = ws.precheck(&["run", "p.yaml", "-p", "CLUSTER=<b>prod</b>"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = ws.precheck(&["report"]);
    assert!(out.status.success(), "{}", text(&out));
    let page = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(page.ends_with("report.html") && page.is_file(), "{}", page.display());
    let url = format!("file://{}", std::path::absolute(&page).unwrap().display());

    let out = chromium(&["--dump-dom", &url], &ws.path("profile"));
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("CONSOLE") && !log.contains("Refused to"), "the page loads without errors: {log}");
    let record = ws.record();
    for step in record["steps"].as_array().unwrap() {
        let id = step["id"].as_str().unwrap();
        let status = step["status"].as_str().unwrap();
        assert!(dom.contains(&format!(r#"<g class="step {status}" data-step="{id}">"#)), "{id} {status}: {dom}");
        let log = step["log"].as_str().unwrap();
        assert!(dom.contains(&format!(r#"href="{log}""#)), "a link to {log}");
        if step["attempts"].as_u64().unwrap() > 0 {
            assert!(page.parent().unwrap().join(log).is_file(), "{log} exists where the link points");
        }
    }
    assert!(dom.contains("2 attempts"), "retries are shown");
    assert!(dom.contains("CLUSTER=&lt;b&gt;prod&lt;/b&gt;"), "values are escaped, not markup");
    assert!(!dom.contains("<b>prod</b>"));
    assert!(dom.contains(r#"class="stage-edge""#), "stage dependencies are drawn");

    let shot = ws.path("report.png");
    let out =
        chromium(&["--window-size=1400,800", &format!("--screenshot={}", shot.display()), &url], &ws.path("profile2"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a picture with content");
}

#[test]
fn a_resume_stops_what_the_killed_run_left_running() {
    let ws = Workspace::new();
    ws.write(
        "p.yaml",
        "name: orphan\nstages:\n  - name: s\n    steps:\n      - name: long\n        shell: |\n          if [ -f second ]; then exit 0; fi\n          touch second\n          echo $$ > pid\n          sleep 60\n",
    );
    let mut child = ws.command(&["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !ws.path("pid").exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = std::fs::read_to_string(ws.path("pid")).unwrap().trim().to_owned();
    let state = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')').next().unwrap_or_default().split_whitespace().next().unwrap_or("gone").to_owned()
    };
    assert!(!["gone", "Z"].contains(&state(&pid).as_str()), "the step outlived the run, as orphans do");
    let id = ws.record()["id"].as_str().unwrap().to_owned();
    let out = ws.precheck(&["resume", &id]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(200));
    assert!(["gone", "Z"].contains(&state(&pid).as_str()), "the resume stopped it: {}", state(&pid));
}

#[test]
fn secret_parameters_are_not_recorded_are_masked_and_are_asked_for_again_on_resume() {
    const TOKEN: &str = "right-token-8Jd3";
    let ws = Workspace::new();
    let file = ws.write(
        "p.yaml",
        r#"name: secret
parameters:
  - { name: TOKEN, secret: true, description: the registry's token }
  - { name: REGION, default: eu-west-1 }
stages:
  - name: deploy
    steps:
      - name: login
        # Fails on its first run (after printing the token), then needs the right token.
        shell: |
          echo "login to $REGION with $TOKEN"
          if [ ! -f first.mark ]; then touch first.mark; echo "refused: $TOKEN"; exit 1; fi
          test "$TOKEN" = right-token-8Jd3
      - name: pass
        depends: [login]
        run: [echo, "--token=${TOKEN}"]
"#,
    );
    let file = file.to_str().unwrap();
    // Not given: the environment variable of its name.
    let out = ws.command(&["run", file]).env("TOKEN", TOKEN).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!text(&out).contains(TOKEN), "{}", text(&out));
    let record = ws.record();
    assert_eq!(record["values"], serde_json::json!({ "REGION": "eu-west-1" }), "not recorded: {record}");
    assert_eq!(record["secrets"], serde_json::json!(["TOKEN"]));
    assert_eq!(step(&record, "deploy/login")["message"], "the script exited with status 1: refused: ***");
    let id = record["id"].as_str().unwrap().to_owned();
    let run_dir = ws.path("state").join("runs").join(&id);
    let log = std::fs::read_to_string(run_dir.join("logs/deploy.login.log")).unwrap();
    assert!(log.contains("login to eu-west-1 with ***\nrefused: ***\n"), "{log}");

    // A resume needs it again: without it, it says which; with a wrong one the step sees that one.
    let out = ws.command(&["resume", &id]).env_remove("TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give TOKEN again"), "{}", text(&out));
    // Other values are the run's own: a resume does not take them.
    let out = ws.command(&["resume", &id, "-p", "REGION=us-east-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("has no secret parameter 'REGION'"), "{}", text(&out));
    let out = ws.command(&["resume", &id, "-p", "TOKEN=wrong-one"]).env_remove("TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = ws.command(&["resume", &id, "-p", &format!("TOKEN={TOKEN}")]).env_remove("TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let record = ws.record();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["values"], serde_json::json!({ "REGION": "eu-west-1" }), "{record}");
    let pass = std::fs::read_to_string(run_dir.join("logs/deploy.pass.log")).unwrap();
    assert!(pass.contains("--token=***"), "{pass}");
    // Nothing under the state directory holds it: records, logs, the HTML report.
    let mut files = vec![run_dir.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "{} holds the secret", path.display());
        }
    }
    let report = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(report.contains("<code>TOKEN=***</code>"), "{report}");
}

#[test]
fn a_checks_step_that_times_out_stops_its_tests() {
    let ws = Workspace::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let snapshot = root.join("examples/offline_snapshot/cluster.yaml");
    // The test's command would leave a mark after 3 s; the step's timeout ends it after 1 s.
    ws.write("slow.check", "test 'slow' {\n    run sh -c 'sleep 3; touch late.mark'\n}\n");
    let file = ws.write(
        "p.yaml",
        "name: cancel\nparallelism: 1\nstages:\n  - name: validation\n    steps:\n      \
         - { name: checks, timeout: 1s, checks: [slow.check] }\nfinally:\n  \
         # Keeps the run going past the moment the test would have left its mark.\n  \
         - { name: linger, run: [sleep, '4'] }\n",
    );
    let out = ws.precheck(&["run", file.to_str().unwrap(), "--snapshot", snapshot.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let record = ws.record();
    assert_eq!(step(&record, "validation/checks")["message"], "timed out after 1s", "{record}");
    assert_eq!(step(&record, "finally/linger")["status"], "succeeded", "{record}");
    // Cancelled, the test's command was killed before it left its mark (before, it ran on in the
    // background while the run went on).
    assert!(!ws.path("late.mark").exists(), "the cancelled test's command ran to its end");
}

#[test]
fn with_secrets_output_keeps_its_order_and_a_timed_out_command_logs_its_last_words_first() {
    let ws = Workspace::new();
    let file = ws.write(
        "p.yaml",
        r#"name: order
parameters: [{ name: TOKEN, secret: true }]
stages:
  - name: s
    steps:
      - name: mixed
        shell: 'echo "out 1 $TOKEN"; echo "err 1" >&2; echo "out 2"; printf "no newline at the end"'
      - name: slow
        timeout: 1s
        shell: 'echo "started with $TOKEN"; sleep 30 & wait'
"#,
    );
    let started = Instant::now();
    let out = ws.command(&["run", file.to_str().unwrap()]).env("TOKEN", "tok-3Hc9").output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let run_dir = ws.path("state/runs").join(ws.record()["id"].as_str().unwrap());
    let mixed = std::fs::read_to_string(run_dir.join("logs/s.mixed.log")).unwrap();
    assert!(mixed.contains("\nout 1 ***\nerr 1\nout 2\nno newline at the end"), "stdout and stderr in order: {mixed}");
    let slow = std::fs::read_to_string(run_dir.join("logs/s.slow.log")).unwrap();
    assert!(
        slow.contains("\nstarted with ***\n== failed: timed out after 1s ==\n"),
        "the command's output before the attempt's end: {slow}"
    );
    // The killed group closes the pipe at once: no grace waited for.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn an_unknown_run_is_invalid_input_for_every_subcommand_that_takes_one() {
    let ws = Workspace::new();
    for args in [
        &["status", "no-such-run"][..],
        &["logs", "no-such-run"],
        &["report", "no-such-run"],
        &["resume", "no-such-run"],
    ] {
        let out = ws.precheck(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("no run 'no-such-run'"), "{args:?}: {}", text(&out));
    }
}

#[test]
fn steps_that_cannot_ask_the_cluster_or_start_their_program_are_errored_and_the_run_exits_4() {
    let ws = Workspace::new();
    let kubeconfig = cluster::unreachable_kubeconfig(ws.dir.path());
    ws.write("pods.check", "test 'pods' {\n    verify there are 2 pods named 'nginx'\n}\n");
    ws.write("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { a: b }\n");
    let file = ws.write(
        "p.yaml",
        "name: unreachable\nstages:\n  - name: s\n    steps:\n      - { name: checks, checks: [pods.check] }\n      \
         - { name: apply, apply: [config.yaml] }\n      - { name: missing, run: [precheck-no-such-program] }\n      \
         - { name: fails, run: [sh, -c, 'exit 1'] }\n      - { name: after, depends: [checks], run: [echo, never] }\n",
    );
    let out = ws.precheck(&["run", file.to_str().unwrap(), "--kubeconfig", kubeconfig.to_str().unwrap()]);
    let all = text(&out);
    // A step errored: the run is errored (exit 4) even though another step failed.
    assert_eq!(out.status.code(), Some(4), "{all}");
    let record = ws.record();
    assert_eq!(record["status"], "errored", "{record}");
    for (id, status, says) in [
        ("s/checks", "errored", "1 of 1 tests could not run, first 'pods'"),
        ("s/apply", "errored", "discovery of /v1 ConfigMap"),
        ("s/missing", "errored", "cannot start 'precheck-no-such-program'"),
        ("s/fails", "failed", "'sh' exited with status 1"),
        ("s/after", "skipped", "not run: s/checks did not succeed"),
    ] {
        let step = step(&record, id);
        assert_eq!(step["status"], status, "{id}: {record}");
        assert!(step["message"].as_str().unwrap_or_default().contains(says), "{id}: {record}");
    }
    assert!(step(&record, "s/checks")["message"].as_str().unwrap().contains("could not ask the cluster"), "{record}");
    assert!(all.contains("⚠ s/missing errored after 1 attempt"), "{all}");
    assert!(all.contains(" errored: 0 succeeded, 1 failed, 3 errored, 1 skipped"), "{all}");
    let run_dir = ws.path("state/runs").join(record["id"].as_str().unwrap());
    let log = std::fs::read_to_string(run_dir.join("logs/s.missing.log")).unwrap();
    assert!(log.contains("== errored: cannot start 'precheck-no-such-program'"), "{log}");
    // Every view says the same.
    let status = ws.precheck(&["status"]);
    assert!(text(&status).contains(") errored: 0 succeeded, 1 failed, 3 errored, 1 skipped"), "{}", text(&status));
    assert!(text(&status).contains("⚠ s/apply"), "{}", text(&status));
    let list = ws.precheck(&["list"]);
    assert!(text(&list).contains("errored"), "{}", text(&list));
    let report = ws.precheck(&["report"]);
    let html = std::fs::read_to_string(String::from_utf8_lossy(&report.stdout).trim()).unwrap();
    assert!(html.contains("errored"), "{html}");
}

#[test]
fn a_step_that_prints_without_end_keeps_a_bounded_log_and_says_how_much_it_left_out() {
    let ws = Workspace::new();
    // 20,000,000 bytes and a last line: more than the 16 MiB a step's log keeps of an attempt.
    let file = ws.write(
        "p.yaml",
        "name: chatty\nstages:\n  - name: s\n    steps:\n      \
         - { name: chatty, shell: 'head -c 20000000 /dev/zero | tr \"\\\\000\" x; echo; echo done' }\n",
    );
    let out = ws.precheck(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run_dir = ws.path("state/runs").join(ws.record()["id"].as_str().unwrap());
    let log = std::fs::read(run_dir.join("logs/s.chatty.log")).unwrap();
    let kept = log.iter().filter(|b| **b == b'x').count();
    assert_eq!(kept, 16 << 20, "the log keeps 16 MiB of the output");
    let tail = String::from_utf8_lossy(&log[log.len() - 300..]).into_owned();
    // 20,000,006 bytes printed, 16,777,216 kept.
    assert!(tail.contains("[precheck: the output went on for 3222790 more bytes, not kept"), "{tail}");
    assert!(tail.ends_with("== succeeded ==\n"), "{tail}");
}
