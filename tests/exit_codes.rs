//! README's exit-code table, walked through every sub-command: each sub-command a row lists is made to end
//! with that row's code, and every way a sub-command is made to end here is in the table. The sub-commands
//! are those `precheck --help` and `precheck pipeline --help` list, so a new one cannot be left out.

#[path = "support/serve.rs"]
mod serve;
#[path = "support/workspace.rs"]
mod workspace;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch directory with a state directory of its own.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temporary directory") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_precheck"));
        command
            .args(args)
            .env("PRECHECK_STATE_DIR", self.path("state"))
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        command
    }

    fn precheck(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run precheck")
    }

    /// A pipeline file with one step (`run` arguments as YAML) and one condition.
    fn pipeline(&self, run: &str) -> String {
        self.write(
            "p.yaml",
            &format!(
                "name: codes\nparameters: [{{ name: MODE, default: a }}]\nstages:\n  - name: s\n    steps:\n      \
                 - {{ name: step, run: {run} }}\n      - {{ name: maybe, when: MODE == 'b', run: ['true'] }}\n"
            ),
        )
    }

    /// The id of the latest run.
    fn latest_run(&self) -> String {
        let out = self.precheck(&["pipeline", "status", "--json"]);
        let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
        record["id"].as_str().expect("a run id").to_owned()
    }

    /// A pipeline run whose step failed, and its id: what `resume` takes.
    fn failed_run(&self) -> String {
        let file = self.pipeline("[sh, -c, 'test -f ok.flag']");
        let out = self.precheck(&["pipeline", "run", &file]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        self.latest_run()
    }

    /// A finished run, and its directory.
    fn finished_run(&self) -> PathBuf {
        let file = self.pipeline("['true']");
        let out = self.precheck(&["pipeline", "run", &file]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        self.path("state/runs").join(self.latest_run())
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn snapshot() -> String {
    workspace::repo_root().join("examples/offline_snapshot/cluster.yaml").to_string_lossy().into_owned()
}

const HOLDS: &str = "there are 2 pods named '^nginx-'";
const DOES_NOT_HOLD: &str = "there are 3 pods named '^nginx-'";
const TRY_HOLDS: &str = "at most 2 times every 1s to find 2 pods named '^nginx-' with 'status' being 'running'";
const TRY_DOES_NOT_HOLD: &str = "at most 2 times every 1s to find 3 pods named '^nginx-' with 'status' being 'running'";
const INVALID_SENTENCE: &str = "there are 2 pods namd 'nginx'";
const INVALID_PIPELINE: &str = "name: codes\nstages:\n  - name: s\n    steps:\n      - { name: a, rn: ['true'] }\n";

/// A bats file that converts whole, and one with a pipe.
const BATS_CONVERTS: &str = "@test \"pods\" {\n  run verify \"there is 1 pod named 'a'\"\n  [ \"$status\" -eq 0 ]\n}\n";
const BATS_NEEDS_A_PERSON: &str = "@test \"pods\" {\n  kubectl get pods | grep -q a\n}\n";

/// A kuttl step that converts whole, and one with a command whose own timeout has no check-file form.
const KUTTL_STEP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";
const KUTTL_NEEDS_A_PERSON: &str =
    "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ncommands:\n- command: sleep 1\n  timeout: 5\n";

/// A kuttl test case `case/` whose one step is `step`; its path.
fn kuttl_case(scratch: &Scratch, step: &str) -> String {
    scratch.write("case/00-step.yaml", step);
    scratch.path("case").display().to_string()
}

/// A check file with `body` as its one test's steps.
fn check_file(scratch: &Scratch, body: &str) -> String {
    scratch.write("t.check", &format!("test 'one' {{\n    {body}\n}}\n"))
}

/// Makes `sub_command` end with `code`, in a scratch directory of its own; `None` when nothing here makes it.
fn end(sub_command: &str, code: i32) -> Option<Output> {
    let s = Scratch::new();
    let snapshot = snapshot();
    let gone = s.path("no-such-kubeconfig").to_string_lossy().into_owned();
    let out = match (sub_command, code) {
        ("run", 0) => s.precheck(&["run", &check_file(&s, &format!("verify {HOLDS}")), "--snapshot", &snapshot]),
        ("run", 2) => s.precheck(&["run", &check_file(&s, "verfy there is 1 pod")]),
        ("run", 3) => {
            s.precheck(&["run", &check_file(&s, &format!("verify {DOES_NOT_HOLD}")), "--snapshot", &snapshot])
        }
        ("run", 4) => s.precheck(&["run", &check_file(&s, "run precheck-no-such-program")]),
        ("lint", 0) => s.precheck(&["lint", &check_file(&s, &format!("verify {HOLDS}"))]),
        ("lint", 2) => s.precheck(&["lint", &check_file(&s, "verfy there is 1 pod")]),
        ("verify", 0) => s.precheck(&["verify", "--snapshot", &snapshot, HOLDS]),
        ("verify", 1) => s.precheck(&["verify", "--snapshot", &snapshot, "  "]),
        ("verify", 2) => s.precheck(&["verify", "--snapshot", &snapshot, INVALID_SENTENCE]),
        ("verify", 3) => s.precheck(&["verify", "--snapshot", &snapshot, DOES_NOT_HOLD]),
        ("verify", 4) => s.precheck(&["verify", "--kubeconfig", &gone, HOLDS]),
        ("try", 0) => s.precheck(&["try", "--snapshot", &snapshot, TRY_HOLDS]),
        ("try", 1) => s.precheck(&["try", "--snapshot", &snapshot, ""]),
        ("try", 2) => s.precheck(&["try", "--snapshot", &snapshot, HOLDS]),
        ("try", 3) => s.precheck(&["try", "--snapshot", &snapshot, TRY_DOES_NOT_HOLD]),
        ("try", 4) => s.precheck(&["try", "--kubeconfig", &gone, TRY_HOLDS]),
        ("pipeline plan", 0) => s.precheck(&["pipeline", "plan", &s.pipeline("['true']")]),
        ("pipeline plan", 2) => s.precheck(&["pipeline", "plan", &s.write("p.yaml", INVALID_PIPELINE)]),
        ("pipeline plan", 4) => {
            // The directory for the conditions is a file.
            let file = s.pipeline("['true']");
            s.precheck(&["pipeline", "plan", &file, "--conditions", &s.write("taken", "")])
        }
        ("pipeline run", 0) => s.precheck(&["pipeline", "run", &s.pipeline("['true']")]),
        ("pipeline run", 2) => s.precheck(&["pipeline", "run", &s.write("p.yaml", INVALID_PIPELINE)]),
        ("pipeline run", 3) => s.precheck(&["pipeline", "run", &s.pipeline("['false']")]),
        ("pipeline run", 4) => s.precheck(&["pipeline", "run", &s.pipeline("[precheck-no-such-program]")]),
        ("pipeline step", 0) => s.precheck(&["pipeline", "step", &s.pipeline("['true']"), "s/step"]),
        ("pipeline step", 2) => s.precheck(&["pipeline", "step", &s.pipeline("['true']"), "s/no-such-step"]),
        ("pipeline step", 3) => s.precheck(&["pipeline", "step", &s.pipeline("['false']"), "s/step"]),
        ("pipeline step", 4) => s.precheck(&["pipeline", "step", &s.pipeline("[precheck-no-such-program]"), "s/step"]),
        ("pipeline export", _) => {
            let (file, dir) = match code {
                0 => (s.pipeline("['true']"), s.path("argo").to_string_lossy().into_owned()),
                2 => (s.write("p.yaml", INVALID_PIPELINE), s.path("argo").to_string_lossy().into_owned()),
                // The directory to write to is a file.
                4 => (s.pipeline("['true']"), s.write("taken", "")),
                _ => return None,
            };
            s.precheck(&["pipeline", "export", &file, "--argo", &dir, "--image", "precheck:test"])
        }
        ("pipeline resume", 0) => {
            let id = s.failed_run();
            s.write("ok.flag", "");
            s.precheck(&["pipeline", "resume", &id])
        }
        ("pipeline resume", 2) => s.precheck(&["pipeline", "resume", "no-such-run"]),
        ("pipeline resume", 3) => {
            let id = s.failed_run();
            s.precheck(&["pipeline", "resume", &id])
        }
        ("pipeline resume", 4) => {
            // The step's program cannot be found any more.
            let id = s.failed_run();
            s.command(&["pipeline", "resume", &id]).env("PATH", "").output().expect("run precheck")
        }
        ("pipeline status" | "pipeline logs" | "pipeline report", 0) => {
            let run = s.finished_run();
            let id = run.file_name().expect("a run").to_string_lossy().into_owned();
            s.precheck(&["pipeline", sub_command.trim_start_matches("pipeline "), &id])
        }
        ("pipeline status" | "pipeline logs" | "pipeline report", 2) => {
            s.precheck(&["pipeline", sub_command.trim_start_matches("pipeline "), "no-such-run"])
        }
        ("pipeline status" | "pipeline logs", 4) => {
            // A record that is not one.
            let run = s.finished_run();
            std::fs::write(run.join("run.json"), "{ cut sh").expect("write");
            let id = run.file_name().expect("a run").to_string_lossy().into_owned();
            s.precheck(&["pipeline", sub_command.trim_start_matches("pipeline "), &id])
        }
        ("pipeline report", 4) => {
            // Where the report goes is a directory.
            let run = s.finished_run();
            std::fs::remove_file(run.join("report.html")).expect("the run wrote its report");
            std::fs::create_dir(run.join("report.html")).expect("mkdir");
            let id = run.file_name().expect("a run").to_string_lossy().into_owned();
            s.precheck(&["pipeline", "report", &id])
        }
        ("pipeline list", 0) => {
            s.finished_run();
            s.precheck(&["pipeline", "list"])
        }
        ("pipeline list", 2) => s.precheck(&["pipeline", "list", "--no-such-option"]),
        ("pipeline list", 4) => {
            // Where runs are kept is a file.
            std::fs::create_dir(s.path("state")).expect("mkdir");
            s.write("state/runs", "");
            s.precheck(&["pipeline", "list"])
        }
        ("pipeline serve", 0) => {
            let file = s.pipeline("['true']");
            let mut command = s.command(&["pipeline", "serve", &file, "--listen", "127.0.0.1:0"]);
            command.env("PRECHECK_TRIGGER_TOKEN", "exit-codes-token-0123456789abcdef");
            let (mut child, _address) = serve::start(&mut command);
            let stopped = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
            assert!(stopped.success());
            let status = child.wait().expect("wait");
            let mut stdout = Vec::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = std::io::Read::read_to_end(&mut out, &mut stdout);
            }
            Output { status, stdout, stderr: Vec::new() }
        }
        ("pipeline serve", 2) => {
            // No token.
            s.command(&["pipeline", "serve", &s.pipeline("['true']"), "--listen", "127.0.0.1:0"])
                .env_remove("PRECHECK_TRIGGER_TOKEN")
                .output()
                .expect("run precheck")
        }
        ("pipeline serve", 4) => {
            // The port is taken.
            let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = taken.local_addr().expect("address").to_string();
            s.command(&["pipeline", "serve", &s.pipeline("['true']"), "--listen", &address])
                .env("PRECHECK_TRIGGER_TOKEN", "exit-codes-token-0123456789abcdef")
                .output()
                .expect("run precheck")
        }
        ("migrate bats", 0) => s.precheck(&["migrate", "bats", &s.write("a.bats", BATS_CONVERTS)]),
        ("migrate bats", 2) => s.precheck(&["migrate", "bats", &s.write("a.bats", "echo 'no test here'\n")]),
        // A line left for a person.
        ("migrate bats", 3) => s.precheck(&["migrate", "bats", &s.write("a.bats", BATS_NEEDS_A_PERSON)]),
        ("migrate bats", 4) => {
            // Where the check file goes is a file.
            let bats = s.write("a.bats", BATS_CONVERTS);
            s.precheck(&["migrate", "bats", &bats, "--out", &s.write("taken", "")])
        }
        ("migrate kuttl", 0) => s.precheck(&["migrate", "kuttl", &kuttl_case(&s, KUTTL_STEP)]),
        ("migrate kuttl", 2) => {
            s.write("empty/notes.txt", "no steps");
            s.precheck(&["migrate", "kuttl", &s.path("empty").display().to_string()])
        }
        ("migrate kuttl", 3) => s.precheck(&["migrate", "kuttl", &kuttl_case(&s, KUTTL_NEEDS_A_PERSON)]),
        ("migrate kuttl", 4) => {
            // The check file exists.
            let case = kuttl_case(&s, KUTTL_STEP);
            s.write("case/case.check", "# mine\n");
            s.precheck(&["migrate", "kuttl", &case])
        }
        _ => return None,
    };
    Some(out)
}

/// The sub-commands `--help` lists: `run`, …, `pipeline plan`, ….
fn sub_commands() -> BTreeSet<String> {
    let listed = |args: &[&str]| -> Vec<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_precheck")).args(args).output().expect("run precheck");
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            // A name at the indent; its description's wrapped lines are indented further.
            .filter(|l| !l[2..].starts_with(' '))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .filter(|name| name != "help")
            .collect()
    };
    let mut all = BTreeSet::new();
    for name in listed(&["--help"]) {
        if name == "pipeline" || name == "migrate" {
            all.extend(listed(&[&name, "--help"]).into_iter().map(|sub| format!("{name} {sub}")));
        } else {
            all.insert(name);
        }
    }
    all
}

/// The (code, sub-command) pairs of README's exit-code table.
fn readme_table(readme: &Path) -> BTreeSet<(i32, String)> {
    let text = std::fs::read_to_string(readme).expect("README.md");
    let start = text.find("| code | meaning | sub-commands |").expect("README has the exit-code table");
    let mut pairs = BTreeSet::new();
    for row in text[start..].lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let code: i32 = cells[0].parse().expect("a code in the first column");
        // Sub-commands are the back-quoted words of the last column.
        for name in cells[2].split('`').skip(1).step_by(2) {
            pairs.insert((code, name.to_owned()));
        }
    }
    pairs
}

