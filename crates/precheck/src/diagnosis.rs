//! Why a cluster check failed, as the cluster tells it: the state of the objects the step looked at
//! (phase, conditions and container states with their reasons — `Unschedulable`, `ImagePullBackOff`,
//! `CrashLoopBackOff` …), their recent events, and with [`Level::Full`] the last lines of the logs of
//! containers that are not ready. A live cluster collects them when a step fails
//! ([`crate::cluster::Cluster::diagnose`]) within [`TIME_BUDGET`] and [`Level::size`]; this module holds
//! the level, the budget and how an object's state reads, with no I/O.
//!
//! ```
//! use precheck::diagnosis::{Level, state};
//!
//! let pod = serde_json::json!({
//!     "status": {
//!         "phase": "Pending",
//!         "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
//!                         "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."}]
//!     }
//! });
//! let (headline, details) = state("Pod", &pod);
//! assert_eq!(headline, "Pending");
//! assert_eq!(details, ["condition PodScheduled=False Unschedulable: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."]);
//! assert_eq!("full".parse::<Level>().unwrap(), Level::Full);
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;

/// How much a failed step's diagnosis says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Level {
    /// Nothing is collected.
    None,
    /// The objects' state and their recent events.
    #[default]
    Summary,
    /// The same, and the last lines of the logs of containers that are not ready.
    Full,
}

impl Level {
    /// The most a test's diagnosis holds, in bytes: what comes after is cut, and a last line says so.
    pub fn size(self) -> usize {
        match self {
            Self::None => 0,
            Self::Summary => 4 * 1024,
            Self::Full => 16 * 1024,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Summary => "summary",
            Self::Full => "full",
        })
    }
}

/// A level that is not `none`, `summary` or `full`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown diagnostics level '{0}' (expected `none`, `summary` or `full`)")]
pub struct UnknownLevel(String);

impl FromStr for Level {
    type Err = UnknownLevel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Self::None),
            "summary" => Ok(Self::Summary),
            "full" => Ok(Self::Full),
            _ => Err(UnknownLevel(text.to_owned())),
        }
    }
}

/// The longest a step's diagnosis may take; what was collected by then is kept, and a line says so.
pub const TIME_BUDGET: Duration = Duration::from_secs(5);
/// Objects of a step described at most (the first that did not satisfy it).
pub const MAX_OBJECTS: usize = 3;
/// Pods of a workload described at most (those that are not ready).
pub const MAX_PODS: usize = 3;
/// Events of an object shown at most (the most recent).
pub const MAX_EVENTS: usize = 5;
/// Lines of a container's log shown at most (its last ones).
pub const LOG_LINES: i64 = 20;
/// Bytes of a container's log asked for at most.
pub const LOG_BYTES: i64 = 2048;

/// Condition types for which `True` is the bad news.
const BAD_WHEN_TRUE: &[&str] = &[
    "ReplicaFailure",
    "Failed",
    "Degraded",
    "Stalled",
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
    "NetworkUnavailable",
];

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str().filter(|s| !s.is_empty())
}

fn number(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// `type=status reason: message` of the conditions that tell of a problem (not `True`, or `True` for a
/// bad-news type such as `ReplicaFailure`).
fn conditions(status: &Value) -> Vec<String> {
    let Some(list) = status.get("conditions").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|c| {
            let (kind, state) = (text(c, "type")?, text(c, "status").unwrap_or("Unknown"));
            let bad = (state == "True") == BAD_WHEN_TRUE.contains(&kind);
            bad.then(|| {
                let mut line = format!("condition {kind}={state}");
                if let Some(reason) = text(c, "reason") {
                    line.push_str(&format!(" {reason}"));
                }
                if let Some(message) = text(c, "message") {
                    line.push_str(&format!(": {}", one_line(message)));
                }
                line
            })
        })
        .collect()
}

