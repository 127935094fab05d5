//! `precheck pipeline export --argo`: the resources are valid against Argo Workflows' published models
//! (hera's, generated from Argo's OpenAPI, checked by tests/support/argo_validate.py), their DAG is the
//! local plan's, and run the way Argo runs them (each container's command, in dependency order, with
//! `when`, fan-out, retries and the exit handler) they do what a local run does. A real API server with
//! Argo's own CRDs (their full schemas) accepts every exported resource in a server-side dry run.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/workspace.rs"]
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;

/// The Kubernetes Secrets of the simulated cluster: (Secret, key, value).
const SECRETS: &[(&str, &str, &str)] = &[("argo-demo-secrets", "DEPLOY_TOKEN", "deploy-token-Vb8Kq2")];

/// What a pod's container has in its environment: its `env`, values from Secrets resolved as the kubelet
/// does (a key that is not there stops the pod from starting).
fn pod_env(container: &Json) -> Vec<(String, String)> {
    let entries = container["env"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_owned();
            if let Some(value) = e["value"].as_str() {
                return (name, value.to_owned());
            }
            let reference = &e["valueFrom"]["secretKeyRef"];
            let found = SECRETS.iter().find(|(s, k, _)| reference["name"] == *s && reference["key"] == *k);
            let (_, _, value) = found.unwrap_or_else(|| panic!("CreateContainerConfigError: {reference}"));
            (name, (*value).to_owned())
        })
        .collect()
}

/// `precheck` as a user runs it locally: the secret parameter in the environment variable of its name.
fn precheck(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_precheck"))
        .args(args)
        .env("DEPLOY_TOKEN", SECRETS[0].2)
        .env("PRECHECK_STATE_DIR", state)
        .stdin(Stdio::null())
        .output()
        .expect("run precheck")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn fixture() -> PathBuf {
    workspace::repo_root().join("tests/fixtures/pipelines/argo.yaml")
}

/// Exports `pipeline` into `dir` with the repository as root and, as workdir, the repository's own path:
/// the containers' paths are then real here, so their commands can be run as Argo would run them.
fn export(pipeline: &Path, dir: &Path) {
    export_from(&workspace::repo_root(), pipeline, dir);
}

fn export_from(root: &Path, pipeline: &Path, dir: &Path) {
    let root = root.to_str().expect("utf-8 path");
    let out = precheck(
        &[
            "pipeline",
            "export",
            pipeline.to_str().unwrap(),
            "--argo",
            dir.to_str().unwrap(),
            "--image",
            "registry.example/precheck:test",
            "--root",
            root,
            "--workdir",
            root,
            "--service-account",
            "precheck",
        ],
        &dir.join("state"),
    );
    assert!(out.status.success(), "export failed:\n{}", text(&out));
}

fn validate(dir: &Path, params: &[&str]) -> Output {
    let mut command = Command::new(workspace::python());
    command.arg(workspace::repo_root().join("tests/support/argo_validate.py"));
    for p in params {
        command.args(["-p", p]);
    }
    command.arg(dir).output().expect("run argo_validate.py")
}

/// The exported resources: the Workflow, and WorkflowTemplates by name.
struct Export {
    workflow: Json,
    templates: BTreeMap<String, Json>,
}

impl Export {
    fn read(dir: &Path) -> Self {
        let mut workflow = None;
        let mut templates = BTreeMap::new();
        let files = std::fs::read_dir(dir).unwrap().chain(std::fs::read_dir(dir.join("templates")).unwrap());
        for entry in files {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let body: Json = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            match body["kind"].as_str() {
                Some("Workflow") => workflow = Some(body),
                Some("WorkflowTemplate") => {
                    templates.insert(body["metadata"]["name"].as_str().unwrap().to_owned(), body);
                }
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            }
        }
        Self { workflow: workflow.expect("a Workflow"), templates }
    }
}

fn template<'a>(resource: &'a Json, name: &str) -> &'a Json {
    resource["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no template {name}"))
}

// ---- Argo's `when` (govaluate), for the expressions the exporter writes ----

