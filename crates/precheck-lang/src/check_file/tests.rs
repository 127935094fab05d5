use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "APP" => Some("nginx".into()),
        "FIXTURES" => Some("/srv/fixtures".into()),
        _ => None,
    }
}

fn parse(text: &str) -> CheckFile {
    CheckFile::parse(text, &env).unwrap_or_else(|e| panic!("should parse: {:#?}", e.errors))
}

fn errors(text: &str) -> Vec<SyntaxError> {
    CheckFile::parse(text, &env).expect_err("should fail").errors
}

const FULL: &str = "\
# a comment
namespace 'team-a'
context 'prod'
tags cluster

setup {
    run kubectl apply -f ${FIXTURES}/nginx.yaml
}

teardown {
    run kubectl delete -f ${FIXTURES}/nginx.yaml
}

test 'nginx is up' {
    tags smoke, addons
    timeout 90s
    retries 2
    setup {
        run echo starting
    }
    verify there are 2 pods named '${APP}'
    try at most 5 times every 2s to get pods named 'nginx' and verify that 'status' is 'running'
    run kubectl get pods -o \"jsonpath={.items[*].metadata.name}\"
    expect status 0
    expect output contains 'nginx'
    expect stderr matches '^$'
    teardown {
        run echo done
    }
}

@test \"skipped one\" {
    skip 'waiting for PLAT-42'
    verify there is 1 svc named 'x'
}
";

#[test]
fn parses_every_statement() {
    let file = parse(FULL);
    assert!(matches!(&file.scope, Some(Scope::Namespace(ns)) if ns.value == "team-a"));
    assert_eq!(file.context.as_ref().unwrap().value, "prod");
    assert_eq!(file.tags[0].value, "cluster");
    assert_eq!(file.setup.len(), 1);
    let Action::Run(cmd) = &file.setup[0].action else { panic!() };
    assert_eq!(cmd.argv, ["kubectl", "apply", "-f", "/srv/fixtures/nginx.yaml"]);
    assert_eq!(file.teardown.len(), 1);
    assert_eq!(file.tests.len(), 2);

    let t = &file.tests[0];
    assert_eq!(t.name.value, "nginx is up");
    assert_eq!(&FULL[t.name.span.start..t.name.span.end], "nginx is up");
    assert_eq!(t.tags.iter().map(|t| t.value.as_str()).collect::<Vec<_>>(), ["smoke", "addons"]);
    assert_eq!(t.timeout, Some(Duration::from_secs(90)));
    assert_eq!(t.retries, Some(2));
    assert_eq!(t.setup.len(), 1);
    assert_eq!(t.teardown.len(), 1);
    assert_eq!(t.steps.len(), 3);
    let Action::Verify(s) = &t.steps[0].action else { panic!() };
    assert_eq!(s.cluster().unwrap().target.name.as_ref().unwrap().value.as_str(), "nginx");
    // The span of an expanded value points at `${APP}` in the file.
    let span = s.cluster().unwrap().target.name.as_ref().unwrap().span;
    assert_eq!(&FULL[span.start..span.end], "${APP}");
    assert!(matches!(&t.steps[1].action, Action::Try(s) if s.retry.unwrap().attempts == 5));
    let Action::Run(cmd) = &t.steps[2].action else { panic!() };
    assert_eq!(cmd.argv, ["kubectl", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert_eq!(cmd.status, crate::ExitStatus::Is(0));
    assert_eq!(cmd.output.len(), 2);
    assert_eq!(cmd.output[0].stream, Stream::Output);
    assert_eq!(cmd.output[0].expect, OutputExpectation::Contains("nginx".into()));
    assert!(t.steps[2].text.contains("expect stderr"));

    let skipped = &file.tests[1];
    assert_eq!(skipped.skip.as_ref().unwrap().value, "waiting for PLAT-42");
}

#[test]
fn all_namespaces_and_empty_files() {
    let file = parse("all namespaces\n");
    assert_eq!(file.scope, Some(Scope::AllNamespaces));
    assert_eq!(parse("# only comments\n\n"), CheckFile::default());
}

#[test]
fn reports_every_error_of_a_file_in_order() {
    let text = "\
namespace 'a'
test 'one' {
    verify there are 2 pods namd 'x'
    verfy there is 1 pod named 'y'
    try there are 2 pods named 'x'
    expect status 0
}
test 'two' {
    verify '${MISSING}' is 'x' for pods named 'y'
    run kubectl get pods | grep x
    run echo ok
    expect outptu contains 'x'
}
}
";
    let errs = errors(text);
    let located: Vec<(usize, usize, &str)> = errs
        .iter()
        .map(|e| {
            let (line, col) = crate::line_col(text, e.span.start);
            (line, col, e.kind.code())
        })
        .collect();
    assert_eq!(
        located,
        [
            (3, 29, "precheck::syntax"),
            (4, 5, "precheck::structure"),
            (5, 9, "precheck::form"),
            (6, 5, "precheck::structure"),
            (9, 13, "precheck::variable"),
            (10, 26, "precheck::command"),
            (12, 12, "precheck::syntax"),
            (14, 1, "precheck::structure"),
        ],
        "{errs:#?}"
    );
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `named`?"));
    assert_eq!(errs[1].help.as_deref(), Some("did you mean `verify`?"));
    assert_eq!(errs[6].help.as_deref(), Some("did you mean `output`?"));
}

#[test]
fn structure_errors() {
    let e = errors("test 'a' {\n  verify there are 2 pods named 'x'\n");
    assert_eq!(e[0].message, "block is never closed");
    assert_eq!(e[0].span.start, 0);

    let e = errors("verify there are 2 pods named 'x'\n");
    assert!(e[0].message.contains("belongs inside a `test"), "{}", e[0].message);

    let e = errors("test 'a' {\n}\ntest 'b' {\n}\ntest 'a' {\n}\ntest 'a' {\n}\n");
    assert_eq!(e.len(), 2);
    for e in &e {
        assert!(e.message.contains("already defined"));
        // Both point back at the first definition, not at the one just before.
        assert!(e.help.as_deref().unwrap().ends_with("starts at byte 6"), "{:?}", e.help);
    }

    let e = errors("test a {\n}\n");
    assert_eq!(e[0].kind, SyntaxErrorKind::Quote);

    let e = errors("tset 'a' {\n}\n");
    assert_eq!(e[0].help.as_deref(), Some("did you mean `test`?"));

    let e = errors("test 'a' {\n  timeout soon\n  retries many\n}\n");
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].message, "expected a duration such as `90s`, `1m30s` or `500ms`");

    let e = errors("test 'a' {\n  timeout 0s\n}\n");
    assert_eq!(e[0].message, "expected a duration longer than zero");
}

