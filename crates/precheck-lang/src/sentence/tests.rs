use super::*;
use crate::ast::Scope;

fn ok(text: &str) -> Sentence {
    parse_sentence(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn syntax(text: &str) -> SyntaxError {
    match parse_sentence(text) {
        Err(SentenceError::Syntax(e)) => e,
        other => panic!("{text:?} should be a syntax error, got {other:?}"),
    }
}

fn cluster(s: &Sentence) -> &ClusterAssertion {
    s.cluster().unwrap()
}

#[test]
fn counting_forms() {
    let cases = [
        ("there are 2 pods named 'nginx'", CountComparison::Exactly(2)),
        ("there is 0 pod named 'nginx'", CountComparison::Exactly(0)),
        ("there is 1 pod named 'nginx'", CountComparison::Exactly(1)),
        ("there are less than 3 pods named 'nginx'", CountComparison::LessThan(3)),
        ("there are more than 1 svc named 'nginx'", CountComparison::MoreThan(1)),
    ];
    for (text, expected) in cases {
        let s = ok(text);
        assert!(s.retry.is_none());
        assert_eq!(cluster(&s).check, ClusterCheck::Count(expected), "{text}");
    }
}

#[test]
fn keywords_and_types_ignore_case_and_extra_blanks() {
    let s = ok("  THERE   Are 2\tPODS   named 'Nginx'  ");
    let c = cluster(&s);
    assert_eq!(c.target.resource.value, "pods");
    assert_eq!(c.target.name.as_ref().unwrap().value.as_str(), "Nginx");
    assert_eq!(s.span, Span::new(2, 36));
    assert_eq!(c.target.resource.span, Span::new(16, 20));
    let s = ok("At Most 5 TIMES every 30S to GET pods named 'x' AND verify THAT 'status' IS 'running'");
    assert_eq!(s.retry.unwrap().interval, Duration::from_secs(30));
}

#[test]
fn resource_types() {
    for t in ["po", "pods", "svc", "deployment", "settings.management.cattle.io", "certificates.cert-manager.io"] {
        let s = ok(&format!("there are 2 {t} named 'x'"));
        assert_eq!(cluster(&s).target.resource.value, t);
    }
    let e = syntax("there are 2 p named 'x'");
    assert_eq!(e.span, Span::new(12, 13));
    assert!(e.message.starts_with("expected a resource type"), "{}", e.message);
    let e = syntax("there are 2 9pods named 'x'");
    assert_eq!(e.span.start, 12);
}

#[test]
fn property_forms() {
    let s = ok("'status' is 'running' for pods named 'nginx'");
    let ClusterCheck::Property { property, expect } = &cluster(&s).check else { panic!() };
    assert_eq!(property.path.to_string(), ".status.phase");
    assert_eq!(property.span, Span::new(1, 7));
    assert!(matches!(expect, Expectation::Is(v) if v.value == "running" && v.span == Span::new(13, 20)));

    let s = ok("'.spec.ports[*].targetPort' matches '^80[0-9]+$' for svc named 'nginx'");
    let ClusterCheck::Property { expect, .. } = &cluster(&s).check else { panic!() };
    assert!(matches!(expect, Expectation::Matches(p) if p.value.is_match("8080")));

    let s = ok("'.spec.replicas' is more than '1' for deployments named 'nginx'");
    let ClusterCheck::Property { expect, .. } = &cluster(&s).check else { panic!() };
    assert!(matches!(expect, Expectation::MoreThan(n) if n.value.value == 1.0));
}

#[test]
fn try_forms() {
    let s = ok("at most 5 times every 30s to get pods named 'nginx' and verify that 'status' is 'running'");
    let retry = s.retry.unwrap();
    assert_eq!((retry.attempts, retry.interval), (5, Duration::from_secs(30)));
    assert_eq!(retry.budget(), Duration::from_secs(120));
    assert_eq!(retry.span, Span::new(0, 25));
    let s = ok("at most 4 times every 1m30s to get pods named 'nginx' and verify that 'status' is 'running'");
    assert_eq!(s.retry.unwrap().interval, Duration::from_secs(90));
    let s = ok("at most 4 times every 500ms to get pods named 'nginx' and verify that 'status' is 'running'");
    assert_eq!(s.retry.unwrap().interval, Duration::from_millis(500));
    for (text, is_more) in [
        (
            "at most 2 times every 1s to get deploy named 'x' and verify that '.status.readyReplicas' is more than '1'",
            true,
        ),
        (
            "at most 2 times every 1s to get deploy named 'x' and verify that '.status.readyReplicas' is less than '3'",
            false,
        ),
    ] {
        let s = ok(text);
        let ClusterCheck::Property { expect, .. } = &cluster(&s).check else { panic!() };
        assert_eq!(matches!(expect, Expectation::MoreThan(_)), is_more);
    }
    let s = ok("at most 5 times every 5s to get pods named 'x' and verify that 'status' matches '^Run'");
    assert!(matches!(&cluster(&s).check, ClusterCheck::Property { expect: Expectation::Matches(_), .. }));
    let s = ok("at most 5 times every 5s to find 2 pods named 'nginx' with 'status' being 'running'");
    assert!(matches!(&cluster(&s).check, ClusterCheck::Find { count: 2, expect: Expectation::Is(_), .. }));
    let s = ok("at most 5 times every 5s to find 0 pods named 'nginx' with 'status' matching 'Err'");
    assert!(matches!(&cluster(&s).check, ClusterCheck::Find { count: 0, expect: Expectation::Matches(_), .. }));
}

#[test]
fn scope_and_labels_extensions() {
    let s = ok("there are 2 pods named 'nginx' in namespace 'team-a'");
    assert!(matches!(&cluster(&s).target.scope, Some(Scope::Namespace(ns)) if ns.value == "team-a"));
    let s = ok("there are 2 pods named 'nginx' in all namespaces");
    assert_eq!(cluster(&s).target.scope, Some(Scope::AllNamespaces));
    let s = ok("there are 3 pods with labels 'app=nginx,tier!=db' in all namespaces");
    let t = &cluster(&s).target;
    assert!(t.name.is_none());
    assert_eq!(t.labels.as_ref().unwrap().value, "app=nginx,tier!=db");
    let s = ok("'status' is 'running' for pods named 'x' with labels 'app=x' in namespace 'b'");
    assert!(cluster(&s).target.labels.is_some());
    let s = ok("at most 3 times every 1s to find 1 pods named 'x' with labels 'a=b' with 'status' being 'running'");
    assert!(cluster(&s).target.labels.is_some());
    let s = ok("at most 3 times every 1s to get pods named 'x' in namespace 'y' and verify that 'status' is 'running'");
    assert!(cluster(&s).target.scope.is_some());
}

#[test]
fn empty_is_not_a_syntax_error() {
    assert_eq!(parse_sentence(""), Err(SentenceError::Empty));
    assert_eq!(parse_sentence(" \t\n"), Err(SentenceError::Empty));
}

#[test]
fn there_is_only_with_zero_or_one() {
    let e = syntax("there is 2 pods named 'x'");
    assert_eq!(e.kind, SyntaxErrorKind::Form);
    assert_eq!(e.span, Span::new(6, 10));
    assert_eq!(e.help.as_deref(), Some("write `there are 2`"));
}

#[test]
fn typos_get_the_expected_words_and_a_suggestion() {
    let e = syntax("there are 2 pods namd 'nginx'");
    assert_eq!(e.message, "expected `named` or `with labels`, found `namd`");
    assert_eq!(e.span, Span::new(17, 21));
    assert_eq!(e.help.as_deref(), Some("did you mean `named`?"));

    let e = syntax("tehre are 2 pods named 'x'");
    assert_eq!(e.span, Span::new(0, 5));
    assert_eq!(e.help.as_deref(), Some("did you mean `there`?"));

    let e = syntax("'status' iz 'running' for pods named 'x'");
    assert_eq!(e.span, Span::new(9, 11));
    assert_eq!(e.message, "expected `is` or `matches`, found `iz`");

    let e = syntax("at most 5 times evry 5s to get pods named 'x' and verify that 'status' is 'a'");
    assert_eq!(e.help.as_deref(), Some("did you mean `every`?"));

    let e = syntax("at most 5 times every 5 to get pods named 'x' and verify that 'status' is 'a'");
    assert_eq!(e.span, Span::new(22, 23));
    assert!(e.message.starts_with("expected a duration"), "{}", e.message);
}

#[test]
fn trailing_text_lists_what_could_follow() {
    let e = syntax("there are 2 pods named 'x' please");
    assert_eq!(e.span, Span::new(27, 33));
    assert_eq!(e.message, "expected `with labels`, `in` or the end of the sentence, found `please`");
    let e = syntax("there are 2 pods named 'x' in namespce 'y'");
    assert_eq!(e.span, Span::new(30, 38));
    assert_eq!(e.help.as_deref(), Some("did you mean `namespace`?"));
}

#[test]
fn quoting_errors() {
    let e = syntax("there are 2 pods named ''");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Quote, Span::new(23, 25)));
    let e = syntax("there are 2 pods named 'nginx");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Quote, Span::new(23, 24)));
    let e = syntax("there are 2 pods named nginx");
    assert!(e.message.starts_with("expected a quoted name pattern"), "{}", e.message);
}

