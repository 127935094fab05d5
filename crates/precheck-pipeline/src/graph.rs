//! A pipeline bound to a run's parameter values: the step instances to run (fan-out expanded), what each
//! waits for, and which are skipped by their `when` before anything starts.

use precheck::outcome::{Classified, Fault};
use precheck::path_text::tidy;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::plan::{Action, ForEach, ITEM, Pipeline, RetryPolicy, Step};
use crate::value::{Value, Values};
use precheck_lang::nearest;

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
    /// Kubernetes manifests.
    Apply(Vec<PathBuf>),
    /// A CloudFormation stack.
    CloudFormation(BoundStack),
}

/// A stack to deploy, with every `${…}` substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundStack {
    /// The stack's name.
    pub name: String,
    /// The template file.
    pub template: PathBuf,
    /// Template parameters.
    pub parameters: BTreeMap<String, String>,
    /// Capabilities to acknowledge.
    pub capabilities: Vec<String>,
}

/// Why parameter values were refused; each message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct ValuesError {
    /// One message per problem.
    pub problems: Vec<String>,
}

impl Classified for ValuesError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

impl Classified for BindError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
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
    /// A fan-out lists an item twice: two instances would have the same id.
    #[error("{step} fans out over '{item}' twice")]
    DuplicateItem {
        /// The step.
        step: String,
        /// The item.
        item: String,
    },
    /// [`Graph::single`] was asked for a step the pipeline does not have.
    #[error("no step '{id}'{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownStep {
        /// The id given (`stage/step`).
        id: String,
        /// The nearest step id.
        suggestion: Option<String>,
    },
    /// [`Graph::single`]: the item does not suit the step (a fan-out needs one of its items, other steps none).
    #[error("{id}: {problem}")]
    Item {
        /// The step.
        id: String,
        /// What is wrong.
        problem: String,
    },
}

impl Graph {
    /// One instance of step `id` (`stage/step`, `finally/step` for a finally step) alone, as an orchestrator
    /// that decided to run it wants it: waiting for nothing, not skipped by its `when` (the orchestrator
    /// evaluated it), with one attempt (the orchestrator retries) and its own timeout. A fan-out step needs
    /// `item`, one of its items.
    ///
    /// ```
    /// # use std::path::Path;
    /// # use precheck_pipeline::Pipeline;
    /// let pipeline = Pipeline::parse(Path::new("p.yaml"), r#"
    /// name: p
    /// stages:
    ///   - name: addons
    ///     steps:
    ///       - { name: a, run: [ls] }
    ///       - { name: b, depends: [a], for_each: [x, y], retry: { attempts: 3 }, run: [echo, "${ITEM}"] }
    /// "#).unwrap();
    /// let graph = pipeline.bind(&pipeline.values_from_args(&[]).unwrap(), None).unwrap();
    /// let one = graph.single("addons/b", Some("y")).unwrap();
    /// assert_eq!(one.nodes[0].id, "addons/b[y]");
    /// assert!(one.nodes[0].depends.is_empty());
    /// assert_eq!(one.nodes[0].retry.attempts, 1);
    /// ```
    pub fn single(&self, id: &str, item: Option<&str>) -> Result<Graph, BindError> {
        let (stage, step) = id.split_once('/').unwrap_or(("", id));
        let instances: Vec<&Node> = self.nodes.iter().filter(|n| n.stage == stage && n.step == step).collect();
        if instances.is_empty() {
            let mut ids: Vec<String> = self.nodes.iter().map(|n| format!("{}/{}", n.stage, n.step)).collect();
            ids.dedup();
            return Err(BindError::UnknownStep {
                id: id.to_owned(),
                suggestion: nearest(id, ids.iter().map(String::as_str)).map(str::to_owned),
            });
        }
        let problem = |problem: String| BindError::Item { id: id.to_owned(), problem };
        let node = match (item, instances.iter().any(|n| n.item.is_some())) {
            (None, true) => return Err(problem("a fan-out step: give the item to run (--item)".into())),
            (Some(item), false) => return Err(problem(format!("not a fan-out step, yet given item '{item}'"))),
            (None, false) => instances[0],
            (Some(item), true) => {
                instances.iter().find(|n| n.item.as_deref() == Some(item)).copied().ok_or_else(|| {
                    let items: Vec<&str> = instances.iter().filter_map(|n| n.item.as_deref()).collect();
                    problem(format!("'{item}' is not one of its items ({})", items.join(", ")))
                })?
            }
        };
        let mut node = node.clone();
        node.depends.clear();
        node.after.clear();
        node.skip = None;
        node.retry.attempts = 1;
        Ok(Graph { nodes: vec![node], values: self.values.clone(), stage: Some(stage.to_owned()) })
    }
}

