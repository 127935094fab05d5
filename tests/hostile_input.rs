//! Hostile input, through the binary: values holding shell syntax are matched literally and reach no
//! shell; invalid regexes, unknown resource types, files that are not text and pathological sizes are
//! clear errors with a position, never a panic, a hang or an unbounded report.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn precheck(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .current_dir(dir)
        .env("PRECHECK_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Values a shell would act on: command substitution, backticks, quotes, a newline, a variable.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'; touch PWNED; echo '",
    "a\"; touch PWNED; echo \"",
    "line one\ntouch PWNED",
    "${HOME}",
    "; touch PWNED #",
];

/// A snapshot with one pod whose annotations hold the hostile values.
fn snapshot(dir: &Path) -> std::path::PathBuf {
    let mut annotations = String::new();
    for (i, value) in HOSTILE.iter().enumerate() {
        annotations.push_str(&format!("          v{i}: {}\n", serde_json::to_string(value).unwrap()));
    }
    // A NUL byte: YAML writes it "\0"; no command line can hold it.
    annotations.push_str("          nul: \"a\\0b\"\n");
    let yaml = format!(
        "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n      name: weird\n      \
         namespace: default\n      annotations:\n{annotations}    status: {{phase: Running}}\n"
    );
    let path = dir.join("snapshot.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn shell_syntax_in_values_is_matched_literally_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot(dir.path());
    let snapshot = snapshot.to_str().unwrap();
    for (i, value) in HOSTILE.iter().enumerate() {
        // `is` compares literally: the value itself matches, and nothing else does.
        if value.contains(['\n', '\'']) {
            continue; // a sentence is one line, quoted with `'`: these go through regexes below
        }
        let literal = value;
        let sentence = format!("'.metadata.annotations.v{i}' is '{literal}' for pods named '^weird$'");
        let out = precheck(dir.path(), &["verify", "--snapshot", snapshot, &sentence]);
        assert_eq!(out.status.code(), Some(0), "{sentence}: {}", text(&out));
        let other = format!("'.metadata.annotations.v{i}' is 'x{literal}' for pods named '^weird$'");
        let out = precheck(dir.path(), &["verify", "--snapshot", snapshot, &other]);
        assert_eq!(out.status.code(), Some(3), "{other}: {}", text(&out));
    }
    // A regex is the regex it is: `\$\(` matches the characters, `.` any one.
    let out = precheck(
        dir.path(),
        &[
            "verify",
            "--snapshot",
            snapshot,
            r"'.metadata.annotations.v0' matches '^\$\(touch PWNED\)$' for pods named 'weird'",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = precheck(
        dir.path(),
        &[
            "verify",
            "--snapshot",
            snapshot,
            r"'.metadata.annotations.v4' matches '^line one\ntouch' for pods named 'weird'",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = precheck(
        dir.path(),
        &[
            "verify",
            "--snapshot",
            snapshot,
            r"'.metadata.annotations.v2' matches '^a.; touch PWNED; echo .$' for pods named 'weird'",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Through a pipeline: each value is one argument and one environment variable, never shell text.
    let pipeline = dir.path().join("p.yaml");
    std::fs::write(
        &pipeline,
        "name: p\nparameters: [{ name: V }]\nstages:\n  - name: s\n    steps:\n      - { name: arg, run: [printf, '%s|', \"${V}\"] }\n      - { name: env, shell: 'printf \"%s|\" \"$V\"' }\n",
    )
    .unwrap();
    for value in HOSTILE {
        let out = precheck(dir.path(), &["pipeline", "run", pipeline.to_str().unwrap(), "-p", &format!("V={value}")]);
        assert!(out.status.success(), "{value:?}: {}", text(&out));
        let status = precheck(dir.path(), &["pipeline", "status", "--json"]);
        let record: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let id = record["id"].as_str().unwrap();
        for step in ["s/arg", "s/env"] {
            let log = precheck(dir.path(), &["pipeline", "logs", id, step]);
            assert!(
                String::from_utf8_lossy(&log.stdout).contains(&format!("{value}|")),
                "{value:?} in {step}: {}",
                text(&log)
            );
        }
    }
    assert!(!dir.path().join("PWNED").exists(), "a value reached a shell");
}

#[test]
fn a_nul_byte_is_matched_literally_and_cannot_reach_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot(dir.path());
    // In a check file (which can hold one, unlike a command line): compared literally, a regex's `\x00`,
    // and a command argument, which no program can receive: the test fails and says why.
    std::fs::write(
        dir.path().join("nul.check"),
        "test 'literal' {\n    verify '.metadata.annotations.nul' is 'a\0b' for pods named '^weird$'\n}\n\n\
         test 'other' {\n    verify '.metadata.annotations.nul' is 'a\0c' for pods named '^weird$'\n}\n\n\
         test 'regex' {\n    verify '.metadata.annotations.nul' matches '^a\\x00b$' for pods named '^weird$'\n}\n\n\
         test 'argument' {\n    run printf '%s' 'a\0b; touch PWNED'\n}\n",
    )
    .unwrap();
    let out = precheck(dir.path(), &["run", "nul.check", "--snapshot", snapshot.to_str().unwrap(), "--test-threads=1"]);
    let said = text(&out);
    assert!(!said.contains("panicked"), "{said}");
    let line = |name: &str| said.lines().find(|l| l.contains(&format!("::{name} "))).unwrap_or_default().to_owned();
    assert!(line("literal").contains("ok"), "{said}");
    assert!(line("regex").contains("ok"), "{said}");
    assert!(line("other").contains("FAILED"), "{said}");
    assert!(said.contains("nul byte"), "the argument's test says why it could not run: {said}");
    assert!(!dir.path().join("PWNED").exists());
}

#[test]
fn invalid_regexes_and_unknown_resources_are_errors_with_a_position_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = snapshot(dir.path());
    let snapshot = snapshot.to_str().unwrap();
    let out = precheck(dir.path(), &["verify", "--snapshot", snapshot, "there is 1 pod named 'web-(['"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("regex"), "{}", text(&out));
    let file = dir.path().join("bad.check");
    std::fs::write(&file, "test 'a' {\n    verify there is 1 pod named '(unclosed'\n}\n").unwrap();
    let out = precheck(dir.path(), &["lint", "bad.check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.check:2:"), "{}", text(&out));
    let out = precheck(dir.path(), &["verify", "--snapshot", snapshot, "there is 1 podz named 'weird'"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("pods"), "the nearest resource type is suggested: {}", text(&out));
}

#[test]
fn files_that_are_not_text_say_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bin.check"), b"test 'a' {\n    verify there is 1 pod named '\xff\xfe'\n}\n")
        .unwrap();
    let out = precheck(dir.path(), &["lint", "bin.check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bin.check:2:34: not UTF-8 text (byte 0xff"), "{}", text(&out));
    std::fs::write(dir.path().join("p.yaml"), b"name: p\nstages:\n  - name: \xc3\n").unwrap();
    let out = precheck(dir.path(), &["pipeline", "plan", "p.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("p.yaml:3:11: not UTF-8 text (byte 0xc3"), "{}", text(&out));
}

#[test]
fn pathological_sizes_are_errors_with_bounded_reports() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(1 << 20);
    let nested = "{".repeat(10_000);
    let brackets = "[".repeat(10_000);
    let filters = format!("{}{}", "[?(@.b".repeat(10_000), ")]".repeat(10_000));
    let cases = [
        // A 1 MB line of garbage, a 1 MB word where a keyword belongs, a 1 MB pattern that is valid.
        ("line.check", format!("test 'a' {{\n    {huge}\n}}\n"), false),
        ("word.check", format!("test 'a' {{\n    verify there are 2 pods {huge} 'x'\n}}\n"), false),
        // (over the regex engine's size limit: an error, not a 1 MB automaton)
        ("pattern.check", format!("test 'a' {{\n    verify there is 1 pod named '{huge}'\n}}\n"), false),
        // 10,000 nested braces, and 10,000 brackets in a property path.
        ("braces.check", format!("test 'a' {nested}\n"), false),
        ("path.check", format!("test 'a' {{\n    verify '{brackets}' is 'x' for pods named 'a'\n}}\n"), false),
        // 10,000 filters nested in a property path (a recursive reader's stack).
        ("filters.check", format!("test 'a' {{\n    verify '.a{filters}' is 'x' for pods named 'a'\n}}\n"), false),
    ];
    for (name, source, valid) in cases {
        std::fs::write(dir.path().join(name), &source).unwrap();
        let out = precheck(dir.path(), &["lint", name]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 2 }), "{name}: {}", &said[..said.len().min(2000)]);
        assert!(!said.contains("panicked"), "{name}: {}", &said[..said.len().min(2000)]);
        // The report quotes what it must, not the megabyte.
        assert!(said.len() < 20_000, "{name}: a report of {} bytes", said.len());
        if name == "pattern.check" {
            assert!(said.contains("too large"), "the reason is the regex engine's size limit: {said}");
        }
        if !valid {
            assert!(
                said.contains(&format!("{name}:")),
                "{name}: the error names the file: {}",
                &said[..said.len().min(2000)]
            );
        }
    }
    let pipeline = format!(
        "name: p\nstages:\n  - name: s\n    steps:\n      - {{ name: a, run: [echo], when: \"{} X\" }}\n",
        "(".repeat(10_000)
    );
    std::fs::write(dir.path().join("p.yaml"), pipeline).unwrap();
    let out = precheck(dir.path(), &["pipeline", "plan", "p.yaml"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{}", &said[..said.len().min(2000)]);
    assert!(said.contains("p.yaml:5:"), "{}", &said[..said.len().min(2000)]);
    assert!(said.len() < 20_000, "a report of {} bytes", said.len());
}
