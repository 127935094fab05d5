//! The sentence grammar (nom). Private: the public surface is [`parse_sentence`] and the AST.
//!
//! Each terminal parser fails with the set of things it expected; `alt` keeps the failure that got furthest
//! and merges the expectations of failures at the same place, so an error names everything that could have
//! been written there.

use std::time::Duration;

use nom::bytes::complete::{tag, tag_no_case, take_till, take_while, take_while1};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

use crate::ast::{
    Assertion, ClusterAssertion, ClusterCheck, CountComparison, Expectation, Number, Pattern, Property, Retry, Scope,
    Sentence, Span, Spanned, Target,
};
use crate::aws_ast::AwsAssertion;
use crate::error::{SentenceError, SyntaxError, SyntaxErrorKind, nearest, word_at};
use crate::field_path::FieldPath;

/// Parses one sentence (a DETIK sentence or a Precheck extension).
///
/// Leading and trailing blanks are ignored; spans are byte offsets into `text`.
///
/// ```
/// use precheck_lang::{parse_sentence, SentenceError};
///
/// let s = parse_sentence("at most 5 times every 30s to get pods named 'nginx' and verify that 'status' is 'running'")
///     .unwrap();
/// assert_eq!(s.retry.unwrap().attempts, 5);
/// assert_eq!(parse_sentence("   "), Err(SentenceError::Empty));
/// ```
pub fn parse_sentence(text: &str) -> Result<Sentence, SentenceError> {
    let trimmed = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let lead = text.len() - trimmed.len();
    let trimmed = trimmed.trim_end_matches([' ', '\t', '\r', '\n']);
    if trimmed.is_empty() {
        return Err(SentenceError::Empty);
    }
    let ctx = Ctx { full: trimmed };
    let result = match sentence(&ctx, trimmed) {
        Ok(("", mut s)) => {
            s.span = Span::new(0, trimmed.len());
            Ok(s)
        }
        Ok((rest, s)) => Err(ctx.error(GErr::expected(rest.trim_start_matches(is_blank), followers(&s)))),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(ctx.error(e)),
        Err(nom::Err::Incomplete(_)) => Err(ctx.error(GErr::expected(trimmed, vec![Expected::End]))),
    };
    match result {
        Ok(mut s) => {
            s.map_spans(&|span| span.shifted(lead));
            Ok(s)
        }
        Err(e) => Err(SentenceError::Syntax(e.shifted(lead))),
    }
}

/// What could come after a complete sentence, for the "expected …" of trailing text.
fn followers(s: &Sentence) -> Vec<Expected> {
    let mut expected = Vec::new();
    let c = match &s.assertion {
        Assertion::Cluster(c) => c,
        Assertion::Aws(aws) => {
            if matches!(aws, AwsAssertion::FreeIps { .. } | AwsAssertion::EveryTaggedSubnetFreeIps { .. }) {
                expected.push(Expected::Keyword("addresses"));
            }
            expected.push(Expected::End);
            return expected;
        }
    };
    if matches!(c.check, ClusterCheck::Count(_)) || s.retry.is_none() {
        // The target ends these sentences, so its optional clauses may follow.
        expected.extend(target_followers(&c.target));
    }
    expected.push(Expected::End);
    expected
}

fn target_followers(target: &Target) -> Vec<Expected> {
    let mut expected = Vec::new();
    if target.labels.is_none() && target.scope.is_none() {
        expected.push(Expected::Keyword("with labels"));
    }
    if target.scope.is_none() {
        expected.push(Expected::Keyword("in"));
    }
    expected
}

/// Something the parser expected.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Keyword(&'static str),
    Number,
    Duration,
    Quoted(&'static str),
    ResourceType,
    Blank,
    End,
}

impl Expected {
    fn describe(&self) -> String {
        match self {
            Self::Keyword(k) => format!("`{k}`"),
            Self::Number => "a whole number".into(),
            Self::Duration => "a duration such as `30s` or `1m30s`".into(),
            Self::Quoted(what) => format!("a quoted {what} ('…')"),
            Self::ResourceType => "a resource type such as `pods`".into(),
            Self::Blank => "a space".into(),
            Self::End => "the end of the sentence".into(),
        }
    }
}

/// The parser's error: either "expected one of …" at `rest`, or a specific complaint about `len` bytes.
#[derive(Debug)]
struct GErr<'a> {
    rest: &'a str,
    expected: Vec<Expected>,
    custom: Option<Box<Custom>>,
}