#[derive(Debug, PartialEq)]
enum Token {
    Text(String),
    Number(i64),
    Bool(bool),
    Op(&'static str),
}

fn tokens(expression: &str) -> Vec<Token> {
    let chars: Vec<char> = expression.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..].iter().take(2).collect();
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let end = chars[i + 1..].iter().position(|&c| c == '\'').expect("closing quote") + i + 1;
            out.push(Token::Text(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if c.is_ascii_digit() {
            let end = chars[i..].iter().position(|c| !c.is_ascii_digit()).map_or(chars.len(), |p| p + i);
            out.push(Token::Number(chars[i..end].iter().collect::<String>().parse().unwrap()));
            i = end;
        } else if let Some(op) = ["==", "!=", "&&", "||"].into_iter().find(|op| rest == *op) {
            out.push(Token::Op(op));
            i += 2;
        } else if let Some(op) = ["!", "(", ")"].into_iter().find(|op| c.to_string() == *op) {
            out.push(Token::Op(op));
            i += 1;
        } else if chars[i..].starts_with(&['t', 'r', 'u', 'e']) {
            out.push(Token::Bool(true));
            i += 4;
        } else if chars[i..].starts_with(&['f', 'a', 'l', 's', 'e']) {
            out.push(Token::Bool(false));
            i += 5;
        } else {
            panic!("unexpected '{c}' in `{expression}`");
        }
    }
    out
}

/// Evaluates `or := and ('||' and)*; and := unary ('&&' unary)*; unary := '!' unary | cmp;
/// cmp := primary (('=='|'!=') primary)?; primary := '(' or ')' | literal`.
fn evaluate(expression: &str) -> bool {
    #[derive(Debug, PartialEq)]
    enum V {
        T(String),
        N(i64),
        B(bool),
    }
    fn or(t: &[Token], i: &mut usize) -> V {
        let mut v = and(t, i);
        while t.get(*i) == Some(&Token::Op("||")) {
            *i += 1;
            let r = and(t, i);
            v = V::B(v == V::B(true) || r == V::B(true));
        }
        v
    }
    fn and(t: &[Token], i: &mut usize) -> V {
        let mut v = unary(t, i);
        while t.get(*i) == Some(&Token::Op("&&")) {
            *i += 1;
            let r = unary(t, i);
            v = V::B(v == V::B(true) && r == V::B(true));
        }
        v
    }
    fn unary(t: &[Token], i: &mut usize) -> V {
        if t.get(*i) == Some(&Token::Op("!")) {
            *i += 1;
            return V::B(unary(t, i) != V::B(true));
        }
        let left = primary(t, i);
        match t.get(*i) {
            Some(Token::Op(op @ ("==" | "!="))) => {
                *i += 1;
                let right = primary(t, i);
                V::B((left == right) == (*op == "=="))
            }
            _ => left,
        }
    }
    fn primary(t: &[Token], i: &mut usize) -> V {
        *i += 1;
        match &t[*i - 1] {
            Token::Op("(") => {
                let v = or(t, i);
                assert_eq!(t[*i], Token::Op(")"));
                *i += 1;
                v
            }
            Token::Text(s) => V::T(s.clone()),
            Token::Number(n) => V::N(*n),
            Token::Bool(b) => V::B(*b),
            other => panic!("unexpected {other:?}"),
        }
    }
    let t = tokens(expression);
    let mut i = 0;
    let v = or(&t, &mut i);
    assert_eq!(i, t.len(), "trailing tokens in `{expression}`");
    v == V::B(true)
}

// ---- Argo's DAG semantics, simulated ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Succeeded,
    Failed,
    Skipped,
    /// Not run because its `depends` did not hold (something it depends on failed).
    Omitted,
}

/// Whether a DAG task's `depends` holds: `A` is `A.Succeeded || A.Skipped`; `A.Failed` and the like test
/// one status; `&&`, `||`, `!` and parentheses combine them (Argo's `depends` language).
fn depends_hold(expression: &str, done: &BTreeMap<String, (Status, BTreeSet<String>)>) -> bool {
    fn or(t: &[String], i: &mut usize, done: &BTreeMap<String, (Status, BTreeSet<String>)>) -> bool {
        let mut v = and(t, i, done);
        while t.get(*i).is_some_and(|x| x == "||") {
            *i += 1;
            v |= and(t, i, done);
        }
        v
    }
    fn and(t: &[String], i: &mut usize, done: &BTreeMap<String, (Status, BTreeSet<String>)>) -> bool {
        let mut v = unary(t, i, done);
        while t.get(*i).is_some_and(|x| x == "&&") {
            *i += 1;
            v &= unary(t, i, done);
        }
        v
    }
    fn unary(t: &[String], i: &mut usize, done: &BTreeMap<String, (Status, BTreeSet<String>)>) -> bool {
        *i += 1;
        match t[*i - 1].as_str() {
            "!" => !unary(t, i, done),
            "(" => {
                let v = or(t, i, done);
                assert_eq!(t[*i], ")");
                *i += 1;
                v
            }
            term => {
                let (name, state) = term.split_once('.').unwrap_or((term, ""));
                let status = done[name].0;
                match state {
                    "" => matches!(status, Status::Succeeded | Status::Skipped),
                    "Succeeded" => status == Status::Succeeded,
                    "Failed" | "Errored" => status == Status::Failed && state == "Failed",
                    "Skipped" => status == Status::Skipped,
                    "Omitted" => status == Status::Omitted,
                    other => panic!("unknown state {other} in `{term}`"),
                }
            }
        }
    }
    let spaced = expression.replace('(', " ( ").replace(')', " ) ").replace('!', " ! ");
    let tokens: Vec<String> = spaced.split_whitespace().map(str::to_owned).collect();
    let mut i = 0;
    let v = or(&tokens, &mut i, done);
    assert_eq!(i, tokens.len(), "trailing tokens in `{expression}`");
    v
}

