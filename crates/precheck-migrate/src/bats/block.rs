//! The statements of a bats function or test, as check-file steps.

use std::collections::{HashMap, HashSet};

use super::structure::{Item, Stmt, Tok};
use crate::Note;
use crate::check_syntax::{Piece, expanded_text, quoted_value, regex_literal, run_argument};
use crate::shell::{Part, Word};

/// What the file around a block says: its constants, functions and DETIK settings.
#[derive(Debug, Default)]
pub(crate) struct FileContext {
    /// `NAME=value` at the top of the file: the value, where it is plain.
    pub constants: HashMap<String, Vec<Piece>>,
    /// Variables that cannot be used in a check file, and why.
    pub unusable: HashMap<String, String>,
    /// The file's own functions (besides setup and teardown).
    pub functions: HashSet<String>,
    /// What `$BATS_TEST_DIRNAME` becomes, relative to the check file.
    pub test_dir: String,
    /// `run precheck verify` arguments for the file's namespace and context (`-n …`, `-A`, `--context …`).
    pub detik_flags: Vec<String>,
}

/// The exit status a `run` wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Is(i32),
    Not(i32),
    Any,
}

impl Want {
    fn line(self) -> String {
        match self {
            Want::Is(code) => format!("expect status {code}"),
            Want::Not(code) => format!("expect status not {code}"),
            Want::Any => "expect status any".into(),
        }
    }
}

/// How a `run` step's status is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunStatus {
    /// A command run without `run`: it must succeed, as under bats' `set -e`.
    Succeeds,
    /// Run with `run` and not (yet) checked.
    Unchecked,
    Checked(Want),
}

/// A line of the converted block.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    Blank,
    Comment(String),
    Run {
        argv: String,
        status: RunStatus,
        expects: Vec<String>,
        comment: Option<String>,
        first: usize,
        last: usize,
    },
    /// `verify`/`try` with its sentence, waiting for the status check that says what it asserts.
    Sentence {
        keyword: &'static str,
        pieces: Vec<Piece>,
        status: Option<Want>,
        first: usize,
        last: usize,
        comment: Option<String>,
    },
    /// Lines kept as comments, and why.
    Kept {
        why: String,
        first: usize,
        last: usize,
    },
    /// `echo`/`printf` lines, which only print to the test's log: kept as comments, nothing lost.
    Printed {
        first: usize,
        last: usize,
    },
}

/// Which `run` a `$status` or `$output` check is about.
#[derive(Debug, Clone, Copy)]
enum LastRun {
    Out(usize),
    NotConverted,
}

/// A check of the last `run`.
enum Check {
    Status(Want),
    Output(String),
}

/// Converts one block.
pub(crate) struct Block<'a> {
    file: &'a FileContext,
    pub out: Vec<Out>,
    pub notes: Vec<Note>,
    /// `skip` in a test: its quoted reason (`''` without one).
    pub skip: Option<String>,
    last_run: Option<LastRun>,
    /// Set by a line that was not converted.
    locals: HashSet<String>,
    /// `run --separate-stderr`: `$output` is standard output alone.
    separate_stderr: bool,
    /// The line that set DETIK_CLIENT_NAMESPACE(_ALL) in this block (not converted): sentences after it are
    /// asked elsewhere than the file's namespace.
    namespace_set: Option<usize>,
}

impl<'a> Block<'a> {
    pub fn new(file: &'a FileContext) -> Self {
        Block {
            file,
            out: Vec::new(),
            notes: Vec::new(),
            skip: None,
            last_run: None,
            locals: HashSet::new(),
            separate_stderr: false,
            namespace_set: None,
        }
    }

    /// Converts the items of a test (`in_test`) or function body.
    pub fn items(&mut self, items: &[Item], in_test: bool) {
        for item in items {
            match item {
                Item::Blank => self.out.push(Out::Blank),
                Item::Comment { text, .. } => self.out.push(Out::Comment(text.clone())),
                Item::Stmt(stmt) => self.statement(stmt, in_test),
                Item::Compound { keyword, first, last } => {
                    let what = match keyword.as_str() {
                        "{" => "a `{ … }` group".to_owned(),
                        "if" => "an `if` block".to_owned(),
                        other => format!("a `{other}` loop"),
                    };
                    let what = if keyword == "case" { "a `case` block".to_owned() } else { what };
                    self.keep(format!("{what} needs a shell"), *first, *last);
                    self.last_run = Some(LastRun::NotConverted);
                }
                Item::Test { line, .. } => self.keep("a test inside a block".into(), *line, *line),
                Item::Function { name, line, end, .. } => {
                    self.keep(format!("`{name}` is a function defined inside a block"), *line, *end)
                }
            }
        }
    }

