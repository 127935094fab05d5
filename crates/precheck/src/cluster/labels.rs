//! Kubernetes label selectors, for sources that filter objects themselves (snapshots).

use std::collections::BTreeMap;

/// A parsed label selector: every requirement must hold.
///
/// ```
/// use precheck::cluster::LabelSelector;
/// use std::collections::BTreeMap;
///
/// let selector = LabelSelector::parse("app=nginx,tier in (web, edge),!canary").unwrap();
/// let labels = BTreeMap::from([("app".to_owned(), "nginx".to_owned()), ("tier".to_owned(), "edge".to_owned())]);
/// assert!(selector.matches(&labels));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A selector that is not valid Kubernetes syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector '{selector}': {reason}")]
pub struct LabelSelectorError {
    /// The selector as written.
    pub selector: String,
    /// What is wrong.
    pub reason: String,
}

impl LabelSelector {
    /// Parses equality (`a=b`, `a==b`, `a!=b`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`)
    /// requirements separated by commas.
    pub fn parse(selector: &str) -> Result<Self, LabelSelectorError> {
        let fail = |reason: &str| LabelSelectorError { selector: selector.to_owned(), reason: reason.to_owned() };
        let mut requirements = Vec::new();
        for part in split_top_level(selector) {
            let part = part.trim();
            if part.is_empty() {
                return Err(fail("empty requirement"));
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key.trim().to_owned(), value.trim().to_owned())
            } else if let Some((key, values)) = set_requirement(part, " notin ") {
                Requirement::NotIn(key, values.ok_or_else(|| fail("expected `(value, …)` after `notin`"))?)
            } else if let Some((key, values)) = set_requirement(part, " in ") {
                Requirement::In(key, values.ok_or_else(|| fail("expected `(value, …)` after `in`"))?)
            } else {
                Requirement::Exists(part.to_owned())
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::DoesNotExist(k) => k,
            };
            if key.is_empty() || key.contains([' ', '(', ')', '=', '!']) {
                return Err(fail(&format!("invalid key '{key}'")));
            }
            requirements.push(requirement);
        }
        Ok(Self { requirements })
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

fn split_top_level(selector: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&selector[start..]);
    parts
}

fn set_requirement(part: &str, op: &str) -> Option<(String, Option<Vec<String>>)> {
    let (key, rest) = part.split_once(op)?;
    let values = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| inner.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect());
    Some((key.trim().to_owned(), values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn equality_and_sets() {
        let l = labels(&[("app", "nginx"), ("tier", "web")]);
        let yes = [
            "app=nginx",
            "app==nginx",
            "app!=redis",
            "tier in (web,db)",
            "tier notin (db)",
            "app",
            "!canary",
            "app=nginx,tier=web",
            "missing notin (x)",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
        let no = ["app=redis", "app!=nginx", "tier in (db)", "tier notin (web)", "canary", "!app", "app=nginx,tier=db"];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&l), "{s}");
        }
    }

    #[test]
    fn errors() {
        for s in ["", "app=x,", "tier in web", "a b=c"] {
            assert!(LabelSelector::parse(s).is_err(), "{s}");
        }
    }
}
