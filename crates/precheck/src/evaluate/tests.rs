use super::*;
use precheck_lang::parse_sentence;

const PODS: &str = r#"
- metadata: {name: nginx-1, namespace: web}
  status: {phase: Running}
  spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
- metadata: {name: nginx-2, namespace: web}
  status: {phase: running}
  spec: {containers: [{name: nginx, image: "nginx:1.27"}]}
- metadata: {name: metrics-server-7d9, namespace: web}
  status: {phase: Pending}
  spec: {containers: [{name: metrics-server, image: "ms:0.7"}], replicas: many}
"#;

fn objects() -> Vec<Value> {
    serde_saphyr::from_str(PODS).unwrap()
}

fn verdict(sentence: &str) -> Verdict {
    let s = parse_sentence(sentence).unwrap();
    evaluate(s.cluster().unwrap(), &objects())
}

#[test]
fn counting() {
    assert!(verdict("there are 2 pods named 'nginx'").passed);
    assert!(verdict("there are 3 pods named '.'").passed);
    assert!(verdict("there is 1 pod named 'metrics-server'").passed);
    assert!(verdict("there is 0 pod named 'redis'").passed);
    assert!(verdict("there are less than 3 pods named 'nginx'").passed);
    assert!(!verdict("there are less than 2 pods named 'nginx'").passed);
    assert!(verdict("there are more than 1 pods named 'nginx'").passed);
    let v = verdict("there are 3 pods named 'nginx'");
    assert!(!v.passed);
    assert_eq!(v.summary, "found 2 pods named 'nginx', expected 3");
    assert_eq!(v.observed.len(), 2);
}

#[test]
fn name_pattern_is_a_regex_searched_anywhere() {
    assert!(verdict("there are 2 pods named '^nginx-[0-9]$'").passed);
    assert!(verdict("there is 1 pod named 'server'").passed);
    assert!(verdict("there is 0 pod named '^server'").passed);
    // Names are matched as written: case matters in the pattern.
    assert!(verdict("there is 0 pod named 'NGINX'").passed);
}

#[test]
fn property_is_ignores_case_and_needs_every_object() {
    assert!(verdict("'status' is 'RUNNING' for pods named 'nginx'").passed);
    let v = verdict("'status' is 'running' for pods named '.'");
    assert!(!v.passed);
    assert_eq!(v.summary, "1 of 3 pods named '.' do not have 'status' = 'running'");
    let bad: Vec<_> = v.observed.iter().filter(|o| !o.ok).map(|o| (o.name.as_str(), o.value.as_deref())).collect();
    assert_eq!(bad, [("metrics-server-7d9", Some("Pending"))]);
    let text = v.to_string();
    assert!(text.contains("BAD web/metrics-server-7d9: Pending"), "{text}");
}

#[test]
fn matches_is_case_sensitive() {
    assert!(verdict("'status' matches '^[Rr]unning$' for pods named 'nginx'").passed);
    assert!(!verdict("'status' matches '^Running$' for pods named 'nginx'").passed);
    assert!(verdict("'.spec.containers[0].image' matches ':1\\.27$' for pods named 'nginx'").passed);
}

#[test]
fn no_matching_object_fails_a_property_sentence() {
    let v = verdict("'status' is 'running' for pods named 'redis'");
    assert!(!v.passed);
    assert_eq!(v.summary, "no pods named 'redis' found to check 'status' = 'running'");
}

#[test]
fn numbers_and_non_numbers() {
    let objects: Vec<Value> =
        serde_saphyr::from_str("- metadata: {name: d}\n  spec: {replicas: 3}\n  status: {readyReplicas: 2}\n").unwrap();
    let eval = |s: &str| evaluate(parse_sentence(s).unwrap().cluster().unwrap(), &objects);
    assert!(eval("'.spec.replicas' is more than '2' for deploy named 'd'").passed);
    assert!(eval("'.spec.replicas' is less than '3.5' for deploy named 'd'").passed);
    assert!(!eval("'.status.readyReplicas' is more than '2' for deploy named 'd'").passed);
    let v = eval("'.status.missing' is more than '1' for deploy named 'd'");
    assert!(!v.passed);
    assert_eq!(v.observed[0].note.as_deref(), Some("'<none>' is not a number"));
    let v = verdict("'.spec.replicas' is more than '1' for pods named 'metrics'");
    assert_eq!(v.observed[0].note.as_deref(), Some("'many' is not a number"));
}

#[test]
fn absent_fields_read_none() {
    assert!(verdict("'.spec.nodeName' is '<none>' for pods named 'nginx'").passed);
}

#[test]
fn find_counts_objects_with_the_value() {
    assert!(verdict("at most 1 times every 1s to find 2 pods named '.' with 'status' being 'running'").passed);
    assert!(verdict("at most 1 times every 1s to find 1 pods named '.' with 'status' matching 'Pend'").passed);
    let v = verdict("at most 1 times every 1s to find 3 pods named '.' with 'status' being 'running'");
    assert!(!v.passed);
    assert_eq!(v.summary, "2 of 3 pods named '.' have 'status' = 'running', expected 3");
    // N = 0 with no object at all passes.
    assert!(verdict("at most 1 times every 1s to find 0 pods named 'redis' with 'status' being 'running'").passed);
}

#[test]
fn labels_only_targets_take_every_object() {
    let s = parse_sentence("there are 3 pods with labels 'app=x'").unwrap();
    assert!(evaluate(s.cluster().unwrap(), &objects()).passed);
}
