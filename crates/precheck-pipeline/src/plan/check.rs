//! From a pipeline file to a checked [`Pipeline`]: names unique, references resolved (stages, steps,
//! templates, parameters in `${…}` and `when`), no dependency cycle, durations and types valid. Every
//! problem of a file is reported, each with its line and column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::{Action, DEFAULT_PARALLELISM, ForEach, ITEM, Interpolated, Parameter, Pipeline, RetryPolicy, Stage, Step};
use crate::condition::Condition;
use crate::error::{LoadError, PipelineError, SourceFile};
use crate::file::{self, PipelineFile, StepDecl, TemplateDecl, TemplateFile, Text};
use crate::value::{Kind, Value};
use precheck_lang::nearest;

/// A short digest (FNV-1a, 64 bits) for noticing that a file changed.
fn digest(texts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for text in texts {
        for byte in text.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn is_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_step_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Reads YAML into `T`, turning serde's error into a located one with a suggestion for unknown fields.
fn read_yaml<T: serde::de::DeserializeOwned>(file: &SourceFile) -> Result<T, Box<PipelineError>> {
    serde_saphyr::from_str::<T>(file.text()).map_err(|e| {
        let (offset, len) = e.location().map_or((0, 1), |l| file.span_of(&l));
        let message = precheck::yaml_error::message(&e);
        let mut err = file.error(offset, len, "pipeline::yaml", message.clone());
        if let Some(found) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
            && let Some(expected) = message.split("expected one of ").nth(1).or(message.split("expected ").nth(1))
        {
            let candidates: Vec<&str> = expected.split(", ").map(|c| c.trim_matches('`')).collect();
            if let Some(near) = nearest(found, candidates.iter().copied()) {
                err = err.with_help(format!("did you mean `{near}`?"));
            }
        }
        Box::new(err)
    })
}

struct Checker<'a> {
    file: &'a SourceFile,
    errors: Vec<PipelineError>,
    /// The secret parameters, which conditions may not read.
    secrets: BTreeSet<String>,
}

impl Checker<'_> {
    fn at(&mut self, text: &Text, code: &'static str, message: impl Into<String>) -> PipelineError {
        self.file.error_at(&text.referenced, code, message)
    }

    fn push(&mut self, error: PipelineError) {
        self.errors.push(error);
    }

    /// The byte offset of a position inside a scalar: exact when the scalar is written as its value (plain,
    /// or quoted without escapes, on one line); otherwise the scalar's start (block scalars, escapes).
    fn inside(&self, text: &Text, offset: usize) -> usize {
        let (start, _) = self.file.span_of(&text.defined);
        let source = &self.file.text()[start.min(self.file.text().len())..];
        let quote = usize::from(source.starts_with(['\'', '"']));
        let written = source.get(quote..quote + text.value.len());
        if written == Some(text.value.as_str()) { start + quote + offset } else { start }
    }

    fn duration(&mut self, text: &Option<Text>) -> Option<Duration> {
        let text = text.as_ref()?;
        match precheck_lang::parse_duration(&text.value) {
            Ok(d) => Some(d),
            Err(error) => {
                let err = self.at(text, "pipeline::duration", error.to_string());
                self.push(err);
                None
            }
        }
    }

    fn condition(&mut self, text: &Option<Text>, kinds: &BTreeMap<String, Kind>) -> Option<Condition> {
        let text = text.as_ref()?;
        let result = Condition::parse(&text.value).and_then(|c| c.check(kinds).map(|()| c)).and_then(|c| {
            // Comparing a secret with text written in the file would put the secret (or a guess) there, and
            // an Argo export would publish whether it matched.
            match c.names().into_iter().find(|n| self.secrets.contains(&n.name)) {
                Some(name) => Err(crate::condition::ConditionError {
                    offset: name.offset,
                    message: format!("'{}' is a secret parameter, which a condition cannot read", name.name),
                    help: Some("decide on a parameter that is not secret".into()),
                }),
                None => Ok(c),
            }
        });
        match result {
            Ok(c) => Some(c),
            Err(e) => {
                let offset = self.inside(text, e.offset);
                let mut err = self.file.error(offset, 1, "pipeline::when", format!("invalid `when`: {}", e.message));
                if let Some(help) = e.help {
                    err = err.with_help(help);
                }
                self.push(err);
                None
            }
        }
    }

    /// Checks that every `${NAME}` of `text` is in `scope`.
    fn interpolated(&mut self, text: &Text, scope: &BTreeSet<String>) -> Interpolated {
        let value = Interpolated(text.value.clone());
        match value.names() {
            Ok(names) => {
                for (name, at) in names {
                    if !scope.contains(&name) {
                        let offset = self.inside(text, at);
                        let mut err = self.file.error(
                            offset,
                            name.len() + 3,
                            "pipeline::unknown_name",
                            format!("`${{{name}}}` is not a parameter, a template input or `ITEM` here"),
                        );
                        if let Some(near) = nearest(&name, scope.iter().map(String::as_str)) {
                            err = err.with_help(format!("did you mean `${{{near}}}`?"));
                        }
                        self.push(err);
                    }
                }
            }
            Err((at, message)) => {
                let offset = self.inside(text, at);
                let err = self.file.error(offset, 2, "pipeline::interpolation", message);
                self.push(err);
            }
        }
        value
    }

    fn retry(&mut self, decl: Option<&file::RetryDecl>) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        let Some(decl) = decl else { return policy };
        if let Some(attempts) = &decl.attempts {
            if attempts.value == 0 {
                let err = self.file.error_at(&attempts.referenced, "pipeline::retry", "attempts must be at least 1");
                self.push(err);
            }
            policy.attempts = attempts.value.max(1);
        }
        if let Some(d) = self.duration(&decl.backoff) {
            policy.backoff = d;
        }
        if let Some(d) = self.duration(&decl.max_backoff) {
            policy.max_backoff = d;
        }
        policy.max_duration = self.duration(&decl.max_duration);
        if let Some(factor) = &decl.factor {
            if !(1.0..=10.0).contains(&factor.value) {
                let err = self.file.error_at(&factor.referenced, "pipeline::retry", "factor must be between 1 and 10");
                self.push(err);
            }
            policy.factor = factor.value.clamp(1.0, 10.0);
        }
        policy
    }

    fn unique<'t>(&mut self, names: impl Iterator<Item = &'t Text>, what: &str, valid: fn(&str) -> bool) {
        let mut seen = BTreeSet::new();
        for name in names {
            if !valid(&name.value) {
                let err = self.at(
                    name,
                    "pipeline::name",
                    format!("'{}' is not a valid {what} name: use letters, digits, `-`, `_` or `.`", name.value),
                );
                self.push(err);
            } else if !seen.insert(name.value.clone()) {
                let err = self.at(name, "pipeline::duplicate", format!("{what} '{}' is declared twice", name.value));
                self.push(err);
            }
        }
    }

    /// Checks `depends` names exist among `known`.
    fn depends(&mut self, depends: &[Text], known: &[&str], what: &str) -> Vec<String> {
        for d in depends {
            if !known.contains(&d.value.as_str()) {
                let mut err = self.at(d, "pipeline::unknown_dependency", format!("no {what} named '{}'", d.value));
                if let Some(near) = nearest(&d.value, known.iter().copied()) {
                    err = err.with_help(format!("did you mean '{near}'?"));
                }
                self.push(err);
            }
        }
        depends.iter().map(|d| d.value.clone()).collect()
    }

    /// Reports the first dependency cycle among `nodes` (name, depends, where).
    fn cycles(&mut self, nodes: &[(&Text, Vec<String>)], what: &str) {
        let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, (n, _))| (n.value.as_str(), i)).collect();
        // 0 = unvisited, 1 = on the path, 2 = done
        let mut state = vec![0u8; nodes.len()];
        fn visit(
            i: usize,
            nodes: &[(&Text, Vec<String>)],
            index: &BTreeMap<&str, usize>,
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[i] = 1;
            path.push(i);
            for dep in &nodes[i].1 {
                let Some(&j) = index.get(dep.as_str()) else { continue };
                if state[j] == 1 {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    return Some(path[start..].to_vec());
                }
                if state[j] == 0
                    && let Some(cycle) = visit(j, nodes, index, state, path)
                {
                    return Some(cycle);
                }
            }
            path.pop();
            state[i] = 2;
            None
        }
        for i in 0..nodes.len() {
            if state[i] == 0
                && let Some(cycle) = visit(i, nodes, &index, &mut state, &mut Vec::new())
            {
                let mut names: Vec<&str> = cycle.iter().map(|&c| nodes[c].0.value.as_str()).collect();
                names.push(names[0]);
                let err = self.at(
                    nodes[cycle[0]].0,
                    "pipeline::cycle",
                    format!("{what}s depend on each other in a cycle: {}", names.join(" → ")),
                );
                self.push(err);
                return;
            }
        }
    }
}