    /// Ends the block: a `run verify` nobody checked is left for a person.
    pub fn finish(mut self) -> (Vec<Out>, Vec<Note>, Option<String>) {
        for out in &mut self.out {
            if let Out::Sentence { keyword, status: None, first, last, .. } = out {
                let why = format!(
                    "`run {keyword}` without a status check asserts nothing (bats ignores its result): check `$status` or drop `run`"
                );
                self.notes.push(Note { file: None, line: *first, why: why.clone() });
                *out = Out::Kept { why, first: *first, last: *last };
            }
        }
        // Each step must read back as written: one that would not (a sentence DETIK accepts and Precheck's
        // parser refuses, say) is left for a person rather than spoiling the file.
        for index in 0..self.out.len() {
            let (first, last) = match &self.out[index] {
                Out::Run { first, last, .. } => (*first, *last),
                Out::Sentence { first, last, .. } => (*first, *last),
                _ => continue,
            };
            let lines = render(&self.out[index..=index], &[], self.file, "");
            let text = format!("test 't' {{\n{}\n}}\n", lines.join("\n"));
            if let Err(errors) = precheck_lang::CheckFile::parse(&text, &|name| Some(name.to_owned())) {
                let message = errors.errors.first().map(|e| e.message.clone()).unwrap_or_default();
                let why = format!("converted, it would read `{}`, which is not valid: {message}", lines.join(" / "));
                self.notes.push(Note { file: None, line: first, why: why.clone() });
                self.out[index] = Out::Kept { why, first, last };
            }
        }
        self.notes.sort_by_key(|n| n.line);
        (self.out, self.notes, self.skip)
    }

    fn keep(&mut self, why: String, first: usize, last: usize) {
        self.notes.push(Note { file: None, line: first, why: why.clone() });
        self.out.push(Out::Kept { why, first, last });
    }

    fn statement(&mut self, stmt: &Stmt, in_test: bool) {
        let before = self.out.len();
        self.convert_statement(stmt, in_test);
        // A line kept for a person that runs `run`, sets `$output`/`$status` or calls the file's own
        // function: later checks of `$status`/`$output` are about it, not about an earlier `run`.
        let kept = self.out[before..].iter().any(|o| matches!(o, Out::Kept { .. }));
        let sets_result = stmt.words().any(|w| {
            w.is("run")
                || assigned_name(w).is_some_and(|n| is_run_variable(&n))
                || w.literal().is_some_and(|t| self.file.functions.contains(&t))
        });
        if kept && sets_result {
            self.last_run = Some(LastRun::NotConverted);
        }
    }

