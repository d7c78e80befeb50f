//! The `cargo-waxo` binary: parse, dispatch, map errors to exit codes.

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAXO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("waxosuit::guest=info,warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = cargo_waxo::Cli::parse();
    let code = match cargo_waxo::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (e.g. `| head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                cargo_waxo::exit::OK
            } else {
                eprintln!("error: {err}");
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
                cargo_waxo::exit::FAILURE
            }
        }
    };
    std::process::exit(code);
}
