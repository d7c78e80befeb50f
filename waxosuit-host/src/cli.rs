//! The `waxosuit` command line: the headless host a container or a Kubernetes pod runs. It
//! serves modules exactly as `cargo waxo run` does, with no build tooling linked.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::HostError;
use crate::logging::{self, LogFormat};
use crate::serve::{ServeArgs, resolve_target, serve_until_signal};

/// Command line of `waxosuit`.
#[derive(Debug, Parser)]
#[command(
    name = "waxosuit",
    version,
    about = "The headless Waxosuit host: serve signed WebAssembly guests",
    long_about = None
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The `waxosuit` commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a signed module until SIGTERM or Ctrl-C.
    Run(RunArgs),
}

/// Arguments of `waxosuit run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
MODULE is a signed `.wasm` file (its waxo.toml is looked for in the current directory); DIR is \
a directory holding one module and, optionally, its waxo.toml — the layout of a container \
image. The capabilities the module's verified claims list are wired from waxo.toml (embedded \
defaults when absent). On SIGTERM or Ctrl-C the host stops accepting, lets calls in flight \
finish, and exits 0.

Exit codes: 0 stopped cleanly; 1 the module or its wiring was refused; 2 usage error.

Examples:
  waxosuit run /app --http 0.0.0.0:8080 --trust ACCOUNTKEY… --log-format json
  waxosuit run app_s.wasm --config prod.toml --metrics 127.0.0.1:9100")]
pub struct RunArgs {
    /// The module, or a directory holding it.
    #[arg(value_name = "MODULE|DIR")]
    pub target: PathBuf,
    /// How to serve it.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Exit codes of `waxosuit`.
pub mod exit {
    /// Stopped cleanly.
    pub const OK: i32 = 0;
    /// The module or its wiring was refused.
    pub const FAILURE: i32 = 1;
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), HostError> {
    logging::init(cli.log_format);
    match cli.command {
        Command::Run(args) => {
            let cwd = std::env::current_dir().map_err(HostError::Runtime)?;
            let target = resolve_target(&args.target, &cwd)?;
            let opts = args
                .serve
                .app_options(target.module, &target.app_dir, cache_dir())?;
            serve_until_signal(opts)
        }
    }
}

/// `$WAXO_HOME/cache`, else `~/.waxo/cache`; `None` without a home (compile every start).
fn cache_dir() -> Option<PathBuf> {
    let home = std::env::var_os("WAXO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".waxo"))
        })?;
    Some(home.join("cache"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn clap_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