    fn convert_statement(&mut self, stmt: &Stmt, in_test: bool) {
        let (tokens, any_status) = strip_harmless(&stmt.tokens);
        if let Some(op) = tokens.iter().find_map(|t| match t {
            Tok::Op(op) => Some(*op),
            Tok::Word(_) => None,
        }) {
            self.keep(operator_reason(op).into(), stmt.first, stmt.last);
            if stmt.words().next().is_some_and(|w| w.is("run")) {
                self.last_run = Some(LastRun::NotConverted);
            }
            return;
        }
        let words: Vec<&Word> = tokens
            .iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w),
                Tok::Op(_) => None,
            })
            .collect();
        let Some(first) = words.first() else { return };
        let command = first.literal().unwrap_or_default();
        let comment = stmt.comment.clone();
        let resolve_word = |w: &Word| self.pieces(w);
        if let Some(check) = recognise_check(&words, &resolve_word) {
            if any_status {
                // `[ "$status" -eq 0 ] || true` asserts nothing.
                self.out.push(Out::Printed { first: stmt.first, last: stmt.last });
            } else {
                self.check(check, stmt);
            }
            return;
        }
        let runs_sentence = matches!(command.as_str(), "verify" | "try")
            || (command == "run"
                && words.get(1).and_then(|w| w.literal()).is_some_and(|w| w == "verify" || w == "try"));
        if runs_sentence && let Some(line) = self.namespace_set {
            let why = format!("DETIK's namespace is changed at line {line} by a line that was not converted");
            self.keep(why, stmt.first, stmt.last);
            if command == "run" {
                self.last_run = Some(LastRun::NotConverted);
            }
            return;
        }
        match command.as_str() {
            // `run` returns 0 whatever the command does: `|| true` after it changes nothing.
            "run" => self.run(&words[1..], stmt),
            "verify" | "try" => match self.pieces_joined(&words[1..]) {
                Ok(pieces) => self.out.push(Out::Sentence {
                    keyword: if command == "verify" { "verify" } else { "try" },
                    pieces,
                    status: Some(if any_status { Want::Any } else { Want::Is(0) }),
                    first: stmt.first,
                    last: stmt.last,
                    comment,
                }),
                Err(why) => self.keep(why, stmt.first, stmt.last),
            },
            "skip" if in_test => match self.pieces_joined(&words[1..]).map(|p| quoted_value(&p)) {
                Ok(Some(reason)) => self.skip = Some(reason),
                Ok(None) => self.keep(
                    "the reason cannot be quoted (both quotes, or a line break)".into(),
                    stmt.first,
                    stmt.last,
                ),
                Err(why) => self.keep(why, stmt.first, stmt.last),
            },
            "skip" => {
                self.keep("`skip` outside a test skips every test: write it in each".into(), stmt.first, stmt.last)
            }
            "load" | "bats_load_library" => {
                if let Some(why) = load_note(&words[1..]) {
                    self.keep(why, stmt.first, stmt.last);
                }
            }
            "bats_require_minimum_version" => {}
            name if name.starts_with("assert_") || name.starts_with("refute_") => {
                self.keep(format!("`{name}` has no check-file form"), stmt.first, stmt.last)
            }
            "cd" => {
                let to_test_dir = words.len() == 2
                    && matches!(&words[1].parts[..], [Part::Var { name, .. }] if name == "BATS_TEST_DIRNAME")
                    && self.file.test_dir == ".";
                if !to_test_dir {
                    self.keep("`cd`: a check file's commands start in its own directory".into(), stmt.first, stmt.last);
                }
            }
            // They only print to the test's log.
            "echo" | "printf" => self.out.push(Out::Printed { first: stmt.first, last: stmt.last }),
            "local" | "export" | "declare" | "readonly" | "typeset" => {
                for word in &words[1..] {
                    if let Some(name) = assigned_name(word) {
                        if name.starts_with("DETIK_CLIENT_NAMESPACE") {
                            self.namespace_set = Some(stmt.first);
                        }
                        self.locals.insert(name);
                    }
                }
                self.keep(
                    format!("`{command}` sets a shell variable, which a check file has not"),
                    stmt.first,
                    stmt.last,
                );
            }
            _ if assigned_name(first).is_some() => {
                if assigned_name(first).is_some_and(|n| n.starts_with("DETIK_CLIENT_NAMESPACE")) {
                    self.namespace_set = Some(stmt.first);
                }
                self.locals.extend(assigned_name(first));
                self.keep("sets a shell variable, which a check file has not".into(), stmt.first, stmt.last);
            }
            "set" | "shopt" | "trap" | "source" | "." | "eval" | "exit" | "return" | "unset" | "wait" | "exec"
            | "!" | "shift" | "alias" => {
                self.keep(format!("`{command}` is a shell builtin"), stmt.first, stmt.last);
            }
            "fail" => self.keep("`fail` (bats-support) has no check-file form".into(), stmt.first, stmt.last),
            ":" => {}
            "[" | "[[" => self.test_command(&words, stmt, any_status),
            name if self.file.functions.contains(name) => {
                self.keep(format!("calls `{name}`, a function of this file"), stmt.first, stmt.last)
            }
            _ => match self.argv(&words) {
                Ok(argv) => self.out.push(Out::Run {
                    argv,
                    status: if any_status { RunStatus::Checked(Want::Any) } else { RunStatus::Succeeds },
                    expects: Vec::new(),
                    comment,
                    first: stmt.first,
                    last: stmt.last,
                }),
                Err(why) => self.keep(why, stmt.first, stmt.last),
            },
        }
    }

    /// `run [-N | !] [--separate-stderr] [--] command …`.
    fn run(&mut self, words: &[&Word], stmt: &Stmt) {
        let mut want = None;
        let mut rest = words;
        self.separate_stderr = false;
        while let Some((flag, after)) = rest.split_first() {
            let Some(text) = flag.literal() else { break };
            match text.as_str() {
                "!" => want = Some(Want::Not(0)),
                "--separate-stderr" => self.separate_stderr = true,
                "--keep-empty-lines" => {}
                "--" => {
                    rest = after;
                    break;
                }
                t if t.starts_with('-') && t[1..].parse::<i32>().is_ok() => {
                    want = t[1..].parse().ok().map(Want::Is);
                }
                _ => break,
            }
            rest = after;
        }
        let Some(program) = rest.first() else {
            self.keep("`run` without a command".into(), stmt.first, stmt.last);
            self.last_run = Some(LastRun::NotConverted);
            return;
        };
        let name = program.literal().unwrap_or_default();
        if name == "verify" || name == "try" {
            match self.pieces_joined(&rest[1..]) {
                Ok(pieces) => {
                    self.out.push(Out::Sentence {
                        keyword: if name == "verify" { "verify" } else { "try" },
                        pieces,
                        status: want,
                        first: stmt.first,
                        last: stmt.last,
                        comment: stmt.comment.clone(),
                    });
                    self.last_run = Some(LastRun::Out(self.out.len() - 1));
                }
                Err(why) => {
                    self.keep(why, stmt.first, stmt.last);
                    self.last_run = Some(LastRun::NotConverted);
                }
            }
            return;
        }
        if self.file.functions.contains(&name) {
            self.keep(format!("runs `{name}`, a function of this file"), stmt.first, stmt.last);
            self.last_run = Some(LastRun::NotConverted);
            return;
        }
        match self.argv(rest) {
            Ok(argv) => {
                let status = want.map_or(RunStatus::Unchecked, RunStatus::Checked);
                self.out.push(Out::Run {
                    argv,
                    status,
                    expects: Vec::new(),
                    comment: stmt.comment.clone(),
                    first: stmt.first,
                    last: stmt.last,
                });
                self.last_run = Some(LastRun::Out(self.out.len() - 1));
            }
            Err(why) => {
                self.keep(why, stmt.first, stmt.last);
                self.last_run = Some(LastRun::NotConverted);
            }
        }
    }

    /// `[ -f x ]` and plain `[[ … ]]`: the `test` program says the same.
    fn test_command(&mut self, words: &[&Word], stmt: &Stmt, any_status: bool) {
        let double = words[0].is("[[");
        let close = if double { "]]" } else { "]" };
        let Some((_, inner)) = words[1..].split_last().filter(|(last, _)| last.is(close)) else {
            self.keep(format!("expected `{close}` at the end of the test"), stmt.first, stmt.last);
            return;
        };
        if double
            && inner.iter().any(|w| {
                ["==", "=~", "!=", "<", ">", "=", "&&", "||", "!"].iter().any(|op| w.is(op))
                    || w.parts
                        .iter()
                        .any(|p| matches!(p, Part::Lit { text, quoted: false } if text.contains(['*', '?'])))
            })
        {
            self.keep("a `[[ … ]]` pattern or regex test needs a shell".into(), stmt.first, stmt.last);
            return;
        }
        let test_word =
            Word { parts: vec![Part::Lit { text: "test".into(), quoted: false }], line: stmt.first, glued: false };
        let mut all = vec![&test_word];
        all.extend(inner.iter().copied());
        match self.argv(&all) {
            Ok(argv) => self.out.push(Out::Run {
                argv,
                status: if any_status { RunStatus::Checked(Want::Any) } else { RunStatus::Succeeds },
                expects: Vec::new(),
                comment: stmt.comment.clone(),
                first: stmt.first,
                last: stmt.last,
            }),
            Err(why) => self.keep(why, stmt.first, stmt.last),
        }
    }

    fn check(&mut self, check: Result<Check, String>, stmt: &Stmt) {
        let check = match check {
            Ok(check) => check,
            Err(why) => return self.keep(why, stmt.first, stmt.last),
        };
        let index = match self.last_run {
            Some(LastRun::Out(index)) => index,
            Some(LastRun::NotConverted) => {
                return self.keep("checks a `run` that was not converted".into(), stmt.first, stmt.last);
            }
            None => {
                return self.keep(
                    "checks `$status` or `$output`, but no `run` comes before it".into(),
                    stmt.first,
                    stmt.last,
                );
            }
        };
        let separate = self.separate_stderr;
        match (&mut self.out[index], check) {
            (Out::Run { status, .. }, Check::Status(want)) => match status {
                RunStatus::Checked(had) if *had != want => {
                    let why = format!("a second status check of one `run` (the first: `{}`)", had.line());
                    self.keep(why, stmt.first, stmt.last);
                }
                _ => *status = RunStatus::Checked(want),
            },
            (Out::Run { .. }, Check::Output(line)) if line.starts_with("expect stderr ") && !separate => {
                let why = "bats sets `$stderr` only for `run --separate-stderr`".to_owned();
                self.keep(why, stmt.first, stmt.last);
            }
            (Out::Run { expects, .. }, Check::Output(line)) => {
                // With `--separate-stderr`, bats' `$output` is standard output alone.
                let line = if separate { line.replacen("expect output ", "expect stdout ", 1) } else { line };
                expects.push(line);
            }
            (Out::Sentence { status, .. }, Check::Status(want)) => match status {
                Some(had) if *had != want => {
                    let why = format!("a second status check of one `run` (the first: `{}`)", had.line());
                    self.keep(why, stmt.first, stmt.last);
                }
                _ => *status = Some(want),
            },
            (Out::Sentence { .. }, Check::Output(_)) => self.keep(
                "checks the output of `run verify`, which Precheck words its own way".into(),
                stmt.first,
                stmt.last,
            ),
            _ => self.keep("checks a `run` that was not converted".into(), stmt.first, stmt.last),
        }
    }

    /// The words as the arguments of a `run` line. An unquoted constant of the file splits into words (or
    /// none) as bash splits it; an unquoted variable of the environment is taken as one argument, as suites
    /// mean it. File-name patterns and brace lists are left to a shell.
    fn argv(&self, words: &[&Word]) -> Result<String, String> {
        let mut argv = Vec::new();
        for word in words {
            for part in &word.parts {
                if let Part::Lit { text, quoted: false } = part {
                    // `jsonpath={.items[*].name}` is meant as text (bash leaves a pattern that matches no file).
                    if !text.contains(['=', '{']) && text.contains(['*', '?']) {
                        return Err(format!("`{text}` is a file-name pattern only a shell expands"));
                    }
                    if text.contains('{') && text.contains(',') && text.contains('}') && !text.contains('=') {
                        return Err(format!("`{text}` is a brace list only a shell expands"));
                    }
                }
            }
            let pieces = self.pieces(word)?;
            if pieces.iter().any(|p| matches!(p, Piece::Text(t) if t.contains('\n'))) {
                return Err("an argument over several lines has no check-file form".into());
            }
            let unquoted_constant = |p: &Part| match p {
                Part::Var { name, quoted: false } => self.file.constants.get(name),
                _ => None,
            };
            match &word.parts[..] {
                [part] if unquoted_constant(part).is_some_and(|v| v.iter().all(|p| matches!(p, Piece::Text(_)))) => {
                    for piece in &pieces {
                        if let Piece::Text(text) = piece {
                            argv.extend(text.split_whitespace().map(|w| run_argument(&[Piece::Text(w.to_owned())])));
                        }
                    }
                    continue;
                }
                parts => {
                    let splits = parts.iter().filter_map(unquoted_constant).any(|v| {
                        v.iter().any(|p| matches!(p, Piece::Text(t) if t.is_empty() || t.contains(char::is_whitespace)))
                    });
                    if splits {
                        return Err("an unquoted variable that splits into words inside a word needs a shell".into());
                    }
                }
            }
            argv.push(run_argument(&pieces));
        }
        Ok(argv.join(" "))
    }

    /// The words joined with single spaces, as DETIK joins a sentence's arguments; runs of blanks and line
    /// breaks read as one space, and none at the ends, as DETIK's `echo` leaves them.
    fn pieces_joined(&self, words: &[&Word]) -> Result<Vec<Piece>, String> {
        let mut pieces = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                pieces.push(Piece::Text(" ".into()));
            }
            pieces.extend(self.pieces(word)?);
        }
        let mut collapsed: Vec<Piece> = Vec::new();
        for piece in merge(pieces) {
            match piece {
                Piece::Text(text) => {
                    let mut out = String::new();
                    let mut blank =
                        collapsed.is_empty() || matches!(collapsed.last(), Some(Piece::Text(t)) if t.ends_with(' '));
                    for c in text.chars() {
                        if c.is_whitespace() {
                            if !blank {
                                out.push(' ');
                            }
                            blank = true;
                        } else {
                            out.push(c);
                            blank = false;
                        }
                    }
                    collapsed.push(Piece::Text(out));
                }
                env => collapsed.push(env),
            }
        }
        if let Some(Piece::Text(last)) = collapsed.last_mut() {
            last.truncate(last.trim_end().len());
        }
        if expanded_text(&collapsed).is_none() {
            return Err("a `$` right before a variable has no check-file form".into());
        }
        Ok(merge(collapsed))
    }

    /// A word's text, with the file's constants put in and other variables read from the environment.
    pub fn pieces(&self, word: &Word) -> Result<Vec<Piece>, String> {
        resolve(word, self.file, &self.locals)
    }
}

