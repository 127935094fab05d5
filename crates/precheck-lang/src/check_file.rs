//! Check files: named tests made of sentences and commands, with setup, teardown, tags and options.
//!
//! ```text
//! # addons/metrics-server.check
//! namespace 'kube-system'
//!
//! setup {
//!     run kubectl apply -f ${FIXTURES}/metrics-server.yaml
//! }
//!
//! test 'metrics-server is ready' {
//!     tags addons, smoke
//!     timeout 120s
//!     retries 2
//!     verify there is 1 deployment named '^metrics-server$'
//!     try at most 10 times every 5s to get pods named 'metrics-server' and verify that 'status' is 'running'
//!     run kubectl top nodes
//!     expect status 0
//!     expect output matches 'CPU'
//! }
//! ```
//!
//! The parser reads the whole file and reports every error it finds, not only the first.

use std::collections::HashMap;
use std::time::Duration;

use crate::ast::{Pattern, Scope, Sentence, Span, Spanned};
use crate::error::{SentenceError, SyntaxError, SyntaxErrorKind, nearest, word_at};
use crate::sentence::parse_sentence;
use crate::vars::expand;

/// A parsed check file.
///
/// ```
/// use precheck_lang::CheckFile;
///
/// let file = CheckFile::parse(
///     "namespace 'web'\ntest 'nginx runs' {\n  verify there are 2 pods named 'nginx'\n}\n",
///     &|_| None,
/// )
/// .unwrap();
/// assert_eq!(file.tests[0].name.value, "nginx runs");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckFile {
    /// `namespace '…'` or `all namespaces` at the top of the file.
    pub scope: Option<Scope>,
    /// `context '…'`: the kube context to use.
    pub context: Option<Spanned<String>>,
    /// `tags …` at file level: given to every test.
    pub tags: Vec<Spanned<String>>,
    /// Steps run once before the tests of the file.
    pub setup: Vec<Step>,
    /// Steps run once after the tests of the file, even when they fail.
    pub teardown: Vec<Step>,
    /// The tests, in file order.
    pub tests: Vec<Test>,
}

/// One named test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// The name, unique within the file.
    pub name: Spanned<String>,
    /// Tags, for `--tag` filters.
    pub tags: Vec<Spanned<String>>,
    /// `skip` with its reason: the test is reported as ignored.
    pub skip: Option<Spanned<String>>,
    /// Wall-clock limit for one attempt.
    pub timeout: Option<Duration>,
    /// Extra attempts after a failure (overrides `--retries`).
    pub retries: Option<u32>,
    /// Steps run before the test's own steps.
    pub setup: Vec<Step>,
    /// Steps run after them, even when they fail.
    pub teardown: Vec<Step>,
    /// The assertions and commands, in order.
    pub steps: Vec<Step>,
    /// From `test` to the closing `}`.
    pub span: Span,
}

/// A step: an assertion or a command, with its source text for traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// The statement (the whole line), in the file.
    pub span: Span,
    /// The statement as written, for reports.
    pub text: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `verify <sentence>`: evaluated once.
    Verify(Sentence),
    /// `try <sentence>`: an `at most N times every Ds …` sentence, waited for.
    Try(Sentence),
    /// `run <command>`: a process, run without a shell.
    Run(Command),
    /// `expect object 'FILE'`, `expect no object 'FILE'`, or waited for with `try at most N times every D
    /// to expect [no] object 'FILE'`.
    Object(ObjectCheck),
}

/// Objects compared with the partial objects of a YAML file (kuttl's assert and error files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCheck {
    /// The file, as written (relative to the check file's directory), `${…}` expanded.
    pub path: Spanned<String>,
    /// `expect object`: each document matches an object; `expect no object`: no document matches one.
    pub present: bool,
    /// Set for the `try at most …` form, which waits until the objects match.
    pub retry: Option<crate::ast::Retry>,
}

/// A command run as an argument list, with what its result must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments, after quote removal and `${VAR}` expansion.
    pub argv: Vec<String>,
    /// The exit status wanted (0 unless `expect status …` says otherwise).
    pub status: ExitStatus,
    /// Checks on the output.
    pub output: Vec<OutputCheck>,
}

/// The exit status a command must end with: `expect status 3`, `expect status not 0` (BATS'
/// `[ "$status" -ne 0 ]`, `assert_failure`), or `expect status any` (a BATS `run` whose status nobody checks).
///
/// ```
/// use precheck_lang::ExitStatus;
///
/// assert!(ExitStatus::Is(0).allows(Some(0)));
/// assert!(ExitStatus::Not(0).allows(Some(3)) && !ExitStatus::Not(0).allows(None));
/// assert!(ExitStatus::Any.allows(None));
/// assert_eq!(ExitStatus::Not(0).to_string(), "an exit status other than 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exactly this status.
    Is(i32),
    /// Any exit status but this one (a process killed by a signal has none, and fails it too).
    Not(i32),
    /// Whatever the command ends with, even a signal.
    Any,
}

impl Default for ExitStatus {
    fn default() -> Self {
        Self::Is(0)
    }
}

