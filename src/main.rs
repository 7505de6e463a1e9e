//! The `xgen-desk` binary: without a subcommand the desktop app opens, with one it runs headless.
//! Everything lives in the library, so tests build the real parts.

use std::process::ExitCode;

use clap::Parser;
use xgen_desk::cli::{self, args::Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    cli::init_tracing();
    if args.version {
        return cli::exit_code(cli::print_version());
    }
    let result = match args.command {
        None => xgen_desk::app::run_with_documents(args.documents),
        Some(command) => cli::run(command),
    };
    cli::exit_code(result)
}
