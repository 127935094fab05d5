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
//!     run kubectl apply --server-side --force-conflicts --field-manager=00-install.yaml -n kuttl-web -f 00-install.yaml
//!     try at most 30 times every 1s to expect object '00-assert.yaml'
//!     run kubectl scale deployment web --replicas=3 --namespace kuttl-web    # a TestStep command
//!     try at most 30 times every 1s to expect no object '01-errors.yaml'
//! }
//! ```
//!
//! A step runs in kuttl's order: its deletes, its commands, its objects (created, or merged into what
//! exists — a server-side apply with a field manager per file), then it waits for its assert and errors
//! files, read by `expect object` as they are (kuttl's `TestAssert` documents are skipped there). An apply file that mixes a `TestStep` with objects gets a copy of its objects
//! (`precheck.NN-NAME.yaml`, a name kuttl ignores); a `script` becomes `precheck.NN-K.sh`, which sets
//! `NAMESPACE` as kuttl does.

use serde_json::Value;

use crate::check_syntax::{Piece, quoted, run_argument};
use crate::{Conversion, Note};

/// A kuttl test case, read: its directory's name and the files in it.
#[derive(Debug, Clone, Default)]
pub struct Case {
    /// The directory's name: the test's name.
    pub name: String,
    /// `(file name, text)` of the YAML files directly in it.
    pub files: Vec<(String, String)>,
    /// Names of the directories in it (kuttl's step directories, not converted).
    pub dirs: Vec<String>,
}

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds a step's asserts may take unless a `TestAssert` says (kuttl-test.yaml's `timeout`; 30).
    pub timeout: u64,
    /// The namespace of kuttl-test.yaml; `None`: one of the case's own, made and deleted by the check file.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { timeout: DEFAULT_TIMEOUT, namespace: None }
    }
}

/// kuttl's timeout when none (or 0) is given.
const DEFAULT_TIMEOUT: u64 = 30;

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

