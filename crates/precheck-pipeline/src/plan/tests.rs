use super::*;
use crate::error::LoadError;
use std::path::Path;

fn parse(text: &str) -> Result<Pipeline, Vec<String>> {
    Pipeline::parse(Path::new("p.yaml"), text).map_err(|e| match e {
        LoadError::Invalid { errors } => errors.iter().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    })
}

const GOOD: &str = r#"
name: cluster-build
parameters:
  - name: CLUSTER
  - name: METRICS_SERVER
    default: none
  - name: AZS
    type: list
    default: [a, b]
  - name: NODES
    type: integer
    default: 3
stages:
  - name: preflight
    steps:
      - name: account
        run: [echo, "${CLUSTER}"]
  - name: addons
    depends: [preflight]
    parallelism: 2
    steps:
      - name: metrics-server
        when: METRICS_SERVER != 'none'
        run: [echo, metrics]
      - name: per-az
        for_each: AZS
        depends: [metrics-server]
        retry: { attempts: 3, backoff: 2s, max_backoff: 10s, max_duration: 1m }
        timeout: 30s
        run: [echo, "${ITEM}"]
finally:
  - name: diagnostics
    shell: echo "done for $CLUSTER"
"#;

#[test]
fn a_good_pipeline_is_planned() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.name, "cluster-build");
    assert_eq!(p.parallelism, DEFAULT_PARALLELISM);
    assert_eq!(p.parameters[2].default, Some(Value::List(vec!["a".into(), "b".into()])));
    assert_eq!(p.parameters[0].default, None);
    let per_az = &p.stages[1].steps[1];
    assert_eq!(per_az.retry.attempts, 3);
    assert_eq!(per_az.retry.backoff, Duration::from_secs(2));
    assert_eq!(per_az.retry.max_duration, Some(Duration::from_secs(60)));
    assert_eq!(per_az.timeout, Some(Duration::from_secs(30)));
    assert_eq!(per_az.for_each, Some(ForEach::Parameter("AZS".into())));
    assert_eq!(p.finally[0].action, Action::Shell("echo \"done for $CLUSTER\"".into()));
}

#[test]
fn binding_fans_out_skips_and_orders() {
    let p = parse(GOOD).unwrap();
    let values = p.values_from_args(&[("CLUSTER".into(), "prod-1".into())]).unwrap();
    let g = p.bind(&values, None).unwrap();
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        ["preflight/account", "addons/metrics-server", "addons/per-az[a]", "addons/per-az[b]", "finally/diagnostics"]
    );
    assert_eq!(g.nodes[0].action, crate::graph::BoundAction::Run(vec!["echo".into(), "prod-1".into()]));
    assert_eq!(g.nodes[1].skip.as_deref(), Some("`when: METRICS_SERVER != 'none'` is false"));
    assert_eq!(g.nodes[2].depends, vec![0, 1]);
    assert_eq!(g.nodes[3].action, crate::graph::BoundAction::Run(vec!["echo".into(), "b".into()]));
    assert_eq!(g.nodes[4].depends, vec![0, 1, 2, 3]);
    assert!(g.nodes[4].finally);
    assert!(g.nodes[2].env.contains(&("ITEM".into(), "a".into())));
    assert!(g.nodes[2].env.contains(&("NODES".into(), "3".into())));

    let only = p.bind(&values, Some("addons")).unwrap();
    assert_eq!(only.nodes[0].id, "addons/metrics-server");
    assert!(only.nodes[0].depends.is_empty(), "other stages are taken as done");
    let err = p.bind(&values, Some("addon")).unwrap_err();
    assert_eq!(err.to_string(), "no stage named 'addon' (did you mean 'addons'?)");
}

#[test]
fn parameter_values_are_typed_and_checked() {
    let p = parse(GOOD).unwrap();
    let err = p.values_from_args(&[("NODES".into(), "three".into()), ("CLUSTR".into(), "x".into())]).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "parameter 'NODES': expected an integer, got 'three'",
            "unknown parameter 'CLUSTR' (did you mean 'CLUSTER'?)",
            "parameter 'CLUSTER' is required (a string)",
        ]
    );
    let err = p.values_from_json(&serde_json::json!({"CLUSTER": "x", "NODES": "3", "AZS": "a"})).unwrap_err();
    assert_eq!(
        err.problems,
        // In the payload's order.
        ["parameter 'NODES': expected an integer, got \"3\"", "parameter 'AZS': expected a list, got \"a\""]
    );
    let ok = p.values_from_json(&serde_json::json!({"CLUSTER": "x; rm -rf /", "AZS": ["c"]})).unwrap();
    assert_eq!(ok["CLUSTER"], Value::String("x; rm -rf /".into()));
    assert_eq!(ok["AZS"], Value::List(vec!["c".into()]));
}

