//! Errors of the language: empty sentences and syntax errors with a span, what was expected and a suggestion.

use std::fmt;

use miette::{Diagnostic, LabeledSpan};

use crate::ast::Span;

/// Why a sentence could not be parsed. DETIK tells these two apart, and so do the exit codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentenceError {
    /// Nothing but blanks.
    #[error("empty sentence")]
    Empty,
    /// Text that is not a sentence of the language.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

impl Diagnostic for SentenceError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            Self::Empty => Some(Box::new("precheck::empty_sentence")),
            Self::Syntax(e) => e.code(),
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            Self::Empty => Some(Box::new("write an assertion such as `there are 2 pods named 'nginx'`")),
            Self::Syntax(e) => e.help(),
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        match self {
            Self::Empty => None,
            Self::Syntax(e) => e.labels(),
        }
    }
}

/// The kind of a [`SyntaxError`], stable enough to match on and shown as the diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxErrorKind {
    /// Something else was expected here (`precheck::syntax`).
    Unexpected,
    /// A quoted value is empty or has no closing quote (`precheck::quote`).
    Quote,
    /// A regular expression does not compile (`precheck::regex`).
    Regex,
    /// A property path is malformed (`precheck::property`).
    Property,
    /// A number is out of range or not a number (`precheck::number`).
    Number,
    /// `there is` with a count other than 0 or 1, or a sentence given to the wrong command
    /// (`precheck::form`).
    Form,
    /// A `${VAR}` that is not set (`precheck::variable`).
    Variable,
    /// A check-file statement in the wrong place, or a duplicate (`precheck::structure`).
    Structure,
    /// A command line that cannot be split into arguments (`precheck::command`).
    Command,
}

impl SyntaxErrorKind {
    /// The diagnostic code, such as `precheck::syntax`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unexpected => "precheck::syntax",
            Self::Quote => "precheck::quote",
            Self::Regex => "precheck::regex",
            Self::Property => "precheck::property",
            Self::Number => "precheck::number",
            Self::Form => "precheck::form",
            Self::Variable => "precheck::variable",
            Self::Structure => "precheck::structure",
            Self::Command => "precheck::command",
        }
    }
}

/// A syntax error: where, what was wrong, what was expected and, for a typo, the nearest word.
///
/// ```
/// use precheck_lang::{parse_sentence, SentenceError};
///
/// let SentenceError::Syntax(error) = parse_sentence("there are 2 pods namd 'nginx'").unwrap_err() else {
///     unreachable!()
/// };
/// assert_eq!(error.span.start, 17);
/// assert_eq!(error.help.as_deref(), Some("did you mean `named`?"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// What kind of mistake.
    pub kind: SyntaxErrorKind,
    /// The whole message, such as "expected `named`, found `namd`".
    pub message: String,
    /// Where, in the parsed text.
    pub span: Span,
    /// The short label shown under the span.
    pub label: String,
    /// A suggestion, such as "did you mean `named`?".
    pub help: Option<String>,
}

impl SyntaxError {
    /// An error of `kind` at `span`.
    pub fn new(kind: SyntaxErrorKind, span: Span, message: impl Into<String>) -> Self {
        let message = bounded(message.into());
        Self { kind, label: message.clone(), message, span, help: None }
    }

    /// The same error with a help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(bounded(help.into()));
        self
    }

    /// The same error with a short label for the span.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = bounded(label.into());
        self
    }

    /// The same error moved `by` bytes to the right (a sentence inside a check file).
    pub fn shifted(mut self, by: usize) -> Self {
        self.span = self.span.shifted(by);
        self
    }
}

impl Diagnostic for SyntaxError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.label.clone()), self.span))))
    }
}

/// An error at a place in a file — a check file's syntax error, a pipeline file's problem — with the file's
/// name and text, so it shows as `file:line:col: message (help)` on one line ([`fmt::Display`]) and as the
/// line with a caret under the place through `miette` ([`Diagnostic`]). Check files and pipeline files
/// report their errors with this one type, and the `precheck` binary renders them one way.
///
/// ```
/// use std::sync::Arc;
/// let text: Arc<str> = Arc::from("test 'a' {\n    verfy there is 1 pod\n}\n");
/// let error = precheck_lang::Located::new("a.check", text, 15..20, "check::statement", "expected a statement")
///     .with_help("did you mean `verify`?");
/// assert_eq!((error.line, error.column), (2, 5));
/// assert_eq!(error.to_string(), "a.check:2:5: expected a statement (did you mean `verify`?)");
/// ```
#[derive(Clone)]
pub struct Located {
    path: String,
    text: std::sync::Arc<str>,
    span: Span,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// A stable code, such as `pipeline::unknown_step` or `detik::unknown_keyword`.
    pub code: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
    /// The short text under the place.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Located {
    /// An error at the bytes `span` of `text`, the text of the file `path`.
    pub fn new(
        path: impl Into<String>,
        text: std::sync::Arc<str>,
        span: std::ops::Range<usize>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        let (line, column) = line_col(&text, start);
        let message = message.into();
        Self {
            path: path.into(),
            text,
            span: Span::new(start, end),
            line,
            column,
            code,
            label: "here".to_owned(),
            message,
            help: None,
        }
    }

    /// A syntax error of a check file (or a sentence) found in `text`, the text of the file `path`.
    pub fn syntax(path: impl Into<String>, text: std::sync::Arc<str>, error: &SyntaxError) -> Self {
        let mut located = Self::new(path, text, error.span.start..error.span.end, error.kind.code(), &error.message);
        located.label = error.label.clone();
        located.help = error.help.clone();
        located
    }

