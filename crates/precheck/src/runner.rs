//! Running one test: setup, steps, teardown, a timeout; each step's result recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use precheck_lang::{Action, Scope, Step, Test, line_col};

use crate::cluster::{Clusters, Namespaces};
use crate::command::run_command;
use crate::outcome::{Attempt, Classified, Status, StepResult};

/// What the steps of one file run against.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// Where clusters come from (shared by the whole run); connected on the first sentence, so a file
    /// of commands only needs no cluster.
    pub clusters: &'a Clusters,
    /// The file's kube context, when it names one.
    pub context: Option<&'a str>,
    /// The AWS account of the run, for preflight sentences.
    #[cfg(feature = "aws")]
    pub aws: &'a crate::aws::AwsConnector,
    /// The file's namespace, when it names one (else the cluster's default).
    pub namespaces: Option<&'a Namespaces>,
    /// The directory `run` commands start in: the check file's.
    pub dir: &'a Path,
    /// The check file's text, for line numbers.
    pub source: &'a str,
    /// Variables `run` commands never get (their values never show in a diagnosis either).
    pub withheld: &'a crate::command::Withheld,
    /// How much a failed cluster sentence's diagnosis says.
    pub diagnostics: crate::diagnosis::Level,
    /// The files of partial objects the file's `expect object` steps name, by the name they are written
    /// with.
    pub objects: &'a std::collections::BTreeMap<String, std::sync::Arc<crate::object::ObjectFile>>,
    /// When the test's `timeout` ends the attempt (set by [`run_attempt`]): a diagnosis takes only the
    /// time left before it, so it never turns a failure into a timeout.
    pub deadline: Option<tokio::time::Instant>,
}

impl StepContext<'_> {
    /// How long a diagnosis may take: its budget, or less when the test's timeout is nearer (a margin
    /// left for the step's result).
    fn diagnosis_budget(&self) -> Duration {
        const MARGIN: Duration = Duration::from_millis(200);
        let left =
            self.deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()).saturating_sub(MARGIN));
        left.map_or(crate::diagnosis::TIME_BUDGET, |left| left.min(crate::diagnosis::TIME_BUDGET))
    }
}

/// The namespaces a check file's scope names.
pub fn file_namespaces(scope: Option<&Scope>) -> Option<Namespaces> {
    match scope? {
        Scope::Namespace(ns) => Some(Namespaces::One(ns.value.clone())),
        Scope::AllNamespaces => Some(Namespaces::All),
    }
}

/// Runs steps in order, stopping at the first that does not pass.
pub async fn run_steps(ctx: StepContext<'_>, steps: &[Step], results: &mut Vec<StepResult>) -> Status {
    for step in steps {
        let started = Instant::now();
        let (status, detail, diagnosis) = run_step(ctx, step).await;
        results.push(StepResult {
            text: step.text.clone(),
            line: line_col(ctx.source, step.span.start).0,
            status,
            detail,
            diagnosis,
            duration: started.elapsed(),
        });
        if status != Status::Passed {
            return status;
        }
    }
    Status::Passed
}

/// A step's status, what it observed, and for a cluster sentence that failed, its diagnosis.
async fn run_step(ctx: StepContext<'_>, step: &Step) -> (Status, String, Option<String>) {
    let (status, detail) = match &step.action {
        Action::Verify(sentence) | Action::Try(sentence) if sentence.aws().is_some() => aws_step(ctx, sentence).await,
        Action::Verify(sentence) | Action::Try(sentence) => {
            let cluster = match ctx.clusters.get(ctx.context).await {
                Ok(cluster) => cluster,
                Err(e) => return (Status::Errored, e.to_string(), None),
            };
            match cluster.check(sentence, ctx.namespaces).await {
                Ok(verdict) if verdict.passed => (Status::Passed, verdict.to_string()),
                Ok(verdict) => {
                    let budget = ctx.diagnosis_budget();
                    let found = cluster.diagnose(sentence, &verdict, ctx.namespaces, ctx.diagnostics, budget).await;
                    return (Status::Failed, verdict.to_string(), diagnosis(ctx, found));
                }
                Err(e) => (e.fault().status(), e.to_string()),
            }
        }
        Action::Run(command) => run_command(command, ctx.dir, &command_env(ctx), ctx.withheld).await,
        Action::Object(check) => return object_step(ctx, check).await,
    };
    (status, detail, None)
}