/// Where a step's body comes from: its own fields, or a template's.
struct Body<'a> {
    run: Option<&'a Spanned<Vec<Text>>>,
    shell: Option<&'a Text>,
    checks: Option<&'a Spanned<Vec<Text>>>,
    apply: Option<&'a Spanned<Vec<Text>>>,
    cloudformation: Option<&'a Spanned<file::StackDecl>>,
}

impl Pipeline {
    /// Reads and checks a pipeline file (and the files it imports).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.into(), source })?;
        let text =
            precheck_lang::decode_utf8(bytes).map_err(|error| LoadError::NotText { path: path.into(), error })?;
        Self::parse(path, &text)
    }

    /// Checks a pipeline file's text; `path` names it in errors and anchors relative paths and imports.
    pub fn parse(path: &Path, text: &str) -> Result<Self, LoadError> {
        let file = SourceFile::new(path, text);
        let decl: PipelineFile = read_yaml(&file).map_err(|e| LoadError::Invalid { errors: vec![*e] })?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let mut checker = Checker { file: &file, errors: Vec::new(), secrets: BTreeSet::new() };

        // Imported templates first: their errors are in their own files.
        let mut texts = vec![text.to_owned()];
        let mut imported: Vec<(SourceFile, TemplateFile)> = Vec::new();
        for import in &decl.imports {
            let import_path = dir.join(&import.value);
            let read = std::fs::read(&import_path).map_err(|e| e.to_string()).and_then(|bytes| {
                precheck_lang::decode_utf8(bytes).map_err(|e| format!("{}:{e}", import_path.display()))
            });
            match read {
                Ok(import_text) => {
                    let import_file = SourceFile::new(&import_path, import_text.as_str());
                    texts.push(import_text);
                    match read_yaml::<TemplateFile>(&import_file) {
                        Ok(t) => imported.push((import_file, t)),
                        Err(e) => checker.push(*e),
                    }
                }
                Err(e) => {
                    let err = checker.at(import, "pipeline::import", format!("cannot read '{}': {e}", import.value));
                    checker.push(err);
                }
            }
        }

        // Parameters.
        checker.unique(decl.parameters.iter().map(|p| &p.name), "parameter", is_name);
        let mut parameters = Vec::new();
        for p in &decl.parameters {
            let kind = match &p.kind {
                None => Kind::String,
                Some(k) => Kind::from_name(&k.value).unwrap_or_else(|| {
                    let mut err = checker.at(k, "pipeline::type", format!("unknown type '{}'", k.value));
                    let near = nearest(&k.value, ["string", "integer", "boolean", "list"]);
                    err = err.with_help(near.map_or_else(
                        || "types are string, integer, boolean and list".to_owned(),
                        |n| format!("did you mean '{n}'?"),
                    ));
                    checker.push(err);
                    Kind::String
                }),
            };
            if !p.allowed.is_empty() && kind != Kind::String {
                let err = checker.at(&p.name, "pipeline::enum", "`enum` is only for string parameters");
                checker.push(err);
            }
            let default = p.default.as_ref().and_then(|d| match kind.from_json(&d.value) {
                Ok(v) => {
                    if let Value::String(s) = &v
                        && !p.allowed.is_empty()
                        && !p.allowed.contains(s)
                    {
                        let err = checker.file.error_at(
                            &d.referenced,
                            "pipeline::enum",
                            format!("default '{s}' is not one of {}", p.allowed.join(", ")),
                        );
                        checker.push(err);
                    }
                    Some(v)
                }
                Err(message) => {
                    let err = checker.file.error_at(&d.referenced, "pipeline::type", format!("default: {message}"));
                    checker.push(err);
                    None
                }
            });
            let secret = p.secret.as_ref().is_some_and(|s| s.value);
            if let Some(flag) = p.secret.as_ref().filter(|s| s.value) {
                if kind != Kind::String {
                    let err = checker.file.error_at(
                        &flag.referenced,
                        "pipeline::secret",
                        format!("a secret parameter is a string, not {}", kind.article()),
                    );
                    checker.push(err);
                }
                if !p.allowed.is_empty() {
                    let err = checker
                        .file
                        .error_at(&flag.referenced, "pipeline::secret", "a secret parameter has no `enum`")
                        .with_help("an `enum` would list the candidates in the file, and errors would name them");
                    checker.push(err);
                }
                if let Some(d) = &p.default {
                    let err = checker
                        .file
                        .error_at(&d.referenced, "pipeline::secret", "a secret parameter has no default")
                        .with_help(format!(
                            "a default would put the secret in the file: give it with `-p {0}=…` or the environment \
                             variable {0}",
                            p.name.value
                        ));
                    checker.push(err);
                }
            }
            parameters.push(Parameter {
                name: p.name.value.clone(),
                kind,
                default,
                allowed: p.allowed.clone(),
                description: p.description.clone(),
                secret,
            });
        }
        let kinds: BTreeMap<String, Kind> = parameters.iter().map(|p| (p.name.clone(), p.kind)).collect();
        checker.secrets = parameters.iter().filter(|p| p.secret).map(|p| p.name.clone()).collect();

        // Templates: local ones shadow imported ones of the same name.
        checker.unique(decl.templates.iter().map(|t| &t.name), "template", is_step_name);
        let mut templates: BTreeMap<String, (&SourceFile, &TemplateDecl)> = BTreeMap::new();
        for (import_file, t) in &imported {
            for template in &t.templates {
                templates.insert(template.name.value.clone(), (import_file, template));
            }
        }
        for template in &decl.templates {
            templates.insert(template.name.value.clone(), (&file, template));
        }

        let parallelism = match &decl.parallelism {
            Some(p) if p.value == 0 => {
                let err =
                    checker.file.error_at(&p.referenced, "pipeline::parallelism", "parallelism must be at least 1");
                checker.push(err);
                DEFAULT_PARALLELISM
            }
            Some(p) => p.value,
            None => DEFAULT_PARALLELISM,
        };

        // Stages and their steps.
        checker.unique(decl.stages.iter().map(|s| &s.name), "stage", is_step_name);
        let stage_names: Vec<&str> = decl.stages.iter().map(|s| s.name.value.as_str()).collect();
        let mut stages = Vec::new();
        let mut stage_graph = Vec::new();
        for s in &decl.stages {
            let depends = checker.depends(&s.depends, &stage_names, "stage");
            stage_graph.push((&s.name, depends.clone()));
            let when = checker.condition(&s.when, &kinds);
            if let Some(p) = &s.parallelism
                && p.value == 0
            {
                let err =
                    checker.file.error_at(&p.referenced, "pipeline::parallelism", "parallelism must be at least 1");
                checker.push(err);
            }
            let steps = check_steps(&mut checker, &s.steps, &kinds, &templates);
            stages.push(Stage {
                name: s.name.value.clone(),
                depends,
                when,
                parallelism: s.parallelism.as_ref().map(|p| p.value.max(1)),
                steps,
            });
        }
        checker.cycles(&stage_graph, "stage");
        let finally = check_steps(&mut checker, &decl.finally, &kinds, &templates);
        if decl.stages.is_empty() && decl.finally.is_empty() {
            let err = checker.at(&decl.name, "pipeline::empty", "the pipeline has no stages");
            checker.push(err);
        }

        if !checker.errors.is_empty() {
            let mut errors = checker.errors;
            errors.sort_by(|a, b| (a.path(), a.line, a.column).cmp(&(b.path(), b.line, b.column)));
            return Err(LoadError::Invalid { errors });
        }
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let imports = decl.imports.iter().map(|i| dir.join(&i.value)).collect();
        Ok(Self {
            name: decl.name.value.clone(),
            description: decl.description.clone(),
            path: path.to_path_buf(),
            dir,
            digest: digest(&texts),
            parameters,
            parallelism,
            stages,
            finally,
            imports,
        })
    }
}

