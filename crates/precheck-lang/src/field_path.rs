//! Property paths: DETIK's aliases and kubectl's custom-columns JSONPath subset.
//!
//! kubectl accepts `.spec.replicas`, `spec.replicas` and `{.spec.replicas}` for a column; so does Precheck.
//! Supported steps: `.field`, `['field.with.dots']`, `[n]` (negative counts from the end), `[*]`, `.*`,
//! `[start:end]`, and filters `[?(@.name=="nginx")]` with `==`, `!=` and a bare `[?(@.ready)]` (exists).

use std::fmt;

/// A parsed property path.
///
/// ```
/// use precheck_lang::FieldPath;
///
/// let path = FieldPath::parse(".status.containerStatuses[?(@.name==\"nginx\")].ready").unwrap();
/// assert_eq!(path.to_string(), ".status.containerStatuses[?(@.name==\"nginx\")].ready");
/// assert_eq!(FieldPath::parse("status").unwrap().to_string(), ".status.phase");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    /// The steps, applied left to right.
    pub steps: Vec<Step>,
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A map key.
    Field(String),
    /// A list element; negative counts from the end.
    Index(i64),
    /// Every element of a list or every value of a map.
    Wildcard,
    /// A slice of a list, `[start:end]`.
    Slice(Option<i64>, Option<i64>),
    /// The list elements for which the filter holds.
    Filter(Filter),
}

/// `?(@.path == literal)`, `?(@.path != literal)` or `?(@.path)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Path relative to the element (`@`).
    pub path: Vec<Step>,
    /// The comparison, `None` for "the path exists".
    pub comparison: Option<(Comparison, Literal)>,
}

/// A filter comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
}

/// A literal in a filter: `"text"`, `'text'`, a number, `true`/`false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A quoted string.
    String(String),
    /// A number as written.
    Number(String),
    /// `true` or `false`.
    Bool(bool),
}

/// Why a path could not be read; `offset` is a byte offset into the path text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldPathError {
    /// Where the problem is, in bytes from the start of the path.
    pub offset: usize,
    /// What was expected there.
    pub message: String,
}

impl FieldPath {
    /// Parses a property as DETIK does: `status`, `port` and `targetPort` are aliases, anything else is a
    /// custom-columns path.
    pub fn parse(text: &str) -> Result<Self, FieldPathError> {
        let alias = match text.to_ascii_lowercase().as_str() {
            "status" => Some(".status.phase"),
            "port" => Some(".spec.ports[*].port"),
            "targetport" => Some(".spec.ports[*].targetPort"),
            _ => None,
        };
        match alias {
            Some(path) => Self::parse_path(path),
            None => Self::parse_path(text),
        }
    }

    /// Parses a custom-columns path, with no aliases.
    pub fn parse_path(text: &str) -> Result<Self, FieldPathError> {
        let (inner, base) = match text.strip_prefix('{') {
            Some(rest) => match rest.strip_suffix('}') {
                Some(inner) => (inner, 1),
                None => return Err(err(text.len(), "expected `}` to close the path")),
            },
            None => (text, 0),
        };
        if inner.trim().is_empty() {
            return Err(err(base, "expected a path such as `.status.phase`"));
        }
        let mut reader = Reader { text: inner, pos: 0, base, depth: 0 };
        let steps = reader.steps(true)?;
        if reader.pos < inner.len() {
            return Err(reader.error("expected `.field`, `[index]` or the end of the path"));
        }
        Ok(Self { steps })
    }
}

fn err(offset: usize, message: &str) -> FieldPathError {
    FieldPathError { offset, message: message.to_owned() }
}

