//! `precheck migrate bats` without a cluster: a suite of commands runs with bats-core and, converted, with
//! `precheck run`, each test ending the same way; lines left for a person are listed as `file:line: not
//! converted: why`; `--out` keeps a directory's layout; `--check` writes nothing; input that is not a bats
//! file says where.

#[path = "support/bats.rs"]
mod bats;
#[path = "support/binary.rs"]
mod binary;
#[path = "support/workspace.rs"]
mod workspace;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use bats::{bats, expected, outcomes};
use binary::text;
use workspace::repo_root;

/// `precheck ARGS` in `dir`, with no cluster (nothing here may need one) and MIGRATE_WORD set.
fn precheck(dir: &Path, args: &[&str]) -> Output {
    binary::command(&dir.join("no-such-kubeconfig"), dir, args).env("MIGRATE_WORD", "bird").output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn converted_commands_end_each_test_as_bats_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("suite")).unwrap();
    for name in ["commands.bats", "greeting.txt"] {
        std::fs::copy(repo_root().join("tests/fixtures/migrate").join(name), dir.join("suite").join(name)).unwrap();
    }
    let original = Command::new(bats())
        .args(["--tap", "suite/commands.bats"])
        .current_dir(dir)
        .env("MIGRATE_WORD", "bird")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let by_bats = outcomes(&String::from_utf8_lossy(&original.stdout));
    assert_eq!(
        by_bats,
        expected(&[
            ("a file beside the suite is read", "ok"),
            ("programs that fail as expected", "ok"),
            ("a failure both see", "not ok"),
            ("a program that fails fails the test", "not ok"),
            ("the environment", "ok"),
            ("skipped", "skip"),
        ]),
        "{}",
        text(&original)
    );

    // Written elsewhere: `$BATS_TEST_DIRNAME` becomes the way from the check file to the bats file.
    let converted = precheck(dir, &["migrate", "bats", "suite/commands.bats", "--out", "converted/deep"]);
    assert_eq!(converted.status.code(), Some(0), "{}", text(&converted));
    let check = std::fs::read_to_string(dir.join("converted/deep/commands.check")).unwrap();
    assert!(check.contains("    run cat ../../suite/greeting.txt\n"), "{check}");
    let run = precheck(dir, &["run", "converted", "--format", "tap"]);
    assert_eq!(outcomes(&String::from_utf8_lossy(&run.stdout)), by_bats, "{}", text(&run));
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
}

