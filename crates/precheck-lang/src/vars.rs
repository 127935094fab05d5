//! `${VAR}` expansion that remembers where every expanded byte came from, so errors point at the file.

use crate::ast::Span;
use crate::error::{SyntaxError, SyntaxErrorKind};
use crate::interpolation::{InterpolationError, Piece, interpolation_pieces};

/// Text after expansion, with the map back to the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub text: String,
    /// `(expanded_start, expanded_end, original_start, original_end)` of each substitution, in order.
    substitutions: Vec<(usize, usize, usize, usize)>,
}

impl Expanded {
    /// Maps an offset in the expanded text to the original text. Inside a substitution it maps to the
    /// whole `${VAR}`.
    pub fn original(&self, offset: usize) -> usize {
        let mut delta: isize = 0;
        for &(es, ee, os, oe) in &self.substitutions {
            if offset < es {
                break;
            }
            if offset < ee {
                return os;
            }
            delta = oe as isize - ee as isize;
        }
        (offset as isize + delta) as usize
    }

    /// Maps a span of the expanded text to the original text.
    pub fn original_span(&self, span: Span) -> Span {
        let start = self.original(span.start);
        let end = if span.is_empty() { start } else { self.original(span.end - 1) + 1 };
        // A span that ends inside a substitution covers all of `${VAR}`.
        let end = self
            .substitutions
            .iter()
            .find(|&&(es, ee, _, _)| span.end > es && span.end <= ee)
            .map_or(end, |&(_, _, _, oe)| oe.max(end));
        Span::new(start, end.max(start))
    }
}

impl Expanded {
    /// Refuses values that would change the structure of a sentence rather than fill it in: a value with a
    /// single quote (it would end the quoted item) anywhere, or with blanks outside quotes. `original` is
    /// the text before expansion, at `base` in the file.
    pub fn check_values(&self, original: &str, base: usize) -> Result<(), SyntaxError> {
        for &(es, ee, os, oe) in &self.substitutions {
            let value = &self.text[es..ee];
            let quoted = original[..os].matches('\'').count() % 2 == 1;
            let span = Span::new(base + os, base + oe);
            if value.contains('\'') {
                return Err(SyntaxError::new(
                    SyntaxErrorKind::Variable,
                    span,
                    format!("the value of `{}` contains a single quote", &original[os..oe]),
                )
                .with_label("its value would end the quoted item")
                .with_help("a quoted item cannot contain `'`; use a regex `.` in its place"));
            }
            if !quoted && value.contains([' ', '\t', '\n']) {
                return Err(SyntaxError::new(
                    SyntaxErrorKind::Variable,
                    span,
                    format!("the value of `{}` has blanks outside quotes", &original[os..oe]),
                )
                .with_label("outside quotes a variable must hold one word or number"));
            }
        }
        Ok(())
    }
}

/// Expands `${NAME}` in `text` with `lookup`; `$${` stands for a literal `${`. `base` is the offset of `text`
/// in the file, for error spans.
pub(crate) fn expand(
    text: &str,
    base: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded, SyntaxError> {
    let at = |span: Span| Span::new(base + span.start, base + span.end);
    let pieces = interpolation_pieces(text).map_err(|e| {
        let error = SyntaxError::new(SyntaxErrorKind::Variable, at(e.span()), e.to_string());
        match e {
            InterpolationError::Unterminated(_) => error,
            InterpolationError::InvalidName { .. } => error.with_label("not a variable name"),
        }
    })?;
    let mut out = String::with_capacity(text.len());
    let mut substitutions = Vec::new();
    for piece in pieces {
        let start = out.len();
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Escaped(offset) => {
                out.push_str("${");
                substitutions.push((start, out.len(), offset, offset + 3));
            }
            Piece::Reference(name, span) => {
                let Some(value) = lookup(name) else {
                    return Err(SyntaxError::new(
                        SyntaxErrorKind::Variable,
                        at(span),
                        format!("environment variable `{name}` is not set"),
                    )
                    .with_label("not set")
                    .with_help(format!("export {name}=… before running, or remove the reference")));
                };
                out.push_str(&value);
                substitutions.push((start, out.len(), span.start, span.end));
            }
        }
    }
    Ok(Expanded { text: out, substitutions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "NS" => Some("kube-system".into()),
            "N" => Some("3".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_maps_offsets_back() {
        let e = expand("in namespace '${NS}' x", 0, &env).unwrap();
        assert_eq!(e.text, "in namespace 'kube-system' x");
        assert_eq!(e.original(3), 3);
        assert_eq!(e.original(15), 14); // inside the value: the `${NS}`
        assert_eq!(e.original(25), 19); // the closing quote
        assert_eq!(e.original_span(Span::new(14, 25)), Span::new(14, 19));
        assert_eq!(e.original_span(Span::new(27, 28)), Span::new(21, 22));
    }

    #[test]
    fn values_cannot_break_out_of_quotes() {
        let env = |name: &str| match name {
            "EVIL" => Some("x' in namespace 'kube-system".to_owned()),
            "TWO" => Some("2 pods".to_owned()),
            "N" => Some("2".to_owned()),
            _ => None,
        };
        let text = "named '${EVIL}'";
        let e = expand(text, 10, &env).unwrap().check_values(text, 10).unwrap_err();
        assert_eq!((e.kind, e.span), (SyntaxErrorKind::Variable, Span::new(17, 24)));
        let text = "there are ${TWO} named 'x'";
        assert!(expand(text, 0, &env).unwrap().check_values(text, 0).is_err());
        let text = "there are ${N} pods named 'a ${TWO}'";
        assert!(expand(text, 0, &env).unwrap().check_values(text, 0).is_ok());
    }

    #[test]
    fn literal_dollar_and_escape() {
        assert_eq!(expand("a $b $${c}", 0, &env).unwrap().text, "a $b ${c}");
    }

    #[test]
    fn unset_and_malformed_variables_are_errors_with_spans() {
        let e = expand("x ${MISSING} y", 10, &env).unwrap_err();
        assert_eq!((e.span, e.kind), (Span::new(12, 22), SyntaxErrorKind::Variable));
        assert!(e.message.contains("MISSING"));
        assert_eq!(expand("${NS", 0, &env).unwrap_err().span, Span::new(0, 2));
        let e = expand("${a b}", 4, &env).unwrap_err();
        assert_eq!(e.span, Span::new(4, 10));
        assert!(e.message.starts_with("`${a b}` is not a variable name"), "{}", e.message);
    }
}