/// What a step file is, from its name (kuttl's rule: `NN-` then a first name part `assert` or `errors`,
/// in any case).
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
    let role = match rest.split('-').next().unwrap_or_default().to_ascii_lowercase().as_str() {
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

/// The options a kuttl-test.yaml (`TestSuite`) gives: its `timeout` (0: kuttl's 30) and `namespace`.
///
/// ```
/// let options = precheck_migrate::kuttl::suite_options("apiVersion: kuttl.dev/v1beta1\nkind: TestSuite\ntimeout: 120\n").unwrap();
/// assert_eq!((options.timeout, options.namespace), (120, None));
/// ```
pub fn suite_options(text: &str) -> Result<Options, NotKuttl> {
    let mut options = Options::default();
    for doc in documents("kuttl-test.yaml", text)? {
        if is_kuttl(&doc.value, "TestSuite") {
            if let Some(timeout) = doc.value.get("timeout").and_then(Value::as_u64).filter(|t| *t > 0) {
                options.timeout = timeout;
            }
            options.namespace =
                doc.value.get("namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).map(str::to_owned);
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

fn api_version(value: &Value) -> &str {
    value.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
}

fn is_kuttl(value: &Value, kind: &str) -> bool {
    api_version(value).starts_with("kuttl.dev/") && value.get("kind").and_then(Value::as_str) == Some(kind)
}

/// Kinds that live in no namespace (`kubectl apply -n` leaves them be).
const CLUSTER_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "APIService",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
];

/// The namespace kuttl would make for a case: `kuttl-NAME`, as a namespace name may be.
fn own_namespace(case: &str) -> String {
    let name: String =
        case.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let mut name = format!("kuttl-{}", name.trim_matches('-'));
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// kuttl's expansion of a `command`, before it splits it into words: `$NAMESPACE`/`${NAMESPACE}` → the
/// test's, `$$` → `$`. The second value says whether it names another variable (of kuttl's environment).
fn expand_namespace(text: &str, namespace: &str) -> (String, bool) {
    let mut out = String::new();
    let mut others = false;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let braced = after.strip_prefix('{').and_then(|b| b.find('}').map(|end| (&b[..end], end + 2)));
        let bare_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        let (name, len) = match braced {
            Some((name, len)) => (name, len),
            None if after.starts_with('$') => {
                out.push('$');
                rest = &after[1..];
                continue;
            }
            None => (&after[..bare_len], bare_len),
        };
        if name == "NAMESPACE" {
            out.push_str(namespace);
        } else {
            others |= !name.is_empty();
            out.push('$');
            out.push_str(&after[..len]);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    (out, others)
}

/// Words as google/shlex splits them (kuttl's `command`): blanks separate, `'…'` is literal, `"…"` drops a
/// backslash before any character, `\x` outside quotes is `x`, `#` at a word's start ends the line. No
/// operators: `|` and `;` are characters like others.
fn shlex(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => words.extend(word.take()),
            '#' if word.is_none() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a `'` is never closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => w.push(c),
                            None => return Err("a `\"` is never closed".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a `\"` is never closed".into()),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    word.get_or_insert_with(String::new).push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The lines of one step, gathered to be written in kuttl's order.
#[derive(Default)]
struct Step {
    deletes: Vec<String>,
    commands: Vec<String>,
    applies: Vec<String>,
    checks: Vec<(String, bool)>,
    timeout: Option<u64>,
    /// Scripts written for the step so far (they are numbered).
    scripts: usize,
}

struct Builder<'a> {
    case: &'a Case,
    namespace: String,
    lines: Vec<String>,
    notes: Vec<Note>,
    files: Vec<(String, String)>,
}

impl Builder<'_> {
    fn note(&mut self, file: &str, line: usize, why: String) {
        self.lines.push(format!("    # not converted ({file}:{line}): {}", crate::check_syntax::one_line(&why)));
        self.notes.push(Note { file: Some(file.to_owned()), line, why });
    }

    fn namespace_arg(&self) -> String {
        run_argument(&[Piece::Text(self.namespace.clone())])
    }

    /// `kubectl delete` for a TestStep's `delete` reference (kuttl deletes, then waits until it is gone).
    fn delete(&mut self, file: &str, line: usize, reference: &Value, step: &mut Step) {
        let field =
            |name: &str| reference.get(name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
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
        step.deletes.push(format!("run {}", argv.join(" ")));
    }

    /// A script of the step, in a file of its own beside the check file that sets `NAMESPACE` as kuttl does.
    fn script(&mut self, file: &str, index: u64, step: &mut Step, body: &str) -> String {
        step.scripts += 1;
        let name = format!("precheck.{index:02}-{}.sh", step.scripts);
        let text = format!(
            "# A command of the kuttl step {file}, run by the check file beside it; kuttl sets NAMESPACE.\nexport NAMESPACE={}\n{body}{}",
            self.namespace_arg(),
            if body.ends_with('\n') { "" } else { "\n" }
        );
        self.files.push((name.clone(), text));
        format!("run sh {name}")
    }

    /// A TestStep's command: `command` (expanded and split as kuttl does, no shell) or `script` (`sh -c`).
    /// kuttl runs a step's background commands in the foreground.
    fn command(&mut self, file: &str, line: usize, index: u64, command: &Value, step: &mut Step) {
        let flag = |name: &str| command.get(name).and_then(Value::as_bool).unwrap_or(false);
        let text = |name: &str| command.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        if command.get("timeout").is_some() {
            self.note(file, line, "a command's `timeout` (the check file has the test's)".into());
        }
        let run = match (text("command"), text("script")) {
            (Some(_), Some(_)) => {
                return self.note(file, line, "a command with both `command` and `script`, which kuttl refuses".into());
            }
            (None, Some(_)) if flag("namespaced") => {
                return self.note(file, line, "a `script` with `namespaced`, which kuttl refuses".into());
            }
            (None, Some(script)) => self.script(file, index, step, script),
            (Some(line_text), None) => {
                let (expanded, others) = expand_namespace(line_text, &self.namespace);
                if others {
                    // Variables of kuttl's environment, empty when unset and split into words: a shell
                    // expands them the same way.
                    let body = format!("exec {}", line_text.replace("$$", "\\$"));
                    self.script(file, index, step, &body)
                } else {
                    match shlex(&expanded) {
                        Ok(mut words) if !words.is_empty() => {
                            let named =
                                words.iter().any(|w| w == "-n" || w == "--namespace" || w.starts_with("--namespace="));
                            if flag("namespaced") && !named {
                                words.extend(["--namespace".to_owned(), self.namespace.clone()]);
                            }
                            let argv: Vec<String> =
                                words.iter().map(|w| run_argument(&[Piece::Text(w.clone())])).collect();
                            format!("run {}", argv.join(" "))
                        }
                        Ok(_) => return self.note(file, line, "an empty command".into()),
                        Err(why) => return self.note(file, line, format!("the command cannot be split: {why}")),
                    }
                }
            }
            (None, None) => return self.note(file, line, "a command without `command` or `script`".into()),
        };
        step.commands.push(run);
        if flag("ignoreFailure") {
            step.commands.push("expect status any".into());
        }
    }

    /// kuttl's create-or-merge of a file's objects: a server-side apply, a field manager per file (so a
    /// later file's partial object changes only what it names), in the test's namespace unless every
    /// namespaced object names its own.
    fn apply(&mut self, file: &str, docs: &[&Doc], copy: bool, step: &mut Step) {
        let namespaced: Vec<Option<&str>> = docs
            .iter()
            .filter(|d| !d.value.get("kind").and_then(Value::as_str).is_some_and(|k| CLUSTER_KINDS.contains(&k)))
            .map(|d| d.value.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty()))
            .collect();
        let unnamed = namespaced.iter().any(Option::is_none);
        if unnamed && namespaced.iter().flatten().any(|ns| *ns != self.namespace) {
            let line = docs.first().map_or(1, |d| d.line);
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
        let manager = run_argument(&[Piece::Text(format!("--field-manager={file}"))]);
        let namespace = if unnamed { format!(" -n {}", self.namespace_arg()) } else { String::new() };
        let target = run_argument(&[Piece::Text(target)]);
        step.applies
            .push(format!("run kubectl apply --server-side --force-conflicts {manager}{namespace} -f {target}"));
    }

    /// The objects of a step file, its TestStep's deletes, commands and lists.
    fn apply_file(&mut self, file: &str, docs: &[Doc], index: u64, step: &mut Step) {
        let mut objects = Vec::new();
        let mut listed: Vec<String> = Vec::new();
        for doc in docs {
            if is_kuttl(&doc.value, "TestStep") {
                let list = |name: &str| doc.value.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
                for reference in list("delete") {
                    self.delete(file, doc.line, &reference, step);
                }
                for command in &list("commands") {
                    self.command(file, doc.line, index, command, step);
                }
                listed.extend(list("apply").iter().filter_map(Value::as_str).map(str::to_owned));
                for (field, present) in [("assert", true), ("error", false)] {
                    step.checks.extend(list(field).iter().filter_map(Value::as_str).map(|f| (f.to_owned(), present)));
                }
                for field in ["kubeconfig", "kubeconfigLoading", "context", "unitTest"] {
                    if doc.value.get(field).is_some() {
                        self.note(file, doc.line, format!("the TestStep's `{field}`"));
                    }
                }
            } else if api_version(&doc.value).starts_with("kuttl.dev/") {
                let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("document");
                self.note(file, doc.line, format!("a kuttl `{kind}` in a step file"));
            } else {
                objects.push(doc);
            }
        }
        if !objects.is_empty() {
            self.apply(file, &objects, objects.len() != docs.len(), step);
        }
        // The TestStep's `apply` files, after the step file's own objects.
        for name in listed {
            match self.case.files.iter().find(|(n, _)| *n == name).map(|(_, text)| documents(&name, text)) {
                Some(Ok(docs)) => {
                    let objects: Vec<&Doc> =
                        docs.iter().filter(|d| !api_version(&d.value).starts_with("kuttl.dev/")).collect();
                    if !objects.is_empty() {
                        self.apply(&name, &objects, objects.len() != docs.len(), step);
                    }
                }
                _ => self.note(
                    file,
                    1,
                    format!("the TestStep lists `{name}`, which is not a YAML file of the case's directory"),
                ),
            }
        }
    }

    /// An assert or errors file: its `TestAssert` sets the step's timeout; what is not objects is noted.
    fn check_file(&mut self, file: &str, docs: &[Doc], present: bool, step: &mut Step) {
        let mut objects = 0;
        for doc in docs {
            if is_kuttl(&doc.value, "TestAssert") {
                if let Some(t) = doc.value.get("timeout").and_then(Value::as_u64).filter(|t| *t > 0) {
                    step.timeout = Some(t);
                }
                for field in ["commands", "assertAny", "assertAll"] {
                    if doc.value.get(field).and_then(Value::as_array).is_some_and(|c| !c.is_empty()) {
                        self.note(file, doc.line, format!("a `TestAssert`'s `{field}`"));
                    }
                }
            } else if api_version(&doc.value).starts_with("kuttl.dev/") {
                let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("document");
                self.note(file, doc.line, format!("a kuttl `{kind}` in an assert or errors file"));
            } else {
                objects += 1;
            }
        }
        if objects > 0 {
            step.checks.push((file.to_owned(), present));
        }
    }

    /// The step's lines in kuttl's order: deletes, commands, objects, then its waits.
    fn write(&mut self, index: u64, step: Step, default_timeout: u64) {
        self.lines.push(format!("    # step {index:02}"));
        let timeout = step.timeout.unwrap_or(default_timeout).max(1);
        let steps = step.deletes.into_iter().chain(step.commands).chain(step.applies);
        self.lines.extend(steps.map(|line| format!("    {line}")));
        for (file, present) in step.checks {
            let Some(path) = quoted(&file) else {
                self.note(&file, 1, "a file name no quoted item can hold".into());
                continue;
            };
            let no = if present { "" } else { "no " };
            self.lines.push(format!("    try at most {timeout} times every 1s to expect {no}object {path}"));
        }
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
    // By index; within a step, step files by name, then asserts and errors files by name.
    steps.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let suite_namespace = options.namespace.clone().filter(|n| !n.is_empty());
    let namespace = suite_namespace.clone().unwrap_or_else(|| own_namespace(&case.name));
    let default_timeout = if options.timeout == 0 { DEFAULT_TIMEOUT } else { options.timeout };
    let mut builder =
        Builder { case, namespace: namespace.clone(), lines: Vec::new(), notes: Vec::new(), files: Vec::new() };
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
    let mut current: Option<(u64, Step)> = None;
    for (index, role, file, text) in steps {
        if current.as_ref().is_some_and(|(i, _)| *i != index) {
            let (i, step) = current.take().unwrap_or_default();
            builder.write(i, step, default_timeout);
        }
        let (_, step) = current.get_or_insert_with(|| (index, Step::default()));
        let docs = documents(file, text)?;
        if docs.iter().any(|d| is_kuttl(&d.value, "TestFile")) {
            builder.note(file, 1, "a `TestFile` (its `testRunSelector`)".into());
        }
        match role {
            Role::Apply => builder.apply_file(file, &docs, index, step),
            Role::Assert | Role::Errors => builder.check_file(file, &docs, role == Role::Assert, step),
        }
    }
    if let Some((i, step)) = current {
        builder.write(i, step, default_timeout);
    }

    let name = quoted(&case.name).unwrap_or_else(|| "'kuttl test case'".into());
    let quoted_ns = quoted(&namespace).unwrap_or_else(|| "'default'".into());
    let ns_arg = run_argument(&[Piece::Text(namespace.clone())]);
    let mut text = format!("# Converted from the kuttl test case {} by `precheck migrate kuttl`.\n\n", case.name);
    text.push_str(&format!("namespace {quoted_ns}\ntags kuttl\n\n"));
    if suite_namespace.is_some() {
        // kuttl makes the suite's namespace when it is missing.
        text.push_str(&format!("setup {{\n    run kubectl create namespace {ns_arg}\n    expect status any\n}}\n\n"));
    } else {
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