/// The task names a `depends` expression names.
fn depends_names(task: &Json) -> Vec<String> {
    let expression = task["depends"].as_str().unwrap_or_default();
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .filter(|w| !w.is_empty())
        .map(|w| w.split('.').next().unwrap().to_owned())
        .collect()
}

/// What a simulated Argo run did: each step instance's status, what it waited for, the order they ran.
#[derive(Default)]
struct Outcome {
    status: BTreeMap<String, Status>,
    edges: BTreeMap<String, BTreeSet<String>>,
    ran: Vec<String>,
}

/// Runs a pod: its container template and its arguments, resolved; whether it succeeded.
type Pod<'a> = dyn Fn(&Json, &[String]) -> bool + 'a;

/// The values a DAG's expressions see: its inputs, and the outputs of its tasks so far.
#[derive(Default, Clone)]
struct Scope {
    inputs: BTreeMap<String, String>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
}

struct Argo<'a> {
    export: &'a Export,
    /// Parameter values as Argo holds them (text; lists as JSON).
    params: BTreeMap<String, String>,
    /// Runs a step's pod; `None` only builds the graph (the `parameters` pods always run: they decide).
    run: Option<&'a Pod<'a>>,
    /// Where `parameters` pods write the conditions (their container's /tmp/precheck/conditions).
    scratch: PathBuf,
    outcome: Outcome,
}

