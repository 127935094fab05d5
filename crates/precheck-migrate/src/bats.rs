//! BATS + bats-detik files → check files.
//!
//! | bats | check file |
//! | --- | --- |
//! | `@test "name" { … }` | `test 'name' { … }` |
//! | `setup_file`/`teardown_file` | the file's `setup { … }`/`teardown { … }` |
//! | `setup`/`teardown` | each test's `setup { … }`/`teardown { … }` |
//! | `skip "why"` | `skip 'why'` |
//! | `DETIK_CLIENT_NAMESPACE="ns"`, `DETIK_CLIENT_NAMESPACE_ALL=true` | `namespace 'ns'`, `all namespaces` |
//! | `DETIK_CLIENT_NAME="kubectl --context c"` | `context 'c'` |
//! | `# bats file_tags=a,b`, `# bats test_tags=a` | `tags a, b` |
//! | `run verify "…"` + `[ "$status" -eq 0 ]`, `verify "…"` | `verify …` (and `try`) |
//! | `run verify "…"` + `[ "$status" -eq 3 ]` | `run precheck verify "…"` + `expect status 3` |
//! | `run cmd …` + `[ "$status" -eq N ]`, `-ne`, `assert_success`, `assert_failure` | `run cmd …` + `expect status N`, `not N` |
//! | `run cmd …` without a status check | `run cmd …` + `expect status any` |
//! | `[ "$output" = "x" ]`, `[[ $output == *x* ]]`, `[[ $output =~ re ]]`, `assert_output [--partial\|--regexp] x` | `expect output is\|contains\|matches '…'` |
//! | `cmd …` (no `run`), `cmd … \|\| true`, `[ -f x ]` | `run cmd …`, + `expect status any`, `run test -f x` |
//! | `$VAR`, `${VAR}` | the file's own constant, or `${VAR}` from the environment |
//! | `$BATS_TEST_DIRNAME` | the bats file's directory, relative to the check file |
//!
//! Pipes, `&&` lists, loops, `if`, the file's own functions, `$(…)`, and variables set inside tests have no
//! faithful check-file form: they stay in place as comments, each listed in [`Conversion::notes`].

mod block;
mod structure;

use std::collections::HashSet;

use block::{Block, FileContext, Out, assigned_name, render, resolve};
use structure::{Item, Stmt};

use crate::check_syntax::{Piece, quoted, quoted_value};
use crate::{Conversion, NotBats, Note};

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// What `$BATS_TEST_DIRNAME` becomes: the bats file's directory, relative to the check file's (a check
    /// file's commands start in its own directory). `.` when the check file is written beside the bats file.
    pub test_dir: String,
    /// The name of the bats file, for the check file's first line.
    pub source_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options { test_dir: ".".into(), source_name: "a bats file".into() }
    }
}

/// A file's scope, as DETIK_CLIENT_NAMESPACE(_ALL) set it.
enum Scope {
    One(Vec<Piece>),
    All,
}

/// The DETIK settings of the file, as its assignments leave them.
#[derive(Default)]
struct DetikScope {
    namespace: Option<Vec<Piece>>,
    all: bool,
}

impl DetikScope {
    /// bats-detik's rule: `-n NAMESPACE` when it is set, else `--all-namespaces` when `_ALL` is `true`.
    fn scope(self) -> Option<Scope> {
        match (self.namespace, self.all) {
            (Some(ns), _) => Some(Scope::One(ns)),
            (None, true) => Some(Scope::All),
            (None, false) => None,
        }
    }
}

