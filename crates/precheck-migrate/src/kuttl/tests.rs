use super::*;

fn case(name: &str, files: &[(&str, &str)]) -> Case {
    Case { name: name.into(), files: files.iter().map(|(n, t)| ((*n).into(), (*t).into())).collect(), dirs: Vec::new() }
}

fn converted(case: &Case) -> Converted {
    let converted = convert(case, &Options::default()).unwrap();
    if let Err(e) = precheck_lang::CheckFile::parse(&converted.conversion.text, &|n| Some(n.to_owned())) {
        panic!("not a valid check file: {e:?}\n{}", converted.conversion.text);
    }
    converted
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";

#[test]
fn steps_become_applies_commands_and_waits_in_order() {
    let c = converted(&case(
        "Web Scale",
        &[
            ("00-install.yaml", DEPLOYMENT),
            (
                "00-assert.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestAssert\ntimeout: 60\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nstatus:\n  readyReplicas: 2\n",
            ),
            (
                "01-scale.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ndelete:\n- apiVersion: v1\n  kind: ConfigMap\n  name: old\ncommands:\n- command: kubectl scale deployment web --replicas=3 -n $NAMESPACE\n- command: kubectl annotate deployment web a=b\n  namespaced: true\n  ignoreFailure: true\n- script: |\n    kubectl get pods -n $NAMESPACE | grep web\n",
            ),
            (
                "01-assert.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nstatus:\n  readyReplicas: 3\n",
            ),
            ("01-errors.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\n"),
            ("README.md", "not a step"),
        ],
    ));
    let text = &c.conversion.text;
    assert!(text.contains("namespace 'kuttl-web-scale'\ntags kuttl\n"), "{text}");
    assert!(text.contains("setup {\n    run kubectl create namespace kuttl-web-scale\n}\n"), "{text}");
    let body: Vec<&str> = text[text.find("test 'Web Scale' {\n").unwrap()..].lines().skip(1).map(str::trim).collect();
    assert_eq!(
        body,
        [
            "# step 00",
            "run kubectl apply --server-side --force-conflicts --field-manager=00-install.yaml -n kuttl-web-scale -f 00-install.yaml",
            "try at most 60 times every 1s to expect object '00-assert.yaml'",
            "# step 01",
            "run kubectl delete configmap old -n kuttl-web-scale --ignore-not-found --wait",
            "run kubectl scale deployment web --replicas=3 -n kuttl-web-scale",
            "run kubectl annotate deployment web a=b --namespace kuttl-web-scale",
            "expect status any",
            "run sh precheck.01-1.sh",
            "try at most 30 times every 1s to expect object '01-assert.yaml'",
            "try at most 30 times every 1s to expect no object '01-errors.yaml'",
            "}",
        ]
    );
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].0, "precheck.01-1.sh");
    assert!(c.files[0].1.contains("export NAMESPACE=kuttl-web-scale\nkubectl get pods -n $NAMESPACE | grep web\n"));
    assert!(c.conversion.notes.is_empty(), "{:?}", c.conversion.notes);
}

#[test]
fn a_file_mixing_a_test_step_with_objects_gets_a_copy_of_its_objects() {
    let c = converted(&case(
        "mixed",
        &[(
            "00-install.yaml",
            &format!(
                "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ncommands:\n- command: kubectl version\n---\n{DEPLOYMENT}"
            ),
        )],
    ));
    assert!(
        c.conversion
            .text
            .contains("    run kubectl version\n    run kubectl apply --server-side --force-conflicts --field-manager=00-install.yaml -n kuttl-mixed -f precheck.00-install.yaml\n")
    );
    assert_eq!(c.files, [("precheck.00-install.yaml".to_owned(), DEPLOYMENT.to_owned())]);
    // kuttl ignores the names given to copies and scripts.
    assert_eq!(step_file("precheck.00-install.yaml"), None);
}

#[test]
fn what_has_no_check_file_form_is_listed_with_its_file() {
    let mut input = case(
        "odd",
        &[
            (
                "00-install.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ncommands:\n- command: kubectl get pods\n  script: echo both\n- script: echo hi\n  namespaced: true\n",
            ),
            (
                "00-assert.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestAssert\ncommands:\n- command: kubectl get pods\n",
            ),
            ("01-web.gotmpl.yaml", "kind: X"),
        ],
    );
    input.dirs.push("02-more".into());
    let c = converted(&input);
    let notes: Vec<(Option<&str>, usize, &str)> =
        c.conversion.notes.iter().map(|n| (n.file.as_deref(), n.line, n.why.as_str())).collect();
    assert_eq!(
        notes,
        [
            (Some("02-more"), 1, "a step directory"),
            (Some("01-web.gotmpl.yaml"), 1, "a template (`.gotmpl`)"),
            (Some("00-install.yaml"), 1, "a command with both `command` and `script`, which kuttl refuses"),
            (Some("00-install.yaml"), 1, "a `script` with `namespaced`, which kuttl refuses"),
            (Some("00-assert.yaml"), 1, "a `TestAssert`'s `commands`"),
        ]
    );
}

#[test]
fn a_case_that_cannot_be_read_says_where() {
    assert_eq!(convert(&case("none", &[("README.md", "x")]), &Options::default()), Err(NotKuttl::NoSteps));
    let bad = convert(&case("bad", &[("00-install.yaml", "a: 1\n---\nb: [\n")]), &Options::default()).unwrap_err();
    assert!(matches!(&bad, NotKuttl::Yaml { file, line: 3 | 4, .. } if file == "00-install.yaml"), "{bad}");
}

