//! Exit codes of the `precheck` binary, one set for every sub-command.
//!
//! `verify` and `try` keep bats-detik's codes (0 passed, 1 empty sentence, 2 invalid syntax, 3 failed) and
//! add 4 for a cluster that could not be asked, which DETIK reports as a failure.

/// Everything passed (`lint`: no error).
pub const SUCCESS: i32 = 0;
/// `verify`/`try` was given an empty sentence.
pub const EMPTY_SENTENCE: i32 = 1;
/// Invalid input: a syntax error, an unknown resource type, a bad option or file.
pub const INVALID_INPUT: i32 = 2;
/// An assertion failed (the cluster is not as asserted).
pub const FAILED: i32 = 3;
/// The cluster (or a command a step runs) could not be asked.
pub const INFRASTRUCTURE: i32 = 4;