/// Why a `load` is left for a person: bats-detik and bats' own libraries (bats-support, bats-assert) are
/// understood; a helper of the suite's own defines functions the check file cannot call.
pub(crate) fn load_note(words: &[&Word]) -> Option<String> {
    let name = words.first().and_then(|w| w.literal()).unwrap_or_default();
    let base = name.rsplit('/').next().unwrap_or_default().trim_end_matches(".bash");
    let known = ["detik", "utils", "linter", "load", "bats-support", "bats-assert"];
    if known.contains(&base) || name.contains("bats-support") || name.contains("bats-assert") || name.contains("detik")
    {
        return None;
    }
    Some(format!("`load {name}`: its functions are not known here, and calls to them are converted as programs"))
}

/// A word's pieces: text, constants of the file, `$BATS_TEST_DIRNAME`, and variables of the environment.
pub(crate) fn resolve(word: &Word, file: &FileContext, locals: &HashSet<String>) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    for (i, part) in word.parts.iter().enumerate() {
        match part {
            Part::Lit { text, quoted: false } if i == 0 && (text == "~" || text.starts_with("~/")) => {
                pieces.push(Piece::Env("HOME".into()));
                pieces.push(Piece::Text(text[1..].to_owned()));
            }
            Part::Lit { text, .. } => pieces.push(Piece::Text(text.clone())),
            Part::Var { name, .. } => pieces.extend(variable(name, file, locals)?),
            Part::Shell { raw, what } => {
                let raw = raw.lines().next().unwrap_or_default();
                return Err(format!("{what} (`{raw}`) needs a shell"));
            }
        }
    }
    Ok(merge(pieces))
}

