//! `${NAME}` references: the one grammar of check files (environment variables) and pipeline files
//! (parameters, template inputs, `ITEM`). `$${` stands for a literal `${`; a `$` before anything else is
//! itself.

use crate::ast::Span;

/// A piece of text that may hold references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as written (a lone `$` included).
    Text(&'a str),
    /// `$${` at this byte offset: a literal `${`.
    Escaped(usize),
    /// `${NAME}`: the name and where the whole reference is.
    Reference(&'a str, Span),
}

/// A malformed reference, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    /// `${` with no `}` after it.
    #[error("unterminated `${{`: expected `}}`")]
    Unterminated(Span),
    /// `${…}` whose name is empty or has characters other than letters, digits and `_`.
    #[error("`{name}` is not a variable name: use letters, digits and `_` (`$${{` is a literal `${{`)")]
    InvalidName {
        /// The reference as written, `${` and `}` included.
        name: String,
        /// Where it is.
        span: Span,
    },
}

impl InterpolationError {
    /// Where the malformed reference is, in bytes of the text.
    pub fn span(&self) -> Span {
        match self {
            Self::Unterminated(span) | Self::InvalidName { span, .. } => *span,
        }
    }
}

/// Splits `text` into literal text, escapes and references.
///
/// ```
/// use precheck_lang::{interpolation_pieces, Piece, Span};
///
/// let pieces = interpolation_pieces("ns-${ENV}-$${X}").unwrap();
/// assert_eq!(pieces, [Piece::Text("ns-"), Piece::Reference("ENV", Span::new(3, 9)), Piece::Text("-"),
///     Piece::Escaped(10), Piece::Text("X}")]);
/// assert_eq!(interpolation_pieces("${A B}").unwrap_err().span(), Span::new(0, 6));
/// ```
pub fn interpolation_pieces(text: &str) -> Result<Vec<Piece<'_>>, InterpolationError> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    while let Some(at) = text[offset..].find('$').map(|at| offset + at) {
        if at > offset {
            pieces.push(Piece::Text(&text[offset..at]));
        }
        let after = &text[at..];
        if after.starts_with("$${") {
            pieces.push(Piece::Escaped(at));
            offset = at + 3;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(close) = body.find('}') else {
                return Err(InterpolationError::Unterminated(Span::new(at, at + 2)));
            };
            let name = &body[..close];
            let span = Span::new(at, at + close + 3);
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(InterpolationError::InvalidName { name: text[span.start..span.end].to_owned(), span });
            }
            pieces.push(Piece::Reference(name, span));
            offset = span.end;
        } else {
            pieces.push(Piece::Text(&text[at..at + 1]));
            offset = at + 1;
        }
    }
    if offset < text.len() {
        pieces.push(Piece::Text(&text[offset..]));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_dollars_escapes_and_errors() {
        assert_eq!(interpolation_pieces("").unwrap(), []);
        assert_eq!(
            interpolation_pieces("a$b$").unwrap(),
            [Piece::Text("a"), Piece::Text("$"), Piece::Text("b"), Piece::Text("$")]
        );
        assert_eq!(interpolation_pieces("$${A}").unwrap(), [Piece::Escaped(0), Piece::Text("A}")]);
        assert_eq!(interpolation_pieces("x ${A").unwrap_err(), InterpolationError::Unterminated(Span::new(2, 4)));
        let error = interpolation_pieces("${}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`${}` is not a variable name: use letters, digits and `_` (`$${` is a literal `${`)"
        );
    }
}