fn check_steps(
    checker: &mut Checker<'_>,
    steps: &[StepDecl],
    kinds: &BTreeMap<String, Kind>,
    templates: &BTreeMap<String, (&SourceFile, &TemplateDecl)>,
) -> Vec<Step> {
    checker.unique(steps.iter().map(|s| &s.name), "step", is_step_name);
    let names: Vec<&str> = steps.iter().map(|s| s.name.value.as_str()).collect();
    let mut graph = Vec::new();
    let mut out = Vec::new();
    for s in steps {
        let depends = checker.depends(&s.depends, &names, "step in this stage");
        graph.push((&s.name, depends.clone()));
        if let Some(step) = check_step(checker, s, depends, kinds, templates) {
            out.push(step);
        }
    }
    checker.cycles(&graph, "step");
    out
}

fn check_step(
    checker: &mut Checker<'_>,
    s: &StepDecl,
    depends: Vec<String>,
    kinds: &BTreeMap<String, Kind>,
    templates: &BTreeMap<String, (&SourceFile, &TemplateDecl)>,
) -> Option<Step> {
    let when = checker.condition(&s.when, kinds);
    let mut scope: BTreeSet<String> = kinds.keys().cloned().collect();
    let for_each = s.for_each.as_ref().map(|f| match &f.value {
        file::ForEachDecl::Items(items) => ForEach::Items(items.clone()),
        file::ForEachDecl::Parameter(name) => {
            if kinds.get(name) != Some(&Kind::List) {
                let message = match kinds.get(name) {
                    Some(kind) => format!("`for_each` needs a list, and '{name}' is {}", kind.article()),
                    None => format!("`for_each`: no parameter named '{name}'"),
                };
                let err = checker.file.error_at(&f.referenced, "pipeline::for_each", message);
                checker.push(err);
            }
            ForEach::Parameter(name.clone())
        }
    });
    if for_each.is_some() {
        scope.insert(ITEM.to_owned());
    }
    let own = [
        s.run.is_some(),
        s.shell.is_some(),
        s.checks.is_some(),
        s.apply.is_some(),
        s.cloudformation.is_some(),
        s.uses.is_some(),
    ];
    if own.iter().filter(|x| **x).count() != 1 {
        let err = checker.at(
            &s.name,
            "pipeline::step_kind",
            format!(
                "step '{}' needs exactly one of `run`, `shell`, `checks`, `apply`, `cloudformation` or `uses`",
                s.name.value
            ),
        );
        checker.push(err);
        return None;
    }
    let mut env = Vec::new();
    for (key, value) in &s.env {
        if !is_name(key) {
            let err = checker.at(value, "pipeline::env", format!("'{key}' is not an environment variable name"));
            checker.push(err);
        }
        env.push((key.clone(), checker.interpolated(value, &scope)));
    }
    let mut retry = checker.retry(s.retry.as_ref());
    let mut timeout = checker.duration(&s.timeout);

    let (body, uses) = if let Some(uses) = &s.uses {
        let Some((template_file, template)) = templates.get(&uses.value) else {
            let mut err = checker.at(uses, "pipeline::unknown_template", format!("no template named '{}'", uses.value));
            if let Some(near) = nearest(&uses.value, templates.keys().map(String::as_str)) {
                err = err.with_help(format!("did you mean '{near}'?"));
            }
            checker.push(err);
            return None;
        };
        // Inputs: given in `with` (interpolated in the step's scope) or defaulted.
        let inputs: BTreeSet<&str> = template.inputs.iter().map(|i| i.name.value.as_str()).collect();
        for (key, value) in &s.with {
            if !inputs.contains(key.as_str()) {
                let mut err = checker.at(
                    value,
                    "pipeline::unknown_input",
                    format!("template '{}' has no input '{key}'", uses.value),
                );
                if let Some(near) = nearest(key, inputs.iter().copied()) {
                    err = err.with_help(format!("did you mean '{near}'?"));
                }
                checker.push(err);
            }
        }
        // The template's body is checked in its own file, with its inputs in scope.
        let mut template_checker =
            Checker { file: template_file, errors: Vec::new(), secrets: checker.secrets.clone() };
        for input in &template.inputs {
            match (s.with.get(&input.name.value), &input.default) {
                (Some(given), _) => env.push((input.name.value.clone(), checker.interpolated(given, &scope))),
                (None, Some(default)) => {
                    env.push((input.name.value.clone(), template_checker.interpolated(default, &scope)));
                }
                (None, None) => {
                    let err = checker.at(
                        uses,
                        "pipeline::missing_input",
                        format!("template '{}' needs input '{}' (give it in `with`)", uses.value, input.name.value),
                    );
                    checker.push(err);
                }
            }
        }
        if s.retry.is_none() {
            retry = template_checker.retry(template.retry.as_ref());
        }
        if s.timeout.is_none() {
            timeout = template_checker.duration(&template.timeout);
        }
        let mut template_scope = scope.clone();
        template_scope.extend(template.inputs.iter().map(|i| i.name.value.clone()));
        for (key, value) in &template.env {
            if !s.env.contains_key(key) {
                env.push((key.clone(), template_checker.interpolated(value, &template_scope)));
            }
        }
        // The action may also use the variables `env:` sets.
        template_scope.extend(template.env.keys().chain(s.env.keys()).cloned());
        let body = Body {
            run: template.run.as_ref(),
            shell: template.shell.as_ref(),
            checks: template.checks.as_ref(),
            apply: template.apply.as_ref(),
            cloudformation: template.cloudformation.as_ref(),
        };
        let action = action(&mut template_checker, &template.name, &body, &template_scope);
        checker.errors.append(&mut template_checker.errors);
        (action, Some(uses.value.clone()))
    } else {
        let body = Body {
            run: s.run.as_ref(),
            shell: s.shell.as_ref(),
            checks: s.checks.as_ref(),
            apply: s.apply.as_ref(),
            cloudformation: s.cloudformation.as_ref(),
        };
        // The action may also use the variables `env:` sets.
        scope.extend(s.env.keys().cloned());
        (action(checker, &s.name, &body, &scope), None)
    };
    Some(Step { name: s.name.value.clone(), depends, when, for_each, retry, timeout, env, action: body?, uses })
}

