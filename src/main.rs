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
        None => {
            // From the Start menu or Explorer the window would sit beside a console window of
            // its own, where a fatal error would also vanish with the process.
            let released = xgen_desk::app::console::release_own_console();
            let result = xgen_desk::app::run_with_documents(args.documents);
            if let (true, Err(error)) = (released, &result) {
                xgen_desk::app::console::show_error(&xgen_desk::error_text::chain(error.as_ref()));
            }
            result
        }
        Some(command) => cli::run(command),
    };
    cli::exit_code(result)
}
