//! Brings existing suites over to Precheck check files.
//!
//! [`bats::convert`] turns a `.bats` file written with [bats-detik](https://github.com/bats-core/bats-detik)
//! into the text of a `.check` file: `@test` blocks become tests, `setup_file`/`teardown_file` the file's
//! setup and teardown, `setup`/`teardown` every test's, `run verify "…"` followed by `[ "$status" -eq 0 ]`
//! a `verify` sentence, and `run kubectl …` with its `$status`/`$output` checks a `run` step with `expect`
//! lines. What has no faithful check-file form (pipes, loops, the file's own functions, `$(…)`) stays in
//! place as a comment and is listed in [`Conversion::notes`], so nothing is lost silently.
//!
//! ```
//! use precheck_migrate::bats::{Options, convert};
//!
//! let bats = r#"load "detik"
//! DETIK_CLIENT_NAME="kubectl"
//! DETIK_CLIENT_NAMESPACE="web"
//!
//! @test "nginx is up" {
//!     run verify "there are 2 pods named 'nginx'"
//!     [ "$status" -eq 0 ]
//!     run kubectl get deploy nginx -o name
//!     [ "$status" -eq 0 ]
//!     [ "$output" = "deployment.apps/nginx" ]
//!     kubectl get pods | grep -q Running
//! }
//! "#;
//! let converted = convert(bats, &Options::default()).unwrap();
//! assert!(converted.text.contains("namespace 'web'\n"));
//! assert!(converted.text.contains("    verify there are 2 pods named 'nginx'\n"));
//! assert!(converted.text.contains(
//!     "    run kubectl get deploy nginx -o name\n    expect status 0\n    expect output is 'deployment.apps/nginx'\n"
//! ));
//! assert_eq!(converted.notes[0].line, 11);
//! assert_eq!(converted.notes[0].why, "a pipe needs a shell");
//! ```

pub mod bats;
mod check_syntax;
pub mod kuttl;
mod shell;

/// A converted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The check file's text.
    pub text: String,
    /// How many tests it holds.
    pub tests: usize,
    /// The lines that were kept as comments for a person to translate, in file order.
    pub notes: Vec<Note>,
}

/// A line of the original that was not converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The file it is in, when the original is several files (a kuttl test case); `None` for the one file.
    pub file: Option<String>,
    /// Its line in the original file (1-based).
    pub line: usize,
    /// Why it could not be converted.
    pub why: String,
}

/// Input that is not a file of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotBats {
    /// The shell text cannot be read: a quote or block left open.
    #[error("{line}:{column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// No `@test` in the file.
    #[error("1:1: no `@test \"…\" {{` block: not a bats file")]
    NoTests,
}
