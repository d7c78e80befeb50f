//! The Waxosuit developer loop as a cargo subcommand: scaffold, build, sign, run.
//!
//! `cargo waxo <command>` runs the `cargo-waxo` binary as `cargo-waxo waxo <command>`; the
//! binary only parses arguments ([`Cli`]) and maps errors to exit codes, while each command
//! lives in [`commands`] with an `Args` struct and an `exec` function tests can call.

pub mod commands;
// The host moved to `waxosuit-host`; these paths keep existing callers working.
pub use waxosuit_host::{app, config};
mod embedded;

use clap::{Parser, Subcommand};

/// Command line of `cargo-waxo` as cargo invokes it (`cargo-waxo waxo …`).
#[derive(Debug, Parser)]
#[command(
    name = "cargo",
    bin_name = "cargo",
    version,
    about = "The Waxosuit developer loop; run it as `cargo waxo …`",
    long_about = None
)]
pub enum Cli {
    /// Waxosuit: build, sign and run WebAssembly guests.
    #[command(name = "waxo", version)]
    Waxo {
        /// The `cargo waxo` command to run.
        #[command(subcommand)]
        command: WaxoCommand,
    },
}

/// The `cargo waxo` commands.
#[derive(Debug, Subcommand)]
pub enum WaxoCommand {
    /// Create a guest crate from a template.
    New(commands::new::Args),
    /// Build the current crate for wasm32 and sign it with its claims.
    Build(commands::build::Args),
    /// Build (unless given a module) and serve a guest until Ctrl-C.
    Run(Box<commands::run::Args>),
    /// Load a module into a host and call it once with a command; print the event.
    Call(commands::call::Args),
}

/// Exit codes of `cargo waxo`.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The command failed (module not loadable, call failed, bad input).
    pub const FAILURE: i32 = 1;
    /// Invalid usage (reported by clap).
    pub const USAGE: i32 = 2;
    /// `call`: the guest answered with an error event.
    pub const ERROR_EVENT: i32 = 3;
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli {
        Cli::Waxo { command } => match command {
            WaxoCommand::New(args) => commands::new::exec(&args),
            WaxoCommand::Build(args) => commands::build::exec(&args),
            WaxoCommand::Run(args) => commands::run::exec(&args),
            WaxoCommand::Call(args) => commands::call::exec(&args),
        },
    }
}