/// Shells whose `-c` argument is script text.
const SHELLS: [&str; 8] = ["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "fish"];

/// `run: [sh, -c, "… ${NAME} …"]` would paste a value into script text, where a quote or `$(…)` in it
/// runs as code: refused, with the safe spelling as help.
fn refuse_script_interpolation(checker: &mut Checker<'_>, argv: &[Text]) {
    let program = argv.first().map(|a| a.value.rsplit('/').next().unwrap_or_default()).unwrap_or_default();
    if !SHELLS.contains(&program) {
        return;
    }
    let Some(flag) = argv
        .iter()
        .skip(1)
        .position(|a| a.value.starts_with('-') && !a.value.starts_with("--") && a.value.contains('c'))
    else {
        return;
    };
    let Some(script) = argv.get(flag + 2) else { return };
    if let Ok(names) = Interpolated(script.value.clone()).names()
        && let Some((name, at)) = names.first()
    {
        let offset = checker.inside(script, *at);
        let err = checker
            .file
            .error(
                offset,
                name.len() + 3,
                "pipeline::script_interpolation",
                format!("`${{{name}}}` in a `{program} -c` script would paste the value into shell code"),
            )
            .with_help(format!(
                "the value is in the step's environment: write \"${name}\" (or \"$${{{name}}}\"), which the shell \
                 reads itself, or use `shell:`"
            ));
        checker.push(err);
    }
}

fn action(checker: &mut Checker<'_>, name: &Text, body: &Body<'_>, scope: &BTreeSet<String>) -> Option<Action> {
    if let Some(run) = body.run {
        if run.value.is_empty() || run.value[0].value.trim().is_empty() {
            let err =
                checker.file.error_at(&run.referenced, "pipeline::run", "`run` needs a command: `[program, arg, …]`");
            checker.push(err);
            return None;
        }
        refuse_script_interpolation(checker, &run.value);
        return Some(Action::Run(run.value.iter().map(|a| checker.interpolated(a, scope)).collect()));
    }
    if let Some(shell) = body.shell {
        // Passed to `sh` verbatim: `"${NAME}"` there is the shell reading the environment variable.
        return Some(Action::Shell(shell.value.clone()));
    }
    if let Some(checks) = body.checks {
        if checks.value.is_empty() {
            let err = checker.file.error_at(
                &checks.referenced,
                "pipeline::checks",
                "`checks` needs at least one file or directory",
            );
            checker.push(err);
            return None;
        }
        return Some(Action::Checks(checks.value.iter().map(|a| checker.interpolated(a, scope)).collect()));
    }
    if let Some(apply) = body.apply {
        if apply.value.is_empty() {
            let err =
                checker.file.error_at(&apply.referenced, "pipeline::apply", "`apply` needs at least one manifest file");
            checker.push(err);
            return None;
        }
        return Some(Action::Apply(apply.value.iter().map(|a| checker.interpolated(a, scope)).collect()));
    }
    if let Some(stack) = body.cloudformation {
        const CAPABILITIES: [&str; 3] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"];
        for capability in &stack.value.capabilities {
            if !CAPABILITIES.contains(&capability.value.as_str()) {
                let mut err = checker.at(
                    capability,
                    "pipeline::capability",
                    format!("unknown capability '{}'", capability.value),
                );
                if let Some(near) = nearest(&capability.value, CAPABILITIES) {
                    err = err.with_help(format!("did you mean '{near}'?"));
                }
                checker.push(err);
            }
        }
        return Some(Action::CloudFormation {
            stack: checker.interpolated(&stack.value.stack, scope),
            template: checker.interpolated(&stack.value.template, scope),
            parameters: stack
                .value
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), checker.interpolated(v, scope)))
                .collect(),
            capabilities: stack.value.capabilities.iter().map(|c| c.value.clone()).collect(),
        });
    }
    let err = checker.at(
        name,
        "pipeline::step_kind",
        "a template needs one of `run`, `shell`, `checks`, `apply` or `cloudformation`",
    );
    checker.push(err);
    None
}