fn variable(name: &str, file: &FileContext, locals: &HashSet<String>) -> Result<Vec<Piece>, String> {
    if name == "BATS_TEST_DIRNAME" {
        return Ok(vec![Piece::Text(file.test_dir.clone())]);
    }
    if name.starts_with("BATS_") {
        return Err(format!("`${name}` is bats' own variable"));
    }
    if matches!(name, "status" | "output" | "lines" | "stderr" | "stderr_lines") {
        return Err(format!("`${name}` of a `run` is read only by `[ … ]` checks and `assert_*`"));
    }
    if locals.contains(name) {
        return Err(format!("`${name}` is set by a line that was not converted"));
    }
    if let Some(why) = file.unusable.get(name) {
        return Err(why.clone());
    }
    if let Some(value) = file.constants.get(name) {
        return Ok(value.clone());
    }
    Ok(vec![Piece::Env(name.to_owned())])
}

fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut merged: Vec<Piece> = Vec::new();
    for piece in pieces.into_iter().filter(|p| !matches!(p, Piece::Text(t) if t.is_empty())) {
        match (merged.last_mut(), piece) {
            (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
            (_, piece) => merged.push(piece),
        }
    }
    merged
}

/// The name a word assigns (`NAME=…`), when it is an assignment.
pub(crate) fn assigned_name(word: &Word) -> Option<String> {
    let Some(Part::Lit { text, quoted: false }) = word.parts.first() else { return None };
    let (name, _) = text.split_once('=')?;
    crate::shell::is_name(name).then(|| name.to_owned())
}

