//! The documents of a YAML file (object files, kuttl steps): the file split at its `---` lines, each piece
//! with the line it starts on, so an error in one names its line in the file.

use std::ops::Range;

/// One document of a multi-document YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its bytes in the text (without the `---` line before it).
    pub range: Range<usize>,
    /// The line (from 1) its first byte is on.
    pub first_line: usize,
}

/// Splits YAML text at lines that are `---` alone (trailing blanks or a comment allowed).
///
/// ```
/// let text = "a: 1\n---\nb: 2\n--- # third\nc: 3\n";
/// let documents = precheck_lang::yaml_documents(text);
/// assert_eq!(&text[documents[1].range.clone()], "b: 2\n");
/// assert_eq!(documents[1].first_line, 3);
/// assert_eq!(&text[documents[2].range.clone()], "c: 3\n");
/// ```
pub fn yaml_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        // `---` alone, or followed by a comment (`--- # step 2`), as Kubernetes' YAML reader takes it.
        if line.starts_with("---") && (line[3..].trim().is_empty() || line[3..].trim_start().starts_with('#')) {
            documents.push(start..at);
            start = at + line.len();
        }
        at += line.len();
    }
    documents.push(start..text.len());
    documents
        .into_iter()
        .map(|range| Document { first_line: text[..range.start].matches('\n').count() + 1, range })
        .collect()
}