#[test]
fn regex_property_and_number_errors_point_inside_quotes() {
    let e = syntax("there are 2 pods named 'ng(inx'");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Regex, Span::new(24, 30)));
    assert_eq!(e.message, "invalid regular expression in the name pattern");
    // A pattern the engine refuses for its size says so, in the message itself (long lines show no label).
    let e = syntax("there are 2 pods named 'a{1000}{1000}'");
    assert_eq!(e.kind, SyntaxErrorKind::Regex);
    assert!(
        e.message.starts_with("regular expression in the name pattern too large: compiled, it exceeds"),
        "{}",
        e.message
    );
    assert!(e.help.as_deref().unwrap().contains("repeat less"));
    let e = syntax("'.spec.containers[0' is 'x' for pods named 'a'");
    assert_eq!(e.kind, SyntaxErrorKind::Property);
    assert_eq!(e.span.start, 19);
    let e = syntax("'.spec.replicas' is more than 'two' for deploy named 'a'");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Number, Span::new(31, 34)));
    let e = syntax("at most 0 times every 5s to get pods named 'x' and verify that 'status' is 'a'");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Number, Span::new(8, 9)));
    let e = syntax("there are 99999999999999999999999 pods named 'a'");
    assert_eq!(e.kind, SyntaxErrorKind::Number);
    let e = syntax("at most 3 times every 10000000000000000000s to get pods named 'x' and verify that 'status' is 'a'");
    assert_eq!((e.kind, e.span), (SyntaxErrorKind::Number, Span::new(22, 43)));
    assert_eq!(e.message, "the retry budget is longer than 7 days");
    let e = syntax("at most 3 times every 99999999999999999999s to get pods named 'x' and verify that 'status' is 'a'");
    assert_eq!(
        (e.kind, e.span, e.message.as_str()),
        (SyntaxErrorKind::Number, Span::new(22, 43), "duration too large")
    );
    assert!(
        parse_sentence("at most 1 times every 99999999999s to get pods named 'x' and verify that 'status' is 'a'")
            .is_ok()
    );
}

