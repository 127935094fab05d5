//! The syntax tree of a sentence: what to look at (a [`Target`]) and what must hold ([`ClusterCheck`]).

use std::fmt;
use std::time::Duration;

use crate::field_path::FieldPath;

/// A byte range in the text that was parsed (a sentence, or a whole check file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The same span moved `by` bytes to the right (used when a sentence sits inside a check file).
    pub const fn shifted(self, by: usize) -> Self {
        Self { start: self.start + by, end: self.end + by }
    }

    /// Length in bytes.
    pub const fn len(self) -> usize {
        self.end - self.start
    }

    /// True when the span covers no byte (an error at the end of the input, for example).
    pub const fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.start, span.len()).into()
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` written at `span`.
    pub const fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

/// A regular expression as the user wrote it, compiled once at parse time.
///
/// Patterns are searched anywhere in the value (`grep -E` style): anchor them with `^…$`.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl Pattern {
    /// Compiles `source`; the error is the regex crate's explanation.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        Ok(Self { source: source.to_owned(), regex: regex::Regex::new(source)? })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The one text this pattern matches, when it is a literal anchored at both ends (`^nginx$`,
    /// `^kube\.dns$`): a name the server can select by itself. `None` for any other pattern.
    ///
    /// ```
    /// use precheck_lang::Pattern;
    ///
    /// assert_eq!(Pattern::new(r"^kube\.dns$").unwrap().exact_text().as_deref(), Some("kube.dns"));
    /// assert_eq!(Pattern::new("^nginx-").unwrap().exact_text(), None);
    /// assert_eq!(Pattern::new("^a.c$").unwrap().exact_text(), None);
    /// ```
    pub fn exact_text(&self) -> Option<String> {
        use regex_syntax::hir::{HirKind, Look};
        let hir = regex_syntax::parse(&self.source).ok()?;
        let HirKind::Concat(parts) = hir.kind() else { return None };
        let [start, middle @ .., end] = parts.as_slice() else { return None };
        let anchored =
            |part: &regex_syntax::hir::Hir, look: Look| matches!(part.kind(), HirKind::Look(l) if *l == look);
        if !anchored(start, Look::Start) || !anchored(end, Look::End) {
            return None;
        }
        let mut text = Vec::new();
        for part in middle {
            match part.kind() {
                HirKind::Literal(literal) => text.extend_from_slice(&literal.0),
                _ => return None,
            }
        }
        String::from_utf8(text).ok().filter(|t| !t.is_empty())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One parsed sentence.
///
/// ```
/// use precheck_lang::{parse_sentence, ClusterCheck, CountComparison};
///
/// let sentence = parse_sentence("there are 2 pods named 'nginx'").unwrap();
/// assert!(sentence.retry.is_none());
/// let assertion = sentence.cluster().unwrap();
/// assert_eq!(assertion.target.resource.value, "pods");
/// assert!(matches!(assertion.check, ClusterCheck::Count(CountComparison::Exactly(2))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// Present for `at most N times every Ds to …` sentences (DETIK's `try`).
    pub retry: Option<Retry>,
    /// What must hold.
    pub assertion: Assertion,
    /// The whole sentence, without leading and trailing blanks.
    pub span: Span,
}

impl Sentence {
    /// The AWS assertion, when this sentence is about an AWS account.
    pub fn aws(&self) -> Option<&crate::aws_ast::AwsAssertion> {
        match &self.assertion {
            Assertion::Aws(aws) => Some(aws),
            Assertion::Cluster(_) => None,
        }
    }

    /// The cluster assertion, when this sentence is about Kubernetes objects.
    pub fn cluster(&self) -> Option<&ClusterAssertion> {
        match &self.assertion {
            Assertion::Cluster(cluster) => Some(cluster),
            Assertion::Aws(_) => None,
        }
    }

    /// Rewrites every span with `f` (to place a sentence inside the file it came from).
    pub fn map_spans(&mut self, f: &dyn Fn(Span) -> Span) {
        self.span = f(self.span);
        if let Some(retry) = &mut self.retry {
            retry.span = f(retry.span);
        }
        match &mut self.assertion {
            Assertion::Cluster(cluster) => cluster.map_spans(f),
            Assertion::Aws(aws) => aws.map_spans(f),
        }
    }
}

/// `at most N times every Ds`: N attempts, D between two attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// How many times the condition is evaluated at most (at least 1).
    pub attempts: u32,
    /// Time between two attempts.
    pub interval: Duration,
    /// Where `at most … s` was written.
    pub span: Span,
}

impl Retry {
    /// The longest a retried sentence may wait: 7 days. The parser refuses larger budgets.
    pub const MAX_BUDGET: Duration = Duration::from_secs(7 * 24 * 3600);

    /// The time budget after the first evaluation: `(attempts - 1) × interval`. The last attempt comes at
    /// the end of it; nothing sleeps after it.
    pub fn budget(&self) -> Duration {
        self.interval.checked_mul(self.attempts.saturating_sub(1)).unwrap_or(Self::MAX_BUDGET)
    }
}

/// What a sentence asserts. AWS probes join this enum as they land.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Assertion {
    /// An assertion about Kubernetes objects.
    Cluster(ClusterAssertion),
    /// An assertion about an AWS account (preflight).
    Aws(crate::aws_ast::AwsAssertion),
}