#[test]
fn every_error_of_a_file_is_reported_with_its_position() {
    let text = r#"name: bad
parameters:
  - name: ENV
    type: strng
  - name: FLAG
    type: boolean
    default: "yes"
stages:
  - name: build
    depends: [preflite]
    steps:
      - name: a
        depends: [b]
        run: [echo, "${ENVV}"]
      - name: b
        depends: [a]
        when: ENV == prod
        run: []
      - name: c
        timeout: 10 minutes
        uses: deploy
      - name: d
        run: [true]
        shell: "true"
  - name: preflight
    steps:
      - name: x
        for_each: ENV
        retry: { attempts: 0 }
        run: [echo]
"#;
    let errors = parse(text).unwrap_err();
    assert_eq!(
        errors,
        [
            "p.yaml:4:11: unknown type 'strng' (did you mean 'string'?)",
            "p.yaml:7:14: default: expected a boolean, got \"yes\"",
            "p.yaml:10:15: no stage named 'preflite' (did you mean 'preflight'?)",
            "p.yaml:12:15: steps depend on each other in a cycle: a → b → a",
            "p.yaml:14:22: `${ENVV}` is not a parameter, a template input or `ITEM` here (did you mean `${ENV}`?)",
            "p.yaml:17:22: invalid `when`: expected a value (`'text'`, a number, `true` or `false`) or a parameter name, found 'prod' (conditions look like `NAME == 'value'`, `NAME != 'value'`, `NAME in ['a', 'b']`, `FLAG`, combined with `not`, `and`, `or` and parentheses)",
            "p.yaml:18:14: `run` needs a command: `[program, arg, …]`",
            "p.yaml:20:18: expected a duration such as `30s`, `10m`, `1h30m` or `500ms`, got '10 minutes'",
            "p.yaml:21:15: no template named 'deploy'",
            "p.yaml:22:15: step 'd' needs exactly one of `run`, `shell`, `checks`, `apply`, `cloudformation` or `uses`",
            "p.yaml:28:19: `for_each` needs a list, and 'ENV' is a string",
            "p.yaml:29:28: attempts must be at least 1",
        ]
    );
}

