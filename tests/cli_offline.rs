//! End-to-end tests of the `precheck` binary that need no cluster: snapshots, lint, harness options.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn precheck_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn precheck(args: &[&str]) -> Output {
    precheck_in(&root(), args)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const SNAPSHOT: &str = "examples/offline_snapshot/cluster.yaml";

#[test]
fn the_offline_example_passes_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let out =
        precheck(&["run", "--snapshot", SNAPSHOT, "examples/offline_snapshot", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("precheck: 5 passed, 0 failed"), "{}", text(&out));
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains(r#"<testsuite name="examples/offline_snapshot/nginx.check" tests="5""#), "{xml}");
}

#[test]
fn tap_output_replaces_libtest_output() {
    let out = precheck(&[
        "run",
        "--snapshot",
        SNAPSHOT,
        "examples/offline_snapshot",
        "--format",
        "tap",
        "--test-threads",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.starts_with(
            "TAP version 14\n1..5\nok 1 - examples/offline_snapshot/nginx.check::nginx pods are running\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("test result"), "{stdout}");
}

#[test]
fn lint_reports_every_error_with_file_line_column_and_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.check"),
        "test 'one' {\n    verify there are 2 pods namd 'nginx'\n}\ntest 'two' {\n    verify there is 2 pods named 'x'\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b.check"), "tset 'three' {\n}\n").unwrap();
    std::fs::write(dir.path().join("ok.check"), "test 'fine' {\n    verify there is 1 pod named 'x'\n}\n").unwrap();
    let out = precheck_in(dir.path(), &["lint", "."]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("[./a.check:2:29]"), "{all}");
    assert!(all.contains("expected `named` or `with labels`, found `namd`"), "{all}");
    assert!(all.contains("help: did you mean `named`?"), "{all}");
    assert!(all.contains("verify there are 2 pods namd 'nginx'"), "{all}");
    assert!(all.contains("[./a.check:5:18]"), "{all}");
    assert!(all.contains("[./b.check:1:1]"), "{all}");
    assert!(all.contains("did you mean `test`?"), "{all}");
    assert!(all.contains("error: 3 errors in 2 files"), "{all}");
    // The caret line sits under the typo.
    let lines: Vec<&str> = all.lines().collect();
    let at = lines.iter().position(|l| l.contains("verify there are 2 pods namd")).unwrap();
    let column = |line: &str, byte: usize| line[..byte].chars().count();
    let source_col = column(lines[at], lines[at].find("namd").unwrap());
    let caret_col = column(lines[at + 1], lines[at + 1].find('─').unwrap());
    assert_eq!(source_col, caret_col, "{all}");
}

#[test]
fn the_shipped_checks_and_examples_lint_clean() {
    // The cluster-build example's check files read the pipeline's parameters, which reach them as
    // environment variables: lint them with the values a run gives.
    let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["lint", "checks", "examples"])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("CLUSTER", "prod-eu-1")
        .env("METRICS_SERVER", "v0.7.2")
        .stdin(Stdio::null())
        .output()
        .expect("run precheck");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = precheck(&["lint", "examples/cluster-build/validation"]);
    assert!(text(&out).contains("environment variable `CLUSTER` is not set"), "unset parameters are caught");
}

#[test]
fn verify_against_a_snapshot_uses_detik_exit_codes() {
    let code = |sentence: &str| precheck(&["verify", "--snapshot", SNAPSHOT, sentence]).status.code();
    assert_eq!(code("there are 2 pods named '^nginx-'"), Some(0));
    assert_eq!(code(""), Some(1));
    assert_eq!(code("there are 2 pods nmed 'x'"), Some(2));
    assert_eq!(code("there are 3 pods named '^nginx-'"), Some(3));
    assert_eq!(code("there is 1 podz named 'x'"), Some(2));
    let out = precheck(&["verify", "--snapshot", SNAPSHOT, "there are 2 pods nmed 'x'"]);
    assert!(text(&out).contains("did you mean `named`?"), "{}", text(&out));
}

fn write_suite(dir: &Path) {
    std::fs::write(
        dir.join("suite.check"),
        "\
test 'flaky once' {
    tags slow
    retries 1
    run sh -c 'test -e marker || { touch marker; exit 1; }'
}

test 'always fails' {
    run false
}

test 'passes' {
    tags smoke
    run true
}

test 'not yet' {
    skip 'waiting for PLAT-42'
    run false
}
",
    )
    .unwrap();
}

