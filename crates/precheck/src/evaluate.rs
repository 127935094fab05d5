//! Evaluation: a pure function of an assertion and the objects a source returned.
//!
//! Kept apart from listing and waiting so every rule of the language is tested with inline objects.

use std::fmt::{self, Write as _};

use precheck_lang::{ClusterAssertion, ClusterCheck, Expectation, Property};
use serde_json::Value;

use crate::field_values::render;

/// The result of evaluating one assertion on a set of objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// True when the assertion holds.
    pub passed: bool,
    /// One line: what was found against what was expected.
    pub summary: String,
    /// Every object whose name matched, with the value read and whether it satisfied the expectation.
    pub observed: Vec<Observed>,
}

/// One object as seen by an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// `metadata.namespace`, when the object has one.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
    /// The property value as kubectl prints it (`None` for counting sentences).
    pub value: Option<String>,
    /// Whether this object satisfied the expectation (always true for counting sentences).
    pub ok: bool,
    /// Why not, when the value could not be compared (a non-number for `more than`).
    pub note: Option<String>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        for o in &self.observed {
            let mut line = String::new();
            let mark = if o.ok { "ok " } else { "BAD" };
            match &o.namespace {
                Some(ns) => write!(line, "\n  {mark} {ns}/{}", o.name)?,
                None => write!(line, "\n  {mark} {}", o.name)?,
            }
            if let Some(v) = &o.value {
                write!(line, ": {v}")?;
            }
            if let Some(note) = &o.note {
                write!(line, " ({note})")?;
            }
            f.write_str(&line)?;
        }
        Ok(())
    }
}

fn meta<'v>(object: &'v Value, field: &str) -> Option<&'v str> {
    object.get("metadata")?.get(field)?.as_str()
}

/// The objects among `objects` whose name the target's pattern matches.
pub fn matching<'v>(assertion: &ClusterAssertion, objects: &'v [Value]) -> Vec<&'v Value> {
    objects
        .iter()
        .filter(|o| match &assertion.target.name {
            Some(pattern) => pattern.value.is_match(meta(o, "name").unwrap_or("")),
            None => true,
        })
        .collect()
}

fn describe_target(assertion: &ClusterAssertion) -> String {
    let t = &assertion.target;
    let mut text = t.resource.value.clone();
    if let Some(name) = &t.name {
        write!(text, " named '{}'", name.value).ok();
    }
    if let Some(labels) = &t.labels {
        write!(text, " with labels '{}'", labels.value).ok();
    }
    text
}

/// Evaluates `assertion` on `objects` (already narrowed to the target's type, namespace and labels).
///
/// ```
/// use precheck::evaluate::evaluate;
/// use precheck_lang::parse_sentence;
///
/// let pods = vec![
///     serde_json::json!({"metadata": {"name": "nginx-1"}, "status": {"phase": "Running"}}),
///     serde_json::json!({"metadata": {"name": "nginx-2"}, "status": {"phase": "Pending"}}),
/// ];
/// let sentence = parse_sentence("'status' is 'running' for pods named 'nginx'").unwrap();
/// let verdict = evaluate(sentence.cluster().unwrap(), &pods);
/// assert!(!verdict.passed);
/// assert_eq!(verdict.summary, "1 of 2 pods named 'nginx' do not have 'status' = 'running'");
/// ```
pub fn evaluate(assertion: &ClusterAssertion, objects: &[Value]) -> Verdict {
    let found = matching(assertion, objects);
    let target = describe_target(assertion);
    match &assertion.check {
        ClusterCheck::Count(cmp) => {
            let n = found.len() as u64;
            let observed = found.iter().map(|o| observed(o, None, true, None)).collect();
            let passed = cmp.holds(n);
            let summary =
                if passed { format!("found {n} {target}") } else { format!("found {n} {target}, expected {cmp}") };
            Verdict { passed, summary, observed }
        }
        ClusterCheck::Property { property, expect } => {
            if found.is_empty() {
                return Verdict {
                    passed: false,
                    summary: format!("no {target} found to check '{}' {}", property.text, wanted(expect)),
                    observed: Vec::new(),
                };
            }
            let observed: Vec<Observed> = found.iter().map(|o| check_object(o, property, expect)).collect();
            let bad = observed.iter().filter(|o| !o.ok).count();
            let passed = bad == 0;
            let summary = if passed {
                format!("{} {target}: '{}' {}", found.len(), property.text, wanted(expect))
            } else {
                format!("{bad} of {} {target} do not have '{}' {}", found.len(), property.text, wanted(expect))
            };
            Verdict { passed, summary, observed }
        }
        ClusterCheck::Find { count, property, expect } => {
            let observed: Vec<Observed> = found.iter().map(|o| check_object(o, property, expect)).collect();
            let good = observed.iter().filter(|o| o.ok).count() as u64;
            let passed = good == *count;
            let summary = format!(
                "{good} of {} {target} have '{}' {}{}",
                found.len(),
                property.text,
                wanted(expect),
                if passed { String::new() } else { format!(", expected {count}") }
            );
            Verdict { passed, summary, observed }
        }
    }
}

/// The expectation as a short phrase: `= 'running'`, `matching '^Run'`, `> 1`, `< 3`.
pub(crate) fn wanted(expect: &Expectation) -> String {
    match expect {
        Expectation::Is(v) => format!("= '{}'", v.value),
        Expectation::Matches(p) => format!("matching '{}'", p.value),
        Expectation::MoreThan(n) => format!("> {}", n.value.text),
        Expectation::LessThan(n) => format!("< {}", n.value.text),
    }
}

fn observed(object: &Value, value: Option<String>, ok: bool, note: Option<String>) -> Observed {
    Observed {
        namespace: meta(object, "namespace").map(str::to_owned),
        name: meta(object, "name").unwrap_or("").to_owned(),
        value,
        ok,
        note,
    }
}

fn check_object(object: &Value, property: &Property, expect: &Expectation) -> Observed {
    let value = render(object, &property.path);
    let (ok, note) = check_value(&value, expect);
    observed(object, Some(value), ok, note)
}

/// Compares a rendered value with an expectation: `is` ignores case, `matches` is a case-sensitive search,
/// `more than`/`less than` compare numbers.
pub fn check_value(value: &str, expect: &Expectation) -> (bool, Option<String>) {
    match expect {
        Expectation::Is(v) => (value.to_lowercase() == v.value.to_lowercase(), None),
        Expectation::Matches(p) => (p.value.is_match(value), None),
        Expectation::MoreThan(n) | Expectation::LessThan(n) => match value.trim().parse::<f64>() {
            Ok(x) if matches!(expect, Expectation::MoreThan(_)) => (x > n.value.value, None),
            Ok(x) => (x < n.value.value, None),
            Err(_) => (false, Some(format!("'{value}' is not a number"))),
        },
    }
}

#[cfg(test)]
mod tests;