impl ExitStatus {
    /// Whether a process that exited with `code` (`None`: killed by a signal) ended as wanted.
    pub fn allows(self, code: Option<i32>) -> bool {
        match self {
            Self::Is(want) => code == Some(want),
            Self::Not(unwanted) => code.is_some_and(|c| c != unwanted),
            Self::Any => true,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Is(code) => write!(f, "exit status {code}"),
            Self::Not(code) => write!(f, "an exit status other than {code}"),
            Self::Any => f.write_str("any exit status"),
        }
    }
}

/// `expect output contains '…'` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputCheck {
    /// Which stream.
    pub stream: Stream,
    /// What must hold.
    pub expect: OutputExpectation,
    /// Where it was written.
    pub span: Span,
}

/// An output stream of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output and standard error, as BATS' `$output`.
    Output,
    /// Standard output only.
    Stdout,
    /// Standard error only.
    Stderr,
}

/// What a stream must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputExpectation {
    /// The text appears in it.
    Contains(String),
    /// The regex is found in it, without one trailing newline (`'^ok$'` matches `ok\n`).
    Matches(Pattern),
    /// It equals the text, ignoring one trailing newline.
    Is(String),
}

/// Every error of a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} error{} in check file", .errors.len(), if .errors.len() == 1 { "" } else { "s" })]
pub struct CheckFileErrors {
    /// The errors, in file order. Never empty.
    pub errors: Vec<SyntaxError>,
}

const FILE_KEYWORDS: &[&str] = &["test", "setup", "teardown", "namespace", "all", "context", "tags"];
const TEST_KEYWORDS: &[&str] =
    &["verify", "try", "run", "expect", "tags", "skip", "timeout", "retries", "setup", "teardown"];

impl CheckFile {
    /// Parses a check file. `vars` resolves `${NAME}` (usually from the environment).
    pub fn parse(source: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<Self, CheckFileErrors> {
        let mut parser = FileParser { vars, errors: Vec::new(), lines: lines(source).peekable() };
        let file = parser.file();
        if parser.errors.is_empty() {
            Ok(file)
        } else {
            // A span one past a last line without a newline (an empty tag at the end of the file) points at
            // the end: every span lies in the text, on character boundaries.
            let fit = |at: usize| crate::error::floor_char_boundary(source, at.min(source.len()));
            for e in &mut parser.errors {
                e.span = Span::new(fit(e.span.start), fit(e.span.end.max(e.span.start)));
            }
            parser.errors.sort_by_key(|e| e.span.start);
            Err(CheckFileErrors { errors: parser.errors })
        }
    }
}

/// A line without its newline and indentation; `start` is the offset of `text` in the file.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    text: &'a str,
    start: usize,
}

fn lines(source: &str) -> impl Iterator<Item = Line<'_>> + Clone {
    let mut offset = 0;
    source.split_inclusive('\n').filter_map(move |raw| {
        let line_start = offset;
        offset += raw.len();
        let body = raw.trim_end_matches(['\n', '\r']);
        let text = body.trim_start_matches([' ', '\t']);
        let text = strip_comment(text).trim_end_matches([' ', '\t']);
        let start = line_start + (body.len() - body.trim_start_matches([' ', '\t']).len());
        (!text.is_empty() && !text.starts_with('#')).then_some(Line { text, start })
    })
}

/// The line without a trailing ` # comment`: a `#` after a blank and outside quotes starts a comment
/// (`'a#b'`, `"#"` and `x#y` are not comments).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous == ' ' || previous == '\t' => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

struct FileParser<'v, 'a, I: Iterator<Item = Line<'a>>> {
    vars: &'v dyn Fn(&str) -> Option<String>,
    errors: Vec<SyntaxError>,
    lines: std::iter::Peekable<I>,
}

/// A line split into its first word and the rest.
fn split_word(line: Line<'_>) -> (&str, Line<'_>) {
    let end = line.text.find([' ', '\t']).unwrap_or(line.text.len());
    let rest = line.text[end..].trim_start_matches([' ', '\t']);
    (&line.text[..end], Line { text: rest, start: line.start + (line.text.len() - rest.len()) })
}

fn span_of(line: Line<'_>) -> Span {
    Span::new(line.start, line.start + line.text.len())
}

