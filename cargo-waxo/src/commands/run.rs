//! `cargo waxo run`: build, sign and serve a guest until Ctrl-C, through the host crate (the
//! same serving as the headless `waxosuit run`).

use std::path::PathBuf;

use anyhow::Context as _;
use wascap::cli::keys::KeysDir;

use super::build::{CargoArgs, build_and_sign};
use super::new::waxo_home;
use waxosuit_host::serve::{ServeArgs, serve_until_signal};

/// Arguments of `cargo waxo run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without MODULE, the current crate is built and signed first (as by \
    `cargo waxo build`) and its waxo.toml is used. The capabilities the module's claims list \
    are wired from waxo.toml: embedded defaults when absent (key-value in .waxo/kv.redb, \
    in-process messaging, HTTP on 127.0.0.1:8080). Stops gracefully on Ctrl-C.\n\n\
    Examples:\n  \
    cargo waxo run\n  \
    cargo waxo run --http 127.0.0.1:3000 --metrics 127.0.0.1:9100\n  \
    cargo waxo run target/wasm32-unknown-unknown/release/app_s.wasm --config prod.toml --trust ABC…"
)]
pub struct Args {
    /// A signed module to run [default: build and run the current crate].
    pub module: Option<PathBuf>,
    /// How to serve it (the same flags as `waxosuit run`).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What to build when MODULE is not given.
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Where signing keys live.
    #[command(flatten)]
    pub keys: KeysDir,
}

/// Runs `cargo waxo run`.
pub fn exec(args: &Args) -> anyhow::Result<i32> {
    let (module, app_dir) = match &args.module {
        Some(module) => (
            module.clone(),
            std::env::current_dir().context("cannot read the current directory")?,
        ),
        None => {
            let built = build_and_sign(&args.cargo, &args.keys)?;
            (built.signed, built.crate_dir)
        }
    };
    let cache_dir = Some(waxo_home()?.join("cache"));
    let opts = args.serve.app_options(module, &app_dir, cache_dir)?;
    serve_until_signal(opts)?;
    Ok(crate::exit::OK)
}