/// Each document of the step's file compared with the cluster's objects (waited for in the `try` form):
/// the step stops at the first that does not hold, with the diagnosis of the objects it found.
async fn object_step(ctx: StepContext<'_>, check: &precheck_lang::ObjectCheck) -> (Status, String, Option<String>) {
    let Some(file) = ctx.objects.get(&check.path.value) else {
        let message = format!("the object file '{}' was not loaded with the check file", check.path.value);
        return (Status::Invalid, message, None);
    };
    let cluster = match ctx.clusters.get(ctx.context).await {
        Ok(cluster) => cluster,
        Err(e) => return (Status::Errored, e.to_string(), None),
    };
    let mut details = Vec::new();
    // The `try` form's budget is the whole file's, as kuttl times a file: each document waits for what
    // the ones before it left.
    let started = tokio::time::Instant::now();
    for doc in &file.documents {
        let retry = check.retry.map(|r| precheck_lang::Retry {
            attempts: r.attempts.min(
                1 + (r.budget().saturating_sub(started.elapsed()).as_millis() / r.interval.as_millis().max(1)) as u32,
            ),
            ..r
        });
        let namespaces = match &doc.namespace {
            Some(ns) => Namespaces::One(ns.clone()),
            None => ctx.namespaces.unwrap_or(cluster.namespaces()).clone(),
        };
        match cluster.judge_objects(doc, &namespaces, check.present, retry).await {
            Ok(verdict) if verdict.passed => details.push(verdict.to_string()),
            Ok(verdict) => {
                details.push(verdict.to_string());
                let budget = ctx.diagnosis_budget();
                let found =
                    cluster.diagnose_verdict(&doc.resource(), &namespaces, &verdict, ctx.diagnostics, budget).await;
                return (Status::Failed, details.join("\n"), diagnosis(ctx, found));
            }
            Err(e) => return (e.fault().status(), e.to_string(), None),
        }
    }
    (Status::Passed, details.join("\n"), None)
}

/// A diagnosis as the report keeps it: masked with the Secrets' values it met and the values of the
/// withheld variables, within the level's size; nothing when nothing was found.
fn diagnosis(ctx: StepContext<'_>, found: crate::diagnosis::Found) -> Option<String> {
    if found.lines.is_empty() {
        return None;
    }
    let mut masks = found.masks;
    masks.extend(ctx.withheld.names().filter_map(|name| std::env::var(name).ok()).filter(|v| v.len() >= 4));
    masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
    Some(crate::diagnosis::finish(&found.lines, &masks, ctx.diagnostics.size()))
}

/// Variables for `run` steps, so kubectl and the aws CLI ask what the sentences ask.
fn command_env(ctx: StepContext<'_>) -> Vec<(String, String)> {
    #[allow(unused_mut)]
    let mut env = ctx.clusters.command_env();
    #[cfg(feature = "aws")]
    env.extend(ctx.aws.options().command_env());
    env
}

#[cfg(feature = "aws")]
async fn aws_step(ctx: StepContext<'_>, sentence: &precheck_lang::Sentence) -> (Status, String) {
    let aws = match ctx.aws.get().await {
        Ok(aws) => aws,
        Err(e) => return (Status::Errored, e.to_string()),
    };
    match aws.check(sentence).await {
        Ok(verdict) if verdict.passed => (Status::Passed, verdict.to_string()),
        Ok(verdict) => (Status::Failed, verdict.to_string()),
        Err(e) => (Status::Errored, e.to_string()),
    }
}

#[cfg(not(feature = "aws"))]
async fn aws_step(_: StepContext<'_>, _: &precheck_lang::Sentence) -> (Status, String) {
    (Status::Invalid, "AWS sentences need precheck's `aws` feature".to_owned())
}