#[test]
fn every_sub_command_ends_with_each_code_the_readme_lists_for_it() {
    let table = readme_table(&workspace::repo_root().join("README.md"));
    let sub_commands = sub_commands();
    assert!(sub_commands.contains("run") && sub_commands.contains("pipeline serve"), "{sub_commands:?}");
    let in_table: BTreeSet<String> = table.iter().map(|(_, name)| name.clone()).collect();
    assert_eq!(in_table, sub_commands, "the table names every sub-command, and only those");
    for sub_command in &sub_commands {
        assert!(table.contains(&(0, sub_command.clone())), "{sub_command} can succeed");
        assert!(table.contains(&(2, sub_command.clone())), "{sub_command} refuses invalid input");
    }
    let mut walked = 0;
    for code in 0..=5 {
        for sub_command in &sub_commands {
            let listed = table.contains(&(code, sub_command.clone()));
            match end(sub_command, code) {
                Some(out) => {
                    assert!(listed, "`{sub_command}` ends with {code}, which the README does not say: {}", text(&out));
                    assert_eq!(out.status.code(), Some(code), "`{sub_command}` for {code}: {}", text(&out));
                    walked += 1;
                }
                None => assert!(!listed, "the README says `{sub_command}` can end with {code}; nothing here makes it"),
            }
        }
    }
    assert_eq!(walked, table.len());
}
