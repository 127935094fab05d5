//! Reading a property of an object as `kubectl get -o custom-columns` prints it.

use precheck_lang::{Comparison, FieldPath, Filter, Literal, PathStep};
use serde_json::Value;

/// What `kubectl get -o custom-columns=X:<path>` prints for `object`: the values found, joined by commas,
/// or `<none>` when the path finds nothing.
///
/// ```
/// use precheck::field_values::render;
/// use precheck_lang::FieldPath;
///
/// let svc = serde_json::json!({"spec": {"ports": [{"port": 80}, {"port": 443}]}});
/// assert_eq!(render(&svc, &FieldPath::parse("port").unwrap()), "80,443");
/// assert_eq!(render(&svc, &FieldPath::parse(".spec.clusterIP").unwrap()), "<none>");
/// ```
pub fn render(object: &Value, path: &FieldPath) -> String {
    let values = select(object, &path.steps);
    if values.is_empty() {
        return NONE.to_owned();
    }
    values.iter().map(|v| scalar_text(v)).collect::<Vec<_>>().join(",")
}

/// What kubectl prints for an absent field.
pub const NONE: &str = "<none>";

/// The values `steps` lead to, in document order.
pub fn select<'v>(object: &'v Value, steps: &[PathStep]) -> Vec<&'v Value> {
    let mut current = vec![object];
    for step in steps {
        let mut next = Vec::new();
        for value in current {
            apply(value, step, &mut next);
        }
        current = next;
    }
    current.retain(|v| !v.is_null());
    current
}

fn apply<'v>(value: &'v Value, step: &PathStep, out: &mut Vec<&'v Value>) {
    match (step, value) {
        (PathStep::Field(name), Value::Object(map)) => out.extend(map.get(name)),
        (PathStep::Index(i), Value::Array(items)) => {
            let index = if *i < 0 { items.len() as i64 + i } else { *i };
            if let Ok(index) = usize::try_from(index) {
                out.extend(items.get(index));
            }
        }
        (PathStep::Wildcard, Value::Array(items)) => out.extend(items.iter()),
        (PathStep::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (PathStep::Slice(start, end), Value::Array(items)) => {
            let len = items.len() as i64;
            let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
            let (a, b) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
            if a < b {
                out.extend(items[a..b].iter());
            }
        }
        (PathStep::Filter(filter), Value::Array(items)) => {
            out.extend(items.iter().filter(|item| filter_holds(item, filter)));
        }
        _ => {}
    }
}

fn filter_holds(item: &Value, filter: &Filter) -> bool {
    let found = select(item, &filter.path);
    match &filter.comparison {
        None => !found.is_empty(),
        Some((op, literal)) => {
            let equal = found.iter().any(|v| literal_equals(v, literal));
            match op {
                Comparison::Equal => equal,
                Comparison::NotEqual => !found.is_empty() && !equal,
            }
        }
    }
}

fn literal_equals(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(s), Literal::String(l)) => s == l,
        (Value::Number(n), Literal::Number(l)) => n.as_f64() == l.parse::<f64>().ok(),
        (Value::Bool(b), Literal::Bool(l)) => b == l,
        // kubectl compares numbers written as strings and the other way round by their text.
        (Value::String(s), Literal::Number(l)) => s == l,
        (Value::Number(n), Literal::String(l)) => n.to_string() == *l,
        _ => false,
    }
}

/// One value as kubectl prints it: strings bare, numbers and booleans as written, objects as JSON.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => NONE.to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> FieldPath {
        FieldPath::parse(p).unwrap()
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "nginx-1", "labels": {"app.kubernetes.io/name": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoy:1"}]},
            "status": {
                "phase": "Running",
                "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0}, {"name": "sidecar", "ready": false, "restartCount": 3}]
            }
        })
    }

    #[test]
    fn renders_like_custom_columns() {
        let pod = pod();
        assert_eq!(render(&pod, &path("status")), "Running");
        assert_eq!(render(&pod, &path(".spec.containers[0].image")), "nginx:1.27");
        assert_eq!(render(&pod, &path(".spec.containers[*].name")), "nginx,sidecar");
        assert_eq!(render(&pod, &path(".spec.containers[-1].name")), "sidecar");
        assert_eq!(render(&pod, &path(".spec.containers[0:1].name")), "nginx");
        assert_eq!(render(&pod, &path(".status.containerStatuses[?(@.name==\"nginx\")].ready")), "true");
        assert_eq!(render(&pod, &path(".status.containerStatuses[?(@.restartCount==3)].name")), "sidecar");
        assert_eq!(render(&pod, &path(".status.containerStatuses[?(@.name!=\"nginx\")].name")), "sidecar");
        assert_eq!(render(&pod, &path(".metadata.labels['app.kubernetes.io/name']")), "nginx");
        assert_eq!(render(&pod, &path(".spec.nodeName")), "<none>");
        assert_eq!(render(&pod, &path(".spec.containers[7].name")), "<none>");
        assert_eq!(render(&pod, &path(".metadata.labels")), r#"{"app.kubernetes.io/name":"nginx"}"#);
    }
}
