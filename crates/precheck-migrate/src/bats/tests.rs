use super::*;

/// Converts and checks that the result is a valid check file (every `${VAR}` set).
fn converted(bats: &str) -> Conversion {
    let conversion = convert(bats, &Options::default()).unwrap();
    let vars = |name: &str| Some(format!("value-of-{}", name.to_ascii_lowercase()));
    if let Err(e) = precheck_lang::CheckFile::parse(&conversion.text, &vars) {
        panic!("not a valid check file: {e:?}\n{}", conversion.text);
    }
    conversion
}

/// The body of the first test, without indentation.
fn body(conversion: &Conversion) -> Vec<String> {
    let text = &conversion.text;
    let start = text.find("\ntest ").unwrap_or_else(|| panic!("no test in:\n{text}"));
    text[start + 1..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "}")
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

fn test_of(lines: &str) -> String {
    format!("load 'detik'\n@test \"t\" {{\n{lines}\n}}\n")
}

fn notes(conversion: &Conversion) -> Vec<(usize, &str)> {
    conversion.notes.iter().map(|n| (n.line, n.why.as_str())).collect()
}

#[test]
fn detik_sentences_with_their_status_checks_become_verify_and_try() {
    let c = converted(&test_of(
        r#"    run verify "there are 2 pods named 'nginx'"
    [ "$status" -eq 0 ]
    run try "at most 5 times every 2s to get pods named 'nginx' and verify that 'status' is 'running'"
    [[ $status == 0 ]]
    run verify 'there is 1 svc named' "'nginx'"
    assert_success
    verify "there is 0 pod named '$APP'"
    run verify "there are 5 pods named 'nginx'"
    [ "$status" -eq 3 ]
    run try "at most 2 times every 1s to find 1 pod named 'x' with 'status' being 'failed'"
    assert_failure"#,
    ));
    assert_eq!(
        body(&c),
        [
            "verify there are 2 pods named 'nginx'",
            "try at most 5 times every 2s to get pods named 'nginx' and verify that 'status' is 'running'",
            "verify there is 1 svc named 'nginx'",
            "verify there is 0 pod named '${APP}'",
            "run precheck verify \"there are 5 pods named 'nginx'\"",
            "expect status 3",
            "run precheck try \"at most 2 times every 1s to find 1 pod named 'x' with 'status' being 'failed'\"",
            "expect status not 0",
        ]
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn a_sentence_expected_to_fail_is_asked_in_the_file_namespace() {
    let c = converted(
        "DETIK_CLIENT_NAME=\"kubectl\"\nDETIK_CLIENT_NAMESPACE=\"$TEAM_NS\"\n@test 't' {\n  run verify \"there is 1 pod named 'x'\"\n  [ \"$status\" -ne 0 ]\n}\n",
    );
    assert!(c.text.contains("\nnamespace '${TEAM_NS}'\n"), "{}", c.text);
    assert_eq!(body(&c)[0], "run precheck verify -n \"${TEAM_NS}\" \"there is 1 pod named 'x'\"");
    assert_eq!(body(&c)[1], "expect status not 0");
    let all = converted(
        "DETIK_CLIENT_NAMESPACE_ALL=true\nDETIK_CLIENT_NAME='kubectl --context prod'\n@test 't' {\n  run verify \"there is 1 pod named 'x'\"\n  [ \"$status\" -eq 3 ]\n}\n",
    );
    assert!(all.text.contains("\nall namespaces\ncontext 'prod'\n"), "{}", all.text);
    assert!(body(&all)[0].starts_with("run precheck verify -A --context prod "), "{:?}", body(&all));
}

#[test]
fn a_run_verify_whose_status_nobody_checks_is_left_for_a_person() {
    let c = converted(&test_of("    run verify \"there is 1 pod named 'x'\"\n    run kubectl get pods"));
    assert_eq!(
        notes(&c),
        [(
            3,
            "`run verify` without a status check asserts nothing (bats ignores its result): check `$status` or drop `run`"
        )]
    );
    assert_eq!(
        body(&c)[..2],
        [
            "# not converted: `run verify` without a status check asserts nothing (bats ignores its result): check `$status` or drop `run`",
            "# run verify \"there is 1 pod named 'x'\""
        ]
    );
}

#[test]
fn commands_and_their_status_and_output_checks() {
    let c = converted(&test_of(
        r#"    run kubectl get deploy web -n "$NS" -o name
    [ "$status" -eq 0 ]
    [ "$output" = "deployment.apps/web" ]
    [[ "$output" == *"web"* ]]
    [[ $output =~ ^deploy.*/web$ ]]
    [[ "$output" =~ "apps/w" ]]
    run kubectl get cm absent
    [ "$status" -ne 0 ]
    assert_output --partial 'NotFound'
    run -1 false
    run ! kubectl get ns nope
    run helm version --short
    assert_output --regexp '^v3\.'
    run --separate-stderr kubectl version
    [ -n "$output" ]
    [ -z "$stderr" ]
    [ "$output" == "it's" ]"#,
    ));
    assert_eq!(
        body(&c),
        [
            r#"run kubectl get deploy web -n "${NS}" -o name"#,
            "expect status 0",
            "expect output is 'deployment.apps/web'",
            "expect output contains 'web'",
            "expect output matches '(?s)^deploy.*/web$'",
            "expect output matches '(?s)apps/w'",
            "run kubectl get cm absent",
            "expect status not 0",
            "expect output contains 'NotFound'",
            "run false",
            "expect status 1",
            "run kubectl get ns nope",
            "expect status not 0",
            "run helm version --short",
            "expect status any",
            "expect output matches '(?s)^v3\\.'",
            "run kubectl version",
            "expect status any",
            "expect stdout matches '(?s).'",
            "expect stderr is ''",
            "expect stdout is \"it's\"",
        ]
    );
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn commands_without_run_must_succeed_and_harmless_endings_go() {
    let c = converted(&test_of(
        "    kubectl apply -f \"$BATS_TEST_DIRNAME/fixtures/web.yaml\"\n    kubectl delete ns x --wait=false >/dev/null 2>&1 || true\n    [ -f ~/.kube/config ]\n    cd \"$BATS_TEST_DIRNAME\"\n    echo \"# debug: $NS\" >&3\n    echo \"applied\"\n    sleep 1",
    ));
    assert_eq!(
        body(&c),
        [
            "run kubectl apply -f ./fixtures/web.yaml",
            "run kubectl delete ns x --wait=false",
            "expect status any",
            "run test -f \"${HOME}/.kube/config\"",
            "# not converted: a redirection needs a shell",
            "# echo \"# debug: $NS\" >&3",
            "# echo \"applied\"",
            "run sleep 1",
        ]
    );
    assert_eq!(notes(&c), [(7, "a redirection needs a shell")]);
}

#[test]
fn what_needs_a_shell_stays_in_place_as_comments_and_is_listed() {
    let c = converted(&test_of(
        r#"    kubectl get pods | grep -q Running
    pods=$(kubectl get pods -o name)
    run kubectl get pods -o name
    [ "${lines[0]}" = "pod/a" ]
    for p in a b; do
        kubectl get pod "$p"
    done
    kubectl apply -f - <<EOF
kind: ConfigMap
EOF
    kubectl get ns "$pods"
    helper
    [ "$status" -gt 0 ]
    refute_output 'x'"#,
    ));
    assert_eq!(
        notes(&c),
        [
            (3, "a pipe needs a shell"),
            (4, "sets a shell variable, which a check file has not"),
            (6, "a parameter expansion (`${lines[0]}`) needs a shell"),
            (7, "a `for` loop needs a shell"),
            (10, "a here-document needs a shell"),
            (13, "`$pods` is set by a line that was not converted"),
            (15, "this check of `$status` or `$output` has no check-file form"),
            (16, "`refute_output` has no check-file form"),
        ]
    );
    // The loop is kept whole, its indentation too; the here-document's lines are not read as commands.
    assert!(c.text.contains("    # for p in a b; do\n    #     kubectl get pod \"$p\"\n    # done\n"), "{}", c.text);
    assert!(c.text.contains("    # kind: ConfigMap\n    # EOF\n"), "{}", c.text);
}

#[test]
fn the_files_own_functions_are_kept_whole_and_their_calls_listed() {
    let c = converted(
        "helper() {\n  kubectl get pods\n}\n@test 't' {\n  helper\n  run helper\n  [ \"$status\" -eq 0 ]\n}\n",
    );
    assert_eq!(
        notes(&c),
        [
            (1, "`helper` is a function of this file: its calls are not converted either"),
            (5, "calls `helper`, a function of this file"),
            (6, "runs `helper`, a function of this file"),
            (7, "checks a `run` that was not converted"),
        ]
    );
    assert!(c.text.contains("# helper() {\n#   kubectl get pods\n# }\n"), "{}", c.text);
}

#[test]
fn setup_and_teardown_go_to_the_file_and_to_every_test() {
    let c = converted(
        r#"#!/usr/bin/env bats
# The web suite.
# bats file_tags=web
load "lib/detik"
DETIK_CLIENT_NAME="kubectl"
NS="web-$RUN_ID"

setup_file() {
    kubectl create namespace "$NS"
}

teardown_file() {
    kubectl delete namespace "$NS" --wait=false
}

setup() { kubectl get namespace "$NS"; }

teardown() {
    run kubectl delete configmap marker -n "$NS"
}

# bats test_tags=smoke, fast
@test "first" {
    skip "not yet"
    verify "there is 1 pod named 'a'"
}

@test 'second' {
    verify "there is 1 pod named 'b'"
}
"#,
    );
    let text = &c.text;
    assert!(
        text.starts_with("# Converted from a bats file by `precheck migrate bats`.\n# The web suite.\n\ntags web\n\n"),
        "{text}"
    );
    assert!(text.contains("setup {  # setup_file\n    run kubectl create namespace \"web-${RUN_ID}\"\n}\n"), "{text}");
    assert!(
        text.contains(
            "teardown {  # teardown_file\n    run kubectl delete namespace \"web-${RUN_ID}\" --wait=false\n}\n"
        ),
        "{text}"
    );
    let each = "    setup {  # setup()\n        run kubectl get namespace \"web-${RUN_ID}\"\n    }\n    teardown {  # teardown()\n        run kubectl delete configmap marker -n \"web-${RUN_ID}\"\n        expect status any\n    }\n";
    assert!(
        text.contains(&format!(
            "test 'first' {{\n    tags smoke, fast\n    skip 'not yet'\n{each}    verify there is 1 pod named 'a'\n}}\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("test 'second' {{\n{each}    verify there is 1 pod named 'b'\n}}")), "{text}");
    assert_eq!(c.tests, 2);
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn text_that_is_not_a_bats_file_says_where() {
    let options = Options::default();
    assert_eq!(convert("echo hello\n", &options), Err(NotBats::NoTests));
    let error = |text: &str| convert(text, &options).unwrap_err().to_string();
    assert_eq!(
        error("@test \"x\" {\n  true\n"),
        "1:1: the block opened here is never closed: expected a `}` alone on a line"
    );
    assert_eq!(error("@test \"x\" {\n  echo \"oops\n}\n"), "2:8: a `\"` quote is never closed");
    assert_eq!(error("}\n@test 'x' {\n}\n"), "1:1: `}` closes no block");
}

#[test]
fn test_names_and_values_keep_their_quotes() {
    let c = converted(
        "@test \"it's up\" {\n  run echo 'say \"hi\"'\n  [ \"$output\" = 'say \"hi\"' ]\n}\n@test \"it's up\" {\n  true\n}\n",
    );
    assert!(
        c.text.contains(
            "test \"it's up\" {\n    run echo 'say \"hi\"'\n    expect status any\n    expect output is 'say \"hi\"'\n}"
        ),
        "{}",
        c.text
    );
    assert_eq!(notes(&c), [(5, "a second test named \"it's up\"")]);
}

#[test]
fn a_check_after_a_line_left_for_a_person_is_not_given_to_an_earlier_run() {
    let c = converted(&test_of(
        "    run kubectl get ns web\n    [ \"$status\" -eq 0 ]\n    output=$(kubectl get pods -n web)\n    [[ \"$output\" == *Running* ]]",
    ));
    assert_eq!(body(&c)[..2], ["run kubectl get ns web", "expect status 0"]);
    assert_eq!(
        notes(&c),
        [(5, "sets a shell variable, which a check file has not"), (6, "checks a `run` that was not converted")]
    );
}

#[test]
fn a_group_in_braces_is_kept_whole_and_the_test_goes_on() {
    let c = converted(&test_of(
        "    kubectl get ns web || { echo \"no ns\"; false; }\n    kubectl get ns app || {\n        false\n    }\n    verify \"there is 1 pod named 'a'\"",
    ));
    assert_eq!(notes(&c), [(3, "a `{ … }` group needs a shell"), (4, "a `{ … }` group needs a shell")]);
    assert_eq!(body(&c).last().unwrap(), "verify there is 1 pod named 'a'");
}

#[test]
fn line_breaks_in_values() {
    let c = converted(&test_of(
        "    run try \"at most 10 times every 5s to get pods named 'web'\n        and verify that 'status' is 'running'\"\n    [ \"$status\" -eq 0 ]\n    kubectl get pods -l app=web\\\n,tier=a -o name\n    run kubectl patch deploy web -p '{\"spec\":\n {}}'\n    [ \"$output\" = \"a\nb\" ]",
    ));
    let body = body(&c);
    assert_eq!(body[0], "try at most 10 times every 5s to get pods named 'web' and verify that 'status' is 'running'");
    assert_eq!(body[1], "run kubectl get pods -l app=web,tier=a -o name");
    assert_eq!(
        notes(&c),
        [
            (8, "an argument over several lines has no check-file form"),
            (10, "an expected output over several lines has no check-file form"),
        ]
    );
}

#[test]
fn no_text_makes_it_panic() {
    // A line indented with a wide space inside a kept block; odd bytes; nothing but braces.
    for text in [
        "@test \"x\" {\n  echo \"a\n\u{3000}b\"\n  for i in 1; do\n\u{3000}\u{3000}true\n  done\n}\n",
        "@test \"é\" {\n  run é \"$é\" '${' \"$\" $\n  [ \"$output\" = $ ]\n}\n",
        "@test x {\n}\n",
        "@test \"x\" {\n  [ \"$status\" -eq ]\n  [[ ]]\n  [\n  run\n  run -\n  assert_output\n  skip \"\n\"\n}\n",
    ] {
        let conversion = convert(text, &Options::default());
        if let Ok(c) = conversion {
            let vars = |name: &str| Some(name.to_owned());
            assert!(precheck_lang::CheckFile::parse(&c.text, &vars).is_ok(), "{text:?}:\n{}", c.text);
        }
    }
}

#[test]
fn variables_split_and_match_as_bash_would() {
    let c = converted(
        "ARGS=\"--context kind-e2e\"\nEXTRA=\"\"\nP=\"*Running*\"\nV=1.2.3\n@test 't' {\n  run kubectl $ARGS get pods $EXTRA \"$ARGS\"\n  [[ $output == $P ]]\n  [[ $output =~ \"$V\" ]]\n  [[ $output =~ $V ]]\n  kubectl apply -f manifests/*.yaml\n  kubectl delete ns t-{a,b}\n  kubectl get pods -o jsonpath={.items[*].metadata.name}\n}\n",
    );
    assert_eq!(
        body(&c),
        [
            "run kubectl --context kind-e2e get pods '--context kind-e2e'",
            "expect status any",
            "expect output contains 'Running'",
            "expect output matches '(?s)1\\.2\\.3'",
            "expect output matches '(?s)1.2.3'",
            "# not converted: `manifests/*.yaml` is a file-name pattern only a shell expands",
            "# kubectl apply -f manifests/*.yaml",
            "# not converted: `t-{a,b}` is a brace list only a shell expands",
            "# kubectl delete ns t-{a,b}",
            "run kubectl get pods -o jsonpath={.items[*].metadata.name}",
        ]
    );
}

#[test]
fn detik_settings_follow_bats_detik_and_bash() {
    let c = converted(
        "DETIK_CLIENT_NAMESPACE=\"a\"\nDETIK_CLIENT_NAMESPACE_ALL=true\nDETIK_CLIENT_NAMESPACE=\"web\"\n@test 't' {\n  true\n}\n",
    );
    assert!(c.text.contains("\nnamespace 'web'\n"), "{}", c.text);
    let c = converted(&test_of(
        "    DETIK_CLIENT_NAMESPACE=kube-system\n    verify \"there is 1 pod named 'coredns'\"\n    run verify \"there is 1 pod named 'x'\"\n    [ \"$status\" -eq 0 ]",
    ));
    assert_eq!(
        notes(&c),
        [
            (3, "sets a shell variable, which a check file has not"),
            (4, "DETIK's namespace is changed at line 3 by a line that was not converted"),
            (5, "DETIK's namespace is changed at line 3 by a line that was not converted"),
            (6, "checks a `run` that was not converted"),
        ]
    );
}

#[test]
fn helpers_of_the_suite_and_what_only_a_shell_reads_are_listed() {
    let c = converted(
        "load test_helper\nload 'test_helper/bats-support/load'\nload \"lib/detik\"\n@test 't' {\n  wait_for_rollout web\n  assert_file_exist x\n  run echo \"\\$$HOME\"\n  [ \"$output\" = $'a\\tb' ]\n  verify \"there is 1 pod named '\\$$APP'\"\n}\n",
    );
    assert_eq!(
        notes(&c),
        [
            (1, "`load test_helper`: its functions are not known here, and calls to them are converted as programs"),
            (6, "`assert_file_exist` has no check-file form"),
            (8, "ANSI-C quoting (`$'a\\tb'`) needs a shell"),
            (9, "a `$` right before a variable has no check-file form"),
        ]
    );
    assert!(c.text.contains("    run wait_for_rollout web\n"), "{}", c.text);
    assert!(c.text.contains("    run echo '$'\"${HOME}\"\n"), "{}", c.text);
}

#[test]
fn small_status_and_redirection_cases() {
    let c = converted(
        "CODE=2\n@test 't' {\n  run false\n  assert_failure \"$CODE\"\n  run false\n  assert_failure \"$UNKNOWN\"\n  run true || true\n  [ \"$status\" -eq 0 ] || true\n  [ \"$status\" -eq 0 ]\n  kubectl get pods 3>/dev/null\n  run kubectl get pods\n  [ -z \"$stderr\" ]\n}\n",
    );
    assert_eq!(
        body(&c),
        [
            "run false",
            "expect status 2",
            "run false",
            "expect status any",
            "# not converted: `assert_failure` with a status only known when it runs",
            "# assert_failure \"$UNKNOWN\"",
            "run true",
            "expect status 0",
            "# [ \"$status\" -eq 0 ] || true",
            "run kubectl get pods",
            "run kubectl get pods",
            "expect status any",
            "# not converted: bats sets `$stderr` only for `run --separate-stderr`",
            "# [ -z \"$stderr\" ]",
        ]
    );
}

#[test]
fn a_here_document_ends_at_its_end_word() {
    let c = converted(&test_of("    kubectl apply -f - <<EOF\nkind: X\nEOF\n    run kubectl get pods"));
    assert_eq!(notes(&c), [(3, "a here-document needs a shell")]);
    assert!(c.text.contains("    # EOF\n    run kubectl get pods\n"), "{}", c.text);
}

#[test]
fn a_function_defined_twice_is_the_last_definition_as_in_bash() {
    let c = converted(
        "setup_file() {\n  kubectl create ns a\n}\nsetup_file() {\n  kubectl create ns b\n}\nsetup() {\n  true\n}\nsetup() {\n  false\n}\n@test 't' {\n  true\n}\n",
    );
    assert_eq!(
        notes(&c),
        [
            (1, "`setup_file` is defined again at line 4, and bash keeps the last"),
            (7, "`setup` is defined again at line 10, and bash keeps the last"),
        ]
    );
    assert!(c.text.contains("setup {  # setup_file\n    run kubectl create ns b\n}\n"), "{}", c.text);
    assert!(c.text.contains("    setup {  # setup()\n        run false\n    }\n"), "{}", c.text);
}