#[derive(Debug)]
struct Custom {
    kind: SyntaxErrorKind,
    len: usize,
    message: String,
    label: Option<String>,
    help: Option<String>,
}

impl<'a> GErr<'a> {
    fn expected(rest: &'a str, expected: Vec<Expected>) -> Self {
        Self { rest, expected, custom: None }
    }

    fn custom(rest: &'a str, len: usize, kind: SyntaxErrorKind, message: impl Into<String>) -> Self {
        Self {
            rest,
            expected: Vec::new(),
            custom: Some(Box::new(Custom { kind, len, message: message.into(), label: None, help: None })),
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        if let Some(c) = &mut self.custom {
            c.help = Some(help.into());
        }
        self
    }

    fn label(mut self, label: impl Into<String>) -> Self {
        if let Some(c) = &mut self.custom {
            c.label = Some(label.into());
        }
        self
    }
}

impl<'a> ParseError<&'a str> for GErr<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        Self::expected(input, Vec::new())
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        // The failure that got furthest explains the most; at the same place, list every expectation.
        match self.rest.len().cmp(&other.rest.len()) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => {
                if self.custom.is_some() {
                    return self;
                }
                if other.custom.is_some() {
                    return other;
                }
                let mut expected = self.expected;
                for e in other.expected {
                    if !expected.contains(&e) {
                        expected.push(e);
                    }
                }
                Self { rest: self.rest, expected, custom: None }
            }
        }
    }
}

type PResult<'a, O> = IResult<&'a str, O, GErr<'a>>;

struct Ctx<'a> {
    full: &'a str,
}

impl<'a> Ctx<'a> {
    fn offset(&self, rest: &str) -> usize {
        self.full.len() - rest.len()
    }

    fn span(&self, start: &str, end: &str) -> Span {
        Span::new(self.offset(start), self.offset(end))
    }

    fn error(&self, e: GErr<'a>) -> SyntaxError {
        let start = self.offset(e.rest);
        if let Some(c) = e.custom {
            let mut error = SyntaxError::new(c.kind, Span::new(start, start + c.len), c.message);
            if let Some(label) = c.label {
                error = error.with_label(label);
            }
            if let Some(help) = c.help {
                error = error.with_help(help);
            }
            return error;
        }
        let found = word_at(e.rest);
        let wanted: Vec<String> = e.expected.iter().map(Expected::describe).collect();
        let wanted = match wanted.as_slice() {
            [] => "something else".to_owned(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {}", init.join(", "), last),
        };
        let found_text = if found.is_empty() { "the end of the sentence".to_owned() } else { format!("`{found}`") };
        let keywords = e.expected.iter().filter_map(|x| match x {
            Expected::Keyword(k) => Some(k.split(' ').next().unwrap_or(k)),
            _ => None,
        });
        let help = nearest(found, keywords).map(|k| format!("did you mean `{k}`?"));
        let mut error = SyntaxError::new(
            SyntaxErrorKind::Unexpected,
            Span::new(start, start + found.len()),
            format!("expected {wanted}, found {found_text}"),
        )
        .with_label(format!("expected {wanted}"));
        if let Some(help) = help {
            error = error.with_help(help);
        } else if e.expected.contains(&Expected::ResourceType) && !found.is_empty() {
            error = error.with_help("a resource type starts with a letter and has letters, digits, `-` or `.`");
        }
        error
    }
}

// ---------------------------------------------------------------------------------------------------------
// Terminals

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn ws(i: &str) -> PResult<'_, ()> {
    take_while1(is_blank)
        .map(|_| ())
        .parse(i)
        .map_err(|_: nom::Err<GErr<'_>>| nom::Err::Error(GErr::expected(i, vec![Expected::Blank])))
}

/// A case-insensitive keyword followed by a word boundary.
fn kw<'a>(word: &'static str) -> impl Fn(&'a str) -> PResult<'a, &'a str> {
    move |i: &'a str| {
        let fail = || nom::Err::Error(GErr::expected(i, vec![Expected::Keyword(word)]));
        let (rest, matched) = tag_no_case::<_, _, GErr<'a>>(word).parse(i).map_err(|_| fail())?;
        if rest.starts_with(|c: char| c.is_alphanumeric()) {
            return Err(fail());
        }
        Ok((rest, matched))
    }
}

