//! Object assertions (`expect object 'FILE'`, `expect no object 'FILE'`): the YAML documents of a file are
//! partial objects, compared with the cluster's objects as kuttl compares them — a map matches when each of
//! its keys matches (the object may have more), a list when it has as many elements and each matches in
//! order, a scalar when it is equal — so a kuttl `NN-assert.yaml` or `NN-errors.yaml` file works as
//! written (its `kuttl.dev` documents, such as `TestAssert`, are skipped: Precheck waits only in the `try`
//! form). Chainsaw compares maps and lists the same way, but reads keys in parentheses as JMESPath
//! expressions (`(length(containers))`) and `($x)` as bindings: such keys are refused here, not compared as
//! text.
//!
//! Each document names its kind with `apiVersion` and `kind`, and finds its objects by `metadata.name`, else
//! by `metadata.labels` (a label selector), else takes every object of the kind; its namespace is
//! `metadata.namespace`, else the check file's, else the cluster's default.
//!
//! ```
//! use precheck::object::difference;
//! use serde_json::json;
//!
//! let expected = json!({"status": {"conditions": [{"type": "Available"}, {"reason": "Available"}]}});
//! let actual = json!({"status": {"conditions": [
//!     {"type": "Available", "status": "False"},
//!     {"type": "Progressing", "reason": "MinimumReplicasUnavailable"}
//! ]}});
//! assert_eq!(
//!     difference(&expected, &actual).unwrap().to_string(),
//!     ".status.conditions[1].reason: expected 'Available', found 'MinimumReplicasUnavailable'"
//! );
//! ```

use std::fmt;
use std::sync::Arc;

use precheck_lang::Located;
use serde_json::Value;

use crate::evaluate::{Observed, Verdict};

/// The documents of one YAML file of partial objects.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectFile {
    /// The file as the check file names it.
    pub shown: String,
    /// Its documents, in order.
    pub documents: Vec<Expected>,
}

/// One partial object: what it must look like, and how its objects are found.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The document as written, without `apiVersion` and `kind` (they choose the objects compared).
    pub object: Value,
    /// `apps/v1`.
    pub api_version: String,
    /// `Deployment`.
    pub kind: String,
    /// `metadata.name`, when it names one object.
    pub name: Option<String>,
    /// `metadata.namespace`, when it names one.
    pub namespace: Option<String>,
    /// `metadata.labels` as a label selector (`app=web,tier=front`), when the document has no name.
    pub labels: Option<String>,
    /// `FILE:LINE` of the document's first line, for messages.
    pub place: String,
}

impl Expected {
    /// The resource word the cluster resolves: `deployment.apps`, `pod`.
    pub fn resource(&self) -> String {
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => format!("{}.{group}", self.kind.to_ascii_lowercase()),
            None => self.kind.to_ascii_lowercase(),
        }
    }

    /// `Deployment 'web'`, `Deployment with labels app=web`, or `Deployment`.
    fn what(&self) -> String {
        match (&self.name, &self.labels) {
            (Some(name), _) => format!("{} '{name}'", self.kind),
            (None, Some(labels)) => format!("{} with labels {labels}", self.kind),
            (None, None) => self.kind.clone(),
        }
    }
}

/// Where a partial object and an object first differ, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `.status.conditions[1].reason`, or `.` for the whole object.
    pub path: String,
    /// What the partial object has there.
    pub expected: String,
    /// What the object has there.
    pub found: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}, found {}", self.path, self.expected, self.found)
    }
}

/// A value as a difference shows it: text in quotes, numbers, booleans and null as they are (so `'3'` and
/// `3` differ visibly), a map or a list by its size.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        Value::Object(map) => format!("a map of {} keys", map.len()),
        Value::Array(list) => format!("a list of {} items", list.len()),
        other => other.to_string(),
    }
}

/// Numbers by value: integers exactly (beyond 2^53 too), a float and an integer as floats (`2` is `2.0`).
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    a.as_f64() == b.as_f64()
}