/// An assertion about the Kubernetes objects that a [`Target`] selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAssertion {
    /// Which objects.
    pub target: Target,
    /// What must hold for them.
    pub check: ClusterCheck,
}

impl ClusterAssertion {
    fn map_spans(&mut self, f: &dyn Fn(Span) -> Span) {
        let target = &mut self.target;
        target.resource.span = f(target.resource.span);
        if let Some(name) = &mut target.name {
            name.span = f(name.span);
        }
        if let Some(labels) = &mut target.labels {
            labels.span = f(labels.span);
        }
        if let Some(Scope::Namespace(ns)) = &mut target.scope {
            ns.span = f(ns.span);
        }
        match &mut self.check {
            ClusterCheck::Count(_) => {}
            ClusterCheck::Property { property, expect } | ClusterCheck::Find { property, expect, .. } => {
                property.span = f(property.span);
                expect.map_spans(f);
            }
        }
    }
}

/// The objects a sentence is about: `<type> named '<pattern>'`, with optional labels and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The resource type as written, lower-cased (`po`, `pods`, `deployments.apps`, `Widget` → `widget`).
    pub resource: Spanned<String>,
    /// Regex searched in `metadata.name`; `None` selects every object (only with a label selector).
    pub name: Option<Spanned<Pattern>>,
    /// A Kubernetes label selector (`app=nginx,tier!=db`), from `with labels '…'`.
    pub labels: Option<Spanned<String>>,
    /// `in namespace '…'` or `in all namespaces`; `None` takes the namespace of the run.
    pub scope: Option<Scope>,
}

/// Where objects are looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(Spanned<String>),
    /// Every namespace.
    AllNamespaces,
}

/// What must hold for the selected objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterCheck {
    /// `there are N …`, `there are less than N …`, `there are more than N …`.
    Count(CountComparison),
    /// `'<property>' is '<value>' for …` and `… to get … and verify that …`: every object must satisfy it,
    /// and at least one object must match.
    Property {
        /// The property, such as `status` or `.spec.replicas`.
        property: Property,
        /// The expected value.
        expect: Expectation,
    },
    /// `… to find N … with '<property>' being '<value>'`: exactly `count` objects satisfy it.
    Find {
        /// How many objects must satisfy the expectation.
        count: u64,
        /// The property.
        property: Property,
        /// The expected value.
        expect: Expectation,
    },
}

/// How a number of objects is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountComparison {
    /// Exactly N.
    Exactly(u64),
    /// Fewer than N.
    LessThan(u64),
    /// More than N.
    MoreThan(u64),
}

impl CountComparison {
    /// The number compared with.
    pub fn count(self) -> u64 {
        match self {
            Self::Exactly(n) | Self::LessThan(n) | Self::MoreThan(n) => n,
        }
    }

    /// True when `actual` satisfies the comparison.
    pub fn holds(self, actual: u64) -> bool {
        match self {
            Self::Exactly(n) => actual == n,
            Self::LessThan(n) => actual < n,
            Self::MoreThan(n) => actual > n,
        }
    }
}

impl fmt::Display for CountComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::LessThan(n) => write!(f, "less than {n}"),
            Self::MoreThan(n) => write!(f, "more than {n}"),
        }
    }
}

/// A property of an object: a DETIK alias (`status`, `port`, `targetPort`) or a custom-columns path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// As written between the quotes.
    pub text: String,
    /// The path it reads (aliases resolved).
    pub path: FieldPath,
    /// Where it was written.
    pub span: Span,
}

/// The expected value of a property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Equal, ignoring case (`is '<value>'`, `being '<value>'`).
    Is(Spanned<String>),
    /// The case-sensitive regex is found in the value (`matches`, `matching`).
    Matches(Spanned<Pattern>),
    /// The value is a number greater than this one.
    MoreThan(Spanned<Number>),
    /// The value is a number smaller than this one.
    LessThan(Spanned<Number>),
}

impl Expectation {
    pub(crate) fn map_spans(&mut self, f: &dyn Fn(Span) -> Span) {
        match self {
            Self::Is(s) => s.span = f(s.span),
            Self::Matches(s) => s.span = f(s.span),
            Self::MoreThan(s) | Self::LessThan(s) => s.span = f(s.span),
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Is(v) => write!(f, "'{}'", v.value),
            Self::Matches(p) => write!(f, "matching '{}'", p.value),
            Self::MoreThan(n) => write!(f, "more than '{}'", n.value.text),
            Self::LessThan(n) => write!(f, "less than '{}'", n.value.text),
        }
    }
}

/// A number as written and as parsed (`'2'`, `'0.5'`).
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// As written.
    pub text: String,
    /// Its value.
    pub value: f64,
}

// Numbers come from text that parsed as a finite f64, so equality is reflexive.
impl Eq for Number {}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn only_literals_anchored_at_both_ends_have_an_exact_text() {
        let exact = |p: &str| Pattern::new(p).unwrap().exact_text();
        assert_eq!(exact("^bench-4$").as_deref(), Some("bench-4"));
        assert_eq!(exact(r"^kube\.dns\z").as_deref(), Some("kube.dns"));
        for pattern in ["nginx", "^nginx", "nginx$", "^$", "^a.c$", "(?i)^nginx$", "(?m)^nginx$", "^a|b$", "^(a)$"] {
            assert_eq!(exact(pattern), None, "{pattern}");
        }
    }
}