/// Removes what does not change a test's outcome from the end of a statement: `|| true` (the status is
/// then anything) and redirections to `/dev/null` or between standard output and error.
fn strip_harmless(tokens: &[Tok]) -> (Vec<Tok>, bool) {
    let mut tokens = tokens.to_vec();
    let mut any_status = false;
    loop {
        let n = tokens.len();
        let word = |i: usize, text: &str| matches!(tokens.get(i), Some(Tok::Word(w)) if w.is(text));
        let op = |i: usize, text: &str| matches!(tokens.get(i), Some(Tok::Op(o)) if *o == text);
        if n >= 2 && op(n - 2, "||") && (word(n - 1, "true") || word(n - 1, ":")) {
            any_status = true;
            tokens.truncate(n - 2);
            continue;
        }
        let redirect = n >= 2
            && ((["&>", ">", ">>"].iter().any(|o| op(n - 2, o)) && word(n - 1, "/dev/null"))
                || (op(n - 2, ">&") && (word(n - 1, "1") || word(n - 1, "2"))));
        if redirect {
            tokens.truncate(n - 2);
            // `2>&1`, `1>/dev/null`: the descriptor is the word glued to the operator.
            if let Some(Tok::Word(w)) = tokens.last()
                && w.glued
                && w.literal().is_some_and(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
            {
                tokens.pop();
            }
            continue;
        }
        return (tokens, any_status);
    }
}

fn operator_reason(op: &str) -> &'static str {
    match op {
        "|" | "|&" => "a pipe needs a shell",
        "&&" | "||" => "a `&&`/`||` list needs a shell",
        "&" => "a background job needs a shell",
        "<<" | "<<-" => "a here-document needs a shell",
        "(" | ")" => "a subshell needs a shell",
        _ => "a redirection needs a shell",
    }
}

/// A check of the last `run`'s `$status` or `$output`: `[ "$status" -eq 0 ]`, `[[ $output == *x* ]]`,
/// `assert_success`, `assert_output --partial x` and their kin. `None` for a statement that is no such check.
fn recognise_check(
    words: &[&Word],
    resolve: &dyn Fn(&Word) -> Result<Vec<Piece>, String>,
) -> Option<Result<Check, String>> {
    let first = words[0].literal()?;
    let values = |ws: &[&Word]| -> Result<Vec<Piece>, String> {
        let mut pieces = Vec::new();
        for w in ws {
            pieces.extend(resolve(w)?);
        }
        Ok(merge(pieces))
    };
    let output_line = |verb: &str, pieces: &[Piece]| -> Result<Check, String> {
        if pieces.iter().any(|p| matches!(p, Piece::Text(t) if t.contains('\n'))) {
            return Err("an expected output over several lines has no check-file form".into());
        }
        quoted_value(pieces).map(|v| Check::Output(format!("expect output {verb} {v}"))).ok_or_else(|| {
            "the expected output cannot be quoted (both quotes, or a `$` right before a variable)".to_owned()
        })
    };
    match first.as_str() {
        "assert_success" => return Some(Ok(Check::Status(Want::Is(0)))),
        "assert_failure" => {
            let Some(code) = words.get(1) else { return Some(Ok(Check::Status(Want::Not(0)))) };
            return Some(match resolve(code).as_deref() {
                Ok([Piece::Text(n)]) if n.parse::<i32>().is_ok() => Ok(Check::Status(Want::Is(n.parse().unwrap_or(1)))),
                _ => Err("`assert_failure` with a status only known when it runs".into()),
            });
        }
        "assert_output" => {
            let (verb, rest) = match words.get(1).and_then(|w| w.literal()).as_deref() {
                Some("--partial" | "-p") => ("contains", &words[2..]),
                Some("--regexp" | "-e") => ("matches", &words[2..]),
                _ => ("is", &words[1..]),
            };
            if rest.len() != 1 {
                return Some(Err("`assert_output` without one expected value".into()));
            }
            let dot_all = |mut pieces: Vec<Piece>| {
                if verb == "matches" {
                    pieces.insert(0, Piece::Text("(?s)".into()));
                }
                merge(pieces)
            };
            return Some(values(rest).and_then(|pieces| output_line(verb, &dot_all(pieces))));
        }
        "refute_output" | "refute_line" | "assert_line" | "assert_equal" | "refute" | "assert" => {
            return Some(Err(format!("`{first}` has no check-file form")));
        }
        "[" | "[[" | "test" => {}
        _ => return None,
    }
    let double = first == "[[";
    let inner: &[&Word] = match first.as_str() {
        "test" => &words[1..],
        _ if words.len() >= 2 && words[words.len() - 1].is(if double { "]]" } else { "]" }) => {
            &words[1..words.len() - 1]
        }
        _ => return None,
    };
    let mentions = |w: &Word| {
        // `${lines[0]}` and `$(…)` are said to need a shell where the line is converted.
        w.parts.iter().any(|p| matches!(p, Part::Var { name, .. } if is_run_variable(name)))
    };
    if !inner.iter().any(|w| mentions(w)) {
        return None;
    }
    let unsupported = || Some(Err("this check of `$status` or `$output` has no check-file form".to_owned()));
    let run_var = |w: &Word| w.only_var().filter(|n| is_run_variable(n)).map(str::to_owned);
    match inner {
        [flag, subject] if run_var(subject).is_some_and(|v| v == "output" || v == "stderr") => {
            let stream = if run_var(subject).as_deref() == Some("stderr") { "stderr" } else { "output" };
            match flag.literal().as_deref() {
                Some("-z") => Some(Ok(Check::Output(format!("expect {stream} is ''")))),
                Some("-n") => Some(Ok(Check::Output(format!("expect {stream} matches '(?s).'")))),
                _ => unsupported(),
            }
        }
        [left, op, right] => {
            let (subject, value) = match (run_var(left), run_var(right)) {
                (Some(v), None) => (v, *right),
                (None, Some(v)) if v == "status" => (v, *left),
                _ => return unsupported(),
            };
            let op = op.literal().unwrap_or_default();
            if subject == "status" {
                let code = value.literal().and_then(|t| t.parse::<i32>().ok());
                return match (op.as_str(), code) {
                    ("-eq" | "=" | "==", Some(code)) => Some(Ok(Check::Status(Want::Is(code)))),
                    ("-ne" | "!=", Some(code)) => Some(Ok(Check::Status(Want::Not(code)))),
                    _ => unsupported(),
                };
            }
            if subject == "lines" || subject == "stderr_lines" {
                return unsupported();
            }
            let stream = if subject == "stderr" { "stderr" } else { "output" };
            let line = |verb: &str, pieces: &[Piece]| {
                output_line(verb, pieces).map(|c| match c {
                    Check::Output(l) => Check::Output(l.replacen("expect output", &format!("expect {stream}"), 1)),
                    other => other,
                })
            };
            match op.as_str() {
                "=" | "==" if !double => Some(values(&[value]).and_then(|p| line("is", &p))),
                "==" | "=" => Some(glob(value, resolve).and_then(|(verb, pieces)| line(verb, &pieces))),
                "=~" if double => Some(regex(value, resolve).and_then(|pieces| line("matches", &pieces))),
                _ => unsupported(),
            }
        }
        _ => unsupported(),
    }
}