impl Argo<'_> {
    fn new<'a>(
        export: &'a Export,
        params: BTreeMap<String, String>,
        run: Option<&'a Pod<'a>>,
        scratch: &Path,
    ) -> Argo<'a> {
        Argo { export, params, run, scratch: scratch.to_path_buf(), outcome: Outcome::default() }
    }

    fn substitute(&self, text: &str, scope: &Scope) -> String {
        let mut out = text.replace("{{workflow.name}}", "simulated-workflow");
        for (name, value) in &self.params {
            out = out.replace(&format!("{{{{workflow.parameters.{name}}}}}"), value);
        }
        for (name, value) in &scope.inputs {
            out = out.replace(&format!("{{{{inputs.parameters.{name}}}}}"), value);
        }
        for (task, outputs) in &scope.outputs {
            for (name, value) in outputs {
                out = out.replace(&format!("{{{{tasks.{task}.outputs.parameters.{name}}}}}"), value);
            }
        }
        assert!(!out.contains("{{"), "unresolved expression in {out}");
        out
    }

    /// Runs the Workflow: its entrypoint, then its exit handler.
    fn workflow(mut self) -> Outcome {
        let workflow = &self.export.workflow;
        let entry = workflow["spec"]["entrypoint"].as_str().unwrap();
        let (_, leaves) = self.dag(workflow, entry, &BTreeSet::new(), None, Scope::default());
        if let Some(exit) = workflow["spec"]["onExit"].as_str() {
            self.dag(workflow, exit, &leaves, None, Scope::default());
        }
        self.outcome
    }

    /// Runs a WorkflowTemplate submitted alone (`argo submit --from workflowtemplate/NAME`).
    fn submitted(mut self, name: &str) -> Outcome {
        let resource = &self.export.templates[name];
        let entry = resource["spec"]["entrypoint"].as_str().unwrap();
        let (_, leaves) = self.dag(resource, entry, &BTreeSet::new(), None, Scope::default());
        if let Some(exit) = resource["spec"]["onExit"].as_str() {
            self.dag(resource, exit, &leaves, None, Scope::default());
        }
        self.outcome
    }

    /// Runs DAG template `name` of `resource`, every step waiting for `before`; `forced` marks every
    /// step without running it (a skipped or omitted caller). Returns its status and its step instances.
    fn dag(
        &mut self,
        resource: &Json,
        name: &str,
        before: &BTreeSet<String>,
        forced: Option<Status>,
        mut scope: Scope,
    ) -> (Status, BTreeSet<String>) {
        let tasks = template(resource, name)["dag"]["tasks"].as_array().unwrap().clone();
        let mut done: BTreeMap<String, (Status, BTreeSet<String>)> = BTreeMap::new();
        while done.len() < tasks.len() {
            let ready = tasks
                .iter()
                .find(|t| {
                    let name = t["name"].as_str().unwrap();
                    !done.contains_key(name) && depends_names(t).iter().all(|d| done.contains_key(d))
                })
                .expect("a task whose dependencies are done (no cycle)");
            let mut preds = before.clone();
            depends_names(ready).iter().for_each(|d| preds.extend(done[d].1.iter().cloned()));
            let holds = ready["depends"].as_str().is_none_or(|d| depends_hold(d, &done));
            let decided = forced.or_else(|| {
                if !holds {
                    Some(Status::Omitted)
                } else {
                    ready["when"].as_str().filter(|w| !evaluate(&self.substitute(w, &scope))).map(|_| Status::Skipped)
                }
            });
            let (status, leaves, outputs) = self.task(resource, ready, &preds, decided, &scope);
            let task = ready["name"].as_str().unwrap().to_owned();
            scope.outputs.insert(task.clone(), outputs);
            done.insert(task, (status, leaves));
        }
        let failed = done.values().any(|(s, _)| *s == Status::Failed);
        let leaves = done.into_values().flat_map(|(_, l)| l).collect();
        (if failed { Status::Failed } else { Status::Succeeded }, leaves)
    }

    fn task(
        &mut self,
        resource: &Json,
        task: &Json,
        preds: &BTreeSet<String>,
        decided: Option<Status>,
        scope: &Scope,
    ) -> (Status, BTreeSet<String>, BTreeMap<String, String>) {
        // A task that does not run resolves nothing (what it would read may not exist).
        let arguments: BTreeMap<String, String> = task["arguments"]["parameters"]
            .as_array()
            .filter(|_| decided.is_none())
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["value"] != "{{item}}")
                    .map(|p| {
                        (p["name"].as_str().unwrap().to_owned(), self.substitute(p["value"].as_str().unwrap(), scope))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (resource, callee) = match task.get("templateRef") {
            Some(reference) => {
                let name = reference["name"].as_str().unwrap();
                let referenced =
                    self.export.templates.get(name).unwrap_or_else(|| panic!("no WorkflowTemplate {name}"));
                (referenced, template(referenced, reference["template"].as_str().unwrap()))
            }
            None => (resource, template(resource, task["template"].as_str().unwrap())),
        };
        if callee.get("dag").is_some() {
            let inner = Scope { inputs: arguments, outputs: BTreeMap::new() };
            let name = callee["name"].as_str().unwrap().to_owned();
            let (status, leaves) = self.dag(resource, &name, preds, decided, inner);
            return (decided.unwrap_or(status), leaves, BTreeMap::new());
        }
        let args: Vec<&str> =
            callee["container"]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        if args[1] != "step" {
            // The `parameters` pod: it decides the conditions, so it runs even when only the graph is built.
            return self.parameters_pod(callee, &args, decided, scope);
        }
        let items: Vec<Option<String>> = if let Some(items) = task["withItems"].as_array() {
            items.iter().map(|i| Some(i.as_str().unwrap().to_owned())).collect()
        } else if let Some(param) = task["withParam"].as_str() {
            match serde_json::from_str::<Vec<String>>(&self.substitute(param, scope)) {
                Ok(list) => list.into_iter().map(Some).collect(),
                // Argo never expands a task it does not run.
                Err(_) if decided.is_some() => Vec::new(),
                Err(e) => panic!("withParam: not a JSON list: {e}"),
            }
        } else {
            vec![None]
        };
        if items.is_empty() {
            // Argo skips an empty fan-out; what waits for it waits for what it waited for.
            return (decided.unwrap_or(Status::Skipped), preds.clone(), BTreeMap::new());
        }
        let mut status = decided.unwrap_or(Status::Succeeded);
        let mut leaves = BTreeSet::new();
        for item in items {
            // The step's id, as the container's command names it: the export's names map back to the plan.
            let id = match &item {
                Some(item) => format!("{}[{item}]", args[3]),
                None => args[3].to_owned(),
            };
            self.outcome.edges.insert(id.clone(), preds.clone());
            leaves.insert(id.clone());
            let instance = match (decided, self.run) {
                (Some(decided), _) => decided,
                (None, None) => Status::Succeeded,
                (None, Some(run)) => {
                    let mut inner = Scope { inputs: arguments.clone(), outputs: BTreeMap::new() };
                    if let Some(item) = &item {
                        inner.inputs.insert("item".into(), item.clone());
                    }
                    let args: Vec<String> = args.iter().map(|a| self.substitute(a, &inner)).collect();
                    let attempts = 1 + callee["retryStrategy"]["limit"].as_u64().unwrap_or(0);
                    self.outcome.ran.push(id.clone());
                    if (0..attempts).any(|_| run(callee, &args)) { Status::Succeeded } else { Status::Failed }
                }
            };
            if instance == Status::Failed {
                status = Status::Failed;
            }
            self.outcome.status.insert(id, instance);
        }
        (status, leaves, BTreeMap::new())
    }

    /// Runs a `parameters` pod (the real `precheck pipeline plan --conditions`) and reads its outputs.
    fn parameters_pod(
        &mut self,
        callee: &Json,
        args: &[&str],
        decided: Option<Status>,
        scope: &Scope,
    ) -> (Status, BTreeSet<String>, BTreeMap<String, String>) {
        if let Some(decided) = decided {
            return (decided, BTreeSet::new(), BTreeMap::new());
        }
        let dir = self.scratch.join(format!("conditions-{}", self.outcome.ran.len()));
        let container_dir = "/tmp/precheck/conditions";
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                self.substitute(a, scope)
                    .replace(&format!("--conditions={container_dir}"), &format!("--conditions={}", dir.display()))
            })
            .collect();
        let output = Command::new(env!("CARGO_BIN_EXE_precheck"))
            .args(&args)
            .current_dir(callee["container"]["workingDir"].as_str().unwrap())
            .envs(pod_env(&callee["container"]))
            .env("PRECHECK_STATE_DIR", self.scratch.join("state"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        self.outcome.ran.push(format!("parameters ({})", output.status));
        if !output.status.success() {
            return (Status::Failed, BTreeSet::new(), BTreeMap::new());
        }
        let outputs = callee["outputs"]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let path =
                            p["valueFrom"]["path"].as_str().unwrap().replace(container_dir, &dir.display().to_string());
                        (p["name"].as_str().unwrap().to_owned(), std::fs::read_to_string(path).expect("an output"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        (Status::Succeeded, BTreeSet::new(), outputs)
    }
}

fn closure(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    fn reach(id: &str, edges: &BTreeMap<String, BTreeSet<String>>, seen: &mut BTreeSet<String>) {
        for p in &edges[id] {
            if seen.insert(p.clone()) {
                reach(p, edges, seen);
            }
        }
    }
    edges
        .keys()
        .map(|id| {
            let mut seen = BTreeSet::new();
            reach(id, edges, &mut seen);
            (id.clone(), seen)
        })
        .collect()
}

/// Argo's parameter values for `given` (`NAME=VALUE`), defaults from the Workflow's arguments.
fn argo_params(export: &Export, given: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut params: BTreeMap<String, String> = export.workflow["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["value"].as_str()?.to_owned())))
        .collect();
    params.extend(given.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    params
}

#[test]
fn export_is_valid_against_argo_models_and_its_dag_is_the_local_plan() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    export(&fixture(), &out);
    let validated = validate(&out, &["OUT=/tmp/marks"]);
    assert!(validated.status.success(), "{}", text(&validated));
    assert!(text(&validated).contains("argo-validate: 6 resources ok"), "{}", text(&validated));
    // The Workflow cannot be submitted without the required parameter; Argo would refuse it too.
    let missing = validate(&out, &[]);
    assert!(!missing.status.success() && text(&missing).contains("parameters.0.value: required"), "{}", text(&missing));

    let export = Export::read(&out);
    let workflow = &export.workflow;
    assert_eq!(workflow["spec"]["parallelism"], 3);
    assert_eq!(workflow["spec"]["serviceAccountName"], "precheck");
    let addon = &workflow["spec"]["arguments"]["parameters"][1];
    assert_eq!(addon["enum"], serde_json::json!(["none", "metrics-server", "no"]));
    // A secret parameter is no Workflow parameter (Argo shows those): each pod reads it from a Secret.
    let arguments = workflow["spec"]["arguments"]["parameters"].as_array().unwrap();
    assert!(arguments.iter().all(|p| p["name"] != "DEPLOY_TOKEN"), "{arguments:?}");
    let check = template(&export.templates["argo-demo-validation"], "step-check");
    assert!(!check["container"]["args"].to_string().contains("DEPLOY_TOKEN"), "{check}");
    assert!(
        check["container"]["env"].as_array().unwrap().contains(&serde_json::json!({ "name": "DEPLOY_TOKEN",
            "valueFrom": { "secretKeyRef": { "name": "argo-demo-secrets", "key": "DEPLOY_TOKEN" } } })),
        "{check}"
    );
    let build = &export.templates["argo-demo-build"];
    assert_eq!(template(build, "main")["parallelism"], 1);
    let stack = template(build, "step-stack");
    assert_eq!(stack["activeDeadlineSeconds"], 30 + 300, "the step's timeout and a margin for the pod's start");
    assert_eq!(
        stack["retryStrategy"],
        serde_json::json!({"limit": 2, "retryPolicy": "Always",
            "backoff": {"duration": "100ms", "factor": 3, "cap": "60s", "maxDuration": "90s"}})
    );

    let pipeline = precheck_pipeline::Pipeline::load(&fixture()).unwrap();
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("ADDON", "no"), ("ZONES", r#"["c"]"#)],
        &[("ADDON", "metrics-server"), ("FAST", "true"), ("NODES", "4")],
        &[("ADDON", "metrics-server"), ("ZONES", "[]")],
    ];
    for given in cases {
        let mut given = given.to_vec();
        given.push(("OUT", "/tmp/marks"));
        let params = argo_params(&export, &given);
        let mut pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.push(("DEPLOY_TOKEN".into(), SECRETS[0].2.into()));
        let values = pipeline.values_from_args(&pairs).unwrap();
        // The whole Workflow, and each stage's WorkflowTemplate submitted alone (as `--stage` runs locally).
        let mut runs = vec![(None, Argo::new(&export, params.clone(), None, dir.path()).workflow())];
        for stage in &pipeline.stages {
            let name = format!("argo-demo-{}", stage.name);
            runs.push((
                Some(stage.name.as_str()),
                Argo::new(&export, params.clone(), None, dir.path()).submitted(&name),
            ));
        }
        for (stage, outcome) in runs {
            let graph = pipeline.bind(&values, stage).unwrap();
            let local: BTreeMap<String, BTreeSet<String>> = graph
                .nodes
                .iter()
                .map(|n| (n.id.clone(), n.depends.iter().map(|&d| graph.nodes[d].id.clone()).collect()))
                .collect();
            assert_eq!(closure(&outcome.edges), closure(&local), "the DAG of {stage:?} with {given:?}");
            let skipped: BTreeSet<&str> =
                graph.nodes.iter().filter(|n| n.skip.is_some()).map(|n| n.id.as_str()).collect();
            let argo_skipped: BTreeSet<&str> =
                outcome.status.iter().filter(|(_, s)| **s == Status::Skipped).map(|(id, _)| id.as_str()).collect();
            assert_eq!(argo_skipped, skipped, "skipped steps of {stage:?} with {given:?}");
        }
    }
    // A value a local run refuses stops the Workflow before any step, in its `parameters` task.
    for bad in [("FAST", "yes"), ("ZONES", "a,b"), ("NODES", "3 || true")] {
        let params = argo_params(&export, &[("OUT", "/tmp/marks"), bad]);
        let outcome = Argo::new(&export, params, None, dir.path()).workflow();
        assert!(outcome.status.values().all(|s| *s == Status::Omitted), "{bad:?}: {:?}", outcome.status);
        assert!(outcome.ran[0].starts_with("parameters (exit status: 2)"), "{bad:?}: {:?}", outcome.ran);
    }
}

#[test]
fn exported_steps_run_as_argo_would_do_what_a_local_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    export(&fixture(), &out);
    let export = Export::read(&out);
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("ADDON", "no"), ("ZONES", r#"["c","d e"]"#)],
        &[("FAST", "true"), ("ADDON", "metrics-server")],
        &[("FAIL", "build/stack")],
        &[("FAIL", "preflight/announce")],
        &[("FAIL", "finally/collect")],
        // A quote in a value a condition reads is only a value.
        &[("CHANNEL", "beta' || 'x")],
        &[("CHANNEL", "beta")],
    ];
    for (n, given) in cases.iter().enumerate() {
        let local_marks = dir.path().join(format!("local-{n}"));
        let argo_marks = dir.path().join(format!("argo-{n}"));
        std::fs::create_dir_all(&local_marks).unwrap();
        std::fs::create_dir_all(&argo_marks).unwrap();

        // Locally.
        let state = dir.path().join(format!("state-{n}"));
        let mut args = vec!["pipeline".to_owned(), "run".to_owned(), fixture().display().to_string()];
        for (k, v) in given.iter().copied().chain([("OUT", local_marks.to_str().unwrap())]) {
            args.extend(["-p".to_owned(), format!("{k}={v}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let local = precheck(&args, &state);
        let status = precheck(&["pipeline", "status", "--json"], &state);
        let record: Json = serde_json::from_slice(&status.stdout).expect("status --json");
        let local_status: BTreeMap<String, String> = record["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
            .collect();

        // As Argo would: each container's command, its image's `precheck` being this one.
        let mut given = given.to_vec();
        given.push(("OUT", argo_marks.to_str().unwrap()));
        let pod_state = dir.path().join(format!("pods-{n}"));
        let run = |template: &Json, args: &[String]| {
            let container = &template["container"];
            assert_eq!(container["command"], serde_json::json!(["precheck"]));
            let output = Command::new(env!("CARGO_BIN_EXE_precheck"))
                .args(args)
                .current_dir(container["workingDir"].as_str().unwrap())
                .envs(pod_env(container))
                .env("PRECHECK_STATE_DIR", &pod_state)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let out = text(&output);
            assert!(out.contains("attempt 1 of 1"), "a pod runs one attempt:\n{out}");
            output.status.success()
        };
        let outcome = Argo::new(&export, argo_params(&export, &given), Some(&run), &pod_state).workflow();

        let marks = |dir: &Path| -> BTreeMap<String, String> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
                .collect()
        };
        assert_eq!(marks(&argo_marks), marks(&local_marks), "marks with {given:?}:\n{}", text(&local));
        let argo_status: BTreeMap<String, String> = outcome
            .status
            .iter()
            .map(|(id, s)| {
                let s = match s {
                    Status::Succeeded => "succeeded",
                    Status::Failed => "failed",
                    Status::Skipped | Status::Omitted => "skipped",
                };
                (id.clone(), s.to_owned())
            })
            .collect();
        assert_eq!(argo_status, local_status, "statuses with {given:?}");
        let failing = given.iter().any(|(k, _)| *k == "FAIL");
        assert_eq!(local.status.success(), !failing, "{}", text(&local));
        assert!(outcome.ran.last().is_some_and(|id| id == "finally/report"), "the exit handler ran last");
    }
}

#[test]
fn the_cluster_build_example_exports_valid_resources() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    export(&workspace::repo_root().join("examples/cluster-build/pipeline.yaml"), &out);
    let validated = validate(&out, &[]);
    assert!(validated.status.success(), "{}", text(&validated));
    let export = Export::read(&out);
    let addons = &export.templates["cluster-build-addons"];
    let metrics = &template(addons, "main")["dag"]["tasks"][1];
    assert_eq!(metrics["when"], "{{inputs.parameters.when-metrics-server}} == true");
    let call = &template(&export.workflow, "main")["dag"]["tasks"][4];
    assert_eq!(call["name"], "addons");
    assert_eq!(
        call["arguments"]["parameters"][0]["value"],
        "{{tasks.parameters.outputs.parameters.when-addons--metrics-server}}"
    );
    assert_eq!(addons["spec"]["onExit"], "exit", "a stage submitted alone runs the finally steps");
}

#[test]
fn the_validator_catches_what_argo_would_refuse() {
    let selftest = Command::new(workspace::python())
        .arg(workspace::repo_root().join("tests/support/argo_validate.py"))
        .arg("--self-test")
        .output()
        .unwrap();
    assert!(selftest.status.success(), "{}", text(&selftest));
    // And on real output: a misspelt field and a dangling reference.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    export(&fixture(), &out);
    let path = out.join("templates/argo-demo-build.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, yaml.replace("activeDeadlineSeconds", "activeDeadlineSecond")).unwrap();
    std::fs::remove_file(out.join("templates/argo-demo-finally.yaml")).unwrap();
    let validated = validate(&out, &["OUT=/tmp/x"]);
    let said = text(&validated);
    assert!(!validated.status.success(), "{said}");
    assert!(said.contains("activeDeadlineSecond"), "{said}");
    assert!(said.contains("argo-demo-finally"), "{said}");
}

#[test]
fn a_pod_refuses_a_pipeline_other_than_the_one_exported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    let copy = dir.path().join("argo.yaml");
    std::fs::copy(fixture(), &copy).unwrap();
    export_from(dir.path(), &copy, &out);
    let export = Export::read(&out);
    let argo = Argo::new(&export, argo_params(&export, &[("OUT", dir.path().to_str().unwrap())]), None, dir.path());
    let args: Vec<String> = template(&export.templates["argo-demo-validation"], "step-check")["container"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| argo.substitute(a.as_str().unwrap(), &Scope::default()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let state = dir.path().join("state");
    let ran = precheck(&args, &state);
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(dir.path().join("validation.check").exists());
    std::fs::write(&copy, std::fs::read_to_string(&copy).unwrap().replace("validation.check", "validation.checked"))
        .unwrap();
    let refused = precheck(&args, &state);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("is not the one exported"), "{}", text(&refused));
    assert!(!dir.path().join("validation.checked").exists());
}

#[test]
fn export_refuses_files_outside_the_image_and_replaces_its_earlier_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("argo");
    let example = workspace::repo_root().join("examples/cluster-build/pipeline.yaml");
    // Without --root, the example's directory is the image's: its preflight suite is outside.
    let refused = precheck(
        &["pipeline", "export", example.to_str().unwrap(), "--argo", out.to_str().unwrap(), "--image", "i"],
        &dir.path().join("state"),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(text(&refused).contains("checks/preflight/network.yaml is not under"), "{}", text(&refused));

    export(&fixture(), &out);
    let ours =
        format!("{} for pipeline argo-demo from elsewhere\nkind: WorkflowTemplate\n", precheck_pipeline::argo::HEADER);
    let theirs =
        format!("{} for pipeline other from elsewhere\nkind: WorkflowTemplate\n", precheck_pipeline::argo::HEADER);
    std::fs::write(out.join("templates/argo-demo-removed.yaml"), ours).unwrap();
    std::fs::write(out.join("templates/other-stage.yaml"), theirs).unwrap();
    std::fs::write(out.join("mine.yaml"), "kind: ConfigMap\n").unwrap();
    export(&fixture(), &out);
    assert!(!out.join("templates/argo-demo-removed.yaml").exists(), "an earlier export's file is removed");
    assert!(out.join("templates/other-stage.yaml").exists(), "another pipeline's export is left alone");
    assert!(out.join("mine.yaml").exists(), "other files are left alone");
    // A file in the way that no export of this pipeline wrote is not replaced.
    std::fs::write(out.join("workflow.yaml"), "kind: Workflow # mine\n").unwrap();
    let refused = precheck(
        &["pipeline", "export", fixture().to_str().unwrap(), "--argo", out.to_str().unwrap(), "--image", "i"],
        &dir.path().join("state"),
    );
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
    assert!(text(&refused).contains("workflow.yaml exists and was not written by"), "{}", text(&refused));
    assert_eq!(std::fs::read_to_string(out.join("workflow.yaml")).unwrap(), "kind: Workflow # mine\n");
}

#[test]
fn a_step_alone_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let file = fixture();
    let file = file.to_str().unwrap();
    let out = dir.path().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["build/stak"], "no step 'build/stak' (did you mean 'build/stack'?)"),
        (&["preflight/per_zone"], "preflight/per_zone: a fan-out step: give the item to run (--item)"),
        (&["preflight/per_zone", "--item", "c"], "'c' is not one of its items (a, b)"),
        (&["build/stack", "--item", "a"], "not a fan-out step, yet given item 'a'"),
    ];
    for (args, said) in cases {
        let mut all = vec!["pipeline", "step", file, "-p"];
        let param = format!("OUT={out}");
        all.push(&param);
        all.extend_from_slice(args);
        let refused = precheck(&all, &state);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert!(text(&refused).contains(said), "{args:?}: {}", text(&refused));
    }
    // One instance of a fan-out, given its list as Argo hands it over (JSON).
    let ran = precheck(
        &[
            "pipeline",
            "step",
            file,
            "preflight/per_zone",
            "--item",
            "c d",
            "-p",
            &format!("OUT={out}"),
            "-p",
            r#"ZONES=["c d"]"#,
        ],
        &state,
    );
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(dir.path().join("preflight.zone-c d").exists());
    assert!(!dir.path().join("preflight.announce").exists(), "what it depends on is not run");

    // Every pod of one Workflow sees the Workflow's name as its run id.
    let tiny = dir.path().join("tiny.yaml");
    std::fs::write(
        &tiny,
        "name: tiny\nstages:\n  - name: s\n    steps:\n      - { name: id, shell: 'echo \"run=$PRECHECK_RUN_ID\"' }\n",
    )
    .unwrap();
    let ran = precheck(&["pipeline", "step", tiny.to_str().unwrap(), "s/id", "--run-id=wf-abc12"], &state);
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(String::from_utf8_lossy(&ran.stdout).contains("run=wf-abc12"), "{}", text(&ran));
}

#[test]
fn a_real_api_server_with_argos_crds_accepts_every_exported_resource() {
    let cluster = cluster::shared();
    // Argo Workflows' CRDs with their full schemas, from its module (tests/support/cluster/argo/pin).
    // (kubectl reads a directory given through a symbolic link as a file: the real path.)
    let crds = std::fs::canonicalize(cluster::programs().join("share/argo-crds")).unwrap();
    cluster.kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", crds.to_str().unwrap()]);
    for crd in ["workflows.argoproj.io", "workflowtemplates.argoproj.io"] {
        cluster.wait_established(crd);
    }
    let ns = cluster.namespace("argo");
    let dir = tempfile::tempdir().unwrap();
    let pipelines = [fixture(), workspace::repo_root().join("examples/cluster-build/pipeline.yaml")];
    for (i, pipeline) in pipelines.iter().enumerate() {
        let out = dir.path().join(format!("argo-{i}"));
        export(pipeline, &out);
        // The templates as the README applies them; the Workflow (a generateName) as it is submitted.
        for (verb, what) in [("apply", out.join("templates")), ("create", out.join("workflow.yaml"))] {
            let applied = cluster.kubectl(&["-n", &ns.name, verb, "--dry-run=server", "-f", what.to_str().unwrap()]);
            assert!(
                applied.status.success(),
                "{} refused: {}",
                what.display(),
                String::from_utf8_lossy(&applied.stderr)
            );
            let said = String::from_utf8_lossy(&applied.stdout);
            assert!(said.contains("(server dry run)"), "{said}");
        }
    }
    // The schemas are checked: a field Argo does not know is refused.
    let workflow = std::fs::read_to_string(dir.path().join("argo-0/workflow.yaml")).unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, workflow.replacen("entrypoint:", "entrypointt:", 1)).unwrap();
    let refused = cluster.kubectl(&["-n", &ns.name, "create", "--dry-run=server", "-f", broken.to_str().unwrap()]);
    assert!(!refused.status.success(), "{}", String::from_utf8_lossy(&refused.stdout));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("entrypointt"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn names_argo_cannot_tell_apart_are_invalid_input_for_export_and_plan_alike() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "name: p\nparameters: [{ name: ON, type: boolean, default: true }]\nstages:\n  - name: s\n    steps:\n      \
         - { name: a.b, run: [ls], when: ON }\n      - { name: a_b, run: [ls], when: ON }\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let file = file.to_str().unwrap();
    let out_dir = dir.path().join("argo");
    let export = precheck(&["pipeline", "export", file, "--argo", out_dir.to_str().unwrap(), "--image", "i"], &state);
    let conditions = dir.path().join("conditions");
    let plan = precheck(&["pipeline", "plan", file, "--conditions", conditions.to_str().unwrap()], &state);
    for (what, out) in [("export", &export), ("plan --conditions", &plan)] {
        assert_eq!(out.status.code(), Some(2), "{what}: {}", text(out));
        assert!(text(out).contains("both become"), "{what}: {}", text(out));
    }
}