#[test]
fn never_panics_on_odd_input() {
    for text in [
        "'",
        "''",
        "there",
        "there are",
        "there are 2",
        "there are 2 pods",
        "there are 2 pods named",
        "at most",
        "at most 5 times every",
        "'a' is",
        "'a' is more than",
        "\u{0}",
        "é'é'é",
        "there are 2 pods named 'é",
        "at most 5 times every 5s to find",
        "at most 5 times every 5s to get pods named 'x' and verify that",
        "'[' is 'x' for pods named 'x'",
        "'{' is 'x' for po named 'x'",
    ] {
        let _ = parse_sentence(text);
    }
}

/// A small deterministic generator, so this test needs no extra crate and always checks the same inputs.
fn pseudo_random(seed: &mut u64) -> usize {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*seed >> 33) as usize
}

#[test]
fn never_panics_on_generated_token_soup() {
    const PIECES: &[&str] = &[
        "there",
        "are",
        "is",
        "less",
        "more",
        "than",
        "2",
        "0",
        "pods",
        "po",
        "named",
        "'nginx'",
        "'",
        "''",
        "at",
        "most",
        "times",
        "every",
        "5s",
        "to",
        "get",
        "find",
        "and",
        "verify",
        "that",
        "'status'",
        "matches",
        "being",
        "matching",
        "for",
        "with",
        "labels",
        "in",
        "namespace",
        "all",
        "namespaces",
        " ",
        "  ",
        "\t",
        "é",
        "'[",
        "{",
        "'.a[?(@.b==",
        "99999999999999999999",
        "'(",
        "s",
        "\n",
    ];
    let mut seed = 42;
    for _ in 0..20_000 {
        let len = pseudo_random(&mut seed) % 14;
        let text: String =
            (0..len).map(|_| PIECES[pseudo_random(&mut seed) % PIECES.len()]).collect::<Vec<_>>().join(" ");
        if let Err(SentenceError::Syntax(e)) = parse_sentence(&text) {
            assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{text:?}: {e:?}");
            assert!(text.is_char_boundary(e.span.start) && text.is_char_boundary(e.span.end), "{text:?}: {e:?}");
        }
    }
}