fn is_run_variable(name: &str) -> bool {
    matches!(name, "status" | "output" | "lines" | "stderr" | "stderr_lines")
}

/// `[[ $output == pattern ]]`: `*text*` contains, `text` is, `text*` and `*text` anchored regexes.
fn glob(
    word: &Word,
    resolve: &dyn Fn(&Word) -> Result<Vec<Piece>, String>,
) -> Result<(&'static str, Vec<Piece>), String> {
    let mut segments: Vec<Option<Vec<Piece>>> = Vec::new(); // None: a `*`
    let pattern = |text: &str, segments: &mut Vec<Option<Vec<Piece>>>| -> Result<(), String> {
        if text.contains(['?', '[']) {
            return Err("a glob pattern with `?` or `[…]` has no check-file form".to_owned());
        }
        for (i, chunk) in text.split('*').enumerate() {
            if i > 0 {
                segments.push(None);
            }
            if !chunk.is_empty() {
                segments.push(Some(vec![Piece::Text(chunk.to_owned())]));
            }
        }
        Ok(())
    };
    for part in &word.parts {
        match part {
            Part::Lit { text, quoted: true } => segments.push(Some(vec![Piece::Text(text.clone())])),
            Part::Lit { text, quoted: false } => pattern(text, &mut segments)?,
            Part::Var { name, quoted } => {
                let value = resolve(&Word { parts: vec![part.clone()], line: word.line, glued: false })?;
                match (&value[..], quoted) {
                    (_, true) => segments.push(Some(value)),
                    // Unquoted, a variable's value is a pattern: known for the file's constants.
                    ([], false) => {}
                    ([Piece::Text(text)], false) => pattern(text, &mut segments)?,
                    _ => return Err(format!("the unquoted `${name}` is a pattern only a shell can apply")),
                }
            }
            Part::Shell { .. } => return Err("the pattern is only known to a shell".into()),
        }
    }
    // Adjacent texts are one text.
    let mut joined: Vec<Option<Vec<Piece>>> = Vec::new();
    for segment in segments {
        match (joined.last_mut(), segment) {
            (Some(Some(a)), Some(b)) => a.extend(b),
            (_, s) => joined.push(s),
        }
    }
    let literal = |p: &[Piece]| p.iter().all(|p| matches!(p, Piece::Text(_)));
    let text = |p: &[Piece]| p.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { "" }).collect::<String>();
    match &joined[..] {
        [Some(p)] => Ok(("is", merge(p.clone()))),
        [None, Some(p), None] => Ok(("contains", merge(p.clone()))),
        [Some(p), None] if literal(p) => Ok(("matches", vec![Piece::Text(format!("\\A{}", regex_literal(&text(p))))])),
        [None, Some(p)] if literal(p) => Ok(("matches", vec![Piece::Text(format!("{}\\z", regex_literal(&text(p))))])),
        [None] | [None, None] => Ok(("matches", vec![Piece::Text(String::new())])),
        _ => Err("this glob pattern has no check-file form".into()),
    }
}

