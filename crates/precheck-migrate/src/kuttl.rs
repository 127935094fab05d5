//! kuttl test cases → check files.
//!
//! A kuttl test case is a directory of numbered steps: `NN-NAME.yaml` objects to apply (and `TestStep`
//! documents: objects to delete, commands, more files), `NN-assert*.yaml` partial objects that must come to
//! match within the step's timeout, `NN-errors*.yaml` ones that must not. It becomes one check file in the
//! case's directory (kuttl's working directory for commands), one test named after the case, in a
//! namespace of its own as kuttl gives it:
//!
//! ```text
//! namespace 'kuttl-web'
//! setup { run kubectl create namespace kuttl-web }
//! teardown { run kubectl delete namespace kuttl-web }
//! test 'web' {
//!     run kubectl apply -n kuttl-web -f 00-install.yaml
//!     try at most 30 times every 1s to expect object '00-assert.yaml'
//!     run kubectl scale deployment web --replicas=3 --namespace kuttl-web    # a TestStep command
//!     try at most 30 times every 1s to expect no object '01-errors.yaml'
//! }
//! ```
//!
//! Assert and errors files are read by `expect object` as they are (kuttl's `TestAssert` documents are
//! skipped there). An apply file that mixes a `TestStep` with objects gets a copy of its objects
//! (`precheck.NN-NAME.yaml`, a name kuttl ignores); a `script` becomes `precheck.NN-K.sh`, which sets
//! `NAMESPACE` as kuttl does.

use serde_json::Value;

use crate::check_syntax::{Piece, quoted, run_argument};
use crate::shell::{Part, Token};
use crate::{Conversion, Note};

/// A kuttl test case, read: its directory's name and the files in it.
#[derive(Debug, Clone, Default)]
pub struct Case {
    /// The directory's name: the test's name.
    pub name: String,
    /// `(file name, text)` of the files directly in it.
    pub files: Vec<(String, String)>,
    /// Names of the directories in it (kuttl's step directories, not converted).
    pub dirs: Vec<String>,
}

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds an assert may take, unless its file's `TestAssert` says (kuttl-test.yaml's `timeout`).
    pub timeout: u64,
    /// The namespace of kuttl-test.yaml, which exists already; `None`: one of the case's own, made and
    /// deleted by the check file.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { timeout: 30, namespace: None }
    }
}

/// A converted case: the check file and the files it needs beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The check file (`CASE.check`, in the case's directory).
    pub conversion: Conversion,
    /// `(file name, text)` to write beside it: objects of mixed apply files, scripts.
    pub files: Vec<(String, String)>,
}

/// A case that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotKuttl {
    /// A step file is not valid YAML.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// The file's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// No `NN-*.yaml` step in the directory.
    #[error("no `NN-NAME.yaml` step: not a kuttl test case")]
    NoSteps,
}

/// What a step file is, from its name (kuttl's rule: `NN-` then a first name part `assert` or `errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Apply,
    Assert,
    Errors,
}

/// `NN-NAME.yaml` → its index and role; `None` for a file kuttl does not read as a step.
fn step_file(name: &str) -> Option<(u64, Role)> {
    let stem = name.strip_suffix(".yaml")?;
    let (index, rest) = stem.split_once('-')?;
    if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) || rest.is_empty() || rest.contains('.') {
        return None;
    }
    let first = rest.split('-').next().unwrap_or_default();
    let role = match first {
        "assert" => Role::Assert,
        "errors" => Role::Errors,
        _ => Role::Apply,
    };
    Some((index.parse().ok()?, role))
}

/// Whether kuttl reads a file of a test case's directory as a step (`NN-NAME.yaml`).
pub fn is_step_file(name: &str) -> bool {
    step_file(name).is_some()
}

/// The options a kuttl-test.yaml (`TestSuite`) gives: its `timeout` and `namespace`.
///
/// ```
/// let options = precheck_migrate::kuttl::suite_options("apiVersion: kuttl.dev/v1beta1\nkind: TestSuite\ntimeout: 120\n").unwrap();
/// assert_eq!((options.timeout, options.namespace), (120, None));
/// ```
pub fn suite_options(text: &str) -> Result<Options, NotKuttl> {
    let mut options = Options::default();
    for doc in documents("kuttl-test.yaml", text)? {
        if is_kuttl(&doc.value, "TestSuite") {
            if let Some(timeout) = doc.value.get("timeout").and_then(Value::as_u64) {
                options.timeout = timeout;
            }
            options.namespace = doc.value.get("namespace").and_then(Value::as_str).map(str::to_owned);
        }
    }
    Ok(options)
}

