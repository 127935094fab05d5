//! Judging AWS facts: pure functions from what the account holds to a [`Verdict`], tested without AWS.

use std::collections::{BTreeMap, BTreeSet};

use precheck_lang::{CountComparison, Expectation, NetworkRef, ParameterCheck, StackCheck};

use crate::evaluate::{Observed, Verdict, check_value, wanted};
use crate::field_values::NONE;

/// What reports show instead of a SecureString value.
pub const REDACTED: &str = "<redacted>";

/// A subnet, as the probes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-…`
    pub id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its availability zone.
    pub availability_zone: String,
    /// `AvailableIpAddressCount`.
    pub free_ips: i64,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A VPC, as the probes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// `vpc-…`
    pub id: String,
    /// Its DHCP options set (`default` for none).
    pub dhcp_options_id: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A DHCP options set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dhcp {
    /// `dopt-…`
    pub id: String,
    /// `domain-name` values.
    pub domain_names: Vec<String>,
    /// `domain-name-servers` values.
    pub name_servers: Vec<String>,
}

/// A CloudFormation stack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stack {
    /// `CREATE_COMPLETE`, `ROLLBACK_COMPLETE`, …
    pub status: String,
    /// Outputs by key.
    pub outputs: BTreeMap<String, String>,
}

/// An SSM parameter (its value decrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    /// The value; never shown when `kind` is `SecureString`.
    pub value: String,
}

fn item(name: impl Into<String>, value: Option<String>, ok: bool, note: Option<String>) -> Observed {
    Observed { namespace: None, name: name.into(), value, ok, note }
}

fn verdict(passed: bool, summary: String, observed: Vec<Observed>) -> Verdict {
    Verdict { passed, summary, observed }
}

/// `account is '<id>'`.
pub fn account(actual: &str, expected: &str) -> Verdict {
    let passed = actual == expected;
    let summary = if passed {
        format!("the account in use is '{actual}'")
    } else {
        format!("the account in use is '{actual}', expected '{expected}': refusing the wrong account")
    };
    verdict(passed, summary, vec![item("account", Some(actual.to_owned()), passed, None)])
}

/// `vpc … exists`.
pub fn vpc_exists(reference: &NetworkRef, vpcs: &[Vpc]) -> Verdict {
    exists(reference, vpcs.iter().map(|v| v.id.as_str()))
}

/// `subnet … exists`.
pub fn subnet_exists(reference: &NetworkRef, subnets: &[Subnet]) -> Verdict {
    exists(reference, subnets.iter().map(|s| s.id.as_str()))
}

fn exists<'a>(reference: &NetworkRef, ids: impl Iterator<Item = &'a str>) -> Verdict {
    let observed: Vec<Observed> = ids.map(|id| item(id, None, true, None)).collect();
    let passed = !observed.is_empty();
    let summary = if passed { format!("{reference} exists") } else { format!("{reference} does not exist") };
    verdict(passed, summary, observed)
}

/// `… tag '<key>' is|matches …` for every VPC or subnet found.
pub fn tag(
    reference: &NetworkRef,
    found: &[(String, BTreeMap<String, String>)],
    key: &str,
    expect: &Expectation,
) -> Verdict {
    if found.is_empty() {
        return verdict(false, format!("{reference} does not exist"), Vec::new());
    }
    let observed: Vec<Observed> = found
        .iter()
        .map(|(id, tags)| {
            let value = tags.get(key).cloned().unwrap_or_else(|| NONE.to_owned());
            let (ok, note) = check_value(&value, expect);
            item(id, Some(value), ok, note)
        })
        .collect();
    let passed = observed.iter().all(|o| o.ok);
    let summary = format!("{reference}: tag '{key}' {}{}", wanted(expect), if passed { "" } else { " does not hold" });
    verdict(passed, summary, observed)
}

/// `vpc … dhcp domain name is|matches …`.
pub fn dhcp_domain_name(vpc: &NetworkRef, dhcp: Option<&Dhcp>, expect: &Expectation) -> Verdict {
    let Some(dhcp) = dhcp else {
        return verdict(false, format!("{vpc} does not exist or has no DHCP options set"), Vec::new());
    };
    let value = if dhcp.domain_names.is_empty() { NONE.to_owned() } else { dhcp.domain_names.join(" ") };
    let (ok, note) = check_value(&value, expect);
    let summary = format!("{vpc}: DHCP domain name {}{}", wanted(expect), if ok { "" } else { " does not hold" });
    verdict(ok, summary, vec![item(&dhcp.id, Some(value), ok, note)])
}

