//! Where a YAML error of serde-saphyr is, and what it says without the position and snippet it renders
//! into its text: check files' object files and pipeline files place their errors with it.
//!
//! ```
//! let text = "a: 1\nb: [2\n";
//! let error = serde_saphyr::from_str::<serde_json::Value>(text).unwrap_err();
//! let (offset, _) = precheck::yaml_error::span(text, &error.location().unwrap());
//! assert_eq!(precheck_lang::line_col(text, offset), (2, 4), "the `[` never closed");
//! assert!(!precheck::yaml_error::message(&error).starts_with("line "));
//! ```

/// The byte offset and length in `text` of a place serde-saphyr reports (its byte span when it has one,
/// else its line and column).
pub fn span(text: &str, location: &serde_saphyr::Location) -> (usize, usize) {
    let span = location.span();
    let offset = span.byte_offset().map_or_else(
        || precheck_lang::offset_at(text, location.line() as usize, location.column() as usize),
        |o| o as usize,
    );
    (offset, span.byte_len().map_or(1, |l| l as usize))
}

/// What the error says: serde-saphyr renders `error: line L column C: MESSAGE` and a snippet; this is
/// MESSAGE alone (the error's place is said on its own).
pub fn message(error: &serde_saphyr::Error) -> String {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((position, rest)) if position.contains(" column ") => rest.to_owned(),
        _ => first.to_owned(),
    }
}