    /// The same error with a suggestion.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The file's path, as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The length in bytes of the line the error is on (a renderer quoting a huge line may prefer the
    /// one-line form).
    pub fn line_len(&self) -> usize {
        line_bounds(&self.text, self.span.start).len()
    }
}

impl fmt::Debug for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Located {}

impl Diagnostic for Located {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = miette::SourceSpan::new(self.span.start.into(), self.span.len().max(1));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.label.clone()), span))))
    }
}

impl miette::SourceCode for Located {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text: &'a str = &self.text;
        let contents = text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.path.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

/// The byte offset of a line and column (both from 1, the column counted in characters) in `source`: the
/// inverse of [`line_col`]; past the end of a line or of the text, its end.
///
/// ```
/// assert_eq!(precheck_lang::offset_at("ab\ncé d", 2, 3), "ab\ncé".len());
/// assert_eq!(precheck_lang::line_col("ab\ncé d", precheck_lang::offset_at("ab\ncé d", 2, 3)), (2, 3));
/// ```
pub fn offset_at(source: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, text) in source.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            let within: usize = text.chars().take(column.saturating_sub(1)).map(char::len_utf8).sum();
            return offset + within;
        }
        offset += text.len();
    }
    source.len()
}

/// Line and column (both from 1, the column counted in characters) of a byte offset in `source`.
///
/// ```
/// assert_eq!(precheck_lang::line_col("ab\ncd", 4), (2, 2));
/// ```
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    (line, source[line_bounds(source, offset).start..offset].chars().count() + 1)
}

/// The byte range of the line holding a byte offset of `source`, without its line break.
///
/// ```
/// assert_eq!(precheck_lang::line_bounds("ab\ncde\nf", 4), 3..6);
/// ```
pub fn line_bounds(source: &str, offset: usize) -> std::ops::Range<usize> {
    let at = floor_char_boundary(source, offset.min(source.len()));
    let start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = source[at..].find('\n').map_or(source.len(), |i| at + i);
    start..end
}

/// A source file that is not UTF-8 text, and where the first byte that is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: not UTF-8 text (byte 0x{byte:02x} cannot start or continue a character here)")]
pub struct NotUtf8 {
    /// 1-based line of the byte.
    pub line: usize,
    /// 1-based column (in characters) of the byte.
    pub column: usize,
    /// The byte.
    pub byte: u8,
}

/// Messages quote the input they stumbled on; a megabyte-long word is quoted by its start.
const MAX_MESSAGE: usize = 300;

pub(crate) fn bounded(text: String) -> String {
    shorten(&text, MAX_MESSAGE)
}

/// `text` cut after `max` characters, `…` marking the cut: how messages, step logs' last lines and reports
/// quote text that may be long.
///
/// ```
/// assert_eq!(precheck_lang::shorten("abcdef", 3), "abc…");
/// assert_eq!(precheck_lang::shorten("abc", 3), "abc");
/// ```
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A file's bytes as text, or where they stop being UTF-8 (files are read as bytes so that the error can
/// say where, which `read_to_string` does not).
///
/// ```
/// let error = precheck_lang::decode_utf8(b"test 'a' {\n  verify \xff\n}".to_vec()).unwrap_err();
/// assert_eq!((error.line, error.column, error.byte), (2, 10, 0xff));
/// assert_eq!(precheck_lang::decode_utf8(b"ok".to_vec()).unwrap(), "ok");
/// ```
pub fn decode_utf8(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let (line, column) = line_col(prefix, valid);
        NotUtf8 { line, column, byte: bytes[valid] }
    })
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The word of `rest` up to the next blank or quote, for "found `…`" and suggestions.
/// At most 40 characters: a megabyte-long word is quoted by its start.
pub(crate) fn word_at(rest: &str) -> &str {
    let end = rest.find([' ', '\t', '\n', '\'', '"']).unwrap_or(rest.len());
    let end = if end == 0 { rest.chars().next().map_or(0, char::len_utf8) } else { end };
    let end = rest.char_indices().nth(40).map_or(end, |(i, _)| end.min(i));
    &rest[..end]
}

/// The candidate nearest to `word` (ignoring case), if near enough to be a typo: at most one edit per three
/// characters; a candidate that differs only in case comes first. The one place "did you mean" is decided,
/// for keywords here, resource types in the cluster sources, and names in pipeline files.
///
/// ```
/// assert_eq!(precheck_lang::nearest("deploymnets", ["deployments", "daemonsets"]), Some("deployments"));
/// assert_eq!(precheck_lang::nearest("env", ["ENV", "NODES"]), Some("ENV"));
/// assert_eq!(precheck_lang::nearest("zzz", ["pods"]), None);
/// ```
pub fn nearest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = word.to_lowercase();
    if lower.is_empty() {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= (c.chars().count().max(lower.chars().count()) / 3).max(1))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(nearest("namd", ["named", "with", "in"]), Some("named"));
        assert_eq!(nearest("tehre", ["there", "at"]), Some("there"));
        assert_eq!(nearest("banana", ["named", "with", "in"]), None);
        assert_eq!(nearest("", ["in"]), None);
        assert_eq!(nearest("named", ["named", "Named"]), Some("Named"));
        assert_eq!(nearest("preflite", ["preflight", "build"]), Some("preflight"));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("héllo", 3), (1, 3));
        assert_eq!(line_col("a\nb\nc", 4), (3, 1));
        assert_eq!(line_col("abc", 99), (1, 4));
    }
}
