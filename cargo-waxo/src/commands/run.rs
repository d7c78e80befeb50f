//! `cargo waxo run`: serve a guest until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use wascap::cli::keys::KeysDir;

use super::build::{CargoArgs, build_and_sign};
use super::new::waxo_home;
use waxosuit_host::app::{App, AppOptions};
use waxosuit_host::config::Config;

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
    /// Address for the HTTP server (overrides `[http] bind`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Wiring file [default: waxo.toml beside the crate, or in the current directory].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run a module without claims (it gets no capabilities).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Trust only modules signed by this account key (`A…`). Repeatable; adds to `[trust]`.
    #[arg(long = "trust", value_name = "KEY")]
    pub trust: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
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
    let config_path = args.config.clone().or_else(|| {
        let beside = app_dir.join("waxo.toml");
        beside.is_file().then_some(beside)
    });
    let config = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::parse("", &app_dir).map_err(anyhow::Error::msg)?,
    };
    let opts = AppOptions {
        module,
        config,
        http: args.http,
        metrics: args.metrics,
        allow_unsigned: args.allow_unsigned,
        trust: args.trust.clone(),
        cache_dir: waxo_home()?.join("cache"),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = App::start(opts, tokio::runtime::Handle::current()).await?;
        announce(&app)?;
        wait_for_shutdown_signal().await;
        eprintln!("shutting down `{}`…", app.name());
        app.shutdown().await;
        Ok(crate::exit::OK)
    })
}

fn announce(app: &App) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match app.http_addr() {
        Some(addr) => writeln!(out, "serving `{}` on http://{addr}", app.name())?,
        None => writeln!(out, "running `{}`", app.name())?,
    }
    for subject in app.subjects() {
        writeln!(out, "subscribed to `{subject}`")?;
    }
    if let Some(addr) = app.metrics_addr() {
        writeln!(out, "metrics on http://{addr}/metrics")?;
    }
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()?;
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