impl<'v, 'a, I: Iterator<Item = Line<'a>> + Clone> FileParser<'v, 'a, I> {
    fn error(&mut self, error: SyntaxError) {
        self.errors.push(error);
    }

    fn unexpected(&mut self, line: Line<'_>, word: &str, keywords: &[&str], place: &str) {
        let span = Span::new(line.start, line.start + word.len());
        let mut e =
            SyntaxError::new(SyntaxErrorKind::Structure, span, format!("unexpected `{word}` {place}")).with_label(
                format!("expected one of {}", keywords.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
            );
        if let Some(k) = nearest(word, keywords.iter().copied()) {
            e = e.with_help(format!("did you mean `{k}`?"));
        }
        self.error(e);
    }

    fn file(&mut self) -> CheckFile {
        let mut file = CheckFile::default();
        let mut seen_setup = false;
        let mut seen_teardown = false;
        // Where each test name was first defined: a lookup per test, not a scan of the tests so far.
        let mut names: HashMap<String, Span> = HashMap::new();
        while let Some(line) = self.lines.next() {
            let (word, rest) = split_word(line);
            match word.to_ascii_lowercase().as_str() {
                "test" | "@test" => {
                    for test in self.tests(line, rest) {
                        if let Some(&first) = names.get(&test.name.value) {
                            self.error(
                                SyntaxError::new(
                                    SyntaxErrorKind::Structure,
                                    test.name.span,
                                    format!("a test named '{}' is already defined", test.name.value),
                                )
                                .with_help(format!(
                                    "test names are unique in a file; the first one starts at byte {}",
                                    first.start
                                )),
                            );
                        }
                        names.entry(test.name.value.clone()).or_insert(test.name.span);
                        file.tests.push(test);
                    }
                }
                "setup" | "teardown" => {
                    let is_setup = word.eq_ignore_ascii_case("setup");
                    let seen = if is_setup { &mut seen_setup } else { &mut seen_teardown };
                    if std::mem::replace(seen, true) {
                        self.error(SyntaxError::new(
                            SyntaxErrorKind::Structure,
                            span_of(line),
                            format!("a file has one `{}` block", word.to_ascii_lowercase()),
                        ));
                    }
                    let steps = self.block_steps(line, rest);
                    if is_setup {
                        file.setup.extend(steps);
                    } else {
                        file.teardown.extend(steps);
                    }
                }
                "namespace" | "all" | "context" => self.scope_statement(line, &mut file),
                "tags" => file.tags.extend(self.tags(rest)),
                "}" => self.error(SyntaxError::new(SyntaxErrorKind::Structure, span_of(line), "`}` closes no block")),
                _ => {
                    let (first, _) = split_word(line);
                    if TEST_KEYWORDS.contains(&first.to_ascii_lowercase().as_str()) {
                        self.error(
                            SyntaxError::new(
                                SyntaxErrorKind::Structure,
                                Span::new(line.start, line.start + first.len()),
                                format!("`{first}` belongs inside a `test '…' {{ … }}` block"),
                            )
                            .with_help("wrap the steps in `test 'name' {` … `}`"),
                        );
                    } else {
                        self.unexpected(line, word_at(line.text), FILE_KEYWORDS, "at the top of the file");
                        // Skip the block it opens, so its `}` is not reported again.
                        if line.text.ends_with('{') {
                            self.skip_block();
                        }
                    }
                }
            }
        }
        file
    }

    fn scope_statement(&mut self, line: Line<'_>, file: &mut CheckFile) {
        let (word, rest) = split_word(line);
        let Some(expanded) = self.expand(rest) else {
            return;
        };
        match word.to_ascii_lowercase().as_str() {
            "namespace" => {
                if let Some(ns) = self.quoted_value(rest, &expanded, "namespace")
                    && file.scope.replace(Scope::Namespace(ns)).is_some()
                {
                    self.duplicate(line, "namespace");
                }
            }
            "all" => {
                if rest.text.eq_ignore_ascii_case("namespaces") {
                    if file.scope.replace(Scope::AllNamespaces).is_some() {
                        self.duplicate(line, "namespace");
                    }
                } else {
                    self.error(SyntaxError::new(
                        SyntaxErrorKind::Unexpected,
                        span_of(rest),
                        format!("expected `namespaces`, found `{}`", word_at(rest.text)),
                    ));
                }
            }
            _ => {
                if let Some(ctx) = self.quoted_value(rest, &expanded, "kube context")
                    && file.context.replace(ctx).is_some()
                {
                    self.duplicate(line, "context");
                }
            }
        }
    }

    fn duplicate(&mut self, line: Line<'_>, what: &str) {
        self.error(SyntaxError::new(
            SyntaxErrorKind::Structure,
            span_of(line),
            format!("the {what} is already set in this file"),
        ));
    }

    fn expand(&mut self, line: Line<'_>) -> Option<crate::vars::Expanded> {
        match expand(line.text, line.start, self.vars) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(e);
                None
            }
        }
    }

    /// `'value'` (or `"value"`) filling the whole rest of a line; only an expected output may be empty.
    fn quoted_value(
        &mut self,
        line: Line<'_>,
        expanded: &crate::vars::Expanded,
        what: &str,
    ) -> Option<Spanned<String>> {
        let may_be_empty = what == "output";
        let text = expanded.text.as_str();
        let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"');
        let error = |message: String| {
            SyntaxError::new(SyntaxErrorKind::Quote, span_of(line), message)
                .with_help(format!("write the {what} between quotes: '…'"))
        };
        let Some(q) = quote else {
            self.error(error(format!("expected a quoted {what}")));
            return None;
        };
        match text[1..].find(q) {
            Some(end) if end + 2 == text.len() && (end > 0 || may_be_empty) => {
                let span = Span::new(line.start + expanded.original(1), line.start + expanded.original(end + 1));
                Some(Spanned::new(text[1..=end].to_owned(), span))
            }
            _ => {
                self.error(error(format!("expected a quoted {what} and nothing after it")));
                None
            }
        }
    }

    fn tags(&mut self, rest: Line<'_>) -> Vec<Spanned<String>> {
        let mut tags = Vec::new();
        let mut offset = 0;
        for part in rest.text.split(',') {
            let tag = part.trim();
            let start = rest.start + offset + (part.len() - part.trim_start().len());
            offset += part.len() + 1;
            if tag.is_empty() || !tag.chars().all(|c| c.is_alphanumeric() || "-_./:".contains(c)) {
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::Unexpected,
                        Span::new(start, start + tag.len().max(1)),
                        "expected a tag",
                    )
                    .with_help("tags are words of letters, digits, `-`, `_`, `.`, `/`, `:` separated by commas"),
                );
                continue;
            }
            tags.push(Spanned::new(tag.to_owned(), Span::new(start, start + tag.len())));
        }
        tags
    }

    /// Parses `{` at the end of `rest`, then lines up to the matching `}`. Returns false when there is no `{`.
    fn expect_open(&mut self, header: Line<'_>, rest: &str) -> bool {
        if rest.ends_with('{') {
            return true;
        }
        self.error(
            SyntaxError::new(SyntaxErrorKind::Structure, span_of(header), "expected `{` at the end of the line")
                .with_label("this block has no `{`"),
        );
        false
    }

    fn block_steps(&mut self, header: Line<'_>, rest: Line<'_>) -> Vec<Step> {
        if rest.text != "{" {
            if !self.expect_open(header, rest.text) {
                return Vec::new();
            }
            self.error(SyntaxError::new(
                SyntaxErrorKind::Structure,
                span_of(rest),
                "expected only `{` after `setup`/`teardown`",
            ));
        }
        let mut steps = Vec::new();
        let mut pending: Option<Step> = None;
        loop {
            let Some(line) = self.lines.next() else {
                self.unclosed(header);
                break;
            };
            if line.text == "}" {
                break;
            }
            self.step_line(line, &mut pending, &mut steps, &["verify", "try", "run", "expect"]);
        }
        steps.extend(pending);
        steps
    }

    fn unclosed(&mut self, header: Line<'_>) {
        self.error(
            SyntaxError::new(SyntaxErrorKind::Structure, span_of(header), "block is never closed")
                .with_label("opened here")
                .with_help("add a line with `}` at the end of the block"),
        );
    }

    /// One line inside a block: a step, or an `expect` that belongs to the previous `run`.
    fn step_line(&mut self, line: Line<'_>, pending: &mut Option<Step>, steps: &mut Vec<Step>, allowed: &[&str]) {
        let (word, rest) = split_word(line);
        let lower = word.to_ascii_lowercase();
        let object_form = |text: &str| {
            let words: Vec<String> = text.split_whitespace().take(2).map(str::to_ascii_lowercase).collect();
            // `no …` has no meaning after a `run` either: it is read (and said wrong) as an object check.
            words.first().is_some_and(|w| matches!(w.as_str(), "object" | "objects" | "no"))
        };
        let waits_for_object = lower == "try" && {
            let text = rest.text.to_ascii_lowercase();
            text.contains(" to expect object ") || text.contains(" to expect no object ")
        };
        if (lower == "expect" && object_form(rest.text)) || waits_for_object {
            let action = self.object_check(&lower, rest).map(Action::Object);
            steps.extend(pending.take());
            if let Some(action) = action {
                *pending = Some(Step { action, span: span_of(line), text: line.text.to_owned() });
            }
            return;
        }
        if lower == "expect" {
            match pending.as_mut().map(|s| &mut s.action) {
                Some(Action::Run(command)) => {
                    if let Some(span_end) = self.expectation(rest, command) {
                        let step = pending.as_mut().expect("pending step");
                        step.span.end = span_end;
                        step.text.push('\n');
                        step.text.push_str(line.text);
                    }
                }
                _ => self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::Structure,
                        Span::new(line.start, line.start + word.len()),
                        "`expect` must follow a `run` step",
                    )
                    .with_help("write `run <command>` first, then `expect status …` or `expect output …`"),
                ),
            }
            return;
        }
        let action = match lower.as_str() {
            "verify" | "try" => self.sentence_step(&lower, rest),
            "run" => self.command(rest).map(Action::Run),
            _ => {
                self.unexpected(line, word, allowed, "in a block");
                return;
            }
        };
        steps.extend(pending.take());
        if let Some(action) = action {
            *pending = Some(Step { action, span: span_of(line), text: line.text.to_owned() });
        }
    }

    fn sentence_step(&mut self, word: &str, rest: Line<'_>) -> Option<Action> {
        let expanded = self.expand(rest)?;
        if let Err(e) = expanded.check_values(rest.text, rest.start) {
            self.error(e);
            return None;
        }
        let map = |span: Span| expanded.original_span(span).shifted(rest.start);
        match parse_sentence(&expanded.text) {
            Ok(mut sentence) => {
                sentence.map_spans(&map);
                match (word, sentence.retry.is_some()) {
                    ("verify", false) => Some(Action::Verify(sentence)),
                    ("try", true) => Some(Action::Try(sentence)),
                    ("verify", true) => {
                        self.error(
                            SyntaxError::new(
                                SyntaxErrorKind::Form,
                                sentence.retry.map(|r| r.span).unwrap_or_default(),
                                "`verify` evaluates once; this sentence retries",
                            )
                            .with_help("write `try at most …`"),
                        );
                        None
                    }
                    _ => {
                        self.error(
                            SyntaxError::new(
                                SyntaxErrorKind::Form,
                                sentence.span,
                                "`try` needs a sentence that starts with `at most N times every Ds`",
                            )
                            .with_help("write `verify …` to evaluate once, or `try at most 5 times every 5s to get …`"),
                        );
                        None
                    }
                }
            }
            Err(SentenceError::Empty) => {
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::Unexpected,
                        Span::new(rest.start, rest.start),
                        format!("expected a sentence after `{word}`"),
                    )
                    .with_label("empty sentence"),
                );
                None
            }
            Err(SentenceError::Syntax(e)) => {
                let span = map(e.span);
                self.error(SyntaxError { span, ..e });
                None
            }
        }
    }

    /// `[no] object 'FILE'` after `expect`, or `at most N times every D to expect [no] object 'FILE'`
    /// after `try`.
    fn object_check(&mut self, word: &str, rest: Line<'_>) -> Option<ObjectCheck> {
        let expanded = self.expand(rest)?;
        let text = expanded.text.as_str();
        let lower = text.to_ascii_lowercase();
        let usage = "write `expect object 'objects.yaml'`, `expect no object 'objects.yaml'` or `try at most 10 \
                     times every 3s to expect object 'objects.yaml'`";
        let at = |from: usize, to: usize| {
            Span::new(rest.start + expanded.original(from), rest.start + expanded.original(to.max(from + 1)))
        };
        let (retry, clause) = if word == "try" {
            let cut = lower.find(" to expect ").expect("the caller found it");
            let words: Vec<&str> = text[..cut].split_whitespace().collect();
            let wrong = |what: &str| {
                SyntaxError::new(
                    SyntaxErrorKind::Form,
                    at(0, cut),
                    format!("expected `at most N times every D`, {what}"),
                )
                .with_help(usage)
            };
            let [at_word, most, attempts, times, every, interval] = words[..] else {
                self.error(wrong(&format!("found `{}`", &text[..cut])));
                return None;
            };
            if !at_word.eq_ignore_ascii_case("at")
                || !most.eq_ignore_ascii_case("most")
                || !times.eq_ignore_ascii_case("times")
                || !every.eq_ignore_ascii_case("every")
            {
                self.error(wrong(&format!("found `{}`", &text[..cut])));
                return None;
            }
            let Some(attempts) = attempts.parse::<u32>().ok().filter(|n| *n >= 1) else {
                self.error(wrong(&format!("and N a number of attempts (at least 1), found `{attempts}`")));
                return None;
            };
            let Ok(interval) = crate::parse_duration(interval) else {
                self.error(wrong(&format!("and D a duration such as `5s` or `1m30s`, found `{interval}`")));
                return None;
            };
            let retry = crate::ast::Retry { attempts, interval, span: at(0, cut) };
            let budget = interval.checked_mul(attempts.saturating_sub(1));
            if budget.is_none_or(|b| b > crate::ast::Retry::MAX_BUDGET) {
                self.error(wrong("and a wait shorter than 7 days"));
                return None;
            }
            (Some(retry), cut + " to expect ".len())
        } else {
            (None, 0)
        };
        let skip_blanks = |from: usize| from + (text[from..].len() - text[from..].trim_start().len());
        // The word at `from` (blanks end it), in lower case.
        let word_at = |from: usize| lower[from..].split(char::is_whitespace).next().unwrap_or_default();
        let mut from = skip_blanks(clause);
        let present = word_at(from) != "no";
        if !present {
            from = skip_blanks(from + "no".len());
        }
        if word_at(from) != "object" {
            let found = word_at(from);
            self.error(
                SyntaxError::new(
                    SyntaxErrorKind::Unexpected,
                    at(from, from + found.len()),
                    format!("expected `object` or `no object`, found `{found}`"),
                )
                .with_help(usage),
            );
            return None;
        }
        from = skip_blanks(from + "object".len());
        let value = &text[from..];
        let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"');
        let close = quote.and_then(|q| value[1..].find(q));
        match close {
            Some(close) if close > 0 && close + 2 == value.len() => Some(ObjectCheck {
                path: Spanned::new(value[1..=close].to_owned(), at(from + 1, from + 1 + close)),
                present,
                retry,
            }),
            _ => {
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::Quote,
                        at(from, text.len()),
                        "expected a quoted YAML file of objects and nothing after it",
                    )
                    .with_help(usage),
                );
                None
            }
        }
    }

    fn command(&mut self, rest: Line<'_>) -> Option<Command> {
        match split_command(rest.text, rest.start, self.vars) {
            Ok(argv) if argv.is_empty() => {
                self.error(SyntaxError::new(SyntaxErrorKind::Command, span_of(rest), "expected a command after `run`"));
                None
            }
            Ok(argv) => Some(Command { argv, status: ExitStatus::default(), output: Vec::new() }),
            Err(e) => {
                self.error(e);
                None
            }
        }
    }

    /// `status N` or `(output|stdout|stderr) (contains|matches|is) '…'`. Returns the end of the line.
    fn expectation(&mut self, rest: Line<'_>, command: &mut Command) -> Option<usize> {
        let (what, tail) = split_word(rest);
        let end = rest.start + rest.text.len();
        match what.to_ascii_lowercase().as_str() {
            "status" => {
                let (first, number) = split_word(tail);
                let parsed = match first.to_ascii_lowercase().as_str() {
                    "any" if number.text.is_empty() => Ok(ExitStatus::Any),
                    "not" => number.text.parse::<i32>().map(ExitStatus::Not).map_err(|_| number),
                    _ => tail.text.parse::<i32>().map(ExitStatus::Is).map_err(|_| tail),
                };
                match parsed {
                    Ok(status) => {
                        command.status = status;
                        Some(end)
                    }
                    Err(at) => {
                        self.error(
                            SyntaxError::new(
                                SyntaxErrorKind::Number,
                                span_of(at),
                                "expected an exit status such as `0`, `not 0` or `any`",
                            )
                            .with_label("expected a number"),
                        );
                        None
                    }
                }
            }
            "output" | "stdout" | "stderr" => {
                let stream = match what.to_ascii_lowercase().as_str() {
                    "output" => Stream::Output,
                    "stdout" => Stream::Stdout,
                    _ => Stream::Stderr,
                };
                let (verb, value) = split_word(tail);
                let expanded = self.expand(value)?;
                let text = self.quoted_value(value, &expanded, "output")?;
                let expect = match verb.to_ascii_lowercase().as_str() {
                    "contains" => OutputExpectation::Contains(text.value),
                    "is" => OutputExpectation::Is(text.value),
                    "matches" => match Pattern::new(&text.value) {
                        Ok(p) => OutputExpectation::Matches(p),
                        Err(e) => {
                            let problem = crate::sentence::PatternProblem::of(&e);
                            self.error(
                                SyntaxError::new(SyntaxErrorKind::Regex, text.span, problem.message(""))
                                    .with_label(problem.label)
                                    .with_help(problem.help),
                            );
                            return None;
                        }
                    },
                    _ => {
                        let mut e = SyntaxError::new(
                            SyntaxErrorKind::Unexpected,
                            Span::new(tail.start, tail.start + verb.len()),
                            format!("expected `contains`, `matches` or `is`, found `{verb}`"),
                        );
                        if let Some(k) = nearest(verb, ["contains", "matches", "is"]) {
                            e = e.with_help(format!("did you mean `{k}`?"));
                        }
                        self.error(e);
                        return None;
                    }
                };
                command.output.push(OutputCheck { stream, expect, span: Span::new(rest.start, end) });
                Some(end)
            }
            _ => {
                let mut e = SyntaxError::new(
                    SyntaxErrorKind::Unexpected,
                    Span::new(rest.start, rest.start + what.len()),
                    format!("expected `status`, `output`, `stdout` or `stderr`, found `{what}`"),
                );
                if let Some(k) = nearest(what, ["status", "output", "stdout", "stderr"]) {
                    e = e.with_help(format!("did you mean `{k}`?"));
                }
                self.error(e);
                None
            }
        }
    }

    /// A test, or with `for each VAR in 'a', 'b' {` one test per item: the body is read once per item with
    /// `${VAR}` set to it, and the item goes into the name (where it says `${VAR}`, else as ` [item]`).
    /// An error the body has at one place is reported once (for the first item that has it).
    fn tests(&mut self, header: Line<'a>, rest: Line<'a>) -> Vec<Test> {
        let (var, items) = match self.for_each(rest) {
            Ok(None) => return self.test(header, rest, false).into_iter().collect(),
            Ok(Some(clause)) => clause,
            // Said already; the body is not read (its `${NAME}` would only add errors).
            Err(()) => {
                self.skip_block();
                return Vec::new();
            }
        };
        let body = self.lines.clone();
        let outer = self.vars;
        let mut tests = Vec::new();
        let mut errors: Vec<SyntaxError> = Vec::new();
        for item in &items {
            let vars = |name: &str| if name == var { Some(item.value.clone()) } else { outer(name) };
            let mut each = FileParser { vars: &vars, errors: Vec::new(), lines: body.clone() };
            if let Some(mut test) = each.test(header, rest, true) {
                let placeholder = format!("${{{var}}}");
                test.name.value = if test.name.value.contains(&placeholder) {
                    test.name.value.replace(&placeholder, &item.value)
                } else {
                    format!("{} [{}]", test.name.value, item.value)
                };
                tests.push(test);
            }
            // The same mistake in every item's copy of the body (the message may quote the item): once.
            for e in each.errors {
                if !errors.iter().any(|seen| seen.span == e.span && seen.kind == e.kind) {
                    errors.push(e);
                }
            }
            self.lines = each.lines;
        }
        self.errors.extend(errors);
        tests
    }

    /// The `for each VAR in 'a', 'b' {` clause after a test's name: the variable and the items (quoted,
    /// separated by commas or blanks, `${…}` expanded), `None` when the test has no such clause, an error
    /// (said) when the clause is malformed.
    #[allow(clippy::type_complexity)]
    fn for_each(&mut self, rest: Line<'a>) -> Result<Option<(String, Vec<Spanned<String>>)>, ()> {
        let text = rest.text;
        let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') else { return Ok(None) };
        let Some(end) = text[1..].find(quote).map(|e| e + 2) else { return Ok(None) };
        let after = &text[end..];
        let clause = after.trim_start();
        let words: Vec<&str> = clause.split_whitespace().take(2).collect();
        if words.len() < 2 || !words[0].eq_ignore_ascii_case("for") || !words[1].eq_ignore_ascii_case("each") {
            return Ok(None);
        }
        let at = rest.start + end + (after.len() - clause.len());
        let clause_line = Line { text: clause, start: at };
        let error = |message: &str, help: &str| {
            SyntaxError::new(SyntaxErrorKind::Structure, span_of(clause_line), message.to_owned())
                .with_help(help.to_owned())
        };
        let usage = "write `test 'pods in ${NS}' for each NS in 'team-a', 'team-b' {`";
        let body = clause.strip_suffix('{').map(str::trim_end);
        // After `for` and `each` (whatever blanks are between them).
        let spec = body
            .map(|b| b.trim_start()[3..].trim_start())
            .and_then(|b| b.get(4..))
            .map(str::trim_start)
            .unwrap_or_default();
        let (var, items) = spec.split_once(char::is_whitespace).unwrap_or((spec, ""));
        let items = items.trim_start();
        let valid_name = var.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let Some(items) = items.strip_prefix("in").filter(|i| i.starts_with([' ', '\t'])) else {
            let message = if body.is_none() {
                "expected `{` at the end of the line"
            } else {
                "expected `for each NAME in 'item', …`"
            };
            self.error(error(message, usage));
            return Err(());
        };
        if !valid_name {
            self.error(error(&format!("expected a variable name after `for each`, found `{var}`"), usage));
            return Err(());
        }
        // `items` lies inside `clause`: its offset there is the distance between their starts.
        let items_start = at + (items.as_ptr() as usize - clause.as_ptr() as usize);
        let expanded = self.expand(Line { text: items, start: items_start }).ok_or(())?;
        let mut values: Vec<Spanned<String>> = Vec::new();
        let mut rest_text = expanded.text.as_str();
        let mut offset = 0;
        loop {
            let trimmed = rest_text.trim_start_matches([' ', '\t', ',']);
            offset += rest_text.len() - trimmed.len();
            rest_text = trimmed;
            if rest_text.is_empty() {
                break;
            }
            let q = rest_text.chars().next().filter(|c| *c == '\'' || *c == '"');
            let close = q.and_then(|q| rest_text[1..].find(q));
            let (Some(_), Some(close)) = (q, close) else {
                let start = items_start + expanded.original(offset);
                let end = items_start + expanded.original(offset + rest_text.len() - 1) + 1;
                self.error(
                    SyntaxError::new(SyntaxErrorKind::Quote, Span::new(start, end), "expected a quoted item")
                        .with_help(usage),
                );
                return Err(());
            };
            let span = Span::new(
                items_start + expanded.original(offset + 1),
                items_start + expanded.original(offset + 1 + close),
            );
            let value = rest_text[1..=close].to_owned();
            if value.trim().is_empty() {
                self.error(SyntaxError::new(SyntaxErrorKind::Quote, span, "an item is empty").with_help(usage));
            } else if values.iter().any(|v| v.value == value) {
                self.error(SyntaxError::new(
                    SyntaxErrorKind::Structure,
                    span,
                    format!("the item '{value}' is listed twice"),
                ));
            } else {
                values.push(Spanned::new(value, span));
            }
            offset += close + 2;
            rest_text = &rest_text[close + 2..];
        }
        if values.is_empty() {
            self.error(error("expected at least one item after `in`", usage));
            return Err(());
        }
        Ok(Some((var.to_owned(), values)))
    }

    /// A test. `clause_read`: its header's `for each … {` clause was read by [`Self::for_each`].
    fn test(&mut self, header: Line<'_>, rest: Line<'_>, clause_read: bool) -> Option<Test> {
        // test 'name' {   (or: test 'name' for each NAME in … {, the clause read by `for_each`)
        let text = rest.text;
        let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"');
        let name = quote.and_then(|q| text[1..].find(q).map(|end| (q, end)));
        let Some((_, end)) = name.filter(|&(_, end)| end > 0) else {
            self.error(
                SyntaxError::new(SyntaxErrorKind::Quote, span_of(rest), "expected a quoted, non-empty test name")
                    .with_help("write `test 'what this checks' {`"),
            );
            self.skip_block();
            return None;
        };
        let name = Spanned::new(text[1..=end].to_owned(), Span::new(rest.start + 1, rest.start + 1 + end));
        let after = text[end + 2..].trim();
        let after = if clause_read { "{" } else { after };
        if after != "{" {
            self.error(
                SyntaxError::new(
                    SyntaxErrorKind::Structure,
                    Span::new(rest.start + end + 2, rest.start + text.len()),
                    "expected `{` after the test name",
                )
                .with_label(if after.is_empty() {
                    "missing `{`".to_owned()
                } else {
                    format!("found `{after}`")
                }),
            );
            if !after.ends_with('{') {
                return None;
            }
        }
        let mut test = Test {
            name,
            tags: Vec::new(),
            skip: None,
            timeout: None,
            retries: None,
            setup: Vec::new(),
            teardown: Vec::new(),
            steps: Vec::new(),
            span: span_of(header),
        };
        let mut pending = None;
        loop {
            let Some(line) = self.lines.peek().copied() else {
                self.unclosed(header);
                break;
            };
            let (word, rest) = split_word(line);
            if word.eq_ignore_ascii_case("test") || word.eq_ignore_ascii_case("@test") {
                // Left for the file level, so the next test is parsed as a test.
                self.error(
                    SyntaxError::new(SyntaxErrorKind::Structure, span_of(header), "this test is never closed")
                        .with_label("opened here")
                        .with_help("close it with a line holding `}` before the next test"),
                );
                test.span.end = line.start;
                break;
            }
            self.lines.next();
            if line.text == "}" {
                test.span.end = line.start + 1;
                break;
            }
            match word.to_ascii_lowercase().as_str() {
                "tags" => test.tags.extend(self.tags(rest)),
                "skip" => {
                    let reason = if rest.text.is_empty() {
                        Some(Spanned::new(String::new(), span_of(line)))
                    } else {
                        self.expand(rest).and_then(|e| self.quoted_value(rest, &e, "reason"))
                    };
                    test.skip = reason;
                }
                "timeout" => test.timeout = self.duration(rest),
                "retries" => match rest.text.parse::<u32>() {
                    Ok(n) => test.retries = Some(n),
                    Err(_) => self.error(SyntaxError::new(
                        SyntaxErrorKind::Number,
                        span_of(rest),
                        "expected a number of retries such as `2`",
                    )),
                },
                "setup" => test.setup.extend(self.block_steps(line, rest)),
                "teardown" => test.teardown.extend(self.block_steps(line, rest)),
                _ => self.step_line(line, &mut pending, &mut test.steps, TEST_KEYWORDS),
            }
        }
        test.steps.extend(pending);
        Some(test)
    }

    fn skip_block(&mut self) {
        for line in self.lines.by_ref() {
            if line.text == "}" {
                break;
            }
        }
    }

    fn duration(&mut self, rest: Line<'_>) -> Option<Duration> {
        match crate::duration::parse_duration(rest.text) {
            Ok(d) if !d.is_zero() => Some(d),
            result => {
                let message = match result {
                    Ok(_) => "expected a duration longer than zero",
                    Err(_) => "expected a duration such as `90s`, `1m30s` or `500ms`",
                };
                self.error(SyntaxError::new(SyntaxErrorKind::Number, span_of(rest), message));
                None
            }
        }
    }
}

