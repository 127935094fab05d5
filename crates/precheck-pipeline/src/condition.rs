//! `when` conditions over parameters: `METRICS_SERVER != 'none'`, `ENV in ['prod', 'staging']`,
//! `DRY_RUN` (a boolean), `not X`, `and`, `or` and parentheses. Parsed once, type-checked against the
//! declared parameters, evaluated when a run binds its values.
//!
//! ```
//! use precheck_pipeline::condition::Condition;
//! use precheck_pipeline::{Value, Values};
//!
//! let when = Condition::parse("METRICS_SERVER != 'none' and not DRY_RUN").unwrap();
//! let mut values = Values::new();
//! values.insert("METRICS_SERVER".into(), Value::String("v0.7.2".into()));
//! values.insert("DRY_RUN".into(), Value::Boolean(false));
//! assert!(when.holds(&values));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace0, multispace1};
use nom::combinator::{cut, map, opt, recognize, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, pair, preceded, terminated};
use nom::{IResult, Parser};

use crate::value::{Kind, Value, Values};

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `NAME == 'v'` or `NAME != 'v'`.
    Compare {
        /// The parameter.
        name: Name,
        /// `!=`.
        negated: bool,
        /// The literal compared with.
        literal: Literal,
    },
    /// `NAME in ['a', 'b']` (or `not in`).
    In {
        /// The parameter.
        name: Name,
        /// `not in`.
        negated: bool,
        /// The literals.
        literals: Vec<Literal>,
    },
    /// `NAME`: a boolean parameter is true.
    Flag(Name),
    /// `not C`.
    Not(Box<Condition>),
    /// `A and B`.
    And(Box<Condition>, Box<Condition>),
    /// `A or B`.
    Or(Box<Condition>, Box<Condition>),
}

/// A parameter name and its byte offset in the condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name.
    pub name: String,
    /// Where it starts in the condition text.
    pub offset: usize,
}

/// A literal: quoted text, an integer or a boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'` or `"text"`.
    Text(String),
    /// `42`.
    Integer(i64),
    /// `true` / `false`.
    Boolean(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "'{t}'"),
            Self::Integer(i) => write!(f, "{i}"),
            Self::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// Why a condition was rejected: a byte offset in its text and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    /// Where, in bytes from the start of the condition.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// A suggestion, if any.
    pub help: Option<String>,
}

type In<'a> = &'a str;

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

const KEYWORDS: [&str; 6] = ["and", "or", "not", "in", "true", "false"];

/// How deep parentheses and `not`s may nest: far beyond any real condition, and shallow enough that a
/// hostile one cannot exhaust the stack of the recursive parser.
pub const MAX_DEPTH: usize = 64;

struct Grammar<'a> {
    full: &'a str,
    /// Parentheses and `not`s open at this point.
    depth: std::cell::Cell<usize>,
    /// Where nesting first went deeper than [`MAX_DEPTH`].
    too_deep: std::cell::Cell<Option<usize>>,
}

impl<'a> Grammar<'a> {
    fn offset(&self, rest: In<'a>) -> usize {
        self.full.len() - rest.len()
    }