mod aws {
    use super::*;
    use crate::aws_ast::{AwsAssertion as A, Lookup, NetworkKind, ParameterCheck, StackCheck};

    fn aws(text: &str) -> A {
        let s = ok(text);
        assert!(s.retry.is_none());
        s.aws().unwrap_or_else(|| panic!("{text:?} is not an AWS sentence")).clone()
    }

    #[test]
    fn account_and_network_forms() {
        assert!(matches!(aws("account is '123456789012'"), A::Account { id } if id.value == "123456789012"));
        let A::Exists { resource } = aws("VPC 'vpc-1' exists") else { panic!() };
        assert_eq!(resource.kind, NetworkKind::Vpc);
        assert!(matches!(&resource.lookup, Lookup::Id(id) if id.value == "vpc-1" && id.span == Span::new(5, 10)));
        let A::Exists { resource } = aws("subnet named 'private-a' exists") else { panic!() };
        assert!(matches!(&resource.lookup, Lookup::Named(n) if n.value == "private-a"));
        let A::Tag { resource, key, expect } = aws("vpc exported as 'net-VpcId' tag 'Name' matches '^prod-'") else {
            panic!()
        };
        assert!(matches!(&resource.lookup, Lookup::Exported(e) if e.value == "net-VpcId"));
        assert_eq!(key.value, "Name");
        assert!(matches!(expect, Expectation::Matches(_)));
        assert!(matches!(aws("vpc 'v' dhcp domain name is 'corp.internal'"), A::DhcpDomainName { .. }));
        assert!(
            matches!(aws("vpc 'v' dhcp name servers contain '10.0.0.2'"), A::DhcpNameServers { contains, .. } if contains.value == "10.0.0.2")
        );
        assert!(matches!(
            aws("vpc 'v' subnets span at least 3 availability zones"),
            A::AvailabilityZones { at_least: 3, .. }
        ));
    }