#[test]
fn durations_are_written_as_in_pipeline_files() {
    let file = CheckFile::parse("test 'a' {\n  timeout 1m30s\n  run true\n}\n", &|_| None).unwrap();
    assert_eq!(file.tests[0].timeout, Some(Duration::from_secs(90)));
}

#[test]
fn verify_and_try_must_match_the_sentence() {
    let e = errors(
        "test 'a' {\n  verify at most 2 times every 1s to get pods named 'x' and verify that 'status' is 'a'\n}\n",
    );
    assert_eq!(e[0].kind, SyntaxErrorKind::Form);
    assert_eq!(e[0].help.as_deref(), Some("write `try at most …`"));
}

#[test]
fn command_splitting() {
    let split = |s: &str| split_command(s, 0, &env);
    assert_eq!(
        split("echo 'a b' \"c ${APP}\" d${APP}e '${APP}'").unwrap(),
        ["echo", "a b", "c nginx", "dnginxe", "${APP}"]
    );
    assert_eq!(split("printf \"a\\\"b\"").unwrap(), ["printf", "a\"b"]);
    assert_eq!(split("echo 'a|b' \"x;y\"").unwrap(), ["echo", "a|b", "x;y"]);
    assert_eq!(split("echo ''").unwrap(), ["echo", ""]);
    for bad in ["a | b", "a > f", "a; b", "a && b", "echo $(id)", "echo `id`", "echo 'x", "echo \"x"] {
        let e = split(bad).unwrap_err();
        assert_eq!(e.kind, SyntaxErrorKind::Command, "{bad}");
    }
    assert_eq!(split("echo $(id)").unwrap_err().span, Span::new(5, 7));
    assert_eq!(split(r#"echo "\"x\" ${NOPE}""#).unwrap_err().span, Span::new(12, 19));
}

#[test]
fn never_panics_on_generated_files() {
    const PIECES: &[&str] = &[
        "test 'a' {",
        "@test \"b\" {",
        "}",
        "{",
        "setup {",
        "teardown {",
        "verify there are 2 pods named 'x'",
        "try at most 2 times every 1s to get pods named 'x' and verify that 'status' is 'a'",
        "run echo 'x",
        "run echo ${APP}",
        "expect status 0",
        "expect output is ''",
        "expect",
        "skip",
        "skip 'r'",
        "timeout 5",
        "retries x",
        "tags a,,b",
        "namespace 'n'",
        "all namespaces",
        "context",
        "# c",
        "",
        "é",
        "verify ${",
        "verify",
        "test '' {",
        "test 'é' { x",
    ];
    let mut seed = 7u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..5_000 {
        let lines = next() % 12;
        let text: String = (0..lines).map(|_| format!("{}\n", PIECES[next() % PIECES.len()])).collect();
        if let Err(errors) = CheckFile::parse(&text, &env) {
            for e in errors.errors {
                assert!(e.span.end <= text.len() && text.is_char_boundary(e.span.start), "{text:?}: {e:?}");
            }
        }
    }
}

#[test]
fn trailing_comments_are_ignored_outside_quotes() {
    let file = parse(
        "namespace 'a'   # the team's namespace\ntest 'x' { # first\n    verify there is 1 pod named 'a#b' # note\n    run echo a#b \"#\" '# x'\n    expect status 0 # default\n}\n",
    );
    assert!(matches!(&file.scope, Some(Scope::Namespace(ns)) if ns.value == "a"));
    let Action::Verify(s) = &file.tests[0].steps[0].action else { panic!() };
    assert_eq!(s.cluster().unwrap().target.name.as_ref().unwrap().value.as_str(), "a#b");
    let Action::Run(cmd) = &file.tests[0].steps[1].action else { panic!() };
    assert_eq!(cmd.argv, ["echo", "a#b", "#", "# x"]);
}

#[test]
fn an_unclosed_test_does_not_swallow_the_next_one() {
    let e =
        errors("test 'a' {\n    verify there is 1 pod named 'x'\ntest 'b' {\n    verify there is 1 pod named 'y'\n}\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].message.as_str(), e[0].span.start), ("this test is never closed", 0));
}

#[test]
fn variables_cannot_rewrite_a_sentence() {
    let env = |name: &str| (name == "APP").then(|| "x' in namespace 'kube-system".to_owned());
    let e = CheckFile::parse("test 'a' {\n    verify there is 1 pod named '${APP}'\n}\n", &env).unwrap_err().errors;
    assert_eq!(e[0].kind, SyntaxErrorKind::Variable);
    assert_eq!(e[0].span, Span::new(44, 50));
}

#[test]
fn spans_stay_in_a_file_without_a_last_newline() {
    // Found by fuzzing: an empty `tags` at the very end pointed one byte past the text.
    let text = "test 'a' {\n    tags";
    for e in errors(text) {
        assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{e:?}");
    }
}

#[test]
fn a_test_for_each_item_is_one_test_per_item_with_the_item_in_its_name_and_body() {
    let file = parse(
        "test 'api runs in ${NS}' for each NS in 'team-a', 'team-b' \"team c\" {
    tags per-team
    verify there is 1 pod named '^api-' in namespace '${NS}'
    run kubectl -n ${NS} get pods
}

test 'the ${APP} image' for each TAG in '1.27' '1.28' {
    run echo ${APP}:${TAG}
}

test 'once more' for each X in 'a' {
    verify there is 1 pod named '${X}'
}
",
    );
    let names: Vec<&str> = file.tests.iter().map(|t| t.name.value.as_str()).collect();
    assert_eq!(
        names,
        [
            "api runs in team-a",
            "api runs in team-b",
            "api runs in team c",
            "the ${APP} image [1.27]",
            "the ${APP} image [1.28]",
            "once more [a]"
        ]
    );
    let Action::Verify(sentence) = &file.tests[1].steps[0].action else { panic!() };
    assert!(format!("{sentence:?}").contains("team-b"), "{sentence:?}");
    let Action::Run(command) = &file.tests[2].steps[1].action else { panic!() };
    assert_eq!(command.argv, ["kubectl", "-n", "team c", "get", "pods"]);
    let Action::Run(command) = &file.tests[4].steps[0].action else { panic!() };
    assert_eq!(command.argv, ["echo", "nginx:1.28"], "the item beside the environment's variables");
    assert!(file.tests.iter().take(3).all(|t| t.tags[0].value == "per-team"));
}

#[test]
fn a_bad_for_each_says_what_was_expected_and_a_body_error_is_said_once() {
    let text = "test 'a ${N}' for each N in 'x', 'y' {\n    verify there is 1 pod named ${N}\n}\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "once, not once per item: {found:#?}");
    assert_eq!(&text[found[0].span.start..found[0].span.end], "${N}");

    for (text, message, at) in [
        ("test 'a' for each N 'x' {\n}\n", "expected `for each NAME in 'item', …`", "for each N 'x' {"),
        (
            "test 'a' for each 1N in 'x' {\n}\n",
            "expected a variable name after `for each`, found `1N`",
            "for each 1N in 'x' {",
        ),
        ("test 'a' for each N in x {\n}\n", "expected a quoted item", "x"),
        ("test 'a' for each N in 'x', 'x' {\n}\n", "the item 'x' is listed twice", "x"),
        ("test 'a' for each N in , {\n}\n", "expected at least one item after `in`", "for each N in , {"),
        ("test 'a' for each N in 'x', '' {\n}\n", "an item is empty", ""),
        ("test 'a' for eachN in 'x' {\n}\n", "expected `{` after the test name", " for eachN in 'x' {"),
    ] {
        let found = errors(text);
        assert_eq!(found[0].message, message, "{text}");
        assert_eq!(&text[found[0].span.start..found[0].span.end], at, "{text}");
    }
    // An unset variable among the items is an error at its place.
    let text = "test 'a' for each N in '${MISSING}' {\n}\n";
    let found = errors(text);
    assert_eq!(&text[found[0].span.start..found[0].span.end], "${MISSING}", "{found:#?}");
}

#[test]
fn object_checks_name_their_file_and_the_try_form_waits() {
    let file = parse(
        "test 'objects' {
    run kubectl apply -f ${FIXTURES}/web.yaml
    expect status 0
    expect object '01-assert.yaml'
    expect no object \"${APP}-errors.yaml\"
    try at most 10 times every 1m30s to expect object 'ready.yaml'
    try at most 1 times every 1s to expect no object 'gone.yaml'
}
",
    );
    let steps = &file.tests[0].steps;
    assert_eq!(steps.len(), 5, "the `expect status` stays with its run: {steps:#?}");
    let object = |i: usize| match &steps[i].action {
        Action::Object(check) => check.clone(),
        other => panic!("{other:?}"),
    };
    let first = object(1);
    assert_eq!((first.path.value.as_str(), first.present, first.retry), ("01-assert.yaml", true, None));
    assert_eq!((object(2).path.value.as_str(), object(2).present), ("nginx-errors.yaml", false));
    let waited = object(3).retry.unwrap();
    assert_eq!((waited.attempts, waited.interval), (10, Duration::from_secs(90)));
    assert!(object(3).present && !object(4).present && object(4).retry.unwrap().attempts == 1);
    let file = parse("test 'tabs' {\n    expect no\tobject 'gone.yaml'\n}\n");
    let Action::Object(check) = &file.tests[0].steps[0].action else { panic!() };
    assert!(!check.present, "blanks of any kind between the words");
}

#[test]
fn bad_object_checks_say_what_was_expected_at_their_place() {
    for (text, message, at) in [
        ("expect object\n", "expected a quoted YAML file of objects and nothing after it", ""),
        ("expect object 'a.yaml' now\n", "expected a quoted YAML file of objects and nothing after it", "'a.yaml' now"),
        (
            "try at most x times every 1s to expect object 'a.yaml'\n",
            "expected `at most N times every D`, and N a number of attempts (at least 1), found `x`",
            "at most x times every 1s",
        ),
        (
            "try at most 2 times every soon to expect object 'a.yaml'\n",
            "expected `at most N times every D`, and D a duration such as `5s` or `1m30s`, found `soon`",
            "at most 2 times every soon",
        ),
        ("try 2 times to expect object 'a.yaml'\n", "expected `at most N times every D`, found `2 times`", "2 times"),
        (
            "try at most 2 times every 1s to expect objekt 'a to expect object b'\n",
            "expected `object` or `no object`, found `objekt`",
            "objekt",
        ),
        (
            "try at most 2 times every 1s to expect aé to expect object 'x'\n",
            "expected `object` or `no object`, found `aé`",
            "aé",
        ),
        ("expect no objects 'x'\n", "expected `object` or `no object`, found `objects`", "objects"),
    ] {
        let source = format!("test 't' {{\n    {text}}}\n");
        let found = errors(&source);
        assert_eq!(found[0].message, message, "{text}");
        if !at.is_empty() {
            assert_eq!(&source[found[0].span.start..found[0].span.end], at, "{text}");
        }
    }
}

#[test]
fn an_exit_status_can_be_any_but_one_or_any_at_all() {
    let file = CheckFile::parse(
        "test 'x' {\n  run false\n  expect status not 0\n  run true\n  expect status ANY\n  run sh -c 'exit 3'\n  expect status 3\n}\n",
        &|_| None,
    )
    .unwrap();
    let statuses: Vec<_> = file.tests[0]
        .steps
        .iter()
        .map(|s| match &s.action {
            Action::Run(c) => c.status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, [crate::ExitStatus::Not(0), crate::ExitStatus::Any, crate::ExitStatus::Is(3)]);

    for (line, place) in [("expect status not", "not"), ("expect status any 0", "any 0"), ("expect status x", "x")] {
        let text = format!("test 'x' {{\n  run true\n  {line}\n}}\n");
        let errors = CheckFile::parse(&text, &|_| None).unwrap_err().errors;
        assert_eq!(errors.len(), 1, "{line}: {errors:?}");
        assert!(errors[0].message.contains("`not 0` or `any`"), "{line}: {}", errors[0].message);
        let at = text.find(place).unwrap();
        assert!(errors[0].span.start >= at, "{line}: {:?}", errors[0].span);
    }
}
