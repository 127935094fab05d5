//! A pipeline bound to a run's parameter values: the step instances to run (fan-out expanded), what each
//! waits for, and which are skipped by their `when` before anything starts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::plan::{Action, ForEach, ITEM, Pipeline, RetryPolicy, Step};
use crate::suggest;
use crate::value::{Value, Values};

/// The step instances of one run.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Instances in a stable order: stages and steps as declared, `finally` steps last.
    pub nodes: Vec<Node>,
    /// The parameter values of the run.
    pub values: Values,
    /// The only stage run, if one was chosen.
    pub stage: Option<String>,
}

/// One step instance.
#[derive(Debug, Clone)]
pub struct Node {
    /// `stage/step`, or `stage/step[item]` for a fanned-out step; `finally/step` for exit steps.
    pub id: String,
    /// Its stage (`finally` for exit steps).
    pub stage: String,
    /// Its step.
    pub step: String,
    /// Its item, when fanned out.
    pub item: Option<String>,
    /// Indexes of the nodes it waits for: those of the steps it names and of the stages its stage names.
    pub depends: Vec<usize>,
    /// Indexes of the nodes of the steps it names itself (its stage's dependencies left out), for views.
    pub after: Vec<usize>,
    /// Why it will not run, when its `when` (or its stage's) is false.
    pub skip: Option<String>,
    /// An exit step: runs after all others, whatever happened.
    pub finally: bool,
    /// What it does, with every `${…}` substituted.
    pub action: BoundAction,
    /// Its environment on top of the process's: parameters, `ITEM`, inputs and `env`.
    pub env: Vec<(String, String)>,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// The longest one attempt may take.
    pub timeout: Option<Duration>,
    /// The stage's own limit on steps at once.
    pub stage_parallelism: Option<usize>,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundAction {
    /// A program and its arguments (no shell).
    Run(Vec<String>),
    /// A script for `sh -e -c`.
    Shell(String),
    /// Check files or directories.
    Checks(Vec<PathBuf>),
}

/// Why parameter values were refused; each message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct ValuesError {
    /// One message per problem.
    pub problems: Vec<String>,
}

/// Why a graph could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// `--stage` names no stage.
    #[error("no stage named '{name}'{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownStage {
        /// The name given.
        name: String,
        /// The nearest stage name.
        suggestion: Option<String>,
    },
}

impl Pipeline {
    /// Values from `NAME=VALUE` pairs (the command line), read according to each parameter's kind, with
    /// defaults filled in.
    pub fn values_from_args(&self, pairs: &[(String, String)]) -> Result<Values, ValuesError> {
        let mut problems = Vec::new();
        let mut given = Values::new();
        for (name, text) in pairs {
            match self.parameters.iter().find(|p| &p.name == name) {
                Some(p) => match p.kind.parse(text) {
                    Ok(v) => {
                        given.insert(name.clone(), v);
                    }
                    Err(e) => problems.push(format!("parameter '{name}': {e}")),
                },
                None => problems.push(self.unknown(name)),
            }
        }
        self.complete(given, problems)
    }

    /// Values from a JSON object (a trigger's payload): unknown fields and values of the wrong JSON type
    /// are refused.
    pub fn values_from_json(&self, payload: &serde_json::Value) -> Result<Values, ValuesError> {
        let Some(object) = payload.as_object() else {
            return Err(ValuesError { problems: vec!["the payload must be a JSON object of parameters".into()] });
        };
        let mut problems = Vec::new();
        let mut given = Values::new();
        for (name, json) in object {
            match self.parameters.iter().find(|p| &p.name == name) {
                Some(p) => match p.kind.from_json(json) {
                    Ok(v) => {
                        given.insert(name.clone(), v);
                    }
                    Err(e) => problems.push(format!("parameter '{name}': {e}")),
                },
                None => problems.push(self.unknown(name)),
            }
        }
        self.complete(given, problems)
    }