/// A container's state when it is not running and ready: `container app: waiting ImagePullBackOff: …`,
/// `terminated Error (exit 1)`, its restarts and how it ended last.
fn containers(status: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for key in ["initContainerStatuses", "containerStatuses"] {
        for c in status.get(key).and_then(Value::as_array).into_iter().flatten() {
            let name = text(c, "name").unwrap_or("?");
            let init = if key == "initContainerStatuses" { "init " } else { "" };
            let restarts = number(c, "restartCount");
            let state = c.get("state").unwrap_or(&Value::Null);
            let mut line = if let Some(waiting) = state.get("waiting") {
                let mut line = format!("waiting {}", text(waiting, "reason").unwrap_or("(no reason)"));
                if let Some(message) = text(waiting, "message") {
                    line.push_str(&format!(": {}", one_line(message)));
                }
                line
            } else if let Some(done) = state.get("terminated") {
                // An init container that did its work is no news.
                if !init.is_empty() && number(done, "exitCode") == 0 && restarts == 0 {
                    continue;
                }
                format!(
                    "terminated {} (exit {})",
                    text(done, "reason").unwrap_or("(no reason)"),
                    number(done, "exitCode")
                )
            } else if c.get("ready").and_then(Value::as_bool) == Some(false) && init.is_empty() {
                "running, not ready".to_owned()
            } else if restarts == 0 {
                continue;
            } else {
                "running".to_owned()
            };
            if restarts > 0 {
                line.push_str(&format!(", restarted {restarts} times"));
                if let Some(last) = c.pointer("/lastState/terminated") {
                    line.push_str(&format!(
                        ", last ended {} (exit {})",
                        text(last, "reason").unwrap_or("(no reason)"),
                        number(last, "exitCode")
                    ));
                }
            }
            lines.push(format!("{init}container {name}: {line}"));
        }
    }
    lines
}

/// How a workload's replicas stand: `1/3 ready, 2 unavailable`.
fn replicas(kind: &str, status: &Value, spec: &Value) -> Option<String> {
    let (wanted, ready) = match kind {
        "DaemonSet" => (number(status, "desiredNumberScheduled"), number(status, "numberReady")),
        "Deployment" | "ReplicaSet" | "StatefulSet" => {
            (spec.get("replicas").and_then(Value::as_i64).unwrap_or(1), number(status, "readyReplicas"))
        }
        _ => return None,
    };
    let mut line = format!("{ready}/{wanted} ready");
    let unavailable = number(status, "unavailableReplicas").max(number(status, "numberUnavailable"));
    if unavailable > 0 {
        line.push_str(&format!(", {unavailable} unavailable"));
    }
    Some(line)
}

/// An object's state in a headline (`Pending`, `1/3 ready`, `Failed`, or empty when its status says
/// nothing of the kind) and the lines that tell of a problem: conditions, containers.
pub fn state(kind: &str, object: &Value) -> (String, Vec<String>) {
    let status = object.get("status").unwrap_or(&Value::Null);
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let mut headline = replicas(kind, status, spec).or_else(|| text(status, "phase").map(str::to_owned));
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        headline = Some(format!("{} (terminating)", headline.unwrap_or_default()).trim_start().to_owned());
    }
    if kind == "Pod" {
        if let Some(reason) = text(status, "reason") {
            headline = Some(format!("{} {reason}", headline.unwrap_or_default()).trim_start().to_owned());
        }
        if text(status, "phase") == Some("Pending") && spec.get("nodeName").is_none() {
            let scheduler = text(spec, "schedulerName").unwrap_or("default-scheduler");
            if scheduler != "default-scheduler" {
                headline = Some(format!("{}, waiting for scheduler '{scheduler}'", headline.unwrap_or_default()));
            }
        }
    }
    let mut details = conditions(status);
    details.extend(containers(status));
    (headline.unwrap_or_default(), details)
}

/// What a diagnosis found: its lines, and the secret values seen on the way that must not show.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// One line each, indented by depth.
    pub lines: Vec<String>,
    /// Values of the Secrets read by the pods whose logs were asked for.
    pub masks: Vec<String>,
}

/// One event as a diagnosis shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `Normal` or `Warning`.
    pub kind: String,
    /// `FailedScheduling`, `BackOff` …
    pub reason: String,
    /// What happened.
    pub message: String,
    /// How many times it happened.
    pub count: i64,
    /// How long ago it last happened.
    pub age: Option<Duration>,
}

impl fmt::Display for Event {
    /// `event Warning FailedScheduling (x3, 40s ago): 0/2 nodes are available …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {} {}", self.kind, self.reason)?;
        let mut when = Vec::new();
        if self.count > 1 {
            when.push(format!("x{}", self.count));
        }
        if let Some(age) = self.age {
            when.push(format!("{} ago", age_text(age)));
        }
        if !when.is_empty() {
            write!(f, " ({})", when.join(", "))?;
        }
        write!(f, ": {}", one_line(&self.message))
    }
}