    #[test]
    fn free_ip_forms() {
        let cases = [
            ("subnet 'subnet-1' has 20 free ip addresses", CountComparison::Exactly(20)),
            ("subnet 'subnet-1' has more than 200 free ip addresses", CountComparison::MoreThan(200)),
            ("subnet named 'a' has less than 5 free ips", CountComparison::LessThan(5)),
            ("subnet exported as 'x' has more than 1 free ip", CountComparison::MoreThan(1)),
        ];
        for (text, expected) in cases {
            assert!(matches!(aws(text), A::FreeIps { count, .. } if count == expected), "{text}");
        }
        let A::EveryTaggedSubnetFreeIps { key, value, count } =
            aws("every subnet tagged 'tier=private' has more than 200 free ip addresses")
        else {
            panic!()
        };
        assert_eq!((key.value.as_str(), value.value.as_str()), ("tier", "private"));
        assert_eq!((key.span, value.span), (Span::new(21, 25), Span::new(26, 33)));
        assert_eq!(count, CountComparison::MoreThan(200));
    }

    #[test]
    fn exports_stacks_and_parameters() {
        assert!(matches!(aws("export 'net-VpcId' exists"), A::Export { expect: None, .. }));
        assert!(matches!(
            aws("export 'net-VpcId' matches '^vpc-'"),
            A::Export { expect: Some(Expectation::Matches(_)), .. }
        ));
        assert!(matches!(aws("stack 'net' exists"), A::Stack { check: StackCheck::Exists, .. }));
        assert!(matches!(
            aws("stack 'net' status is 'CREATE_COMPLETE'"),
            A::Stack { check: StackCheck::Status(_), .. }
        ));
        let A::Stack { check: StackCheck::StatusOneOf(list), .. } =
            aws("stack 'net' status is one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE','IMPORT_COMPLETE'")
        else {
            panic!()
        };
        assert_eq!(
            list.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
            ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"]
        );
        assert!(matches!(
            aws("stack 'net' output 'VpcId' is 'vpc-1'"),
            A::Stack { check: StackCheck::Output { .. }, .. }
        ));
        assert!(matches!(aws("parameter '/a/b' exists"), A::Parameter { check: ParameterCheck::Exists, .. }));
        assert!(matches!(aws("parameter '/a/b' is 'x'"), A::Parameter { check: ParameterCheck::Value(_), .. }));
        assert!(matches!(
            aws("parameter '/a/b' has type 'SecureString'"),
            A::Parameter { check: ParameterCheck::Type(_), .. }
        ));
    }

    #[test]
    fn try_form_wraps_any_aws_sentence() {
        let s = ok("at most 10 times every 30s to verify that stack 'net' status is 'CREATE_COMPLETE'");
        assert_eq!(s.retry.unwrap().attempts, 10);
        assert!(matches!(s.aws(), Some(A::Stack { .. })));
    }

    #[test]
    fn aws_errors() {
        let e = syntax("stak 'net' exists");
        assert_eq!(e.help.as_deref(), Some("did you mean `stack`?"));
        let e = syntax("parameter '/a' has type 'Securestring'");
        assert_eq!(e.span, Span::new(24, 38));
        assert_eq!(e.help.as_deref(), Some("did you mean 'SecureString'?"));
        let e = syntax("every subnet tagged 'private' has more than 2 free ip addresses");
        assert_eq!((e.span, e.message.as_str()), (Span::new(21, 28), "expected a tag as `key=value`"));
        let e = syntax("subnet 's' dhcp domain name is 'x'");
        assert_eq!(e.message, "only a vpc has DHCP options");
        let e = syntax("vpc 'v' has more than 2 free ip addresses");
        assert_eq!(e.message, "free ip addresses are counted per subnet");
        let e = syntax("subnet 's' has more than 2 free ip adresses");
        assert_eq!(e.help.as_deref(), Some("did you mean `addresses`?"));
        let e = syntax("stack 'net' status is one of 'A',");
        assert_eq!(e.kind, SyntaxErrorKind::Unexpected);
    }
}
