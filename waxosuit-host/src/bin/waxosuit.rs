//! The `waxosuit` binary: parse, serve, map errors to exit codes.

use clap::Parser as _;
use waxosuit_host::cli::{self, Cli};

fn main() {
    let cli = Cli::parse();
    let code = match cli::run(cli) {
        Ok(()) => cli::exit::OK,
        Err(err) => {
            // Each cause once: messages do not repeat their source.
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            cli::exit::FAILURE
        }
    };
    std::process::exit(code);
}