impl Pipeline {
    /// Values from `NAME=VALUE` pairs (the command line), read according to each parameter's kind, with
    /// defaults filled in.
    pub fn values_from_args(&self, pairs: &[(String, String)]) -> Result<Values, ValuesError> {
        self.read_values(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())), |kind, text| kind.parse(text))
    }

    /// Values from a JSON object (a trigger's payload): unknown fields and values of the wrong JSON type
    /// are refused.
    pub fn values_from_json(&self, payload: &serde_json::Value) -> Result<Values, ValuesError> {
        let Some(object) = payload.as_object() else {
            return Err(ValuesError { problems: vec!["the payload must be a JSON object of parameters".into()] });
        };
        self.read_values(object.iter().map(|(n, v)| (n.as_str(), v)), |kind, json| kind.from_json(json))
    }

    fn read_values<'a, T>(
        &self,
        given: impl Iterator<Item = (&'a str, T)>,
        read: impl Fn(crate::Kind, T) -> Result<Value, String>,
    ) -> Result<Values, ValuesError> {
        let mut problems = Vec::new();
        let mut values = Values::new();
        for (name, raw) in given {
            match self.parameters.iter().find(|p| p.name == name) {
                Some(p) => match read(p.kind, raw) {
                    Ok(v) => {
                        values.insert(name.to_owned(), v);
                    }
                    // A secret's value is not repeated in a message (a trigger's caller would get it back).
                    Err(_) if p.secret => problems.push(format!(
                        "parameter '{name}': expected {} (the value is not shown: the parameter is secret)",
                        p.kind.article()
                    )),
                    Err(e) => problems.push(format!("parameter '{name}': {e}")),
                },
                None => problems.push(self.unknown(name)),
            }
        }
        self.complete(values, problems)
    }

    fn unknown(&self, name: &str) -> String {
        let near = nearest(name, self.parameters.iter().map(|p| p.name.as_str()));
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
                suggestion: nearest(name, self.stages.iter().map(|s| s.name.as_str())).map(str::to_owned),
            });
        }
        let mut nodes: Vec<Node> = Vec::new();
        // The nodes each stage stands for, as the stages after it wait for them.
        let mut by_stage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        // Stages in an order where the stages they wait for come first (a stage may name one declared
        // below it), otherwise in file order.
        for s in ordered(&self.stages, |s| &s.name, |s| &s.depends) {
            if stage.is_some_and(|only| only != s.name) {
                continue;
            }
            let skip = s.when.as_ref().filter(|c| !c.holds(values)).map(|c| format!("stage `when: {c}` is false"));
            let before: Vec<usize> =
                sorted(s.depends.iter().flat_map(|d| by_stage.get(d.as_str()).cloned().unwrap_or_default()));
            let place = Place { stage: &s.name, skip, parallelism: s.parallelism, finally: false };
            let standing = self.add_steps(&mut nodes, values, &s.steps, &before, &place)?;
            by_stage.insert(&s.name, standing);
        }
        let everything: Vec<usize> = (0..nodes.len()).collect();
        let place = Place { stage: "finally", skip: None, parallelism: None, finally: true };
        self.add_steps(&mut nodes, values, &self.finally, &everything, &place)?;
        Ok(Graph { nodes, values: values.clone(), stage: stage.map(str::to_owned) })
    }

    /// Adds the instances of `steps`, each waiting for `before` and for the steps it names. Returns the
    /// nodes the whole group stands for. A step with no instance (a fan-out over an empty list) stands
    /// for what it waited for, so the order around it holds; so does a group with no step at all.
    fn add_steps(
        &self,
        nodes: &mut Vec<Node>,
        values: &Values,
        steps: &[Step],
        before: &[usize],
        place: &Place<'_>,
    ) -> Result<Vec<usize>, BindError> {
        let mut by_step: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        // Steps in an order where dependencies come first (the plan has no cycle).
        for step in ordered(steps, |s| &s.name, |s| &s.depends) {
            let after = sorted(step.depends.iter().flat_map(|d| by_step.get(d.as_str()).cloned().unwrap_or_default()));
            let depends = sorted(before.iter().chain(&after).copied());
            let mut made = self.instances(values, step, depends.clone(), place)?;
            made.iter_mut().for_each(|n| n.after.clone_from(&after));
            let start = nodes.len();
            nodes.extend(made);
            let standing = if nodes.len() > start { (start..nodes.len()).collect() } else { depends };
            by_step.insert(&step.name, standing);
        }
        let all = sorted(by_step.into_values().flatten());
        Ok(if all.is_empty() { before.to_vec() } else { all })
    }

    fn instances(
        &self,
        values: &Values,
        step: &Step,
        depends: Vec<usize>,
        place: &Place<'_>,
    ) -> Result<Vec<Node>, BindError> {
        let stage = place.stage;
        let items: Vec<Option<String>> = match &step.for_each {
            None => vec![None],
            Some(ForEach::Items(items)) => items.iter().cloned().map(Some).collect(),
            Some(ForEach::Parameter(name)) => match values.get(name) {
                Some(Value::List(items)) => items.iter().cloned().map(Some).collect(),
                _ => Vec::new(),
            },
        };
        let mut seen = std::collections::BTreeSet::new();
        if let Some(item) = items.iter().flatten().find(|i| !seen.insert(*i)) {
            return Err(BindError::DuplicateItem { step: format!("{stage}/{}", step.name), item: item.clone() });
        }
        let skip = place
            .skip
            .clone()
            .or_else(|| step.when.as_ref().filter(|c| !c.holds(values)).map(|c| format!("`when: {c}` is false")));
        Ok(items
            .into_iter()
            .map(|item| {
                let mut env: Vec<(String, String)> = values.iter().map(|(k, v)| (k.clone(), v.as_text())).collect();
                if let Some(item) = &item {
                    env.push((ITEM.to_owned(), item.clone()));
                }
                // Each entry may use those before it: parameters, ITEM, then a template's inputs in its env.
                for (key, value) in &step.env {
                    let expanded =
                        value.expand(&|name| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
                    env.push((key.clone(), expanded));
                }
                let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let action = match &step.action {
                    Action::Run(argv) => BoundAction::Run(argv.iter().map(|a| a.expand(&lookup)).collect()),
                    Action::Shell(script) => BoundAction::Shell(script.clone()),
                    Action::Checks(paths) => {
                        BoundAction::Checks(paths.iter().map(|p| tidy(&self.dir.join(p.expand(&lookup)))).collect())
                    }
                    Action::Apply(paths) => {
                        BoundAction::Apply(paths.iter().map(|p| tidy(&self.dir.join(p.expand(&lookup)))).collect())
                    }
                    Action::CloudFormation { stack, template, parameters, capabilities } => {
                        BoundAction::CloudFormation(BoundStack {
                            name: stack.expand(&lookup),
                            template: tidy(&self.dir.join(template.expand(&lookup))),
                            parameters: parameters.iter().map(|(k, v)| (k.clone(), v.expand(&lookup))).collect(),
                            capabilities: capabilities.clone(),
                        })
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
                    finally: place.finally,
                    action,
                    env,
                    retry: step.retry,
                    timeout: step.timeout,
                    stage_parallelism: place.parallelism,
                }
            })
            .collect())
    }
}

/// Where steps are added: their stage (or `finally`), its skip reason and its own parallelism.
struct Place<'a> {
    stage: &'a str,
    skip: Option<String>,
    parallelism: Option<usize>,
    finally: bool,
}

fn sorted(indexes: impl IntoIterator<Item = usize>) -> Vec<usize> {
    indexes.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect()
}

/// Items (stages or steps) with each one after those it depends on, otherwise in file order.
fn ordered<T>(items: &[T], name: impl Fn(&T) -> &String, depends: impl Fn(&T) -> &Vec<String>) -> Vec<&T> {
    let mut done: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    while out.len() < items.len() {
        let before = out.len();
        for item in items {
            if !done.contains(&name(item).as_str()) && depends(item).iter().all(|d| done.contains(&d.as_str())) {
                done.push(name(item));
                out.push(item);
            }
        }
        if out.len() == before {
            break; // a cycle: the plan refuses those, so this is never reached
        }
    }
    out
}