/// One attempt at a test: its setup, its steps (within its timeout), then its teardown, which always runs.
pub async fn run_attempt(ctx: StepContext<'_>, test: &Test) -> Attempt {
    let started = Instant::now();
    let ctx = StepContext { deadline: test.timeout.map(|limit| tokio::time::Instant::now() + limit), ..ctx };
    let mut steps = Vec::new();
    let body = async {
        let mut status = run_steps(ctx, &test.setup, &mut steps).await;
        if status == Status::Passed {
            status = run_steps(ctx, &test.steps, &mut steps).await;
        }
        status
    };
    let (mut status, timed_out) = match test.timeout {
        Some(limit) => match tokio::time::timeout(limit, body).await {
            Ok(status) => (status, None),
            Err(_) => (Status::Failed, Some(limit)),
        },
        None => (body.await, None),
    };
    let mut message = first_problem(&steps);
    if let Some(limit) = timed_out {
        message = format!("timed out after {}", human(limit));
    }
    let mut teardown = Vec::new();
    let teardown_status = run_steps(ctx, &test.teardown, &mut teardown).await;
    if teardown_status != Status::Passed && status == Status::Passed {
        status = Status::Errored;
        message = format!("teardown: {}", first_problem(&teardown));
    }
    steps.extend(teardown);
    Attempt { status, message, steps, duration: started.elapsed() }
}

/// Objects named in a failure message; the trace (JUnit's system-out) has them all.
const OBJECTS_IN_MESSAGE: usize = 5;

/// The first step that did not pass: where, what, the verdict, and the objects that did not satisfy it
/// (`BAD kube-system/metrics-server-…: Pending`), so a failure names them without the trace.
pub(crate) fn first_problem(steps: &[StepResult]) -> String {
    let Some(step) = steps.iter().find(|s| s.status != Status::Passed) else { return String::new() };
    let mut lines = step.detail.lines();
    let mut message = format!(
        "line {}: {}\n{}",
        step.line,
        step.text.lines().next().unwrap_or_default(),
        lines.next().unwrap_or_default()
    );
    let bad: Vec<&str> = lines.filter(|l| l.starts_with("  BAD ")).collect();
    for line in bad.iter().take(OBJECTS_IN_MESSAGE) {
        message.push('\n');
        message.push_str(line);
    }
    if bad.len() > OBJECTS_IN_MESSAGE {
        message.push_str(&format!("\n  … and {} more", bad.len() - OBJECTS_IN_MESSAGE));
    }
    message
}