    fn name(&self, input: In<'a>) -> IResult<In<'a>, Name> {
        let (rest, _) = multispace0(input)?;
        let offset = self.offset(rest);
        let (after, text) =
            recognize(pair(take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'), take_while(is_name_char)))
                .parse(rest)?;
        if KEYWORDS.contains(&text) {
            return Err(nom::Err::Error(nom::error::Error::new(rest, nom::error::ErrorKind::Tag)));
        }
        Ok((after, Name { name: text.to_owned(), offset }))
    }

    fn literal(input: In<'a>) -> IResult<In<'a>, Literal> {
        preceded(
            multispace0,
            alt((
                map(delimited(char('\''), take_while(|c| c != '\''), char('\'')), |t: &str| Literal::Text(t.into())),
                map(delimited(char('"'), take_while(|c| c != '"'), char('"')), |t: &str| Literal::Text(t.into())),
                map(
                    terminated(recognize(pair(opt(char('-')), take_while1(|c: char| c.is_ascii_digit()))), word_end),
                    |t: &str| Literal::Integer(t.parse().unwrap_or(i64::MAX)),
                ),
                value(Literal::Boolean(true), terminated(tag("true"), word_end)),
                value(Literal::Boolean(false), terminated(tag("false"), word_end)),
            )),
        )
        .parse(input)
    }

    /// Enters one level of nesting at `input`, or fails for good when that is one too many.
    fn deeper(&self, input: In<'a>) -> Result<(), nom::Err<nom::error::Error<In<'a>>>> {
        self.depth.set(self.depth.get() + 1);
        if self.depth.get() > MAX_DEPTH {
            self.too_deep.set(self.too_deep.get().or(Some(self.offset(input))));
            return Err(nom::Err::Failure(nom::error::Error::new(input, nom::error::ErrorKind::TooLarge)));
        }
        Ok(())
    }

    fn atom(&self, input: In<'a>) -> IResult<In<'a>, Condition> {
        let (input, _) = multispace0(input)?;
        if let Ok((rest, _)) = char::<_, nom::error::Error<In<'a>>>('(').parse(input) {
            self.deeper(input)?;
            let (rest, inner) = self.or(rest)?;
            let (rest, _) = cut(preceded(multispace0, char(')'))).parse(rest)?;
            self.depth.set(self.depth.get() - 1);
            return Ok((rest, inner));
        }
        let (rest, name) = self.name(input)?;
        let (rest, _) = multispace0(rest)?;
        if let Ok((after, op)) = alt((tag::<_, _, nom::error::Error<In<'a>>>("=="), tag("!="))).parse(rest) {
            let (after, literal) = cut(Self::literal).parse(after)?;
            return Ok((after, Condition::Compare { name, negated: op == "!=", literal }));
        }
        let negated_in = terminated(pair(tag("not"), multispace1), terminated(tag("in"), word_end));
        let plain_in = terminated(tag("in"), word_end);
        let in_op = alt((value(true, negated_in), value(false, plain_in))).parse(rest);
        if let Ok((after, negated)) = in_op {
            let list = delimited(
                preceded(multispace0, char('[')),
                separated_list1(preceded(multispace0, char(',')), Self::literal),
                preceded(multispace0, char(']')),
            );
            let (after, literals) = cut(list).parse(after)?;
            return Ok((after, Condition::In { name, negated, literals }));
        }
        Ok((rest, Condition::Flag(name)))
    }

    fn not(&self, input: In<'a>) -> IResult<In<'a>, Condition> {
        let (input, _) = multispace0(input)?;
        if let Ok((rest, _)) = terminated(tag::<_, _, nom::error::Error<In<'a>>>("not"), word_end).parse(input) {
            self.deeper(input)?;
            let (rest, inner) = self.not(rest)?;
            self.depth.set(self.depth.get() - 1);
            return Ok((rest, Condition::Not(Box::new(inner))));
        }
        self.atom(input)
    }

    fn binary(
        &self,
        input: In<'a>,
        keyword: &'static str,
        operand: fn(&Self, In<'a>) -> IResult<In<'a>, Condition>,
        make: fn(Box<Condition>, Box<Condition>) -> Condition,
    ) -> IResult<In<'a>, Condition> {
        let (mut rest, mut left) = operand(self, input)?;
        loop {
            let Ok((after, _)) =
                preceded(multispace0, terminated(tag::<_, _, nom::error::Error<In<'a>>>(keyword), word_end))
                    .parse(rest)
            else {
                return Ok((rest, left));
            };
            let (after, right) = cut(|i| operand(self, i)).parse(after)?;
            left = make(Box::new(left), Box::new(right));
            rest = after;
        }
    }

    fn and(&self, input: In<'a>) -> IResult<In<'a>, Condition> {
        self.binary(input, "and", Self::not, Condition::And)
    }

    fn or(&self, input: In<'a>) -> IResult<In<'a>, Condition> {
        self.binary(input, "or", Self::and, Condition::Or)
    }
}

/// Succeeds where a word ends (not followed by a name character).
fn word_end(input: In<'_>) -> IResult<In<'_>, ()> {
    match input.chars().next() {
        Some(c) if is_name_char(c) => Err(nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Tag))),
        _ => Ok((input, ())),
    }
}

impl Condition {
    /// Parses a condition; the error says where and what was expected.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        let parser = Grammar { full: text, depth: std::cell::Cell::new(0), too_deep: std::cell::Cell::new(None) };
        let expected = |rest: &str, what: &str| ConditionError {
            offset: text.len() - rest.len(),
            message: match rest.trim() {
                "" => format!("expected {what} at the end of the condition"),
                r => format!("expected {what}, found '{}'", r.chars().take(20).collect::<String>()),
            },
            help: Some(
                "conditions look like `NAME == 'value'`, `NAME != 'value'`, `NAME in ['a', 'b']`, \
                        `FLAG`, combined with `not`, `and`, `or` and parentheses"
                    .into(),
            ),
        };
        match parser.or(text) {
            Ok((rest, condition)) => {
                let rest_trimmed = rest.trim_start();
                if rest_trimmed.is_empty() {
                    Ok(condition)
                } else {
                    Err(expected(rest_trimmed, "`and`, `or` or the end"))
                }
            }
            Err(_) if parser.too_deep.get().is_some() => Err(ConditionError {
                offset: parser.too_deep.get().unwrap_or_default(),
                message: format!("parentheses and `not`s nest more than {MAX_DEPTH} deep"),
                help: None,
            }),
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                let rest = e.input.trim_start();
                let what = if rest.starts_with(['\'', '"']) || rest.starts_with(|c: char| c.is_ascii_digit()) {
                    "a parameter name or `(`"
                } else if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    "a value (`'text'`, a number, `true` or `false`) or a parameter name"
                } else {
                    "a parameter name, a value, `[`, `]` or `)`"
                };
                Err(expected(rest, what))
            }
            Err(nom::Err::Incomplete(_)) => Err(expected("", "more")),
        }
    }

    /// Checks names and types against the declared parameters (`kinds`): unknown names, a boolean
    /// compared with text, a list compared with `==`.
    pub fn check(&self, kinds: &BTreeMap<String, Kind>) -> Result<(), ConditionError> {
        let kind_of = |name: &Name| {
            kinds.get(&name.name).copied().ok_or_else(|| ConditionError {
                offset: name.offset,
                message: format!("unknown parameter '{}'", name.name),
                help: precheck_lang::nearest(&name.name, kinds.keys().map(String::as_str))
                    .map(|s| format!("did you mean '{s}'?")),
            })
        };
        let fits = |name: &Name, kind: Kind, literal: &Literal| {
            let ok = matches!(
                (kind, literal),
                (Kind::String, Literal::Text(_))
                    | (Kind::Integer, Literal::Integer(_))
                    | (Kind::Boolean, Literal::Boolean(_))
                    | (Kind::List, Literal::Text(_))
            );
            if ok {
                Ok(())
            } else {
                Err(ConditionError {
                    offset: name.offset,
                    message: format!("'{}' is {} and cannot be compared with {literal}", name.name, kind.article()),
                    help: None,
                })
            }
        };
        match self {
            Self::Compare { name, literal, .. } => {
                let kind = kind_of(name)?;
                if kind == Kind::List {
                    return Err(ConditionError {
                        offset: name.offset,
                        message: format!("'{}' is a list and cannot be compared", name.name),
                        help: Some("fan out over a list with `for_each`".into()),
                    });
                }
                fits(name, kind, literal)
            }
            Self::In { name, literals, .. } => {
                let kind = kind_of(name)?;
                literals.iter().try_for_each(|l| fits(name, kind, l))
            }
            Self::Flag(name) => match kind_of(name)? {
                Kind::Boolean => Ok(()),
                kind => Err(ConditionError {
                    offset: name.offset,
                    message: format!("'{}' is {}, not a boolean", name.name, kind.article()),
                    help: Some(format!("compare it: `{} == '…'`", name.name)),
                }),
            },
            Self::Not(inner) => inner.check(kinds),
            Self::And(a, b) | Self::Or(a, b) => {
                a.check(kinds)?;
                b.check(kinds)
            }
        }
    }

    /// The parameters it reads, in the order written.
    pub fn names(&self) -> Vec<&Name> {
        match self {
            Self::Compare { name, .. } | Self::In { name, .. } | Self::Flag(name) => vec![name],
            Self::Not(inner) => inner.names(),
            Self::And(a, b) | Self::Or(a, b) => {
                let mut names = a.names();
                names.extend(b.names());
                names
            }
        }
    }

    /// Whether the condition holds for these values (a missing value never equals anything).
    pub fn holds(&self, values: &Values) -> bool {
        let equal = |name: &Name, literal: &Literal| match (values.get(&name.name), literal) {
            (Some(Value::String(v)), Literal::Text(t)) => v == t,
            (Some(Value::Integer(v)), Literal::Integer(i)) => v == i,
            (Some(Value::Boolean(v)), Literal::Boolean(b)) => v == b,
            _ => false,
        };
        match self {
            Self::Compare { name, negated, literal } => equal(name, literal) != *negated,
            Self::In { name, negated, literals } => literals.iter().any(|l| equal(name, l)) != *negated,
            Self::Flag(name) => matches!(values.get(&name.name), Some(Value::Boolean(true))),
            Self::Not(inner) => !inner.holds(values),
            Self::And(a, b) => a.holds(values) && b.holds(values),
            Self::Or(a, b) => a.holds(values) || b.holds(values),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { name, negated, literal } => {
                write!(f, "{} {} {literal}", name.name, if *negated { "!=" } else { "==" })
            }
            Self::In { name, negated, literals } => {
                let list: Vec<String> = literals.iter().map(ToString::to_string).collect();
                write!(f, "{} {}in [{}]", name.name, if *negated { "not " } else { "" }, list.join(", "))
            }
            Self::Flag(name) => f.write_str(&name.name),
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::And(a, b) => write!(f, "({a}) and ({b})"),
            Self::Or(a, b) => write!(f, "({a}) or ({b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded() {
        let fine = format!("{}A{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(Condition::parse(&fine).is_ok());
        let deep = format!("{}A{}", "(".repeat(10_000), ")".repeat(10_000));
        let error = Condition::parse(&deep).unwrap_err();
        assert_eq!(
            (error.offset, error.message.as_str()),
            (MAX_DEPTH, "parentheses and `not`s nest more than 64 deep")
        );
        assert!(Condition::parse(&"not ".repeat(10_000)).unwrap_err().message.contains("nest more than"));
    }

    fn values() -> Values {
        let mut v = Values::new();
        v.insert("METRICS_SERVER".into(), Value::String("none".into()));
        v.insert("ENV".into(), Value::String("prod".into()));
        v.insert("NODES".into(), Value::Integer(3));
        v.insert("DRY_RUN".into(), Value::Boolean(false));
        v
    }

    fn holds(text: &str) -> bool {
        Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}")).holds(&values())
    }

    #[test]
    fn comparisons_lists_flags_and_logic() {
        assert!(!holds("METRICS_SERVER != 'none'"));
        assert!(holds("METRICS_SERVER == \"none\""));
        assert!(holds("ENV in ['prod', 'staging']"));
        assert!(holds("ENV not in ['dev']"));
        assert!(holds("NODES == 3"));
        assert!(!holds("DRY_RUN"));
        assert!(holds("not DRY_RUN"));
        assert!(holds("ENV == 'prod' and (NODES == 2 or NODES == 3)"));
        assert!(!holds("ENV == 'prod' and NODES == 2 or DRY_RUN"));
        assert!(holds("DRY_RUN or ENV=='prod'"));
        assert!(holds("notable == 'x' or ENV == 'prod'"), "keywords are whole words");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = Condition::parse("ENV == prod").unwrap_err();
        assert_eq!(err.offset, 7, "{err:?}");
        assert!(err.message.contains("found 'prod'"), "{err:?}");
        let err = Condition::parse("ENV == 'prod' andd NODES == 2").unwrap_err();
        assert_eq!(err.offset, 14, "{err:?}");
        let err = Condition::parse("(ENV == 'prod'").unwrap_err();
        assert_eq!(err.offset, 14);
        assert!(err.message.contains("at the end"), "{err:?}");
        let err = Condition::parse("ENV in []").unwrap_err();
        assert_eq!(err.offset, 8, "{err:?}");
        assert!(Condition::parse("").is_err());
        assert!(Condition::parse("and").is_err());
    }

    #[test]
    fn types_are_checked_against_the_declarations() {
        let kinds: BTreeMap<String, Kind> = [
            ("ENV".to_owned(), Kind::String),
            ("NODES".to_owned(), Kind::Integer),
            ("DRY_RUN".to_owned(), Kind::Boolean),
        ]
        .into();
        let check = |t: &str| Condition::parse(t).unwrap().check(&kinds);
        assert!(check("ENV == 'a' and NODES == 2 and not DRY_RUN").is_ok());
        let err = check("EVN == 'a'").unwrap_err();
        assert_eq!((err.offset, err.help.as_deref()), (0, Some("did you mean 'ENV'?")));
        let err = check("NODES == '2'").unwrap_err();
        assert!(err.message.contains("is an integer and cannot be compared with '2'"), "{err:?}");
        assert!(check("ENV").unwrap_err().message.contains("not a boolean"));
    }
}
