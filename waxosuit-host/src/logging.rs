//! Log output of the headless host: human text, or one JSON object per line for log
//! collectors (`--log-format json`). `WAXO_LOG` (an `EnvFilter` directive) picks the levels.

use std::io::IsTerminal as _;

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`), `target`.
    Json,
}

/// The filter when `WAXO_LOG` is unset: the host's own events at info, guest log lines at
/// info, everything else (dependencies) at warn.
pub const DEFAULT_FILTER: &str = "waxosuit_host=info,waxosuit::guest=info,warn";

/// Installs the global subscriber. Call once, from a binary's `main`.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAXO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (tests); keep that one.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