/// `kw` then a blank.
fn kw_ws<'a>(word: &'static str) -> impl Fn(&'a str) -> PResult<'a, ()> {
    move |i| {
        let (i, _) = kw(word)(i)?;
        let (i, _) = ws(i)?;
        Ok((i, ()))
    }
}

fn number(i: &str) -> PResult<'_, u64> {
    let (rest, digits) = take_while1(|c: char| c.is_ascii_digit())
        .parse(i)
        .map_err(|_: nom::Err<GErr<'_>>| nom::Err::Error(GErr::expected(i, vec![Expected::Number])))?;
    if rest.starts_with(|c: char| c.is_alphanumeric()) {
        return Err(nom::Err::Error(GErr::expected(i, vec![Expected::Number])));
    }
    let value = digits
        .parse::<u64>()
        .map_err(|_| nom::Err::Failure(GErr::custom(i, digits.len(), SyntaxErrorKind::Number, "number too large")))?;
    Ok((rest, value))
}

/// `30s`, `1m30s`, `500ms`: a duration as [`crate::parse_duration`] reads it.
fn duration(i: &str) -> PResult<'_, Duration> {
    let fail = || nom::Err::Error(GErr::expected(i, vec![Expected::Duration]));
    let (rest, text) =
        take_while1(|c: char| c.is_ascii_alphanumeric()).parse(i).map_err(|_: nom::Err<GErr<'_>>| fail())?;
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(fail());
    }
    match crate::duration::parse_duration(text) {
        Ok(d) => Ok((rest, d)),
        // Digits and a unit, but too many digits: say so rather than what was expected.
        Err(_) if text.chars().take_while(char::is_ascii_digit).count() > 18 => {
            Err(nom::Err::Failure(GErr::custom(i, text.len(), SyntaxErrorKind::Number, "duration too large")))
        }
        Err(_) => Err(fail()),
    }
}

/// `'…'`: non-empty, no quote inside. Returns the content and the rest positioned at the content start.
fn quoted<'a>(what: &'static str) -> impl Fn(&'a str) -> PResult<'a, (&'a str, &'a str)> {
    move |i: &'a str| {
        let (inner, _) = tag::<_, _, GErr<'a>>("'")
            .parse(i)
            .map_err(|_| nom::Err::Error(GErr::expected(i, vec![Expected::Quoted(what)])))?;
        let (after, content) = take_till::<_, _, GErr<'a>>(|c| c == '\'').parse(inner)?;
        if after.is_empty() {
            return Err(nom::Err::Failure(
                GErr::custom(
                    i,
                    1,
                    SyntaxErrorKind::Quote,
                    format!("unterminated quote: the {what} has no closing `'`"),
                )
                .label("this quote is never closed")
                .help("close the value with `'`; a value cannot contain a single quote"),
            ));
        }
        if content.is_empty() {
            return Err(nom::Err::Failure(
                GErr::custom(i, 2, SyntaxErrorKind::Quote, format!("empty {what}")).label("nothing between the quotes"),
            ));
        }
        Ok((&after[1..], (content, inner)))
    }
}

fn pattern<'a>(ctx: &Ctx<'a>, what: &'static str, i: &'a str) -> PResult<'a, Spanned<Pattern>> {
    let (rest, (content, at)) = quoted(what)(i)?;
    match Pattern::new(content) {
        Ok(p) => Ok((rest, Spanned::new(p, ctx.span(at, &at[content.len()..])))),
        Err(e) => {
            let problem = PatternProblem::of(&e);
            Err(nom::Err::Failure(
                GErr::custom(at, content.len(), SyntaxErrorKind::Regex, problem.message(&format!("in the {what}")))
                    .label(problem.label)
                    .help(problem.help),
            ))
        }
    }
}

/// What is wrong with a pattern the regex crate refused, in words for an error.
pub(crate) struct PatternProblem {
    too_large: Option<usize>,
    /// What the regex crate says (its last line).
    pub label: String,
    /// How to mend it.
    pub help: &'static str,
}

impl PatternProblem {
    pub(crate) fn of(e: &regex::Error) -> Self {
        match e {
            regex::Error::CompiledTooBig(limit) => Self {
                too_large: Some(*limit),
                label: "too large once compiled".to_owned(),
                help: "shorten the pattern, or repeat less: `x{1000}` counts as a thousand `x`",
            },
            _ => Self {
                too_large: None,
                label: last_line(&e.to_string()),
                help: "patterns are regular expressions searched in the value; escape special characters with `\\`",
            },
        }
    }