#[test]
fn lines_left_for_a_person_are_listed_and_a_directory_keeps_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(
        dir,
        "suite/ok.bats",
        "@test \"pods\" {\n  run verify \"there is 1 pod named 'a'\"\n  [ \"$status\" -eq 0 ]\n}\n",
    );
    write(
        dir,
        "suite/team/web.bats",
        "@test \"web\" {\n  kubectl get pods | grep -q web\n  for i in 1 2; do\n    true\n  done\n  verify \"there is 1 pod named 'web'\"\n}\n",
    );
    write(dir, "suite/notes.txt", "not a bats file, and not read");

    let out = precheck(dir, &["migrate", "bats", "suite", "--out", "checks"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "suite/team/web.bats:2: not converted: a pipe needs a shell",
            "suite/team/web.bats:3: not converted: a `for` loop needs a shell",
        ]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("suite/ok.bats → checks/ok.check: 1 test, every line converted"), "{stdout}");
    assert!(
        stdout.contains("suite/team/web.bats → checks/team/web.check: 1 test, 2 lines left for a person"),
        "{stdout}"
    );
    let web = std::fs::read_to_string(dir.join("checks/team/web.check")).unwrap();
    assert!(
        web.contains(
            "    # not converted: a pipe needs a shell\n    # kubectl get pods | grep -q web\n    # not converted: a `for` loop needs a shell\n    # for i in 1 2; do\n    #   true\n    # done\n    verify there is 1 pod named 'web'\n"
        ),
        "{web}"
    );
    let lint = precheck(dir, &["lint", "checks"]);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));

    // Again: the files exist. With --force they are written over.
    let again = precheck(dir, &["migrate", "bats", "suite/ok.bats", "--out", "checks"]);
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert!(text(&again).contains("error: cannot write checks/ok.check: it exists (pass --force to overwrite it)"));
    let forced = precheck(dir, &["migrate", "bats", "suite/ok.bats", "--out", "checks", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
}

#[test]
fn check_converts_in_memory_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "ok.bats", "@test \"pods\" {\n  verify \"there is 1 pod named 'a'\"\n}\n");
    write(dir, "left.bats", "@test \"pods\" {\n  x=$(kubectl get pods)\n}\n");
    let out = precheck(dir, &["migrate", "bats", "--check", "ok.bats"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ok.bats would become ok.check: 1 test, every line converted"), "{}", text(&out));
    let out = precheck(dir, &["migrate", "bats", "--check", "ok.bats", "left.bats"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("left.bats:2: not converted: sets a shell variable, which a check file has not"));
    assert!(!dir.join("ok.check").exists() && !dir.join("left.check").exists());
}

#[test]
fn input_that_is_not_a_bats_file_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "open.bats", "@test \"x\" {\n  run echo \"oops\n}\n");
    write(dir, "plain.bats", "echo hello\n");
    std::fs::write(dir.join("binary.bats"), b"@test \"x\" {\n\xff\n}\n").unwrap();
    let out = precheck(dir, &["migrate", "bats", "open.bats", "plain.bats", "binary.bats"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: open.bats:2:12: not a bats file: a `\"` quote is never closed"), "{stderr}");
    assert!(stderr.contains("error: plain.bats:1:1: not a bats file: no `@test \"…\" {` block"), "{stderr}");
    assert!(stderr.contains("error: binary.bats:2:1: "), "{stderr}");
    assert!(!dir.join("open.check").exists());
    let missing = precheck(dir, &["migrate", "bats", "absent.bats"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
}

/// The text between a line `start` and the next closing fence, in README.md.
fn readme_block(readme: &str, start: &str) -> String {
    let at = readme.find(start).unwrap_or_else(|| panic!("README.md has {start:?}")) + start.len();
    let body = &readme[at..];
    body[..body.find("```\n").expect("a closing fence")].to_owned()
}

#[test]
fn the_readme_example_converts_as_shown() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "web.bats", &readme_block(&readme, "Before (`web.bats`):\n\n```bash\n"));
    let out = precheck(dir, &["migrate", "bats", "web.bats"]);
    let said = readme_block(&readme, "After (`web.check`), and on stderr `");
    let (note, _) = said.split_once('`').unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), note);
    assert_eq!(out.status.code(), Some(3));
    let shown = readme_block(&readme, "`web.bats:15: not converted: a pipe needs a shell` (exit 3):\n\n```text\n");
    assert_eq!(std::fs::read_to_string(dir.join("web.check")).unwrap(), shown);
}

#[test]
fn kuttl_cases_of_a_suite_become_check_files_beside_their_steps() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "e2e/kuttl-test.yaml", "apiVersion: kuttl.dev/v1beta1\nkind: TestSuite\ntimeout: 90\n");
    write(dir, "e2e/web/00-install.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    write(dir, "e2e/web/00-assert.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    write(
        dir,
        "e2e/odd/00-run.yaml",
        "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ncommands:\n- script: echo hi\n- command: sleep 1\n  timeout: 5\n",
    );
    write(dir, "e2e/README.md", "not a case");

    let check = precheck(dir, &["migrate", "kuttl", "--check", "e2e"]);
    assert_eq!(check.status.code(), Some(3), "{}", text(&check));
    assert!(!dir.join("e2e/web/web.check").exists());

    let out = precheck(dir, &["migrate", "kuttl", "e2e"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "e2e/odd/00-run.yaml:1: not converted: a command's `timeout` (the check file has the test's)"
    );
    let web = std::fs::read_to_string(dir.join("e2e/web/web.check")).unwrap();
    assert!(
        web.contains(
            "    run kubectl apply --server-side --force-conflicts --field-manager=00-install.yaml -n kuttl-web -f 00-install.yaml\n    try at most 90 times every 1s to expect object '00-assert.yaml'\n"
        ),
        "{web}"
    );
    let script = std::fs::read_to_string(dir.join("e2e/odd/precheck.00-1.sh")).unwrap();
    assert!(script.ends_with("export NAMESPACE=kuttl-odd\necho hi\n"), "{script}");
    let lint = precheck(dir, &["lint", "e2e"]);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint));

    let none = precheck(dir, &["migrate", "kuttl", "e2e/web/00-install.yaml"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
}