/// One YAML document of a step file.
struct Doc {
    value: Value,
    text: String,
    line: usize,
}

fn documents(file: &str, text: &str) -> Result<Vec<Doc>, NotKuttl> {
    let mut docs = Vec::new();
    for document in precheck_lang::yaml_documents(text) {
        let body = &text[document.range.clone()];
        let value: Value = serde_saphyr::from_str(body).map_err(|e| {
            let (line, column) = e.location().map_or((document.first_line, 1), |l| {
                (document.first_line + l.line() as usize - 1, l.column() as usize)
            });
            NotKuttl::Yaml {
                file: file.to_owned(),
                line,
                column: column.max(1),
                message: format!("not valid YAML: {e}"),
            }
        })?;
        if !value.is_null() {
            docs.push(Doc { value, text: body.to_owned(), line: document.first_line });
        }
    }
    Ok(docs)
}

fn is_kuttl(value: &Value, kind: &str) -> bool {
    value.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("kuttl.dev/"))
        && value.get("kind").and_then(Value::as_str) == Some(kind)
}

/// The namespace kuttl would make for a case: `kuttl-NAME`, as a namespace name may be.
fn own_namespace(case: &str) -> String {
    let mut name: String =
        case.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    name = format!("kuttl-{}", name.trim_matches('-'));
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

struct Builder<'a> {
    namespace: String,
    options: &'a Options,
    lines: Vec<String>,
    notes: Vec<Note>,
    files: Vec<(String, String)>,
}