/// `90s`, `2m30s`, `500ms`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(1000) || d.as_secs() < 60 {
        format!("{:.1}s", d.as_secs_f64()).replace(".0s", "s")
    } else {
        let (m, s) = (d.as_secs() / 60, d.as_secs() % 60);
        if s == 0 { format!("{m}m") } else { format!("{m}m{s}s") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Cluster, ClusterSource, Snapshot};
    use crate::command::tests::{gone_within, running};
    use precheck_lang::CheckFile;

    const SNAPSHOT: &str =
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: default}\nstatus: {phase: Running}\n";

    async fn attempt(body: &str) -> Attempt {
        let source = format!("test 't' {{\n{body}\n}}\n");
        let file = CheckFile::parse(&source, &|_| None).unwrap();
        let cluster = Cluster::from_snapshot(Snapshot::from_yaml(SNAPSHOT).unwrap());
        let clusters = Clusters::new(ClusterSource::Fixed(std::sync::Arc::new(cluster)), None);
        #[cfg(feature = "aws")]
        let aws = crate::aws::AwsConnector::default();
        let ctx = StepContext {
            clusters: &clusters,
            context: None,
            #[cfg(feature = "aws")]
            aws: &aws,
            namespaces: None,
            dir: Path::new("."),
            source: &source,
            withheld: &crate::command::Withheld::default(),
            diagnostics: crate::diagnosis::Level::Summary,
            objects: &Default::default(),
            deadline: None,
        };
        run_attempt(ctx, &file.tests[0]).await
    }

    #[tokio::test]
    async fn steps_stop_at_the_first_failure_and_teardown_still_runs() {
        let a = attempt(
            "verify there is 1 pod named 'web'\nverify there are 2 pods named 'web'\nverify there is 1 pod named 'web'\nteardown {\nrun true\n}",
        )
        .await;
        assert_eq!(a.status, Status::Failed);
        let statuses: Vec<_> = a.steps.iter().map(|s| (s.line, s.status)).collect();
        assert_eq!(statuses, [(2, Status::Passed), (3, Status::Failed), (6, Status::Passed)]);
        assert!(
            a.message.starts_with("line 3: verify there are 2 pods named 'web'\nfound 1 pods named 'web', expected 2"),
            "{}",
            a.message
        );
        assert!(a.trace().contains("[failed] line 3"));
    }

    #[test]
    fn a_failure_names_the_objects_that_did_not_satisfy_it_up_to_a_bound() {
        let mut detail = String::from("0 of 8 pods named 'web' have 'status' = 'running'");
        detail.push_str("\n  ok  default/web-0: Running");
        for i in 1..8 {
            detail.push_str(&format!("\n  BAD default/web-{i}: Pending"));
        }
        let step = StepResult {
            text: "verify 'status' is 'running' for pods named 'web'".into(),
            line: 4,
            status: Status::Failed,
            detail,
            diagnosis: None,
            duration: Duration::ZERO,
        };
        assert_eq!(
            first_problem(&[step]),
            "line 4: verify 'status' is 'running' for pods named 'web'\n0 of 8 pods named 'web' have 'status' = \
             'running'\n  BAD default/web-1: Pending\n  BAD default/web-2: Pending\n  BAD default/web-3: Pending\n  \
             BAD default/web-4: Pending\n  BAD default/web-5: Pending\n  … and 2 more"
        );
    }

    #[tokio::test]
    async fn unknown_resources_are_invalid_input() {
        let a = attempt("verify there is 1 podz named 'web'").await;
        assert_eq!(a.status, Status::Invalid);
        assert!(a.message.contains("did you mean 'pods'?"), "{}", a.message);
    }

    #[tokio::test]
    async fn a_failing_teardown_turns_a_pass_into_an_error() {
        let a = attempt("verify there is 1 pod named 'web'\nteardown {\nrun false\n}").await;
        assert_eq!(a.status, Status::Errored);
        assert!(a.message.starts_with("teardown: line 4"), "{}", a.message);
    }

    #[tokio::test]
    async fn timeouts_fail_the_attempt() {
        let a = attempt("timeout 200ms\nrun sleep 5").await;
        assert_eq!((a.status, a.message.as_str()), (Status::Failed, "timed out after 200ms"));
    }

    /// Whether process `pid` still runs (a zombie does not).
    #[tokio::test]
    async fn a_timeout_ends_what_a_command_started_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("background.pid");
        let a = attempt(&format!("timeout 500ms\nrun sh -c 'sleep 60 & echo $! > {}; wait'", pid.display())).await;
        assert_eq!(a.status, Status::Failed, "{}", a.message);
        let pid = std::fs::read_to_string(&pid).unwrap().trim().to_owned();
        assert!(gone_within(&pid, Duration::from_secs(5)), "the background sleep {pid} outlived the test's timeout");
    }

    #[tokio::test]
    async fn what_a_finished_command_left_running_stays() {
        // A setup's `kubectl port-forward … &` is meant to outlast the command that started it.
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("background.pid");
        let a = attempt(&format!("run sh -c 'sleep 60 > /dev/null 2>&1 & echo $! > {}'", pid.display())).await;
        assert_eq!(a.status, Status::Passed, "{}", a.message);
        let pid = std::fs::read_to_string(&pid).unwrap().trim().to_owned();
        assert!(running(&pid), "the background sleep {pid} was killed");
        let _ = std::process::Command::new("kill").arg(&pid).status();
    }

    #[tokio::test]
    async fn a_diagnosis_takes_only_the_time_the_tests_timeout_leaves() {
        let clusters = Clusters::new(
            ClusterSource::Fixed(std::sync::Arc::new(Cluster::from_snapshot(Snapshot::from_yaml(SNAPSHOT).unwrap()))),
            None,
        );
        #[cfg(feature = "aws")]
        let aws = crate::aws::AwsConnector::default();
        let withheld = crate::command::Withheld::default();
        let objects = Default::default();
        let ctx = |deadline| StepContext {
            clusters: &clusters,
            context: None,
            #[cfg(feature = "aws")]
            aws: &aws,
            namespaces: None,
            dir: Path::new("."),
            source: "",
            withheld: &withheld,
            diagnostics: crate::diagnosis::Level::Summary,
            objects: &objects,
            deadline,
        };
        assert_eq!(ctx(None).diagnosis_budget(), crate::diagnosis::TIME_BUDGET);
        let soon = ctx(Some(tokio::time::Instant::now() + Duration::from_secs(1))).diagnosis_budget();
        assert!(soon <= Duration::from_millis(800) && soon > Duration::from_millis(500), "{soon:?}");
        assert_eq!(ctx(Some(tokio::time::Instant::now())).diagnosis_budget(), Duration::ZERO);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
    }
}