    fn unknown(&self, name: &str) -> String {
        let near = suggest(name, self.parameters.iter().map(|p| p.name.as_str()));
        match near {
            Some(n) => format!("unknown parameter '{name}' (did you mean '{n}'?)"),
            None if self.parameters.is_empty() => format!("unknown parameter '{name}': the pipeline declares none"),
            None => format!(
                "unknown parameter '{name}' (parameters: {})",
                self.parameters.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn complete(&self, mut given: Values, mut problems: Vec<String>) -> Result<Values, ValuesError> {
        for p in &self.parameters {
            if !given.contains_key(&p.name) {
                match &p.default {
                    Some(d) => {
                        given.insert(p.name.clone(), d.clone());
                    }
                    None => problems.push(format!("parameter '{}' is required ({})", p.name, p.kind.article())),
                }
            }
            if let Some(Value::String(s)) = given.get(&p.name)
                && !p.allowed.is_empty()
                && !p.allowed.contains(s)
            {
                problems.push(format!("parameter '{}': '{s}' is not one of {}", p.name, p.allowed.join(", ")));
            }
        }
        if problems.is_empty() { Ok(given) } else { Err(ValuesError { problems }) }
    }

    /// The step instances for these values; with `stage`, only that stage's (its dependencies on other
    /// stages are taken as met, as when an operator runs one stage on its own) plus the `finally` steps.
    pub fn bind(&self, values: &Values, stage: Option<&str>) -> Result<Graph, BindError> {
        if let Some(name) = stage
            && self.stage(name).is_none()
        {
            return Err(BindError::UnknownStage {
                name: name.to_owned(),
                suggestion: suggest(name, self.stages.iter().map(|s| s.name.as_str())).map(str::to_owned),
            });
        }
        let mut nodes: Vec<Node> = Vec::new();
        // Node indexes of each stage, and of each step within it.
        let mut by_stage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for s in &self.stages {
            if stage.is_some_and(|only| only != s.name) {
                continue;
            }
            let stage_skip =
                s.when.as_ref().filter(|c| !c.holds(values)).map(|c| format!("stage `when: {c}` is false"));
            let before: Vec<usize> =
                s.depends.iter().flat_map(|d| by_stage.get(d.as_str()).cloned().unwrap_or_default()).collect();
            let mut by_step: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            // Steps in an order where dependencies come first (the plan has no cycle).
            for step in ordered(&s.steps) {
                let after: Vec<usize> =
                    step.depends.iter().flat_map(|d| by_step.get(d.as_str()).cloned().unwrap_or_default()).collect();
                let mut depends = before.clone();
                depends.extend(&after);
                let mut made = self.instances(values, &s.name, step, depends, stage_skip.clone(), s.parallelism, false);
                made.iter_mut().for_each(|n| n.after.clone_from(&after));
                let start = nodes.len();
                nodes.extend(made);
                by_step.insert(&step.name, (start..nodes.len()).collect());
            }
            by_stage.insert(&s.name, by_step.into_values().flatten().collect());
        }
        let everything: Vec<usize> = (0..nodes.len()).collect();
        for step in ordered(&self.finally) {
            let made = self.instances(values, "finally", step, everything.clone(), None, None, true);
            nodes.extend(made);
        }
        Ok(Graph { nodes, values: values.clone(), stage: stage.map(str::to_owned) })
    }

    #[allow(clippy::too_many_arguments)]
    fn instances(
        &self,
        values: &Values,
        stage: &str,
        step: &Step,
        depends: Vec<usize>,
        stage_skip: Option<String>,
        stage_parallelism: Option<usize>,
        finally: bool,
    ) -> Vec<Node> {
        let items: Vec<Option<String>> = match &step.for_each {
            None => vec![None],
            Some(ForEach::Items(items)) => items.iter().cloned().map(Some).collect(),
            Some(ForEach::Parameter(name)) => match values.get(name) {
                Some(Value::List(items)) => items.iter().cloned().map(Some).collect(),
                _ => Vec::new(),
            },
        };
        let skip = stage_skip
            .or_else(|| step.when.as_ref().filter(|c| !c.holds(values)).map(|c| format!("`when: {c}` is false")));
        items
            .into_iter()
            .map(|item| {
                let mut env: Vec<(String, String)> = values.iter().map(|(k, v)| (k.clone(), v.as_text())).collect();
                if let Some(item) = &item {
                    env.push((ITEM.to_owned(), item.clone()));
                }
                let lookup_env = env.clone();
                let base = move |name: &str| lookup_env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                for (key, value) in &step.env {
                    let expanded = value.expand(&base);
                    env.push((key.clone(), expanded));
                }
                let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let action = match &step.action {
                    Action::Run(argv) => BoundAction::Run(argv.iter().map(|a| a.expand(&lookup)).collect()),
                    Action::Shell(script) => BoundAction::Shell(script.clone()),
                    Action::Checks(paths) => {
                        BoundAction::Checks(paths.iter().map(|p| self.dir.join(p.expand(&lookup))).collect())
                    }
                };
                let id = match &item {
                    Some(item) => format!("{stage}/{}[{item}]", step.name),
                    None => format!("{stage}/{}", step.name),
                };
                Node {
                    id,
                    stage: stage.to_owned(),
                    step: step.name.clone(),
                    item,
                    depends: depends.clone(),
                    after: Vec::new(),
                    skip: skip.clone(),
                    finally,
                    action,
                    env,
                    retry: step.retry,
                    timeout: step.timeout,
                    stage_parallelism,
                }
            })
            .collect()
    }
}

/// Steps with each one after those it depends on, otherwise in file order.
fn ordered(steps: &[Step]) -> Vec<&Step> {
    let mut done: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    while out.len() < steps.len() {
        let before = out.len();
        for step in steps {
            if !done.contains(&step.name.as_str()) && step.depends.iter().all(|d| done.contains(&d.as_str())) {
                done.push(&step.name);
                out.push(step);
            }
        }
        if out.len() == before {
            break; // a cycle: the plan refuses those, so this is never reached
        }
    }
    out
}
