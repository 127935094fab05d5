//! A failed step's diagnosis asked of the live cluster: each object it looked at (its state, its recent
//! events), a workload's pods that are not ready, and with [`Level::Full`] the last lines of the logs of
//! their containers that are not ready — masked with the values of the Secrets the pod reads. Nothing here
//! fails: what cannot be asked is said in a line, and the whole stops at [`TIME_BUDGET`].

use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use super::{LiveCluster, ResourceKind, to_value};
use crate::cluster::Namespaces;
use crate::diagnosis::{
    Event, Found, LOG_BYTES, LOG_LINES, Level, MAX_EVENTS, MAX_OBJECTS, MAX_PODS, TIME_BUDGET, state,
};

/// The shortest value that is masked: shorter Secret values withhold the logs instead.
const MIN_MASKED: usize = 4;

/// Kinds whose pods are described with them, found by their `spec.selector`.
const WORKLOADS: &[&str] = &["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"];

impl LiveCluster {
    /// Describes `objects` (namespace, name) of the resource `word` at `level`, within `budget` (at most
    /// [`TIME_BUDGET`]): what was found by then is kept, and a last line says the diagnosis stopped.
    pub async fn diagnose(
        &self,
        word: &str,
        objects: &[(Option<String>, String)],
        level: Level,
        budget: std::time::Duration,
    ) -> Found {
        let mut found = Found::default();
        if level == Level::None {
            return found;
        }
        let budget = budget.min(TIME_BUDGET);
        if budget < std::time::Duration::from_millis(100) {
            found.lines.push("[no diagnosis: the test's timeout leaves no time for it]".to_owned());
            return found;
        }
        let work = self.describe_all(word, objects, level, &mut found);
        if tokio::time::timeout(budget, work).await.is_err() {
            let budget = crate::runner::human(budget);
            found.lines.push(format!("[diagnosis stopped after {budget}: the cluster did not answer in time]"));
        }
        found
    }

    async fn describe_all(&self, word: &str, objects: &[(Option<String>, String)], level: Level, found: &mut Found) {
        let kind = match self.resolve(word).await {
            Ok(kind) => kind,
            Err(e) => return found.lines.push(format!("[no diagnosis: {e}]")),
        };
        for (namespace, name) in objects.iter().take(MAX_OBJECTS) {
            self.describe(&kind, namespace.as_deref(), name, level, found).await;
        }
        if objects.len() > MAX_OBJECTS {
            found.lines.push(format!("[{} more objects not described]", objects.len() - MAX_OBJECTS));
        }
    }