impl Builder<'_> {
    fn note(&mut self, file: &str, line: usize, why: String) {
        self.lines.push(format!("    # not converted ({file}:{line}): {}", crate::check_syntax::one_line(&why)));
        self.notes.push(Note { file: Some(file.to_owned()), line, why });
    }

    fn step(&mut self, line: String) {
        self.lines.push(format!("    {line}"));
    }

    /// `kubectl delete` for a TestStep's `delete` reference (kuttl deletes, then waits until it is gone).
    fn delete(&mut self, file: &str, line: usize, reference: &Value) {
        let field = |name: &str| reference.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            return self.note(file, line, "a `delete` without `apiVersion` and `kind`".into());
        };
        let resource = match api_version.rsplit_once('/') {
            Some((group, _)) => format!("{}.{group}", kind.to_ascii_lowercase()),
            None => kind.to_ascii_lowercase(),
        };
        let namespace = field("namespace").unwrap_or_else(|| self.namespace.clone());
        let mut argv = vec!["kubectl".to_owned(), "delete".to_owned(), resource];
        let labels = reference.get("labels").and_then(Value::as_object);
        match (field("name"), labels) {
            (Some(name), _) => argv.push(name),
            (None, Some(labels)) => {
                let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", text(v))).collect();
                argv.extend(["-l".to_owned(), selector.join(",")]);
            }
            (None, None) => argv.push("--all".to_owned()),
        }
        argv.extend(["-n".to_owned(), namespace, "--ignore-not-found".to_owned(), "--wait".to_owned()]);
        let argv: Vec<String> = argv.iter().map(|a| run_argument(&[Piece::Text(a.clone())])).collect();
        self.step(format!("run {}", argv.join(" ")));
    }

    /// A TestStep's command: `command` (words, `$NAMESPACE` and the environment expanded, no shell) or
    /// `script` (a shell script, here a file of its own that sets `NAMESPACE`).
    fn command(&mut self, file: &str, line: usize, index: u64, number: usize, command: &Value) {
        let flag = |name: &str| command.get(name).and_then(Value::as_bool).unwrap_or(false);
        if flag("background") {
            return self.note(file, line, "a background command".into());
        }
        let status = if flag("ignoreFailure") { Some("expect status any") } else { None };
        if let Some(script) = command.get("script").and_then(Value::as_str) {
            let name = format!("precheck.{index:02}-{number}.sh");
            let namespace = run_argument(&[Piece::Text(self.namespace.clone())]);
            let text = format!(
                "# A script of the kuttl step {file}, run by the check file beside it; kuttl sets NAMESPACE.\nexport NAMESPACE={namespace}\n{script}{}",
                if script.ends_with('\n') { "" } else { "\n" }
            );
            self.files.push((name.clone(), text));
            self.step(format!("run sh {name}"));
        } else if let Some(text) = command.get("command").and_then(Value::as_str) {
            match self.words(text) {
                Ok(mut argv) => {
                    if flag("namespaced") {
                        argv.push(format!("--namespace {}", run_argument(&[Piece::Text(self.namespace.clone())])));
                    }
                    self.step(format!("run {}", argv.join(" ")));
                }
                Err(why) => return self.note(file, line, why),
            }
        } else {
            return self.note(file, line, "a command without `command` or `script`".into());
        }
        if let Some(status) = status {
            self.step(status.to_owned());
        }
    }

    /// A `command:` as kuttl runs it: split into words, variables from the environment (`$NAMESPACE` the
    /// test's), no shell.
    fn words(&self, text: &str) -> Result<Vec<String>, String> {
        let tokens = crate::shell::tokens(text).map_err(|e| format!("the command cannot be read: {e}"))?;
        let mut argv = Vec::new();
        for token in tokens {
            let word = match token {
                Token::Word(word) => word,
                Token::Newline(_) | Token::Comment { .. } => continue,
                Token::Op(op, _) => {
                    return Err(format!("`{op}` in a command: kuttl runs no shell there, write a `script`"));
                }
            };
            let mut pieces = Vec::new();
            for part in word.parts {
                match part {
                    Part::Lit { text, .. } => pieces.push(Piece::Text(text)),
                    Part::Var { name, .. } if name == "NAMESPACE" => pieces.push(Piece::Text(self.namespace.clone())),
                    Part::Var { name, .. } => pieces.push(Piece::Env(name)),
                    Part::Shell { raw, what } => {
                        return Err(format!("{what} (`{raw}`) needs a shell: write a `script`"));
                    }
                }
            }
            argv.push(run_argument(&pieces));
        }
        if argv.is_empty() {
            return Err("an empty command".into());
        }
        Ok(argv)
    }

    /// `kubectl apply` of a file's objects, in the test's namespace unless every one names its own.
    fn apply(&mut self, file: &str, line: usize, docs: &[&Doc], copy: bool) {
        let namespaces: Vec<Option<&str>> =
            docs.iter().map(|d| d.value.pointer("/metadata/namespace").and_then(Value::as_str)).collect();
        let all_named = namespaces.iter().all(Option::is_some);
        if !all_named && namespaces.iter().flatten().any(|ns| *ns != self.namespace) {
            return self.note(
                file,
                line,
                "objects of another namespace beside objects of the test's: apply them from files of their own".into(),
            );
        }
        let target = if copy {
            let name = format!("precheck.{file}");
            let text = docs.iter().map(|d| d.text.trim_end().to_owned()).collect::<Vec<_>>().join("\n---\n");
            self.files.push((name.clone(), format!("{text}\n")));
            name
        } else {
            file.to_owned()
        };
        let namespace = run_argument(&[Piece::Text(self.namespace.clone())]);
        let target = run_argument(&[Piece::Text(target)]);
        if all_named {
            self.step(format!("run kubectl apply -f {target}"));
        } else {
            self.step(format!("run kubectl apply -n {namespace} -f {target}"));
        }
    }

    /// `try … to expect [no] object 'FILE'` within the file's `TestAssert` timeout, else the suite's.
    fn check(&mut self, file: &str, docs: &[Doc], present: bool) {
        let mut timeout = self.options.timeout;
        let mut objects = 0;
        for doc in docs {
            if is_kuttl(&doc.value, "TestAssert") {
                if let Some(t) = doc.value.get("timeout").and_then(Value::as_u64) {
                    timeout = t;
                }
                if doc.value.get("commands").and_then(Value::as_array).is_some_and(|c| !c.is_empty()) {
                    self.note(file, doc.line, "a `TestAssert`'s commands".into());
                }
            } else if !doc.value.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("kuttl.dev/"))
            {
                objects += 1;
            }
        }
        if objects == 0 {
            return;
        }
        let Some(path) = quoted(file) else {
            return self.note(file, 1, "a file name no quoted item can hold".into());
        };
        let no = if present { "" } else { "no " };
        self.step(format!("try at most {} times every 1s to expect {no}object {path}", timeout.max(1)));
    }
}