/// Converts the text of a bats file into the text of a check file. Fails for text that is not a bats file
/// (no `@test`, a quote or block never closed), saying where.
pub fn convert(source: &str, options: &Options) -> Result<Conversion, NotBats> {
    let items = structure::read(crate::shell::tokens(source)?)?;
    if !items.iter().any(|i| matches!(i, Item::Test { .. })) {
        return Err(NotBats::NoTests);
    }
    let lines: Vec<&str> = source.lines().collect();
    let mut notes = Vec::new();
    let mut file = FileContext { test_dir: options.test_dir.clone(), ..FileContext::default() };
    let mut detik = DetikScope::default();
    let mut context = None;
    let mut file_tags = Vec::new();

    // What the whole file defines, first: bats reads it all before it runs a test.
    for item in &items {
        if let Item::Function { name, .. } = item
            && !matches!(name.as_str(), "setup" | "teardown" | "setup_file" | "teardown_file")
        {
            file.functions.insert(name.clone());
        }
    }
    let mut top_kept = Vec::new();
    for item in &items {
        let Item::Stmt(stmt) = item else { continue };
        if let Some(kept) = top_statement(stmt, &mut file, &mut detik, &mut context) {
            top_kept.push((stmt.first, kept));
        }
    }
    let scope = detik.scope();
    file.detik_flags = match &scope {
        Some(Scope::One(ns)) => vec!["-n".into(), crate::check_syntax::run_argument(ns)],
        Some(Scope::All) => vec!["-A".into()],
        None => Vec::new(),
    };
    if let Some(c) = &context {
        file.detik_flags.extend(["--context".to_owned(), crate::check_syntax::run_argument(&[Piece::Text(c.clone())])]);
    }

    // Bash keeps a function's last definition.
    let last_definition = |name: &str| {
        items.iter().rev().find_map(|item| match item {
            Item::Function { name: n, line, .. } if n == name => Some(*line),
            _ => None,
        })
    };
    let convert_function = |name: &str, notes: &mut Vec<Note>| -> Option<Vec<Out>> {
        items.iter().rev().find_map(|item| match item {
            Item::Function { name: n, body, .. } if n == name => {
                let mut block = Block::new(&file);
                block.items(body, false);
                let (out, block_notes, _) = block.finish();
                notes.extend(block_notes);
                Some(out)
            }
            _ => None,
        })
    };
    let each_setup = convert_function("setup", &mut notes);
    let each_teardown = convert_function("teardown", &mut notes);

    let mut body: Vec<String> = Vec::new();
    let mut leading: Vec<String> = Vec::new();
    let mut started = false;
    let mut next_tags: Vec<String> = Vec::new();
    let mut tests = 0;
    let mut names = HashSet::new();
    for item in &items {
        match item {
            Item::Blank => body.push(String::new()),
            Item::Comment { text, line } => {
                let tags = text.strip_prefix("# bats file_tags=").map(|t| (t, &mut file_tags));
                let tags = tags.or_else(|| text.strip_prefix("# bats test_tags=").map(|t| (t, &mut next_tags)));
                if let Some((list, into)) = tags {
                    for tag in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        if tag.chars().all(|c| c.is_alphanumeric() || "-_./:".contains(c)) {
                            into.push(tag.to_owned());
                        } else {
                            notes.push(Note { file: None, line: *line, why: format!("`{tag}` is no check-file tag") });
                        }
                    }
                } else if !text.starts_with("#!") {
                    if started { body.push(text.clone()) } else { leading.push(text.clone()) }
                }
            }
            Item::Stmt(stmt) => {
                started = true;
                if let Some((_, why)) = top_kept.iter().find(|(line, _)| *line == stmt.first) {
                    notes.push(Note { file: None, line: stmt.first, why: why.clone() });
                    body.extend(render(
                        &[Out::Kept { why: why.clone(), first: stmt.first, last: stmt.last }],
                        &lines,
                        &file,
                        "",
                    ));
                }
            }
            Item::Compound { keyword, first, last } => {
                started = true;
                let why = format!("a `{keyword}` block at the top of the file needs a shell");
                notes.push(Note { file: None, line: *first, why: why.clone() });
                body.extend(render(&[Out::Kept { why, first: *first, last: *last }], &lines, &file, ""));
            }
            Item::Function { name, line, end, body: items } => {
                started = true;
                let special = matches!(name.as_str(), "setup_file" | "teardown_file" | "setup" | "teardown");
                if let Some(last) = last_definition(name).filter(|last| special && last != line) {
                    let why = format!("`{name}` is defined again at line {last}, and bash keeps the last");
                    notes.push(Note { file: None, line: *line, why: why.clone() });
                    body.extend(render(&[Out::Kept { why, first: *line, last: *end }], &lines, &file, ""));
                    continue;
                }
                let keyword = match name.as_str() {
                    "setup_file" => "setup",
                    "teardown_file" => "teardown",
                    // Copied into every test below.
                    "setup" | "teardown" => continue,
                    _ => {
                        let why = format!("`{name}` is a function of this file: its calls are not converted either");
                        notes.push(Note { file: None, line: *line, why: why.clone() });
                        body.extend(render(&[Out::Kept { why, first: *line, last: *end }], &lines, &file, ""));
                        continue;
                    }
                };
                let mut block = Block::new(&file);
                block.items(items, false);
                let (out, block_notes, _) = block.finish();
                notes.extend(block_notes);
                body.push(format!("{keyword} {{  # {name}"));
                body.extend(render(&out, &lines, &file, "    "));
                body.push("}".into());
            }
            Item::Test { name, line, body: items } => {
                started = true;
                tests += 1;
                let mut block = Block::new(&file);
                block.items(items, true);
                let (out, block_notes, skip) = block.finish();
                notes.extend(block_notes);
                let title = test_title(name, &file);
                let header = match title.as_deref().map(quoted) {
                    Ok(Some(quoted)) if names.insert(quoted.clone()) => Some(quoted),
                    Ok(Some(quoted)) => {
                        notes.push(Note { file: None, line: *line, why: format!("a second test named {quoted}") });
                        None
                    }
                    Ok(None) => {
                        let why =
                            "the test's name cannot be quoted (it is empty, or holds both quotes or a line break)";
                        notes.push(Note { file: None, line: *line, why: why.into() });
                        None
                    }
                    Err(why) => {
                        notes.push(Note { file: None, line: *line, why: format!("the test's name: {why}") });
                        None
                    }
                };
                match header {
                    Some(quoted) => body.push(format!("test {quoted} {{")),
                    None => {
                        body.push(format!("# not converted: see line {line} of the bats file for this test's name"));
                        body.push(format!("test 'line {line}' {{"));
                    }
                }
                if !next_tags.is_empty() {
                    body.push(format!("    tags {}", std::mem::take(&mut next_tags).join(", ")));
                }
                if let Some(reason) = skip {
                    body.push(if reason == "''" { "    skip".into() } else { format!("    skip {reason}") });
                }
                for (keyword, out) in [("setup", &each_setup), ("teardown", &each_teardown)] {
                    let Some(out) = out else { continue };
                    let rendered = render(out, &lines, &file, "        ");
                    if !rendered.is_empty() {
                        body.push(format!("    {keyword} {{  # {keyword}()"));
                        body.extend(rendered);
                        body.push("    }".into());
                    }
                }
                body.extend(render(&out, &lines, &file, "    "));
                body.push("}".into());
            }
        }
    }

    let mut text = format!("# Converted from {} by `precheck migrate bats`.\n", options.source_name);
    for line in &leading {
        text.push_str(line);
        text.push('\n');
    }
    let mut header = Vec::new();
    match &scope {
        Some(Scope::One(ns)) => header.push(format!("namespace {}", quoted_value(ns).unwrap_or_else(|| "''".into()))),
        Some(Scope::All) => header.push("all namespaces".into()),
        None => {}
    }
    if let Some(c) = &context {
        header.push(format!("context {}", quoted_value(&[Piece::Text(c.clone())]).unwrap_or_default()));
    }
    if !file_tags.is_empty() {
        header.push(format!("tags {}", file_tags.join(", ")));
    }
    if !header.is_empty() {
        text.push('\n');
        for line in header {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let mut previous_blank = false;
    text.push('\n');
    for line in body.iter().skip_while(|l| l.is_empty()) {
        if line.is_empty() && previous_blank {
            continue;
        }
        previous_blank = line.is_empty();
        text.push_str(line);
        text.push('\n');
    }
    while text.ends_with("\n\n") {
        text.pop();
    }
    for note in &mut notes {
        note.why = crate::check_syntax::one_line(&note.why);
    }
    notes.sort_by_key(|n| n.line);
    notes.dedup();
    Ok(Conversion { text, tests, notes })
}

/// A test's name: its words joined, variables of the file put in.
fn test_title(words: &[crate::shell::Word], file: &FileContext) -> Result<String, String> {
    let mut title = String::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            title.push(' ');
        }
        for piece in resolve(word, file, &HashSet::new())? {
            match piece {
                Piece::Text(t) => title.push_str(&t),
                Piece::Env(name) => return Err(format!("`${name}` comes from the environment")),
            }
        }
    }
    Ok(title)
}