/// `vpc … dhcp name servers contain '<server>'`.
pub fn dhcp_name_servers(vpc: &NetworkRef, dhcp: Option<&Dhcp>, server: &str) -> Verdict {
    let Some(dhcp) = dhcp else {
        return verdict(false, format!("{vpc} does not exist or has no DHCP options set"), Vec::new());
    };
    let ok = dhcp.name_servers.iter().any(|s| s.eq_ignore_ascii_case(server));
    let value = if dhcp.name_servers.is_empty() { NONE.to_owned() } else { dhcp.name_servers.join(",") };
    let summary = format!("{vpc}: DHCP name servers {} '{server}'", if ok { "contain" } else { "do not contain" });
    verdict(ok, summary, vec![item(&dhcp.id, Some(value), ok, None)])
}

/// `vpc … subnets span at least N availability zones`.
pub fn availability_zones(reference: &NetworkRef, vpc: Option<&Vpc>, subnets: &[Subnet], at_least: u64) -> Verdict {
    let Some(vpc) = vpc else {
        return verdict(false, format!("{reference} does not exist"), Vec::new());
    };
    let zones: BTreeSet<&str> = subnets.iter().map(|s| s.availability_zone.as_str()).collect();
    let passed = zones.len() as u64 >= at_least;
    let summary = format!(
        "the {} subnets of {} span {} availability zones{}",
        subnets.len(),
        vpc.id,
        zones.len(),
        if passed { String::new() } else { format!(", expected at least {at_least}") }
    );
    let observed = subnets.iter().map(|s| item(&s.id, Some(s.availability_zone.clone()), true, None)).collect();
    verdict(passed, summary, observed)
}

/// Free IP addresses of one subnet, or (`every`) of each subnet found, at least one.
pub fn free_ips(label: &str, subnets: &[Subnet], count: CountComparison, every: bool) -> Verdict {
    if subnets.is_empty() {
        let what = if every { format!("no {label} found") } else { format!("{label} does not exist") };
        return verdict(false, what, Vec::new());
    }
    let observed: Vec<Observed> = subnets
        .iter()
        .map(|s| {
            let name = match s.tags.get("Name") {
                Some(n) => format!("{} ({n})", s.id),
                None => s.id.clone(),
            };
            let ok = u64::try_from(s.free_ips).is_ok_and(|n| count.holds(n));
            item(name, Some(format!("{} free", s.free_ips)), ok, None)
        })
        .collect();
    let bad = observed.iter().filter(|o| !o.ok).count();
    let passed = bad == 0;
    let summary = if passed {
        format!("{label}: {count} free ip addresses")
    } else if every {
        format!("{bad} of {} {label} do not have {count} free ip addresses", subnets.len())
    } else {
        format!("{label} does not have {count} free ip addresses")
    };
    verdict(passed, summary, observed)
}

/// `export '<name>' exists|is|matches …`.
pub fn export(name: &str, value: Option<&str>, expect: Option<&Expectation>) -> Verdict {
    let Some(value) = value else {
        return verdict(false, format!("export '{name}' does not exist"), Vec::new());
    };
    let (ok, note) = expect.map_or((true, None), |e| check_value(value, e));
    let summary = match (expect, ok) {
        (None, _) => format!("export '{name}' exists"),
        (Some(e), true) => format!("export '{name}' {}", wanted(e)),
        (Some(e), false) => format!("export '{name}' is '{value}', expected {}", wanted(e)),
    };
    verdict(ok, summary, vec![item(name, Some(value.to_owned()), ok, note)])
}

/// `stack '<name>' …`.
pub fn stack(name: &str, stack: Option<&Stack>, check: &StackCheck) -> Verdict {
    let Some(stack) = stack else {
        return verdict(false, format!("stack '{name}' does not exist"), Vec::new());
    };
    let status = || item(name, Some(stack.status.clone()), true, None);
    match check {
        StackCheck::Exists => verdict(true, format!("stack '{name}' exists ({})", stack.status), vec![status()]),
        StackCheck::Status(expect) => {
            let (ok, note) = check_value(&stack.status, expect);
            let summary = format!(
                "stack '{name}' status is '{}'{}",
                stack.status,
                if ok { String::new() } else { format!(", expected {}", wanted(expect)) }
            );
            verdict(ok, summary, vec![item(name, Some(stack.status.clone()), ok, note)])
        }
        StackCheck::StatusOneOf(wanted_statuses) => {
            let ok = wanted_statuses.iter().any(|s| s.value.eq_ignore_ascii_case(&stack.status));
            let list = wanted_statuses.iter().map(|s| format!("'{}'", s.value)).collect::<Vec<_>>().join(", ");
            let summary = format!(
                "stack '{name}' status is '{}'{}",
                stack.status,
                if ok { String::new() } else { format!(", expected one of {list}") }
            );
            verdict(ok, summary, vec![item(name, Some(stack.status.clone()), ok, None)])
        }
        StackCheck::Output { key, expect } => {
            let Some(value) = stack.outputs.get(&key.value) else {
                let keys = stack.outputs.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
                return verdict(
                    false,
                    format!("stack '{name}' has no output '{}' (outputs: {keys})", key.value),
                    vec![status()],
                );
            };
            let (ok, note) = check_value(value, expect);
            let summary = format!(
                "stack '{name}' output '{}' {}{}",
                key.value,
                wanted(expect),
                if ok { "" } else { " does not hold" }
            );
            verdict(ok, summary, vec![item(&key.value, Some(value.clone()), ok, note)])
        }
    }
}