    /// The error's message; `place` says where the pattern is (`in the name pattern`), may be empty.
    /// A pattern over the size limit says so in the message itself: a report of a very long line shows
    /// the message alone.
    pub(crate) fn message(&self, place: &str) -> String {
        let place = if place.is_empty() { String::new() } else { format!(" {place}") };
        match self.too_large {
            Some(limit) => format!(
                "regular expression{place} too large: compiled, it exceeds the regex engine's limit of {} MiB",
                limit >> 20
            ),
            None => format!("invalid regular expression{place}"),
        }
    }
}

/// The last line of the regex crate's message says what is wrong.
fn last_line(message: &str) -> String {
    message.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(message).trim().to_owned()
}

fn resource_type<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Spanned<String>> {
    let fail = || nom::Err::Error(GErr::expected(i, vec![Expected::ResourceType]));
    if !i.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(fail());
    }
    let (rest, word) =
        take_while::<_, _, GErr<'a>>(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-').parse(i)?;
    if word.len() < 2 || rest.starts_with(|c: char| !is_blank(c)) && !rest.is_empty() {
        return Err(fail());
    }
    if ["named", "with", "in"].iter().any(|k| word.eq_ignore_ascii_case(k)) {
        return Err(fail());
    }
    Ok((rest, Spanned::new(word.to_ascii_lowercase(), ctx.span(i, rest))))
}

fn property<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Property> {
    let (rest, (content, at)) = quoted("property")(i)?;
    match FieldPath::parse(content) {
        Ok(path) => Ok((rest, Property { text: content.to_owned(), path, span: ctx.span(at, &at[content.len()..]) })),
        Err(e) => {
            let offset = e.offset.min(content.len());
            let len = word_at(&content[offset..]).len();
            Err(nom::Err::Failure(
                GErr::custom(
                    &at[offset..],
                    len,
                    SyntaxErrorKind::Property,
                    format!("invalid property path: {}", e.message),
                )
                .label(e.message.clone())
                .help("a property is `status`, `port`, `targetPort` or a custom-columns path such as `.spec.replicas`"),
            ))
        }
    }
}