/// A statement at the top of the file: `load`, DETIK settings and constants are understood (`None`);
/// anything else is why it stays a comment.
fn top_statement(
    stmt: &Stmt,
    file: &mut FileContext,
    scope: &mut DetikScope,
    context: &mut Option<String>,
) -> Option<String> {
    let words: Vec<&crate::shell::Word> = stmt.words().collect();
    if stmt.tokens.iter().any(|t| matches!(t, structure::Tok::Op(_))) {
        return Some("an operator at the top of the file needs a shell".into());
    }
    let first = words.first()?;
    let command = first.literal().unwrap_or_default();
    if matches!(command.as_str(), "load" | "bats_load_library") {
        return block::load_note(&words[1..]);
    }
    if command == "bats_require_minimum_version" {
        return None;
    }
    let (exported, assignment) = match command.as_str() {
        "export" if words.len() == 2 => (true, words[1]),
        _ if words.len() == 1 && assigned_name(first).is_some() => (false, *first),
        _ => return Some("runs when bats reads the file, before every test: put it in `setup_file`".into()),
    };
    let name = assigned_name(assignment)?;
    // The value: the word after `NAME=`.
    let mut value_word = assignment.clone();
    if let Some(crate::shell::Part::Lit { text, .. }) = value_word.parts.first_mut() {
        *text = text[name.len() + 1..].to_owned();
    }
    let value = resolve(&value_word, file, &HashSet::new());
    let literal = |value: &Result<Vec<Piece>, String>| match value {
        Ok(pieces) => match &pieces[..] {
            [Piece::Text(t)] => Some(t.clone()),
            [] => Some(String::new()),
            _ => None,
        },
        Err(_) => None,
    };
    match name.as_str() {
        "DETIK_CLIENT_NAME" => {
            let text = literal(&value).unwrap_or_default();
            let mut parts = text.split_whitespace();
            if parts.next() != Some("kubectl") {
                return Some(format!(
                    "DETIK_CLIENT_NAME `{text}`: Precheck asks the API server itself, through the kube context"
                ));
            }
            let rest: Vec<&str> = parts.collect();
            match rest[..] {
                [] => None,
                ["--context", c] => {
                    *context = Some(c.to_owned());
                    None
                }
                [flag] if flag.starts_with("--context=") => {
                    *context = Some(flag["--context=".len()..].to_owned());
                    None
                }
                _ => Some(format!("DETIK_CLIENT_NAME `{text}`: only `--context` has a check-file form")),
            }
        }
        // As bash: the last assignment holds. As bats-detik: a namespace, when set, before `_ALL`.
        "DETIK_CLIENT_NAMESPACE" => match value {
            Ok(pieces) if !pieces.is_empty() && quoted_value(&pieces).is_none() => {
                Some("DETIK_CLIENT_NAMESPACE cannot be written as a quoted namespace".into())
            }
            Ok(pieces) => {
                scope.namespace = (!pieces.is_empty()).then_some(pieces);
                None
            }
            Err(why) => Some(why),
        },
        "DETIK_CLIENT_NAMESPACE_ALL" => {
            scope.all = literal(&value).as_deref() == Some("true");
            None
        }
        _ if exported => {
            file.unusable.remove(&name);
            Some(format!(
                "`export {name}` sets the environment of every command: set it before `precheck run`, and the \
                 file reads it as ${{{name}}}"
            ))
        }
        _ => {
            match value {
                Ok(pieces) => {
                    file.constants.insert(name, pieces);
                }
                Err(why) => {
                    file.unusable.insert(
                        name.clone(),
                        format!("`${name}` is set at line {} by a value that was not converted", stmt.first),
                    );
                    return Some(why);
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests;