/// How deep filters may nest (`[?(@.a[?(@.b…)])]`): far beyond real paths, and shallow enough that a
/// hostile path cannot exhaust the stack of the recursive reader.
pub const MAX_FILTER_DEPTH: usize = 32;

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
    /// Filters open at this point.
    depth: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn error(&self, message: &str) -> FieldPathError {
        err(self.base + self.pos, message)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn skip_blanks(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    /// Reads steps until something that cannot start a step. `top` allows a first field without a dot.
    fn steps(&mut self, top: bool) -> Result<Vec<Step>, FieldPathError> {
        let mut steps = Vec::new();
        if top && self.rest().starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            steps.push(Step::Field(self.field_name()?));
        }
        loop {
            if self.eat("..") {
                return Err(err(self.base + self.pos - 2, "recursive descent `..` is not supported"));
            } else if self.eat(".") {
                if self.eat("*") {
                    steps.push(Step::Wildcard);
                } else {
                    steps.push(Step::Field(self.field_name()?));
                }
            } else if self.rest().starts_with('[') {
                steps.push(self.bracket()?);
            } else {
                return Ok(steps);
            }
        }
    }

    fn field_name(&mut self) -> Result<String, FieldPathError> {
        let len = self.rest().find(['.', '[', ']', ' ', '=', '!', ')', '{', '}']).unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error("expected a field name"));
        }
        let name = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(name)
    }

    fn bracket(&mut self) -> Result<Step, FieldPathError> {
        self.pos += 1; // '['
        let step = if self.eat("*") {
            Step::Wildcard
        } else if self.eat("?(") {
            self.depth += 1;
            if self.depth > MAX_FILTER_DEPTH {
                return Err(err(self.base + self.pos - 2, &format!("filters nest more than {MAX_FILTER_DEPTH} deep")));
            }
            let filter = self.filter()?;
            self.depth -= 1;
            if !self.eat(")") {
                return Err(self.error("expected `)` to close the filter"));
            }
            Step::Filter(filter)
        } else if self.rest().starts_with(['\'', '"']) {
            Step::Field(self.quoted()?)
        } else {
            let start = self.integer_opt()?;
            if self.eat(":") {
                let end = self.integer_opt()?;
                Step::Slice(start, end)
            } else {
                match start {
                    Some(index) => Step::Index(index),
                    None => {
                        return Err(self.error("expected an index, `*`, a slice or a filter `?(…)`"));
                    }
                }
            }
        };
        if !self.eat("]") {
            return Err(self.error("expected `]`"));
        }
        Ok(step)
    }

    fn integer_opt(&mut self) -> Result<Option<i64>, FieldPathError> {
        let rest = self.rest();
        let len = rest.char_indices().take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && c == '-')).count();
        if len == 0 {
            return Ok(None);
        }
        let value = rest[..len].parse::<i64>().map_err(|_| self.error("expected a whole number"))?;
        self.pos += len;
        Ok(Some(value))
    }

    fn quoted(&mut self) -> Result<String, FieldPathError> {
        let quote = self.rest().chars().next().unwrap_or('"');
        self.pos += 1;
        match self.rest().find(quote) {
            Some(len) => {
                let value = self.rest()[..len].to_owned();
                self.pos += len + 1;
                Ok(value)
            }
            None => Err(self.error("unterminated string: expected a closing quote")),
        }
    }

    fn filter(&mut self) -> Result<Filter, FieldPathError> {
        self.skip_blanks();
        if !self.eat("@") {
            return Err(self.error("expected `@` to start the filter"));
        }
        let path = self.steps(false)?;
        self.skip_blanks();
        let comparison = if self.eat("==") {
            Some(Comparison::Equal)
        } else if self.eat("!=") {
            Some(Comparison::NotEqual)
        } else {
            None
        };
        let comparison = match comparison {
            Some(op) => {
                self.skip_blanks();
                let literal = self.literal()?;
                self.skip_blanks();
                Some((op, literal))
            }
            None => None,
        };
        Ok(Filter { path, comparison })
    }

    fn literal(&mut self) -> Result<Literal, FieldPathError> {
        if self.rest().starts_with(['\'', '"']) {
            return Ok(Literal::String(self.quoted()?));
        }
        if self.eat("true") {
            return Ok(Literal::Bool(true));
        }
        if self.eat("false") {
            return Ok(Literal::Bool(false));
        }
        let len =
            self.rest().find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(self.rest().len());
        if len == 0 || self.rest()[..len].parse::<f64>().is_err() {
            return Err(self.error("expected a quoted string, a number, `true` or `false`"));
        }
        let number = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(Literal::Number(number))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_steps(f, &self.steps)
    }
}

