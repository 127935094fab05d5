//! The `precheck` command line: `run`, `lint`, `verify`, `try` and `pipeline`.

mod cli;
mod exit_codes;
mod pipeline_cli;

fn main() {
    std::process::exit(cli::main());
}