    async fn describe(
        &self,
        kind: &ResourceKind,
        namespace: Option<&str>,
        name: &str,
        level: Level,
        found: &mut Found,
    ) {
        let scope = namespace.map_or(Namespaces::All, |ns| Namespaces::One(ns.to_owned()));
        let place = match namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        self.count();
        let object = match self.api(kind, &scope).get(name).await {
            Ok(object) => to_value(object),
            Err(e) => return found.lines.push(format!("{} {place}: cannot be read: {e}", kind.singular)),
        };
        self.report(&kind.kind, &kind.singular, &place, &object, "", level, found).await;
        if !WORKLOADS.contains(&kind.kind.as_str()) {
            return;
        }
        let Some(namespace) = namespace else { return };
        let Some(selector) = match_labels(&object) else { return };
        self.count();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let listed = match pods.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list.items,
            Err(e) => return found.lines.push(format!("  pods with labels {selector}: cannot be listed: {e}")),
        };
        let values: Vec<Value> = listed.into_iter().filter_map(|p| serde_json::to_value(p).ok()).collect();
        let not_ready: Vec<&Value> = values.iter().filter(|p| !is_ready(p)).collect();
        if values.is_empty() {
            found.lines.push(format!("  no pod with labels {selector}"));
        }
        for pod in not_ready.iter().take(MAX_PODS) {
            let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
            let place = format!("{namespace}/{pod_name}");
            self.report("Pod", "pod", &place, pod, "  ", level, found).await;
        }
        if not_ready.len() > MAX_PODS {
            found.lines.push(format!("  [{} more pods not ready, not described]", not_ready.len() - MAX_PODS));
        }
    }

    /// An object's lines: `singular place: headline`, its problems and recent events below, and for a pod
    /// at [`Level::Full`] the logs of its containers that are not ready.
    #[allow(clippy::too_many_arguments)]
    async fn report(
        &self,
        kind: &str,
        singular: &str,
        place: &str,
        object: &Value,
        indent: &str,
        level: Level,
        found: &mut Found,
    ) {
        let (headline, details) = state(kind, object);
        let headline = if headline.is_empty() { String::new() } else { format!(": {headline}") };
        found.lines.push(format!("{indent}{singular} {place}{headline}"));
        for line in details {
            found.lines.push(format!("{indent}  {line}"));
        }
        let (namespace, name) = match place.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, place),
        };
        match self.events(namespace, kind, name).await {
            Ok(events) => found.lines.extend(events.iter().map(|e| format!("{indent}  {e}"))),
            Err(e) => found.lines.push(format!("{indent}  events: cannot be listed: {e}")),
        }
        if kind == "Pod"
            && level == Level::Full
            && let Some(namespace) = namespace
        {
            self.logs(namespace, name, object, indent, found).await;
        }
    }

    /// The most recent events of an object, oldest first.
    async fn events(&self, namespace: Option<&str>, kind: &str, name: &str) -> Result<Vec<Event>, kube::Error> {
        let api: Api<KubeEvent> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        self.count();
        let fields = format!("involvedObject.name={name},involvedObject.kind={kind}");
        let list = api.list(&ListParams::default().fields(&fields)).await?;
        let now = Timestamp::now();
        let mut events: Vec<(Option<Timestamp>, Event)> = list
            .items
            .into_iter()
            .map(|e| {
                let when = e
                    .last_timestamp
                    .map(|t| t.0)
                    .or(e.event_time.map(|t| t.0))
                    .or(e.first_timestamp.map(|t| t.0))
                    .or(e.metadata.creation_timestamp.map(|t| t.0));
                let age = when.map(|t| std::time::Duration::from_secs(now.duration_since(t).as_secs().max(0) as u64));
                let count = e.series.as_ref().and_then(|s| s.count).or(e.count).unwrap_or(1);
                let event = Event {
                    kind: e.type_.unwrap_or_else(|| "Normal".to_owned()),
                    reason: e.reason.unwrap_or_default(),
                    message: e.message.unwrap_or_default(),
                    count: i64::from(count),
                    age,
                };
                (when, event)
            })
            .collect();
        events.sort_by_key(|(when, _)| *when);
        let skip = events.len().saturating_sub(MAX_EVENTS);
        Ok(events.into_iter().skip(skip).map(|(_, e)| e).collect())
    }

    /// The last lines of the logs of a pod's containers that are not ready (and of their previous run when
    /// they restarted), masked with the values of the Secrets the pod reads (which then mask the whole
    /// diagnosis); withheld when those cannot be read.
    async fn logs(&self, namespace: &str, name: &str, pod: &Value, indent: &str, found: &mut Found) {
        let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array);
        let init = pod.pointer("/status/initContainerStatuses").and_then(Value::as_array);
        let not_ready: Vec<(&str, i64)> = init
            .into_iter()
            .flatten()
            .chain(statuses.into_iter().flatten())
            .filter(|c| c.get("ready").and_then(Value::as_bool) != Some(true))
            .filter_map(|c| {
                Some((c.get("name")?.as_str()?, c.get("restartCount").and_then(Value::as_i64).unwrap_or(0)))
            })
            .collect();
        // Read first, so they mask everything said of the pod (its events too), logs or not.
        match self.secret_values(namespace, pod).await {
            Ok(values) => found.masks.extend(values),
            Err(why) => return found.lines.push(format!("{indent}  logs not shown: {why}")),
        }
        if not_ready.is_empty() {
            if statuses.is_none() {
                found.lines.push(format!("{indent}  logs: none yet (no container has started)"));
            }
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        for (container, restarts) in not_ready {
            for previous in [false, true] {
                if previous && restarts == 0 {
                    continue;
                }
                let which = if previous { " (previous run)" } else { "" };
                let params = LogParams {
                    container: Some(container.to_owned()),
                    tail_lines: Some(LOG_LINES),
                    limit_bytes: Some(LOG_BYTES),
                    previous,
                    ..LogParams::default()
                };
                self.count();
                match api.logs(name, &params).await {
                    Ok(text) if text.trim().is_empty() => {
                        found.lines.push(format!("{indent}  log of {container}{which}: empty"));
                    }
                    Ok(text) => {
                        // Cut at LOG_BYTES, the last line may be a piece (of a secret too): it is left out.
                        let lines: Vec<&str> = text.lines().collect();
                        let whole =
                            if text.len() as i64 >= LOG_BYTES { lines.len().saturating_sub(1) } else { lines.len() };
                        found.lines.push(format!("{indent}  log of {container}{which}, last lines:"));
                        found.lines.extend(lines[..whole].iter().map(|l| format!("{indent}    {l}")));
                    }
                    Err(e) => found.lines.push(format!("{indent}  log of {container}{which}: not available: {e}")),
                }
            }
        }
    }

    /// The values (and their lines) of every Secret a pod reads through its environment or volumes.
    async fn secret_values(&self, namespace: &str, pod: &Value) -> Result<Vec<String>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let mut values = Vec::new();
        for name in secret_names(pod) {
            self.count();
            let secret = api
                .get(&name)
                .await
                .map_err(|e| format!("the pod reads secret '{name}', which cannot be read to mask its values ({e})"))?;
            for value in secret.data.into_iter().flat_map(|d| d.into_values()) {
                let text = String::from_utf8_lossy(&value.0).into_owned();
                // Masking `1` or `app` would blank half of what the diagnosis says; such a value cannot be
                // masked safely, so the logs are not shown.
                if !text.trim().is_empty() && text.trim().chars().count() < MIN_MASKED {
                    return Err(format!(
                        "the pod reads secret '{name}', whose values are too short to mask safely (fewer than \
                         {MIN_MASKED} characters)"
                    ));
                }
                values.extend(text.lines().filter(|l| l.trim().chars().count() >= MIN_MASKED).map(str::to_owned));
                values.push(text);
            }
        }
        values.retain(|v| !v.trim().is_empty());
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Ok(values)
    }
}

