//! The `precheck` command line: `run`, `lint`, `verify`, `try`, `pipeline` and `migrate`.

mod cli;
mod exit_codes;
mod migrate_cli;
mod pipeline_cli;

fn main() {
    std::process::exit(cli::main());
}