fn numeric<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Spanned<Number>> {
    let (rest, (content, at)) = quoted("number")(i)?;
    match content.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => {
            Ok((rest, Spanned::new(Number { text: content.to_owned(), value }, ctx.span(at, &at[content.len()..]))))
        }
        _ => Err(nom::Err::Failure(
            GErr::custom(at, content.len(), SyntaxErrorKind::Number, "expected a number between the quotes")
                .label("not a number"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sentences

fn sentence<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Sentence> {
    let try_form = |i| try_sentence(ctx, i);
    let count_form = |i| count_sentence(ctx, i);
    let property_form = |i| property_sentence(ctx, i);
    let aws_form = |i| {
        aws::aws_sentence(ctx, i)
            .map(|(i, a)| (i, Sentence { retry: None, assertion: Assertion::Aws(a), span: Span::default() }))
    };
    nom::branch::alt((try_form, count_form, property_form, aws_form)).parse(i)
}

fn plain(assertion: ClusterAssertion) -> Sentence {
    Sentence { retry: None, assertion: Assertion::Cluster(assertion), span: Span::default() }
}

/// `[less than|more than] N`, shared by the counting sentences of clusters and of free IP addresses.
fn count_comparison(i: &str) -> PResult<'_, CountComparison> {
    let (i, cmp) = nom::combinator::opt(nom::branch::alt((
        |i| {
            kw_ws("less")(i)
                .and_then(|(i, _)| kw_ws("than")(i))
                .map(|(i, _)| (i, CountComparison::LessThan as fn(u64) -> _))
        },
        |i| {
            kw_ws("more")(i)
                .and_then(|(i, _)| kw_ws("than")(i))
                .map(|(i, _)| (i, CountComparison::MoreThan as fn(u64) -> _))
        },
    )))
    .parse(i)?;
    let (i, n) = number(i)?;
    Ok((i, cmp.unwrap_or(CountComparison::Exactly)(n)))
}

/// `there (is|are) [less than|more than] N <target>`
fn count_sentence<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Sentence> {
    let (i, _) = kw_ws("there")(i)?;
    let is_at = i;
    let (i, verb) = nom::branch::alt((kw("is"), kw("are"))).parse(i)?;
    let (i, _) = ws(i)?;
    let number_at = i.trim_start_matches(|c: char| !c.is_ascii_digit());
    let (i, comparison) = count_comparison(i)?;
    let n = comparison.count();
    if verb.eq_ignore_ascii_case("is") && n > 1 {
        return Err(nom::Err::Failure(
            GErr::custom(is_at, ctx.offset(i) - ctx.offset(is_at), SyntaxErrorKind::Form, "`there is` takes 0 or 1")
                .label(format!("`there is` with {n}"))
                .help(format!("write `there are {}`", &number_at[..ctx.offset(i) - ctx.offset(number_at)])),
        ));
    }
    let (i, _) = ws(i)?;
    let (i, target) = target(ctx, i)?;
    Ok((i, plain(ClusterAssertion { target, check: ClusterCheck::Count(comparison) })))
}

/// `'<property>' <expectation> for <target>`
fn property_sentence<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Sentence> {
    let (i, property) = property(ctx, i)?;
    let (i, _) = ws(i)?;
    let (i, expect) = expectation(ctx, i, "is", "matches")?;
    let (i, _) = ws(i)?;
    let (i, _) = kw_ws("for")(i)?;
    let (i, target) = target(ctx, i)?;
    Ok((i, plain(ClusterAssertion { target, check: ClusterCheck::Property { property, expect } })))
}

/// `is more than 'n'`, `is less than 'n'`, `is 'v'`, `matches 'r'` (or `being`/`matching` in `find`).
fn expectation<'a>(ctx: &Ctx<'a>, i: &'a str, is: &'static str, matches: &'static str) -> PResult<'a, Expectation> {
    let comparison = |i: &'a str| {
        let (i, _) = kw_ws(is)(i)?;
        let (i, more) = nom::branch::alt((
            |i| kw_ws("more")(i).map(|(i, _)| (i, true)),
            |i| kw_ws("less")(i).map(|(i, _)| (i, false)),
        ))
        .parse(i)?;
        let (i, _) = kw_ws("than")(i)?;
        let (i, n) = numeric(ctx, i)?;
        Ok((i, if more { Expectation::MoreThan(n) } else { Expectation::LessThan(n) }))
    };
    let equal = |i: &'a str| {
        let (i, _) = kw_ws(is)(i)?;
        let (rest, (content, at)) = quoted("value")(i)?;
        Ok((rest, Expectation::Is(Spanned::new(content.to_owned(), ctx.span(at, &at[content.len()..])))))
    };
    let regex = |i: &'a str| {
        let (i, _) = kw_ws(matches)(i)?;
        let (i, p) = pattern(ctx, "regular expression", i)?;
        Ok((i, Expectation::Matches(p)))
    };
    nom::branch::alt((comparison, equal, regex)).parse(i)
}

/// `<type> [named '<pattern>'] [with labels '<selector>'] [in namespace '<ns>' | in all namespaces]`
fn target<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Target> {
    let (i, resource) = resource_type(ctx, i)?;
    let (i, name) = nom::combinator::opt(|i| {
        let (i, _) = ws(i)?;
        let (i, _) = kw_ws("named")(i)?;
        nom::combinator::cut(|i| pattern(ctx, "name pattern", i)).parse(i)
    })
    .parse(i)?;
    let (i, labels) = nom::combinator::opt(|i| {
        let (i, _) = ws(i)?;
        let (i, _) = kw_ws("with")(i)?;
        let (i, _) = kw_ws("labels")(i)?;
        let (rest, (content, at)) = nom::combinator::cut(quoted("label selector")).parse(i)?;
        Ok((rest, Spanned::new(content.to_owned(), ctx.span(at, &at[content.len()..]))))
    })
    .parse(i)?;
    if name.is_none() && labels.is_none() {
        let at = i.trim_start_matches(is_blank);
        return Err(nom::Err::Error(GErr::expected(
            at,
            vec![Expected::Keyword("named"), Expected::Keyword("with labels")],
        )));
    }
    let (i, scope) = nom::combinator::opt(|i| {
        let (i, _) = ws(i)?;
        let (i, _) = kw_ws("in")(i)?;
        nom::combinator::cut(nom::branch::alt((
            |i| {
                let (i, _) = kw_ws("namespace")(i)?;
                let (rest, (content, at)) = quoted("namespace")(i)?;
                Ok((rest, Scope::Namespace(Spanned::new(content.to_owned(), ctx.span(at, &at[content.len()..])))))
            },
            |i| {
                let (i, _) = kw_ws("all")(i)?;
                let (i, _) = kw("namespaces")(i)?;
                Ok((i, Scope::AllNamespaces))
            },
        )))
        .parse(i)
    })
    .parse(i)?;
    Ok((i, Target { resource, name, labels, scope }))
}

