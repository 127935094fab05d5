//! The Precheck check language.
//!
//! Sentences are a superset of the [bats-detik](https://github.com/bats-core/bats-detik) language, so an
//! existing suite moves over without rewording; check files group them into named tests with setup,
//! teardown, tags and commands. This crate only parses: it does no I/O, runs nothing and has no async.
//! Evaluation lives in the `precheck` crate.
//!
//! ```
//! use precheck_lang::{parse_sentence, CheckFile, ClusterCheck, Expectation};
//!
//! let sentence = parse_sentence("'status' is 'running' for pods named '^nginx-'").unwrap();
//! let assertion = sentence.cluster().unwrap();
//! assert!(matches!(&assertion.check, ClusterCheck::Property { expect: Expectation::Is(v), .. } if v.value == "running"));
//!
//! // Errors carry spans and render with miette, showing the line, a caret and a suggestion.
//! let errors = CheckFile::parse("test 'x' {\n  verify there are 2 pods namd 'a'\n}\n", &|_| None).unwrap_err();
//! assert_eq!(errors.errors[0].help.as_deref(), Some("did you mean `named`?"));
//! ```
//!
//! The parser is built with `nom`, kept private so the grammar can change without breaking users: the
//! public surface is the syntax tree ([`Sentence`], [`CheckFile`]) and the errors ([`SyntaxError`]).

mod ast;
mod aws_ast;
mod check_file;
mod documents;
mod duration;
mod error;
mod field_path;
mod interpolation;
mod sentence;
mod vars;

pub use ast::{
    Assertion, ClusterAssertion, ClusterCheck, CountComparison, Expectation, Number, Pattern, Property, Retry, Scope,
    Sentence, Span, Spanned, Target,
};
pub use aws_ast::{AwsAssertion, Lookup, NetworkKind, NetworkRef, ParameterCheck, StackCheck};
pub use check_file::{
    Action, CheckFile, CheckFileErrors, Command, ExitStatus, ObjectCheck, OutputCheck, OutputExpectation, Step, Stream,
    Test,
};
pub use documents::{Document, yaml_documents};
pub use duration::{DurationError, parse_duration};
pub use error::{
    Located, NotUtf8, SentenceError, SyntaxError, SyntaxErrorKind, decode_utf8, line_bounds, line_col, nearest,
    offset_at, shorten,
};
pub use field_path::{Comparison, FieldPath, FieldPathError, Filter, Literal, Step as PathStep};
pub use interpolation::{InterpolationError, Piece, interpolation_pieces};
pub use sentence::parse_sentence;