/// Splits a command line into arguments like a shell would, but runs nothing: `'…'` is literal, `"…"`
/// allows `\"` and `\\`, `${VAR}` expands outside single quotes, and shell operators are refused.
fn split_command(text: &str, base: usize, vars: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, SyntaxError> {
    let mut argv = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut current: Option<String> = None;
    let error = |at: usize, len: usize, message: &str| {
        SyntaxError::new(SyntaxErrorKind::Command, Span::new(base + at, base + at + len), message)
    };
    let expand_at =
        |at: usize, raw: &str| -> Result<String, SyntaxError> { expand(raw, base + at, vars).map(|e| e.text) };
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(word) = current.take() {
                    argv.push(word);
                }
            }
            '\'' => {
                let word = current.get_or_insert_with(String::new);
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '\'' {
                        closed = true;
                        break;
                    }
                    word.push(c);
                }
                if !closed {
                    return Err(error(i, 1, "unterminated `'`"));
                }
            }
            '"' => {
                let start = i + 1;
                let mut raw = String::new();
                let mut closed = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = Some(j);
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => raw.push(e),
                            Some((_, other)) => {
                                raw.push('\\');
                                raw.push(other);
                            }
                            None => raw.push('\\'),
                        },
                        c => raw.push(c),
                    }
                }
                let Some(end) = closed else {
                    return Err(error(i, 1, "unterminated `\"`"));
                };
                // Variables are checked in the text as written, so an error points at the right column
                // even after `\"` escapes; the value is then built from the unescaped text.
                expand_at(start, &text[start..end])?;
                let expanded = expand_at(start, &raw)?;
                current.get_or_insert_with(String::new).push_str(&expanded);
            }
            '|' | '&' | ';' | '<' | '>' | '`' => {
                return Err(error(i, 1, &format!("`{c}` needs a shell, and `run` starts no shell")).with_help(
                    "quote it to pass it as an argument, or write `run sh -c '…'` to ask for a shell explicitly",
                ));
            }
            '$' if text[i..].starts_with("$(") => {
                return Err(error(i, 2, "`$(…)` needs a shell, and `run` starts no shell")
                    .with_help("write `run sh -c '…'` to ask for a shell explicitly"));
            }
            _ => {
                let start = i;
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if matches!(d, ' ' | '\t' | '\'' | '"' | '|' | '&' | ';' | '<' | '>' | '`')
                        || text[j..].starts_with("$(")
                    {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let expanded = expand_at(start, &text[start..end])?;
                current.get_or_insert_with(String::new).push_str(&expanded);
            }
        }
    }
    argv.extend(current);
    Ok(argv)
}

#[cfg(test)]
mod tests;