/// `at most N times every Ds to (get … and verify that … | find N … with … being|matching …)`
fn try_sentence<'a>(ctx: &Ctx<'a>, i: &'a str) -> PResult<'a, Sentence> {
    let start = i;
    let (i, _) = kw_ws("at")(i)?;
    let (i, _) = kw_ws("most")(i)?;
    let attempts_at = i;
    let (i, attempts) = number(i)?;
    let attempts = match u32::try_from(attempts) {
        Ok(0) | Err(_) => {
            return Err(nom::Err::Failure(
                GErr::custom(
                    attempts_at,
                    ctx.offset(i) - ctx.offset(attempts_at),
                    SyntaxErrorKind::Number,
                    "attempts must be between 1 and 4294967295",
                )
                .label("number of attempts"),
            ));
        }
        Ok(n) => n,
    };
    let (i, _) = ws(i)?;
    let (i, _) = kw_ws("times")(i)?;
    let (i, _) = kw_ws("every")(i)?;
    let interval_at = i;
    let (i, interval) = duration(i)?;
    let retry = Retry { attempts, interval, span: ctx.span(start, i) };
    if interval.checked_mul(attempts.saturating_sub(1)).is_none_or(|b| b > Retry::MAX_BUDGET) {
        return Err(nom::Err::Failure(
            GErr::custom(
                interval_at,
                ctx.offset(i) - ctx.offset(interval_at),
                SyntaxErrorKind::Number,
                "the retry budget is longer than 7 days",
            )
            .label("attempts × interval is too long"),
        ));
    }
    let (i, _) = ws(i)?;
    let (i, _) = kw_ws("to")(i)?;
    let get = |i: &'a str| {
        let (i, _) = kw_ws("get")(i)?;
        let (i, target) = target(ctx, i)?;
        let (i, _) = ws(i).map_err(|e| add_expected(e, target_followers(&target)))?;
        let (i, _) = kw_ws("and")(i).map_err(|e| add_expected(e, target_followers(&target)))?;
        let (i, _) = kw_ws("verify")(i)?;
        let (i, _) = kw_ws("that")(i)?;
        let (i, property) = property(ctx, i)?;
        let (i, _) = ws(i)?;
        let (i, expect) = expectation(ctx, i, "is", "matches")?;
        Ok((i, ClusterAssertion { target, check: ClusterCheck::Property { property, expect } }))
    };
    let find = |i: &'a str| {
        let (i, _) = kw_ws("find")(i)?;
        let (i, count) = number(i)?;
        let (i, _) = ws(i)?;
        let (i, target) = target(ctx, i)?;
        let (i, _) = ws(i).map_err(|e| add_expected(e, target_followers(&target)))?;
        let (i, _) = kw_ws("with")(i).map_err(|e| add_expected(e, target_followers(&target)))?;
        let (i, property) = property(ctx, i)?;
        let (i, _) = ws(i)?;
        let (i, expect) = expectation(ctx, i, "being", "matching")?;
        Ok((i, ClusterAssertion { target, check: ClusterCheck::Find { count, property, expect } }))
    };
    let verify_aws = |i: &'a str| {
        let (i, _) = kw_ws("verify")(i)?;
        let (i, _) = kw_ws("that")(i)?;
        let (i, aws) = aws::aws_sentence(ctx, i)?;
        Ok((i, Assertion::Aws(aws)))
    };
    let get = |i| get(i).map(|(i, a)| (i, Assertion::Cluster(a)));
    let find = |i| find(i).map(|(i, a)| (i, Assertion::Cluster(a)));
    let (i, assertion) = nom::branch::alt((get, find, verify_aws)).parse(i)?;
    Ok((i, Sentence { retry: Some(retry), assertion, span: Span::default() }))
}

fn add_expected(e: nom::Err<GErr<'_>>, more: Vec<Expected>) -> nom::Err<GErr<'_>> {
    e.map(|mut g| {
        if g.custom.is_none() {
            g.expected.extend(more);
        }
        g
    })
}

mod aws;

#[cfg(test)]
mod tests;