fn write_steps(f: &mut fmt::Formatter<'_>, steps: &[Step]) -> fmt::Result {
    for step in steps {
        match step {
            Step::Field(name) if name.contains(['.', '[', ']']) => write!(f, "['{name}']")?,
            Step::Field(name) => write!(f, ".{name}")?,
            Step::Index(i) => write!(f, "[{i}]")?,
            Step::Wildcard => f.write_str("[*]")?,
            Step::Slice(a, b) => {
                f.write_str("[")?;
                if let Some(a) = a {
                    write!(f, "{a}")?;
                }
                f.write_str(":")?;
                if let Some(b) = b {
                    write!(f, "{b}")?;
                }
                f.write_str("]")?;
            }
            Step::Filter(filter) => {
                f.write_str("[?(@")?;
                write_steps(f, &filter.path)?;
                if let Some((op, literal)) = &filter.comparison {
                    f.write_str(match op {
                        Comparison::Equal => "==",
                        Comparison::NotEqual => "!=",
                    })?;
                    match literal {
                        Literal::String(s) => write!(f, "\"{s}\"")?,
                        Literal::Number(n) => f.write_str(n)?,
                        Literal::Bool(b) => write!(f, "{b}")?,
                    }
                }
                f.write_str(")]")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<Step> {
        FieldPath::parse(text).unwrap().steps
    }

    #[test]
    fn aliases_resolve_like_detik() {
        assert_eq!(FieldPath::parse("status").unwrap().to_string(), ".status.phase");
        assert_eq!(FieldPath::parse("Status").unwrap().to_string(), ".status.phase");
        assert_eq!(FieldPath::parse("port").unwrap().to_string(), ".spec.ports[*].port");
        assert_eq!(FieldPath::parse("targetPort").unwrap().to_string(), ".spec.ports[*].targetPort");
    }

    #[test]
    fn relaxed_forms_are_the_same_path() {
        let expected = vec![Step::Field("spec".into()), Step::Field("replicas".into())];
        assert_eq!(steps(".spec.replicas"), expected);
        assert_eq!(steps("spec.replicas"), expected);
        assert_eq!(steps("{.spec.replicas}"), expected);
    }

    #[test]
    fn brackets_and_filters() {
        assert_eq!(
            steps(".spec.containers[0].image"),
            vec![
                Step::Field("spec".into()),
                Step::Field("containers".into()),
                Step::Index(0),
                Step::Field("image".into())
            ]
        );
        assert_eq!(steps(".items[-1]")[1], Step::Index(-1));
        assert_eq!(steps(".items[1:3]")[1], Step::Slice(Some(1), Some(3)));
        assert_eq!(
            steps(".metadata.labels['app.kubernetes.io/name']")[2],
            Step::Field("app.kubernetes.io/name".into())
        );
        let filter = &steps(".status.containerStatuses[?(@.name == 'nginx')].ready")[2];
        assert_eq!(
            filter,
            &Step::Filter(Filter {
                path: vec![Step::Field("name".into())],
                comparison: Some((Comparison::Equal, Literal::String("nginx".into()))),
            })
        );
    }

    #[test]
    fn nested_filters_are_bounded() {
        let nested = |n: usize| format!(".a{}{}", "[?(@.b".repeat(n), ")]".repeat(n));
        assert!(FieldPath::parse(&nested(MAX_FILTER_DEPTH)).is_ok());
        let error = FieldPath::parse(&nested(10_000)).unwrap_err();
        assert_eq!(error.message, "filters nest more than 32 deep");
        assert_eq!(error.offset, 2 + MAX_FILTER_DEPTH * "[?(@.b".len() + 1);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = FieldPath::parse(".spec.containers[0").unwrap_err();
        assert_eq!((e.offset, e.message.as_str()), (18, "expected `]`"));
        let e = FieldPath::parse(".spec..x").unwrap_err();
        assert_eq!(e.offset, 5);
        let e = FieldPath::parse("{.spec").unwrap_err();
        assert_eq!(e.offset, 6);
        let e = FieldPath::parse(".a[?(@.b == )]").unwrap_err();
        assert_eq!(e.offset, 12);
        assert!(FieldPath::parse("{}").is_err());
    }
}
