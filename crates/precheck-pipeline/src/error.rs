//! Errors of pipeline files: each names the file, line and column, says what was expected, and renders
//! with the source line and a caret through `miette`.

use precheck::outcome::{Classified, Fault};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The text of a file, shared by its errors.
#[derive(Debug, Clone)]
pub struct SourceFile {
    path: PathBuf,
    text: Arc<str>,
}

impl SourceFile {
    /// A file's path (as shown in messages) and text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset of a 1-based line and column (columns count characters).
    pub fn offset(&self, line: usize, column: usize) -> usize {
        precheck_lang::offset_at(&self.text, line, column)
    }

    /// The 1-based line and column of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        precheck_lang::line_col(&self.text, offset)
    }

    /// An error at a byte offset.
    pub fn error(&self, offset: usize, len: usize, code: &'static str, message: impl Into<String>) -> PipelineError {
        let span = offset..offset + len.max(1);
        PipelineError::new(self.path.display().to_string(), self.text.clone(), span, code, message)
    }

    /// An error at a value read with its location.
    pub fn error_at(
        &self,
        location: &serde_saphyr::Location,
        code: &'static str,
        message: impl Into<String>,
    ) -> PipelineError {
        let (offset, len) = self.span_of(location);
        self.error(offset, len, code, message)
    }

    /// The byte offset and length of a located value.
    pub fn span_of(&self, location: &serde_saphyr::Location) -> (usize, usize) {
        precheck::yaml_error::span(&self.text, location)
    }
}

/// One problem in a pipeline file: the located error every kind of file reports (file, line, column,
/// what was expected, a suggestion), rendered one way by the `precheck` binary.
pub type PipelineError = precheck_lang::Located;

/// A pipeline file that cannot be read, or is not valid, is the input's fault.
impl Classified for LoadError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

/// Why a pipeline could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{}:{error}", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// Where it stops being text.
        error: precheck_lang::NotUtf8,
    },
    /// The file has errors; every one is listed.
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The errors, in file order.
        errors: Vec<PipelineError>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_lines_and_columns_agree() {
        let file = SourceFile::new("p.yaml", "name: x\nstages:\n  - name: é b\n");
        assert_eq!(file.offset(3, 11), "name: x\nstages:\n  - name: ".len());
        assert_eq!(file.offset(3, 12), "name: x\nstages:\n  - name: é".len());
        assert_eq!(file.line_column(file.offset(3, 12)), (3, 12));
        let err = file.error(file.offset(2, 1), 6, "pipeline::test", "bad");
        assert_eq!(err.to_string(), "p.yaml:2:1: bad");
    }
}
