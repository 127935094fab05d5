//! Exit codes of the `precheck` binary: one table for every sub-command (README's, which
//! `tests/exit_codes.rs` walks through every sub-command), decided here from what ended the command — a
//! typed error's [`Fault`], a check run's worst [`Status`], a pipeline run's [`RunStatus`].
//!
//! `verify` and `try` keep bats-detik's codes (0 passed, 1 empty sentence, 2 invalid syntax, 3 failed) and
//! add 4 for a cluster that could not be asked, which DETIK reports as a failure.

use precheck::outcome::{Classified, Fault, Status};
use precheck_pipeline::record::RunStatus;

/// Everything passed (`lint`: no error).
pub const SUCCESS: i32 = 0;
/// `verify`/`try` was given an empty sentence.
pub const EMPTY_SENTENCE: i32 = 1;
/// Invalid input: a syntax error, an unknown resource type, a bad option or file.
pub const INVALID_INPUT: i32 = 2;
/// An assertion failed (the cluster is not as asserted), a pipeline step failed, or `migrate` left lines for a
/// person to convert.
pub const FAILED: i32 = 3;
/// The cluster, AWS, a program or the file system could not be asked or used.
pub const INFRASTRUCTURE: i32 = 4;

/// The code of an error on `fault`'s side.
pub fn of_fault(fault: Fault) -> i32 {
    match fault {
        Fault::Input => INVALID_INPUT,
        Fault::Assertion => FAILED,
        Fault::Infrastructure => INFRASTRUCTURE,
    }
}

/// The code of a check run whose worst test ended with `status`.
pub fn of_status(status: Status) -> i32 {
    match status {
        Status::Passed | Status::Skipped => SUCCESS,
        Status::Failed => FAILED,
        Status::Errored => INFRASTRUCTURE,
        Status::Invalid => INVALID_INPUT,
    }
}

/// The code of a pipeline run that ended with `status` (a run still running ended without finishing).
pub fn of_run(status: RunStatus) -> i32 {
    match status {
        RunStatus::Succeeded => SUCCESS,
        RunStatus::Failed => FAILED,
        RunStatus::Errored | RunStatus::Running => INFRASTRUCTURE,
    }
}

/// Prints `error: …` on stderr and returns the code of the error's fault.
pub fn error(error: &(impl std::fmt::Display + Classified)) -> i32 {
    eprintln!("error: {error}");
    of_fault(error.fault())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_and_the_status_it_gives_a_test_have_one_code() {
        for fault in [Fault::Input, Fault::Assertion, Fault::Infrastructure] {
            assert_eq!(of_fault(fault), of_status(fault.status()), "{fault:?}");
        }
    }
}