/// Converts a kuttl test case into a check file and the files it needs beside it.
pub fn convert(case: &Case, options: &Options) -> Result<Converted, NotKuttl> {
    let mut steps: Vec<(u64, Role, &str, &str)> = case
        .files
        .iter()
        .filter_map(|(name, text)| step_file(name).map(|(index, role)| (index, role, name.as_str(), text.as_str())))
        .collect();
    if steps.is_empty() {
        return Err(NotKuttl::NoSteps);
    }
    // kuttl's order: by index; within a step, applies before asserts before errors, files by name.
    steps.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let own = options.namespace.is_none();
    let namespace = options.namespace.clone().unwrap_or_else(|| own_namespace(&case.name));
    let mut builder =
        Builder { namespace: namespace.clone(), options, lines: Vec::new(), notes: Vec::new(), files: Vec::new() };
    for dir in &case.dirs {
        if step_file(&format!("{dir}.yaml")).is_some() {
            builder.note(dir, 1, "a step directory".into());
        }
    }
    for (name, _) in &case.files {
        if name.ends_with(".gotmpl.yaml") {
            builder.note(name, 1, "a template (`.gotmpl`)".into());
        }
    }
    let mut index = None;
    let mut pending: Vec<(String, Vec<Doc>, bool)> = Vec::new(); // asserts and errors of the step
    let flush = |builder: &mut Builder<'_>, pending: &mut Vec<(String, Vec<Doc>, bool)>| {
        for (file, docs, present) in pending.drain(..) {
            builder.check(&file, &docs, present);
        }
    };
    for (step, role, file, text) in steps {
        if index != Some(step) {
            flush(&mut builder, &mut pending);
            builder.lines.push(format!("    # step {step:02}"));
            index = Some(step);
        }
        let docs = documents(file, text)?;
        match role {
            Role::Assert | Role::Errors => pending.push((file.to_owned(), docs, role == Role::Assert)),
            Role::Apply => {
                let mut objects = Vec::new();
                let mut more: Vec<(String, bool)> = Vec::new();
                for doc in &docs {
                    if is_kuttl(&doc.value, "TestStep") {
                        let list =
                            |name: &str| doc.value.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
                        for reference in list("delete") {
                            builder.delete(file, doc.line, &reference);
                        }
                        for (number, command) in list("commands").iter().enumerate() {
                            builder.command(file, doc.line, step, number + 1, command);
                        }
                        for (field, present) in [("assert", true), ("error", false)] {
                            more.extend(list(field).iter().filter_map(Value::as_str).map(|f| (f.to_owned(), present)));
                        }
                        for extra in list("apply").iter().filter_map(Value::as_str) {
                            builder.step(format!(
                                "run kubectl apply -n {} -f {}",
                                run_argument(&[Piece::Text(namespace.clone())]),
                                run_argument(&[Piece::Text(extra.to_owned())])
                            ));
                        }
                        for field in ["kubeconfig", "unitTest"] {
                            if doc.value.get(field).is_some() {
                                builder.note(file, doc.line, format!("the TestStep's `{field}`"));
                            }
                        }
                    } else if doc
                        .value
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.starts_with("kuttl.dev/"))
                    {
                        let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("document");
                        builder.note(file, doc.line, format!("a kuttl `{kind}` in a step file"));
                    } else {
                        objects.push(doc);
                    }
                }
                if !objects.is_empty() {
                    let line = objects[0].line;
                    builder.apply(file, line, &objects, objects.len() != docs.len());
                }
                for (extra, present) in more {
                    let Some(path) = quoted(&extra) else {
                        builder.note(file, 1, "a file name no quoted item can hold".into());
                        continue;
                    };
                    let no = if present { "" } else { "no " };
                    let wait = options.timeout.max(1);
                    builder.step(format!("try at most {wait} times every 1s to expect {no}object {path}"));
                }
            }
        }
    }
    flush(&mut builder, &mut pending);

    let name = quoted(&case.name).unwrap_or_else(|| "'kuttl test case'".into());
    let quoted_ns = quoted(&namespace).unwrap_or_default();
    let ns_arg = run_argument(&[Piece::Text(namespace.clone())]);
    let mut text = format!("# Converted from the kuttl test case {} by `precheck migrate kuttl`.\n\n", case.name);
    text.push_str(&format!("namespace {quoted_ns}\ntags kuttl\n\n"));
    if own {
        text.push_str(&format!("setup {{\n    run kubectl create namespace {ns_arg}\n}}\n\n"));
        text.push_str(&format!(
            "teardown {{\n    run kubectl delete namespace {ns_arg}\n    expect status any\n}}\n\n"
        ));
    }
    text.push_str(&format!("test {name} {{\n"));
    for line in &builder.lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("}\n");
    Ok(Converted { conversion: Conversion { text, tests: 1, notes: builder.notes }, files: builder.files })
}

#[cfg(test)]
mod tests;
