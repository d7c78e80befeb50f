//! The `cargo wascap` command line: argument definitions and one module per command.
//!
//! `cargo wascap sign …` runs `cargo-wascap wascap sign …`, so the top level is a one-variant
//! enum named after cargo. Each command has an `Args` struct and an `exec` function writing
//! to a caller-supplied output, so tests can run it without a process.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::VerifyError;

pub mod crate_defaults;
pub mod inspect;
pub mod keys;
pub mod sign;
pub mod verify;

/// Cargo's view of the binary: `cargo wascap …`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", styles = clap::builder::Styles::styled())]
pub enum Cargo {
    /// Sign WebAssembly modules with capability claims, and inspect and verify them.
    Wascap(Wascap),
}

/// `cargo wascap`: the claims of WebAssembly modules.
#[derive(Debug, clap::Args)]
#[command(
    version,
    about = "Sign WebAssembly modules with capability claims, and inspect and verify them",
    long_about = "Sign WebAssembly modules with capability claims, and inspect and verify them.\n\n\
        Claims are a JWT in a `jwt` custom section of the module, signed with an Ed25519 \
        account key (the issuer) for a module key (the subject). They list the capabilities \
        the module may use; the Waxosuit host refuses anything else.",
    after_help = "Examples:\n  \
        cargo wascap sign target/wasm32-unknown-unknown/debug/echo.wasm --name echo --cap keyvalue\n  \
        cargo wascap inspect echo_s.wasm\n  \
        cargo wascap verify echo_s.wasm --issuer ACCOUNTKEY --require-cap keyvalue"
)]
pub struct Wascap {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The `cargo wascap` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate and manage signing keys.
    #[command(subcommand)]
    Keys(keys::Command),
    /// Sign a module with claims (replacing any previous claims).
    Sign(Box<sign::Args>),
    /// Show a module's claims and whether they check out.
    Inspect(inspect::Args),
    /// Check a module's claims; the exit code says why it failed (for CI).
    Verify(verify::Args),
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// A failed command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The module's claims were refused.
    #[error("`{path}`: {source}")]
    Verify {
        /// The module.
        path: PathBuf,
        /// Why.
        source: VerifyError,
    },
    /// The claims library failed.
    #[error(transparent)]
    Wascap(#[from] crate::Error),
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Printing the result failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code: 0 valid · 1 cannot read/parse · 2 usage · 3 unsigned ·
    /// 4 bad signature or hash · 5 expired · 6 not yet valid · 7 untrusted issuer ·
    /// 8 required capability missing.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Verify { source, .. } => source.exit_code(),
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// Whether this is a closed stdout (`| head`), which is not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Runs a parsed command line, printing results to `out`.
pub fn run(cli: Cargo, out: &mut dyn Write) -> Result<(), CliError> {
    let Cargo::Wascap(wascap) = cli;
    match wascap.command {
        Command::Keys(cmd) => keys::exec(cmd, out),
        Command::Sign(args) => sign::exec(&args, out),
        Command::Inspect(args) => inspect::exec(&args, out),
        Command::Verify(args) => verify::exec(&args, out),
    }
}

/// Reads a module file.
fn read_module(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON followed by a newline.
fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cargo::command().debug_assert();
    }
}