#[test]
fn unknown_fields_and_bad_yaml_name_the_place() {
    let errors =
        parse("name: x\nstages:\n  - name: a\n    steps:\n      - name: s\n        rnu: [echo]\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("p.yaml:6:9: unknown field `rnu`"), "{errors:?}");
    assert!(errors[0].ends_with("(did you mean `run`?)"), "{errors:?}");
    let errors = parse("name: x\nstages: [\n").unwrap_err();
    assert!(errors[0].starts_with("p.yaml:"), "{errors:?}");
}

#[test]
fn templates_local_and_imported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shared.yaml"),
        "templates:\n  - name: helm\n    inputs:\n      - name: CHART\n      - name: VERSION\n        default: latest\n    retry: { attempts: 2 }\n    run: [helm, install, \"${CHART}\", --version, \"${VERSION}\", --set, \"cluster=${CLUSTER}\"]\n",
    )
    .unwrap();
    let text = "name: t\nimports: [shared.yaml]\nparameters:\n  - name: CLUSTER\n    default: c1\nstages:\n  - name: addons\n    steps:\n      - name: ms\n        uses: helm\n        with: { CHART: metrics-server }\n      - name: bad\n        uses: helm\n        with: { CHRT: x }\n";
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, text).unwrap();
    let errors = match Pipeline::load(&path) {
        Err(LoadError::Invalid { errors }) => {
            errors.iter().map(|e| e.message.clone() + &e.help.clone().unwrap_or_default()).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        errors,
        [
            "template 'helm' needs input 'CHART' (give it in `with`)",
            "template 'helm' has no input 'CHRT'did you mean 'CHART'?"
        ]
    );
    std::fs::write(&path, &text[..text.find("      - name: bad").unwrap()]).unwrap();
    let p = Pipeline::load(&path).unwrap();
    let g = p.bind(&p.values_from_args(&[]).unwrap(), None).unwrap();
    assert_eq!(
        g.nodes[0].action,
        crate::graph::BoundAction::Run(
            ["helm", "install", "metrics-server", "--version", "latest", "--set", "cluster=c1"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(g.nodes[0].retry.attempts, 2);
}

#[test]
fn interpolation_escapes_and_errors() {
    let i = Interpolated("a-${X}-$${Y}-$Z".into());
    assert_eq!(i.names().unwrap(), [("X".to_owned(), 2)]);
    assert_eq!(i.expand(&|n| (n == "X").then(|| "1".to_owned())), "a-1-${Y}-$Z");
    assert!(Interpolated("${".into()).names().is_err());
    assert!(Interpolated("${a b}".into()).names().is_err());
}

#[test]
fn a_parameter_pasted_into_a_shell_script_is_refused() {
    let errors = parse(
        "name: x\nparameters:\n  - name: NAME\nstages:\n  - name: s\n    steps:\n      - name: a\n        run: [/bin/bash, -ec, 'helm install ${NAME}']\n      - name: b\n        run: [sh, -c, 'echo \"$NAME\"', '${NAME}']\n",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("p.yaml:8:45: `${NAME}` in a `bash -c` script would paste the value into shell code"),
        "{errors:?}"
    );
}

#[test]
fn template_env_and_defaults_see_inputs_and_parameters() {
    let text = "name: t\nparameters:\n  - name: CLUSTER\n    default: c1\ntemplates:\n  - name: helm\n    inputs:\n      - name: CHART\n      - name: RELEASE\n        default: \"${CLUSTER}-rel\"\n    env:\n      VALUES: \"${CHART}.yaml\"\n    run: [helm, install, \"${RELEASE}\", \"${CHART}\", -f, \"${VALUES}\"]\nstages:\n  - name: s\n    steps:\n      - name: ms\n        uses: helm\n        with: { CHART: metrics }\n";
    let p = parse(text).unwrap();
    let g = p.bind(&p.values_from_args(&[]).unwrap(), None).unwrap();
    assert_eq!(
        g.nodes[0].action,
        crate::graph::BoundAction::Run(
            ["helm", "install", "c1-rel", "metrics", "-f", "metrics.yaml"].map(String::from).to_vec()
        )
    );
    assert!(g.nodes[0].env.contains(&("VALUES".into(), "metrics.yaml".into())));
    let errors = parse(&text.replace("${CLUSTER}-rel", "${CLUSTR}-rel")).unwrap_err();
    assert!(errors[0].contains("`${CLUSTR}` is not a parameter"), "{errors:?}");
}

#[test]
fn empty_fan_outs_and_finally_steps_keep_their_order() {
    let text = "name: t\nparameters:\n  - name: ZONES\n    type: list\n    default: []\nstages:\n  - name: a\n    steps:\n      - name: first\n        run: [\"true\"]\n      - name: per-zone\n        depends: [first]\n        for_each: ZONES\n        run: [\"true\"]\n      - name: last\n        depends: [per-zone]\n        run: [\"true\"]\n  - name: empty\n    depends: [a]\n    steps:\n      - name: none\n        for_each: []\n        run: [\"true\"]\n  - name: b\n    depends: [empty]\n    steps:\n      - name: after\n        run: [\"true\"]\nfinally:\n  - name: collect\n    run: [\"true\"]\n  - name: upload\n    depends: [collect]\n    run: [\"true\"]\n";
    let p = parse(text).unwrap();
    let g = p.bind(&p.values_from_args(&[]).unwrap(), None).unwrap();
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["a/first", "a/last", "b/after", "finally/collect", "finally/upload"]);
    assert_eq!(g.nodes[1].depends, [0], "last waits for first through the empty fan-out");
    assert_eq!(g.nodes[2].depends, [0, 1], "b waits for a through the empty stage");
    assert_eq!(g.nodes[4].depends, [0, 1, 2, 3], "upload waits for collect");
    assert_eq!(g.nodes[4].after, [3]);

    let twice = p.values_from_args(&[("ZONES".into(), "a,b,a".into())]).unwrap();
    assert_eq!(p.bind(&twice, None).unwrap_err().to_string(), "a/per-zone fans out over 'a' twice");
}

#[test]
fn errors_in_block_scalars_point_into_them() {
    let errors = parse(
        "name: x\nparameters:\n  - name: ENV\nstages:\n  - name: s\n    steps:\n      - name: a\n        when: >-\n          ENV == prod\n        run: [echo]\n",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("p.yaml:9:18: invalid `when`"), "exactly at the word: {errors:?}");
}

#[test]
fn step_paths_are_tidied() {
    let p = Pipeline::parse(
        Path::new("examples/build/p.yaml"),
        "name: t\nstages:\n  - name: s\n    steps:\n      - name: c\n        checks: [../checks/./a.check, ../../../up.check]\n",
    )
    .unwrap();
    let g = p.bind(&p.values_from_args(&[]).unwrap(), None).unwrap();
    assert_eq!(
        g.nodes[0].action,
        crate::graph::BoundAction::Checks(vec![PathBuf::from("examples/checks/a.check"), PathBuf::from("../up.check")])
    );
}

#[test]
fn a_stage_may_wait_for_one_declared_below_it() {
    let p = parse("name: t\nstages:\n  - name: late\n    depends: [early]\n    steps:\n      - name: b\n        run: [\"true\"]\n  - name: early\n    steps:\n      - name: a\n        run: [\"true\"]\n").unwrap();
    let g = p.bind(&p.values_from_args(&[]).unwrap(), None).unwrap();
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["early/a", "late/b"]);
    assert_eq!(g.nodes[1].depends, [0]);
    let record = crate::record::RunRecord::new("r", &p, &g);
    let page = crate::html::render(&record, crate::record::RunState::Interrupted);
    assert!(page.contains(r#"data-step="late/b""#) && page.contains(r#"<span id="status">interrupted</span>"#));
}

#[test]
fn fan_out_items_are_taken_as_written() {
    let text = "name: t\nstages:\n  - name: a\n    steps:\n      - name: each\n        for_each: [y, no, 1.10, 3, \"on\"]\n        run: [echo]\n";
    let p = parse(text).unwrap();
    let items = ["y", "no", "1.10", "3", "on"].map(String::from).to_vec();
    assert_eq!(p.stages[0].steps[0].for_each, Some(ForEach::Items(items)));
}

#[test]
fn secret_parameters_are_strings_without_defaults_and_keep_their_values_out_of_messages() {
    let errors = parse(
        "name: s\nparameters:\n  - { name: N, type: integer, secret: true }\n  - { name: T, secret: true, default: abc }\n\
         stages:\n  - name: a\n    steps: [{ name: x, run: [echo] }]\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "p.yaml:3:39: a secret parameter is a string, not an integer",
            "p.yaml:4:39: a secret parameter has no default (a default would put the secret in the file: give it with \
             `-p T=…` or the environment variable T)"
        ]
    );
    let errors = parse(
        "name: s\nparameters:\n  - { name: T, secret: true, enum: [blue, green] }\n\
         stages:\n  - name: a\n    steps: [{ name: x, run: [echo] }]\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        ["p.yaml:3:24: a secret parameter has no `enum` (an `enum` would list the candidates in the file, and errors \
          would name them)"]
    );
    let errors = parse(
        "name: s\nparameters:\n  - { name: T, secret: true }\n  - { name: U }\n\
         stages:\n  - name: a\n    steps: [{ name: x, run: [echo], when: \"U == 'u' or T == 'hunter2'\" }]\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        ["p.yaml:7:56: invalid `when`: 'T' is a secret parameter, which a condition cannot read (decide on a \
          parameter that is not secret)"]
    );
    let p = parse(
        "name: s\nparameters:\n  - { name: T, secret: true }\n  - { name: U }\n\
         stages:\n  - name: a\n    steps: [{ name: x, run: [echo, \"${T}\"] }]\n",
    )
    .unwrap();
    assert_eq!(p.secret_names().collect::<Vec<_>>(), ["T"]);
    // Given on the command line, a secret is taken from there; otherwise from the lookup (the environment).
    let env = |name: &str| (name == "T").then(|| "green".to_owned());
    // A secret given as a trigger's payload value of the wrong type is not echoed back.
    let err = p.values_from_json(&serde_json::json!({ "T": 12345, "U": "u" })).unwrap_err();
    assert!(!err.problems.join(" ").contains("12345"), "{:?}", err.problems);
    let given = [("U".to_owned(), "u".to_owned())];
    assert_eq!(p.with_secrets(&given, env), [("U".into(), "u".into()), ("T".into(), "green".into())]);
    let both = [("T".to_owned(), "blue".to_owned())];
    assert_eq!(p.with_secrets(&both, env), both);
    let values = p.values_from_args(&p.with_secrets(&given, env)).unwrap();
    assert_eq!(p.without_secrets(&values).keys().collect::<Vec<_>>(), ["U"]);
}