/// `45s`, `3m`, `2h`, `4d`, as kubectl's AGE column.
fn age_text(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A message on one line (events and conditions may hold several).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The diagnosis as text: `lines` joined, every value of `masks` replaced with `***`, at most `size`
/// bytes (cut at a line, and a last line says how much was left out).
///
/// ```
/// let lines = vec!["pod default/web: Pending".to_owned(), "  token abc123".to_owned()];
/// let text = precheck::diagnosis::finish(&lines, &["abc123".to_owned()], 1024);
/// assert_eq!(text, "pod default/web: Pending\n  token ***");
/// ```
pub fn finish(lines: &[String], masks: &[String], size: usize) -> String {
    let mut out = String::new();
    let mut left_out = 0;
    for line in lines {
        let mut line = line.clone();
        for mask in masks.iter().filter(|m| !m.is_empty()) {
            line = line.replace(mask.as_str(), "***");
        }
        if left_out > 0 || out.len() + line.len() + 1 > size {
            left_out += line.len() + 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    if left_out > 0 {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[diagnosis cut: {left_out} more bytes; a test's diagnosis keeps {size} bytes]"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_crashing_container_reads_with_its_reason_restarts_and_last_exit() {
        let pod = json!({
            "spec": {"nodeName": "node-1"},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [app]"},
                    {"type": "PodScheduled", "status": "True"}
                ],
                "initContainerStatuses": [{"name": "init", "ready": true, "restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}],
                "containerStatuses": [
                    {"name": "app", "ready": false, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=app"}},
                     "lastState": {"terminated": {"reason": "Error", "exitCode": 2}}},
                    {"name": "sidecar", "ready": true, "restartCount": 0, "state": {"running": {}}}
                ]
            }
        });
        let (headline, details) = state("Pod", &pod);
        assert_eq!(headline, "Running");
        assert_eq!(
            details,
            [
                "condition Ready=False ContainersNotReady: containers with unready status: [app]",
                "container app: waiting CrashLoopBackOff: back-off 1m20s restarting failed container=app, restarted 4 times, last ended Error (exit 2)",
            ]
        );
    }

    #[test]
    fn a_workload_reads_as_its_replicas_and_bad_conditions() {
        let deployment = json!({
            "spec": {"replicas": 3},
            "status": {
                "readyReplicas": 1, "unavailableReplicas": 2,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
                    {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "pods \"web-1\" is forbidden:\n exceeded quota"}
                ]
            }
        });
        let (headline, details) = state("Deployment", &deployment);
        assert_eq!(headline, "1/3 ready, 2 unavailable");
        assert_eq!(
            details,
            [
                "condition Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability.",
                "condition ReplicaFailure=True FailedCreate: pods \"web-1\" is forbidden: exceeded quota",
            ]
        );
        let pending = json!({"metadata": {"deletionTimestamp": "x"}, "spec": {"schedulerName": "mine"}, "status": {"phase": "Pending"}});
        assert_eq!(state("Pod", &pending).0, "Pending (terminating), waiting for scheduler 'mine'");
        assert_eq!(state("ConfigMap", &json!({"data": {"a": "b"}})), (String::new(), Vec::new()));
    }

    #[test]
    fn events_read_like_kubectl_describe() {
        let event = Event {
            kind: "Warning".into(),
            reason: "FailedScheduling".into(),
            message: "0/2 nodes are available:\n 2 Insufficient cpu.".into(),
            count: 3,
            age: Some(Duration::from_secs(150)),
        };
        assert_eq!(
            event.to_string(),
            "event Warning FailedScheduling (x3, 2m ago): 0/2 nodes are available: 2 Insufficient cpu."
        );
        let once = Event { count: 1, age: None, ..event };
        assert_eq!(once.to_string(), "event Warning FailedScheduling: 0/2 nodes are available: 2 Insufficient cpu.");
        assert_eq!([45, 7199, 7200, 200_000].map(|s| age_text(Duration::from_secs(s))), ["45s", "119m", "2h", "2d"]);
    }

    #[test]
    fn a_diagnosis_past_its_size_is_cut_at_a_line_and_says_so() {
        let lines: Vec<String> = (0..10).map(|i| format!("line {i} s3cret")).collect();
        let text = finish(&lines, &["s3cret".to_owned()], 40);
        assert_eq!(
            text,
            "line 0 ***\nline 1 ***\nline 2 ***\n[diagnosis cut: 77 more bytes; a test's diagnosis keeps 40 bytes]"
        );
        assert!(finish(&[], &[], 10).is_empty());
        assert_eq!(
            finish(&["a long first line".to_owned()], &[], 5),
            "[diagnosis cut: 18 more bytes; a test's diagnosis keeps 5 bytes]"
        );
        assert_eq!(
            "loud".parse::<Level>().unwrap_err().to_string(),
            "unknown diagnostics level 'loud' (expected `none`, `summary` or `full`)"
        );
    }
}