/// `spec.selector.matchLabels` as a label selector (`app=web,tier=front`).
fn match_labels(object: &Value) -> Option<String> {
    let labels = object.pointer("/spec/selector/matchLabels")?.as_object()?;
    let pairs: Vec<String> = labels.iter().filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?))).collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

/// Whether a pod's `Ready` condition is `True`.
fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|list| {
        list.iter().any(|c| c.get("type") == Some(&"Ready".into()) && c.get("status") == Some(&"True".into()))
    })
}

/// The Secrets a pod reads: `env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`, `volumes[].secret`,
/// of every container.
fn secret_names(pod: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for container in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            for env in container.get("env").and_then(Value::as_array).into_iter().flatten() {
                names.extend(env.pointer("/valueFrom/secretKeyRef/name").and_then(Value::as_str).map(str::to_owned));
            }
            for from in container.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
                names.extend(from.pointer("/secretRef/name").and_then(Value::as_str).map(str::to_owned));
            }
        }
    }
    for volume in spec.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        names.extend(volume.pointer("/secret/secretName").and_then(Value::as_str).map(str::to_owned));
        for source in volume.pointer("/projected/sources").and_then(Value::as_array).into_iter().flatten() {
            names.extend(source.pointer("/secret/name").and_then(Value::as_str).map(str::to_owned));
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_secrets_a_pod_reads_are_found_wherever_it_reads_them() {
        let pod = json!({"spec": {
            "initContainers": [{"envFrom": [{"secretRef": {"name": "init-creds"}}, {"configMapRef": {"name": "cm"}}]}],
            "containers": [{"env": [
                {"name": "A", "value": "plain"},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "C", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}
            ]}],
            "volumes": [
                {"name": "tls", "secret": {"secretName": "web-tls"}},
                {"name": "tmp", "emptyDir": {}},
                {"name": "all", "projected": {"sources": [{"secret": {"name": "api-key"}}, {"configMap": {"name": "cm"}}]}}
            ]
        }});
        assert_eq!(secret_names(&pod), ["api-key", "db", "init-creds", "web-tls"]);
        assert!(secret_names(&json!({})).is_empty());
    }

    #[test]
    fn a_workload_selects_its_pods_by_its_match_labels() {
        let deployment = json!({"spec": {"selector": {"matchLabels": {"app": "web", "tier": "front"}}}});
        assert_eq!(match_labels(&deployment).as_deref(), Some("app=web,tier=front"));
        assert_eq!(match_labels(&json!({"spec": {"selector": {"matchExpressions": []}}})), None);
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(is_ready(&ready) && !is_ready(&not_ready) && !is_ready(&json!({})));
    }
}