/// The first place where `actual` does not match the partial object `expected` (maps as subsets, lists of
/// the same length element by element, scalars exactly; numbers by value), or `None` when it matches.
pub fn difference(expected: &Value, actual: &Value) -> Option<Difference> {
    fn walk(expected: &Value, actual: Option<&Value>, path: &mut String) -> Option<Difference> {
        let at = |path: &str, expected: String, found: String| {
            let path = if path.is_empty() { ".".to_owned() } else { path.to_owned() };
            Some(Difference { path, expected, found })
        };
        let Some(actual) = actual else {
            return at(path, shown(expected), "nothing".to_owned());
        };
        match (expected, actual) {
            (Value::Object(want), Value::Object(have)) => {
                for (key, value) in want {
                    let len = path.len();
                    path.push('.');
                    path.push_str(key);
                    let found = walk(value, have.get(key), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(want), Value::Array(have)) => {
                if want.len() != have.len() {
                    return at(path, format!("{} items", want.len()), format!("{}", have.len()));
                }
                for (i, (w, h)) in want.iter().zip(have).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let found = walk(w, Some(h), path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Number(a), Value::Number(b)) if same_number(a, b) => None,
            (want, have) if want == have => None,
            (want, have) => at(path, shown(want), shown(have)),
        }
    }
    walk(expected, Some(actual), &mut String::new())
}

fn name_of(object: &Value) -> (Option<String>, String) {
    let meta = |field: &str| object.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).map(str::to_owned);
    (meta("namespace"), meta("name").unwrap_or_default())
}

/// How many objects that differ a failed verdict lists.
const LISTED: usize = 5;

/// The verdict of `doc` on the objects of its kind listed in its namespace (and by its name or labels):
/// with `present`, it holds when one of them matches; without, when none does.
pub fn judge(doc: &Expected, objects: &[Value], present: bool) -> Verdict {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            doc.name.as_ref().is_none_or(|name| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        })
        .collect();
    let judged: Vec<(&Value, Option<Difference>)> = found.iter().map(|o| (*o, difference(&doc.object, o))).collect();
    let matching = judged.iter().filter(|(_, d)| d.is_none()).count();
    let observed = |(object, diff): &(&Value, Option<Difference>), ok: bool| {
        let (namespace, name) = name_of(object);
        Observed { namespace, name, value: None, ok, note: diff.as_ref().map(ToString::to_string) }
    };
    let what = doc.what();
    if present {
        if let Some(hit) = judged.iter().find(|(_, d)| d.is_none()) {
            return Verdict {
                passed: true,
                summary: format!("{what} matches the object of {}", doc.place),
                observed: vec![observed(hit, true)],
            };
        }
        let summary = if found.is_empty() {
            format!("no {what} found, expected one that matches the object of {}", doc.place)
        } else {
            format!("{} {what} found, none matches the object of {}", found.len(), doc.place)
        };
        let observed = judged.iter().take(LISTED).map(|j| observed(j, false)).collect();
        Verdict { passed: false, summary, observed }
    } else if matching == 0 {
        Verdict {
            passed: true,
            summary: format!("no {what} matches the object of {} ({} found)", doc.place, found.len()),
            observed: Vec::new(),
        }
    } else {
        let observed = judged.iter().filter(|(_, d)| d.is_none()).take(LISTED).map(|j| observed(j, false)).collect();
        Verdict {
            passed: false,
            summary: format!("{matching} {what} match the object of {}, expected none", doc.place),
            observed,
        }
    }
}

/// Parses the text of a file of partial objects, shown as `shown` in messages: every document a partial
/// object with `apiVersion` and `kind`. Errors name the file, line and column and say what was expected.
///
/// ```
/// let file = precheck::object::parse("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n", "web.yaml").unwrap();
/// assert_eq!(file.documents[0].resource(), "deployment.apps");
/// let errors = precheck::object::parse("apiVersion: v1\nkind: [Pod\n", "bad.yaml").unwrap_err();
/// assert_eq!((errors[0].line, errors[0].column), (2, 7), "the `[` never closed");
/// ```
pub fn parse(text: &str, shown: &str) -> Result<ObjectFile, Vec<Located>> {
    let source: Arc<str> = Arc::from(text);
    let mut errors = Vec::new();
    let mut documents = Vec::new();
    // Documents one by one, so an error's line counts from the file's start.
    for precheck_lang::Document { range: chunk, first_line } in precheck_lang::yaml_documents(text) {
        let body = &text[chunk.clone()];
        let error = |at: usize, message: String| {
            Located::new(shown, source.clone(), at..at + 1, "precheck::object_file", message)
        };
        let value: Value = match serde_saphyr::from_str(body) {
            Ok(value) => value,
            Err(e) => {
                let at = e.location().map_or(chunk.start, |l| chunk.start + crate::yaml_error::span(body, &l).0);
                errors.push(error(at, format!("not valid YAML: {}", crate::yaml_error::message(&e))));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        // The document's first line that is neither blank nor a comment.
        let mut doc_start = chunk.start;
        for line in body.split_inclusive('\n') {
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                doc_start += line.len() - line.trim_start().len();
                break;
            }
            doc_start += line.len();
        }
        let field = |name: &str| value.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            errors.push(error(doc_start, "expected a partial object with `apiVersion` and `kind`".to_owned()));
            continue;
        };
        // kuttl's own documents (`TestAssert` and its timeout, `TestStep`) say how kuttl runs the file, not
        // what the cluster holds: Precheck waits only in the `try` form.
        if api_version.starts_with("kuttl.dev/") {
            continue;
        }
        if let Some(key) = expression_key(&value) {
            errors.push(error(
                doc_start,
                format!("the key `{key}` is a Chainsaw expression, which Precheck does not evaluate: write the value it should have"),
            ));
            continue;
        }
        let meta = |name: &str| value.pointer(&format!("/metadata/{name}")).and_then(Value::as_str).map(str::to_owned);
        // Label values are text; YAML reads `version: 2` as a number, which the label selector says as `2`.
        let labels = value.pointer("/metadata/labels").and_then(Value::as_object).map(|labels| {
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            labels.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(",")
        });
        let (name, namespace) = (meta("name"), meta("namespace"));
        // The kind found the objects; list items need not carry it (the API leaves it out of them).
        let mut value = value;
        if let Some(map) = value.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
        documents.push(Expected {
            api_version,
            kind,
            name,
            namespace,
            labels: labels.filter(|l| !l.is_empty()),
            place: format!("{shown}:{}", first_line + text[chunk.start..doc_start].matches('\n').count()),
            object: value,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if documents.is_empty() {
        let error = Located::new(shown, source, 0..0, "precheck::object_file", "expected at least one partial object");
        return Err(vec![error]);
    }
    Ok(ObjectFile { shown: shown.to_owned(), documents })
}

/// The first key written as a Chainsaw expression (`(…)`), anywhere in a document.
fn expression_key(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.starts_with('(') && k.ends_with(')') { Some(k.clone()) } else { expression_key(v) }
        }),
        Value::Array(list) => list.iter().find_map(expression_key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_are_subsets_lists_match_element_by_element_scalars_exactly() {
        let actual = json!({"spec": {"replicas": 3, "template": {"spec": {"tolerations": [{"key": "a", "effect": "NoSchedule"}, {"key": "b"}]}}}, "extra": true});
        assert_eq!(difference(&json!({"spec": {"replicas": 3}}), &actual), None);
        assert_eq!(difference(&json!({"spec": {"replicas": 3.0}}), &actual), None, "numbers by value");
        assert_eq!(
            difference(&json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {}]}}}}), &actual),
            None
        );
        let diff = |expected: Value| difference(&expected, &actual).unwrap().to_string();
        assert_eq!(diff(json!({"spec": {"replicas": 2}})), ".spec.replicas: expected 2, found 3");
        assert_eq!(
            diff(json!({"spec": {"replicas": "3"}})),
            ".spec.replicas: expected '3', found 3",
            "a string is not a number"
        );
        assert_eq!(diff(json!({"spec": {"paused": true}})), ".spec.paused: expected true, found nothing");
        let big = json!({"n": 9_007_199_254_740_993_u64});
        assert!(difference(&json!({"n": 9_007_199_254_740_992_u64}), &big).is_some(), "integers exactly");
        assert_eq!(
            diff(json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}]}}}})),
            ".spec.template.spec.tolerations: expected 1 items, found 2"
        );
        assert_eq!(
            diff(json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {"key": "c"}]}}}})),
            ".spec.template.spec.tolerations[1].key: expected 'c', found 'b'"
        );
        assert_eq!(diff(json!({"spec": "x"})), ".spec: expected 'x', found a map of 2 keys");
    }

    fn doc(text: &str) -> Expected {
        parse(text, "objects.yaml").unwrap().documents.remove(0)
    }

    #[test]
    fn a_verdict_names_the_objects_and_the_first_difference() {
        let pods = [
            json!({"metadata": {"name": "a", "namespace": "web"}, "status": {"phase": "Running"}}),
            json!({"metadata": {"name": "b", "namespace": "web"}, "status": {"phase": "Pending"}}),
        ];
        let running = doc("apiVersion: v1\nkind: Pod\nstatus: {phase: Running}\n");
        assert!(judge(&running, &pods, true).passed);
        let failed = judge(&running, &pods, false);
        assert!(!failed.passed);
        assert_eq!(failed.to_string(), "1 Pod match the object of objects.yaml:1, expected none\n  BAD web/a");
        let named = doc("apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus: {phase: Running}\n");
        let failed = judge(&named, &pods, true);
        assert_eq!(
            failed.to_string(),
            "1 Pod 'b' found, none matches the object of objects.yaml:1\n  BAD web/b (.status.phase: expected 'Running', found 'Pending')"
        );
        let missing = doc("apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n");
        assert_eq!(
            judge(&missing, &pods, true).summary,
            "no Pod 'c' found, expected one that matches the object of objects.yaml:1"
        );
        assert!(judge(&missing, &pods, false).passed);
    }

    #[test]
    fn documents_say_how_their_objects_are_found() {
        let file = parse(
            "# first\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\n\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  labels: {app: web, tier: front}\n",
            "x.yaml",
        )
        .unwrap();
        let [web, pods] = &file.documents[..] else { panic!("{file:?}") };
        assert_eq!(
            (web.resource(), web.name.as_deref(), web.namespace.as_deref()),
            ("deployment.apps".into(), Some("web"), Some("shop"))
        );
        assert_eq!(
            (pods.resource(), pods.labels.as_deref(), pods.place.as_str()),
            ("pod".into(), Some("app=web,tier=front"), "x.yaml:8")
        );
    }

    #[test]
    fn a_kuttl_assert_file_works_as_written() {
        let file = parse(
            "apiVersion: kuttl.dev/v1beta1\nkind: TestAssert\ntimeout: 120\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nstatus: {readyReplicas: 2}\n",
            "01-assert.yaml",
        )
        .unwrap();
        assert_eq!(file.documents.len(), 1, "kuttl's TestAssert is not an object: {file:?}");
        let commented = parse(
            "# what a web looks like\n\napiVersion: v1\nkind: Pod\n---\n# no kind here\nmetadata: {}\n",
            "c.yaml",
        );
        let errors = commented.unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (7, 1), "the document's first line, past its comments");
        assert_eq!(
            (file.documents[0].kind.as_str(), file.documents[0].place.as_str()),
            ("Deployment", "01-assert.yaml:5")
        );
    }

    #[test]
    fn bad_files_are_errors_at_their_place() {
        let errors = parse("apiVersion: v1\nkind: Pod\n---\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nspec: {(length(containers)): 1}\n", "bad.yaml").unwrap_err();
        let found: Vec<(usize, usize, &str)> = errors.iter().map(|e| (e.line, e.column, e.message.as_str())).collect();
        assert_eq!(found[0], (4, 1, "expected a partial object with `apiVersion` and `kind`"));
        assert_eq!((found[1].0, found[1].1), (6, 1));
        assert!(found[1].2.contains("Chainsaw expression"), "{found:?}");
        let errors = parse("apiVersion: v1\nkind: Pod\nmetadata: {name: [x}\n", "bad.yaml").unwrap_err();
        assert_eq!(errors[0].line, 3, "{errors:?}");
        assert!(errors[0].message.starts_with("not valid YAML: "), "{errors:?}");
        assert_eq!(parse("# nothing\n", "empty.yaml").unwrap_err()[0].message, "expected at least one partial object");
    }
}
