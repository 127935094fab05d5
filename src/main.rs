//! The `precheck` command line: `run`, `lint`, `verify` and `try`.

mod cli;
mod exit_codes;

fn main() {
    std::process::exit(cli::main());
}
