//! `cargo-wascap`: the thin binary behind `cargo wascap`. Parses, dispatches, and maps
//! errors to the documented exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use wascap::cli::{Cargo, run};

fn main() -> ExitCode {
    // Cargo runs `cargo-wascap wascap ARGS…`; accept `cargo-wascap ARGS…` run directly too.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "wascap") {
        args.insert(1.min(args.len()), "wascap".into());
    }
    let cli = Cargo::parse_from(args);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = run(cli, &mut out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `cargo wascap inspect x | head` closing the pipe early is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