#[test]
fn a_test_that_passes_on_retry_is_flaky_in_the_terminal_and_in_junit() {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path());
    let junit = dir.path().join("junit.xml");
    let out = precheck_in(dir.path(), &["run", ".", "--junit", "junit.xml", "--test-threads", "1"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(
        all.contains("flaky tests (passed on a retry):\n    ./suite.check::flaky once (passed on attempt 2)"),
        "{all}"
    );
    assert!(all.contains("precheck: 2 passed, 1 failed, 0 errors, 0 invalid, 1 skipped, 1 flaky"), "{all}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<flakyFailure"), "{xml}");
    assert!(xml.contains("<skipped message=\"waiting for PLAT-42\""), "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
}

#[test]
fn filters_tags_list_ignored_and_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path());
    let run = |args: &[&str]| {
        let mut all = vec!["run", ".", "--test-threads", "1"];
        all.extend_from_slice(args);
        let out = precheck_in(dir.path(), &all);
        let _ = std::fs::remove_file(dir.path().join("marker"));
        out
    };
    let out = run(&["--list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("./suite.check::flaky once: test"), "{listed}");
    assert_eq!(listed.matches(": test").count(), 4, "{listed}");

    let out = run(&["--tag", "smoke"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("precheck: 1 passed, 0 failed"), "{}", text(&out));

    let out = run(&["--exclude-tag", "slow", "--skip", "always"]);
    assert!(text(&out).contains("precheck: 1 passed, 0 failed, 0 errors, 0 invalid, 1 skipped"), "{}", text(&out));

    let out = run(&["--filter", "passes", "--exact"]);
    assert!(text(&out).contains("0 passed"), "exact needs the whole name: {}", text(&out));
    let out = run(&["--filter", "./suite.check::passes", "--exact"]);
    assert!(text(&out).contains("precheck: 1 passed"), "{}", text(&out));

    let out = run(&["--ignored"]);
    assert_eq!(out.status.code(), Some(3), "the skipped test runs and fails: {}", text(&out));
    assert!(text(&out).contains("precheck: 0 passed, 1 failed"), "{}", text(&out));

    let out = run(&["--fail-fast", "--retries", "0", "--skip", "flaky"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("1 failed"), "{all}");
    assert!(all.contains("2 skipped"), "the test after the failure is not run: {all}");
}

#[test]
fn invalid_files_stop_a_run_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.check"), "test 'x' {\n    run touch ran\n    verify there are pods\n}\n")
        .unwrap();
    let out = precheck_in(dir.path(), &["run", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.check:3:22"), "{}", text(&out));
    assert!(!dir.path().join("ran").exists());
}

#[test]
fn a_missing_kubeconfig_is_an_infrastructure_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.check"), "test 'x' {\n    verify there is 1 pod named 'x'\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["run", ".", "--kubeconfig", "does-not-exist.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("cannot read kubeconfig does-not-exist.yaml"), "{}", text(&out));
}

#[test]
fn the_readme_check_file_example_is_valid() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("# checks/addons/metrics-server.check").expect("example in README");
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("example.check"), example).unwrap();
    // The assert file it names, beside it.
    std::fs::write(
        dir.path().join("metrics-server-assert.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: metrics-server}\nstatus: {readyReplicas: 1}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(["lint", "example.check"])
        .current_dir(dir.path())
        .env("FIXTURES", "/srv/fixtures")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn without_test_threads_sixteen_tests_run_at_once() {
    // Each test waits until all sixteen have started: they pass only if they all run at the same time
    // (libtest's own default would be the number of CPUs).
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..16 {
        text.push_str(&format!(
            "test 'waits for the others {i}' {{\n    run sh -c 'touch started-{i}; n=0; \
             while [ $(ls | grep -c ^started-) -lt 16 ]; do n=$((n+1)); [ $n -gt 200 ] && exit 1; sleep 0.05; done'\n}}\n\n"
        ));
    }
    std::fs::write(dir.path().join("together.check"), text).unwrap();
    let out =
        precheck_in(dir.path(), &["run", "--snapshot", &root().join(SNAPSHOT).to_string_lossy(), "together.check"]);
    assert_eq!(out.status.code(), Some(0), "{}", self::text(&out));
    assert!(self::text(&out).contains("precheck: 16 passed"), "{}", self::text(&out));
    for i in 0..16 {
        std::fs::remove_file(dir.path().join(format!("started-{i}"))).unwrap();
    }
    let out = precheck_in(
        dir.path(),
        &["run", "--snapshot", &root().join(SNAPSHOT).to_string_lossy(), "together.check", "-j", "15", "--fail-fast"],
    );
    assert_ne!(out.status.code(), Some(0), "sixteen waited for each other with 15 threads: {}", self::text(&out));
}

/// A file with a test of every outcome and a teardown that fails, and a file whose setup fails.
fn write_every_outcome(dir: &Path) {
    std::fs::write(
        dir.join("every.check"),
        "\
test 'passes' {
    verify there are 2 pods named '^nginx-'
}

test 'flaky' {
    retries 1
    run sh -c 'test -e marker || { touch marker; exit 1; }'
}

test 'skipped' {
    skip 'not today'
    run false
}

test 'fails' {
    verify there are 3 pods named '^nginx-'
}

test 'errors' {
    run precheck-no-such-program
}

test 'invalid' {
    verify there is 1 podz named 'x'
}

teardown {
    run sh -c 'echo cleanup refused; exit 1'
}
",
    )
    .unwrap();
    std::fs::write(
        dir.join("setup.check"),
        "setup {\n    run sh -c 'echo no namespace; exit 1'\n}\n\ntest 'after setup' {\n    run true\n}\n",
    )
    .unwrap();
}

#[test]
fn every_format_renders_the_run_report_with_every_outcome_and_one_summary() {
    let dir = tempfile::tempdir().unwrap();
    write_every_outcome(dir.path());
    let snapshot = root().join(SNAPSHOT);
    let run = |format: &str| {
        let _ = std::fs::remove_file(dir.path().join("marker"));
        let args = ["run", ".", "--snapshot", snapshot.to_str().unwrap(), "--format", format, "--junit", "junit.xml"];
        let out = precheck_in(dir.path(), &args);
        // The worst outcome decides: an invalid test.
        assert_eq!(out.status.code(), Some(2), "{format}: {}", text(&out));
        assert!(!text(&out).contains("test result:"), "no libtest summary: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let summary = "precheck: 2 passed, 1 failed, 3 errors, 1 invalid, 1 skipped, 1 flaky in ";

    let pretty = run("pretty");
    for line in [
        "running 7 tests",
        "test ./every.check::passes ... ok",
        "test ./every.check::flaky ... ok (flaky: passed on attempt 2)",
        "test ./every.check::skipped ... ignored, not today",
        "test ./every.check::fails ... FAILED",
        "test ./every.check::errors ... ERROR",
        "test ./every.check::invalid ... INVALID",
        "test ./setup.check::after setup ... ERROR",
        "teardown ./every.check ... ERROR",
        "---- ./every.check (teardown) [error] ----",
    ] {
        assert!(pretty.lines().any(|l| l == line), "{line:?} in:\n{pretty}");
    }
    assert!(pretty.contains("cleanup refused"), "why the teardown failed: {pretty}");
    assert!(pretty.contains("the file's setup failed"), "{pretty}");
    assert_eq!(pretty.matches("precheck: ").count(), 1, "one summary: {pretty}");
    assert!(pretty.contains(summary), "{pretty}");

    let terse = run("terse");
    let marks = terse.lines().find(|l| !l.is_empty() && !l.starts_with("running")).unwrap();
    let mut sorted: Vec<char> = marks.chars().collect();
    sorted.sort_unstable();
    assert_eq!(sorted.into_iter().collect::<String>(), ".EEEFIfi", "{terse}");
    assert_eq!(terse.matches("precheck: ").count(), 1, "{terse}");

    let json = run("json");
    let events: Vec<serde_json::Value> =
        json.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(events.first().unwrap()["event"], "started", "{json}");
    assert_eq!(events.first().unwrap()["tests"], 7, "{json}");
    let of = |kind: &str, event: &str| events.iter().filter(|e| e["type"] == kind && e["event"] == event).count();
    assert_eq!(
        [of("test", "passed"), of("test", "flaky"), of("test", "skipped"), of("test", "failed")],
        [1, 1, 1, 1],
        "{json}"
    );
    assert_eq!([of("test", "errored"), of("test", "invalid"), of("teardown", "errored")], [2, 1, 1], "{json}");
    let teardown = events.iter().find(|e| e["type"] == "teardown").unwrap();
    assert!(
        teardown["message"].as_str().unwrap().starts_with("line 28: run sh -c 'echo cleanup refused"),
        "{teardown}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished", "{json}");
    assert_eq!(
        (&last["status"], &last["errored"], &last["invalid"], &last["flaky"]),
        (&"invalid".into(), &3.into(), &1.into(), &1.into()),
        "{last}"
    );

    let tap = run("tap");
    assert!(tap.starts_with("TAP version 14\n1..8\n"), "{tap}");
    assert!(tap.contains("not ok 7 - ./every.check::(file teardown)"), "{tap}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("(file teardown)") && junit.contains("cleanup refused"), "{junit}");
}

#[test]
fn check_file_pipeline_file_and_sentence_errors_are_drawn_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.check"), "test 'a' {\n    verfy there is 1 pod\n}\n").unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "name: p\nstages:\n  - name: s\n    steps:\n      - { name: a, rn: [x] }\n",
    )
    .unwrap();
    let drawn = [
        (precheck_in(dir.path(), &["lint", "bad.check"]), "[bad.check:2:5]", "did you mean `verify`?"),
        (precheck_in(dir.path(), &["pipeline", "plan", "p.yaml"]), "[p.yaml:5:20]", "did you mean `run`?"),
        (precheck_in(dir.path(), &["verify", "there are 2 pods namd 'x'"]), "[verify:1:18]", "did you mean `named`?"),
    ];
    for (out, place, help) in drawn {
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{said}");
        // The message on top (once: not repeated with its place and help), the place with the line and a
        // caret under it, the help below.
        let top = said.lines().find(|l| l.trim_start().starts_with('×')).unwrap_or_else(|| panic!("{said}"));
        assert!(!top.contains(help) && !top.contains(&place[1..place.len() - 1]), "{said}");
        assert!(said.contains(&format!("╭─{place}")), "{said}");
        assert!(said.contains(&format!("help: {help}")), "{said}");
        assert_eq!(said.matches(help).count(), 1, "{said}");
    }
}

/// The (suite, test) pairs of a JUnit file, each once, and how many test cases it holds.
fn junit_cases(xml: &str) -> (std::collections::BTreeSet<(String, String)>, usize) {
    let suite = regex::Regex::new(r#"<testsuite name="([^"]*)""#).unwrap();
    let case = regex::Regex::new(r#"<testcase name="([^"]*)""#).unwrap();
    let (mut cases, mut count, mut current) = (std::collections::BTreeSet::new(), 0, String::new());
    for line in xml.lines() {
        if let Some(c) = suite.captures(line) {
            current = c[1].to_owned();
        }
        if let Some(c) = case.captures(line) {
            cases.insert((current.clone(), c[1].to_owned()));
            count += 1;
        }
    }
    (cases, count)
}

#[test]
fn the_shards_of_a_partition_run_every_test_exactly_once_and_their_junit_files_add_up() {
    let dir = tempfile::tempdir().unwrap();
    for f in 0..3 {
        let tests: String = (0..7).map(|t| format!("test 'file {f} test {t}' {{\n    run true\n}}\n\n")).collect();
        std::fs::write(dir.path().join(format!("f{f}.check")), tests).unwrap();
    }
    let run = |extra: &[&str], junit: &str| {
        let mut args = vec!["run", ".", "--junit", junit];
        args.extend_from_slice(extra);
        let out = precheck_in(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        junit_cases(&std::fs::read_to_string(dir.path().join(junit)).unwrap())
    };
    let (all, count) = run(&[], "all.xml");
    assert_eq!((all.len(), count), (21, 21));
    for kind in ["hash", "count"] {
        let mut union = std::collections::BTreeSet::new();
        let mut total = 0;
        for k in 1..=3 {
            let partition = format!("{kind}:{k}/3");
            let (cases, count) = run(&["--partition", &partition], &format!("{kind}{k}.xml"));
            assert!(count > 0 && count < 21, "{partition} ran {count} tests");
            if kind == "count" {
                assert_eq!(count, 7, "count deals evenly");
            }
            // The list shows the same shard.
            let out = precheck_in(dir.path(), &["run", ".", "--list", "--partition", &partition]);
            assert_eq!(String::from_utf8_lossy(&out.stdout).matches(": test").count(), count, "{partition}");
            total += count;
            union.extend(cases);
        }
        assert_eq!(total, 21, "{kind}: no test runs in two shards");
        assert_eq!(union, all, "{kind}: the shards together run every test");
    }
    // Filters apply first; the shards deal what they kept.
    let (kept, _) = run(&["--filter", "file 1", "--partition", "count:1/2"], "filtered.xml");
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert!(kept.iter().all(|(suite, _)| suite == "./f1.check"), "{kept:?}");

    let out = precheck_in(dir.path(), &["run", ".", "--partition", "hash:4/3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("invalid partition 'hash:4/3': K must be between 1 and N"), "{}", text(&out));
}

#[test]
fn a_test_for_each_item_is_a_trial_of_its_own_in_lists_filters_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("teams.check"),
        "test 'quota of ${TEAM}' for each TEAM in 'team-a', 'team-b', 'team-c' {\n    run test ${TEAM} != team-b\n}\n",
    )
    .unwrap();
    let out = precheck_in(dir.path(), &["run", ".", "--list"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    for team in ["team-a", "team-b", "team-c"] {
        assert!(listed.contains(&format!("./teams.check::quota of {team}: test")), "{listed}");
    }
    let out = precheck_in(dir.path(), &["run", ".", "--junit", "junit.xml"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("---- ./teams.check::quota of team-b [failed] ----"), "{all}");
    assert!(all.contains("precheck: 2 passed, 1 failed"), "{all}");
    let (cases, _) = junit_cases(&std::fs::read_to_string(dir.path().join("junit.xml")).unwrap());
    let names: Vec<&str> = cases.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["quota of team-a", "quota of team-b", "quota of team-c"]);
    let out = precheck_in(dir.path(), &["run", ".", "--filter", "team-c"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("precheck: 1 passed, 0 failed"), "{}", text(&out));
}

#[test]
fn object_files_are_checked_when_loaded_and_a_failed_match_names_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = root().join(SNAPSHOT);
    std::fs::write(
        dir.path().join("objects.check"),
        "namespace 'default'\n\ntest 'nginx runs three' {\n    expect object 'three.yaml'\n}\n\ntest 'no nginx runs' {\n    expect no object 'running.yaml'\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("three.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nginx}\nspec: {replicas: 3}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("running.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {app: nginx}\nstatus: {phase: Running}\n",
    )
    .unwrap();
    let out = precheck_in(dir.path(), &["run", ".", "--snapshot", snapshot.to_str().unwrap(), "-j", "1"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("1 Deployment 'nginx' found, none matches the object of ./three.yaml:1"), "{all}");
    assert!(all.contains("BAD default/nginx (.spec.replicas: expected 3, found 2)"), "{all}");
    assert!(all.contains("2 Pod with labels app=nginx match the object of ./running.yaml:1, expected none"), "{all}");

    // A file that is not YAML, a document without a kind, a file that is not there: lint says where.
    std::fs::write(dir.path().join("three.yaml"), "apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: [3}\n")
        .unwrap();
    std::fs::write(dir.path().join("running.yaml"), "metadata: {name: x}\n").unwrap();
    let out = precheck_in(dir.path(), &["lint", "."]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("./three.yaml:3:") && all.contains("not valid YAML"), "{all}");
    assert!(
        all.contains("./running.yaml:1:1") && all.contains("expected a partial object with `apiVersion` and `kind`"),
        "{all}"
    );
    std::fs::remove_file(dir.path().join("running.yaml")).unwrap();
    let out = precheck_in(dir.path(), &["lint", "."]);
    assert!(
        text(&out).contains("./objects.check:8:23") && text(&out).contains("cannot read ./running.yaml"),
        "{}",
        text(&out)
    );
}