/// `[[ $output =~ regex ]]`: unquoted text is the regex, quoted text matches literally. `(?s)` first: in
/// bash's regexes (POSIX, no REG_NEWLINE) `.` matches a newline too.
fn regex(word: &Word, resolve: &dyn Fn(&Word) -> Result<Vec<Piece>, String>) -> Result<Vec<Piece>, String> {
    let mut pieces = vec![Piece::Text("(?s)".into())];
    for part in &word.parts {
        match part {
            Part::Lit { text, quoted: false } => pieces.push(Piece::Text(text.clone())),
            Part::Lit { text, quoted: true } => pieces.push(Piece::Text(regex_literal(text))),
            Part::Var { name, quoted } => {
                let value = resolve(&Word { parts: vec![part.clone()], line: word.line, glued: false })?;
                match (&value[..], quoted) {
                    // Unquoted, a variable's value is a regex (bash's rule).
                    (_, false) => pieces.extend(value),
                    ([], true) => {}
                    ([Piece::Text(text)], true) => pieces.push(Piece::Text(regex_literal(text))),
                    // Quoted, it is matched literally: a value known only when the check runs cannot be escaped.
                    _ => {
                        return Err(format!(
                            "the quoted `\"${name}\"` in a regex is matched literally only by a shell"
                        ));
                    }
                }
            }
            Part::Shell { .. } => return Err("the regex is only known to a shell".into()),
        }
    }
    Ok(merge(pieces))
}

/// Lines `first..=last` of the original as comments, their indentation kept relative to the first's.
pub(crate) fn commented(source: &[&str], first: usize, last: usize, indent: &str) -> Vec<String> {
    let line = |n: usize| source.get(n - 1).copied().unwrap_or_default();
    let indent_of = |text: &str| text.len() - text.trim_start_matches([' ', '\t']).len();
    let margin = indent_of(line(first));
    (first..=last)
        .map(|n| {
            let text = line(n);
            // Blanks and tabs are one byte each: the cut is on a character boundary.
            let text = &text[indent_of(text).min(margin)..];
            format!("{indent}# {text}").trim_end().to_owned()
        })
        .collect()
}

/// The lines of a converted block, indented.
pub(crate) fn render(out: &[Out], source: &[&str], file: &FileContext, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let with_comment = |text: String, comment: &Option<String>| match comment {
        Some(c) => format!("{text}  {c}"),
        None => text,
    };
    for item in out {
        match item {
            Out::Blank => lines.push(String::new()),
            Out::Comment(text) => lines.push(format!("{indent}{text}")),
            Out::Run { argv, status, expects, comment, .. } => {
                lines.push(with_comment(format!("{indent}run {argv}"), comment));
                match status {
                    RunStatus::Succeeds => {}
                    RunStatus::Unchecked => lines.push(format!("{indent}{}", Want::Any.line())),
                    RunStatus::Checked(want) => lines.push(format!("{indent}{}", want.line())),
                }
                lines.extend(expects.iter().map(|e| format!("{indent}{e}")));
            }
            Out::Sentence { keyword, pieces, status, comment, .. } => match status {
                Some(Want::Is(0)) => {
                    let text = expanded_text(pieces).unwrap_or_default();
                    lines.push(with_comment(format!("{indent}{keyword} {text}"), comment))
                }
                Some(want) => {
                    // A sentence expected to fail (or not checked at all): `precheck verify` gives DETIK's codes.
                    let mut argv = vec!["precheck".to_owned(), (*keyword).to_owned()];
                    argv.extend(file.detik_flags.iter().cloned());
                    argv.push(run_argument(pieces));
                    lines.push(with_comment(format!("{indent}run {}", argv.join(" ")), comment));
                    lines.push(format!("{indent}{}", want.line()));
                }
                None => {}
            },
            Out::Kept { why, first, last } => {
                lines.push(format!("{indent}# not converted: {}", crate::check_syntax::one_line(why)));
                lines.extend(commented(source, *first, *last, indent));
            }
            Out::Printed { first, last } => lines.extend(commented(source, *first, *last, indent)),
        }
    }
    // Blank lines at the edges of a block and runs of them go.
    let mut tidy: Vec<String> = Vec::new();
    for line in lines {
        if line.is_empty() && tidy.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        tidy.push(line);
    }
    while tidy.last().is_some_and(|l| l.is_empty()) {
        tidy.pop();
    }
    tidy
}