/// `parameter '<name>' …`. A SecureString value is compared decrypted but shown as [`REDACTED`], and so is
/// the expected value.
pub fn parameter(name: &str, parameter: Option<&Parameter>, check: &ParameterCheck) -> Verdict {
    let Some(p) = parameter else {
        return verdict(false, format!("parameter '{name}' does not exist"), Vec::new());
    };
    let secret = p.kind == "SecureString";
    let shown = if secret { REDACTED.to_owned() } else { p.value.clone() };
    match check {
        ParameterCheck::Exists => {
            verdict(true, format!("parameter '{name}' exists ({})", p.kind), vec![item(name, Some(shown), true, None)])
        }
        ParameterCheck::Type(t) => {
            let ok = p.kind == t.value;
            let summary = format!(
                "parameter '{name}' has type '{}'{}",
                p.kind,
                if ok { String::new() } else { format!(", expected '{}'", t.value) }
            );
            verdict(ok, summary, vec![item(name, Some(p.kind.clone()), ok, None)])
        }
        ParameterCheck::Value(expect) => {
            let (ok, note) = check_value(&p.value, expect);
            let note = if secret { note.map(|_| "not a number".to_owned()) } else { note };
            let expected = if secret { format!("{REDACTED} (a SecureString)") } else { wanted(expect) };
            let summary = format!("parameter '{name}' {}{expected}", if ok { "" } else { "does not hold " });
            verdict(ok, summary, vec![item(name, Some(shown), ok, note)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use precheck_lang::{AwsAssertion, parse_sentence};

    fn assertion(text: &str) -> AwsAssertion {
        parse_sentence(text).unwrap().aws().unwrap().clone()
    }

    fn subnet(id: &str, az: &str, free: i64, tier: &str) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            availability_zone: az.into(),
            free_ips: free,
            tags: BTreeMap::from([("tier".to_owned(), tier.to_owned()), ("Name".to_owned(), format!("{id}-name"))]),
        }
    }

    #[test]
    fn free_ips_every_subnet_and_at_least_one() {
        let subnets =
            [subnet("subnet-a", "eu-west-1a", 251, "private"), subnet("subnet-b", "eu-west-1b", 12, "private")];
        let v = free_ips("subnets tagged 'tier=private'", &subnets, CountComparison::MoreThan(20), true);
        assert!(!v.passed);
        assert_eq!(v.summary, "1 of 2 subnets tagged 'tier=private' do not have more than 20 free ip addresses");
        assert!(v.to_string().contains("BAD subnet-b (subnet-b-name): 12 free"), "{v}");
        assert!(free_ips("x", &subnets[..1], CountComparison::MoreThan(20), false).passed);
        assert!(!free_ips("subnets tagged 'a=b'", &[], CountComparison::MoreThan(0), true).passed);
    }

    #[test]
    fn secure_strings_never_show_their_value() {
        let secret = Parameter { kind: "SecureString".into(), value: "hunter2".into() };
        for sentence in [
            "parameter '/db/password' is 'wrong'",
            "parameter '/db/password' is 'hunter2'",
            "parameter '/db/password' matches '^h'",
            "parameter '/db/password' exists",
            "parameter '/db/password' is more than '3'",
        ] {
            let AwsAssertion::Parameter { check, .. } = assertion(sentence) else { panic!() };
            let v = parameter("/db/password", Some(&secret), &check);
            let text = format!("{v} {:?}", v.observed);
            assert!(!text.contains("hunter2"), "{sentence}: {text}");
        }
        let AwsAssertion::Parameter { check, .. } = assertion("parameter '/db/password' is 'hunter2'") else {
            panic!()
        };
        assert!(parameter("/db/password", Some(&secret), &check).passed);
    }

    #[test]
    fn stacks_exports_and_accounts() {
        let rolled_back = Stack { status: "ROLLBACK_COMPLETE".into(), outputs: BTreeMap::new() };
        let AwsAssertion::Stack { check, .. } =
            assertion("stack 's' status is one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE'")
        else {
            panic!()
        };
        let v = stack("s", Some(&rolled_back), &check);
        assert_eq!(
            (v.passed, v.summary.as_str()),
            (false, "stack 's' status is 'ROLLBACK_COMPLETE', expected one of 'CREATE_COMPLETE', 'UPDATE_COMPLETE'")
        );
        assert!(!stack("s", None, &StackCheck::Exists).passed);
        assert!(export("e", Some("vpc-1"), None).passed);
        assert_eq!(export("e", None, None).summary, "export 'e' does not exist");
        assert!(!account("111111111111", "123456789012").passed);
    }
}