#[test]
fn file_names_are_read_as_kuttl_reads_them() {
    assert_eq!(step_file("00-install.yaml"), Some((0, Role::Apply)));
    assert_eq!(step_file("10-assert.yaml"), Some((10, Role::Assert)));
    assert_eq!(step_file("01-assert-pods.yaml"), Some((1, Role::Assert)));
    assert_eq!(step_file("02-errors.yaml"), Some((2, Role::Errors)));
    assert_eq!(step_file("02-asserts.yaml"), Some((2, Role::Apply)));
    assert_eq!(step_file("00-Assert.yaml"), Some((0, Role::Assert)));
    assert_eq!(step_file("01-ERRORS-pods.yaml"), Some((1, Role::Errors)));
    for name in ["install.yaml", "00-.yaml", "0a-x.yaml", "00-x.yml", "00-x.gotmpl.yaml"] {
        assert_eq!(step_file(name), None, "{name}");
    }
    assert_eq!(own_namespace("Web_Scale--"), "kuttl-web-scale");
}

/// The lines of the test's body, trimmed.
fn body(c: &Converted) -> Vec<String> {
    let text = &c.conversion.text;
    let start = text.find("\ntest ").unwrap();
    text[start + 1..].lines().skip(1).map(|l| l.trim().to_owned()).filter(|l| l != "}").collect()
}

#[test]
fn a_step_runs_in_kuttl_order_whatever_its_files_are_named() {
    let c = converted(&case(
        "order",
        &[
            ("01-a-config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"),
            (
                "01-b-step.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ndelete:\n- apiVersion: v1\n  kind: ConfigMap\n  name: c\nassert:\n- ready.yaml\napply:\n- extra.yaml\ncommands:\n- command: sleep 1\n  background: true\n",
            ),
            (
                "01-Assert.yaml",
                "apiVersion: kuttl.dev/v1beta1\nkind: TestAssert\ntimeout: 5\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
            ),
            ("01-errors.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n"),
            (
                "extra.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: other\n",
            ),
            ("ready.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"),
        ],
    ));
    assert_eq!(
        body(&c),
        [
            "# step 01",
            "run kubectl delete configmap c -n kuttl-order --ignore-not-found --wait",
            "run sleep 1",
            "run kubectl apply --server-side --force-conflicts --field-manager=01-a-config.yaml -n kuttl-order -f 01-a-config.yaml",
            "run kubectl apply --server-side --force-conflicts --field-manager=extra.yaml -f extra.yaml",
            "try at most 5 times every 1s to expect object 'ready.yaml'",
            "try at most 5 times every 1s to expect object '01-Assert.yaml'",
            "try at most 5 times every 1s to expect no object '01-errors.yaml'",
        ]
    );
    assert!(c.conversion.notes.is_empty(), "{:?}", c.conversion.notes);
}

#[test]
fn commands_are_expanded_and_split_as_kuttl_does() {
    let c = converted(&case(
        "cmd",
        &[(
            "00-run.yaml",
            "apiVersion: kuttl.dev/v1beta1\nkind: TestStep\ncommands:\n- command: kubectl patch cm c -p '{\"ns\":\"$NAMESPACE\"}' -o jsonpath={.items[?(@.a==\"b\")]} a|b \"x\\\\.y\" $$HOME\n- command: kubectl get pods -n kube-system\n  namespaced: true\n- command: kubectl --kubeconfig $KUBECONFIG get pods\n",
        )],
    ));
    assert_eq!(
        body(&c),
        [
            "# step 00",
            "run kubectl patch cm c -p '{\"ns\":\"kuttl-cmd\"}' -o 'jsonpath={.items[?(@.a==b)]}' 'a|b' 'x\\.y' '$HOME'",
            "run kubectl get pods -n kube-system",
            "run sh precheck.00-1.sh",
        ]
    );
    assert!(
        c.files[0].1.ends_with("export NAMESPACE=kuttl-cmd\nexec kubectl --kubeconfig $KUBECONFIG get pods\n"),
        "{}",
        c.files[0].1
    );
}

#[test]
fn timeouts_and_namespaces_as_kuttl_reads_them() {
    let options = suite_options("apiVersion: kuttl.dev/v1beta1\nkind: TestSuite\ntimeout: 0\nnamespace: ''\n").unwrap();
    assert_eq!((options.timeout, options.namespace.as_deref()), (30, None));
    let shared = Options { timeout: 30, namespace: Some("team".into()) };
    let c = convert(
        &case(
            "ns",
            &[
                ("00-a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ''\n"),
                ("00-assert.yaml", "apiVersion: kuttl.dev/v1beta1\nkind: TestAssert\ntimeout: 0\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"),
            ],
        ),
        &shared,
    )
    .unwrap();
    let text = &c.conversion.text;
    assert!(
        text.contains(
            "namespace 'team'\ntags kuttl\n\nsetup {\n    run kubectl create namespace team\n    expect status any\n}\n"
        ),
        "{text}"
    );
    assert!(!text.contains("teardown"), "{text}");
    assert!(text.contains("--field-manager=00-a.yaml -n team -f 00-a.yaml\n    try at most 30 times"), "{text}");
}
