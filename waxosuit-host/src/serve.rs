//! Serving until told to stop: the flags both `cargo waxo run` and `waxosuit run` take
//! ([`ServeArgs`]), the start-up announcement, and the signal handling of a container process —
//! on `SIGTERM` or Ctrl-C stop accepting, drain calls in flight, then return.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::app::{App, AppOptions};
use crate::config::Config;
use crate::error::HostError;

/// The serving flags, shared by `cargo waxo run` and `waxosuit run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address for the HTTP server (overrides `[http] bind`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Wiring file [default: waxo.toml beside the crate or in DIR, else in the current directory].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run a module without claims (it gets no capabilities).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Trust only modules signed by this account key (`A…`). Repeatable; adds to `[trust]`.
    #[arg(long = "trust", value_name = "KEY", value_parser = account_key)]
    pub trust: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (overrides `[metrics] bind`).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

fn account_key(key: &str) -> Result<String, String> {
    if key.starts_with('A') && nkeys::KeyPair::from_public_key(key).is_ok() {
        Ok(key.to_string())
    } else {
        Err(
            "not an account public key (56 characters starting with `A`); \
             `cargo wascap inspect MODULE` shows a module's issuer"
                .to_string(),
        )
    }
}

impl ServeArgs {
    /// The options to serve `module`, whose app directory (where `waxo.toml` is looked for
    /// when `--config` is not given) is `app_dir`.
    pub fn app_options(
        &self,
        module: PathBuf,
        app_dir: &Path,
        cache_dir: Option<PathBuf>,
    ) -> Result<AppOptions, HostError> {
        let config_path = self.config.clone().or_else(|| {
            let beside = app_dir.join("waxo.toml");
            beside.is_file().then_some(beside)
        });
        let config = match &config_path {
            Some(path) => Config::load(path)?,
            None => Config::embedded(app_dir),
        };
        Ok(AppOptions {
            module,
            config,
            http: self.http,
            metrics: self.metrics,
            allow_unsigned: self.allow_unsigned,
            trust: self.trust.clone(),
            cache_dir,
        })
    }
}

/// A module to serve and the directory of its app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The module file.
    pub module: PathBuf,
    /// Where its `waxo.toml` is looked for.
    pub app_dir: PathBuf,
}

/// Why `MODULE|DIR` names nothing servable.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The path does not exist.
    #[error("`{}` does not exist; pass a module file (`app.wasm`) or a directory holding one", .0.display())]
    Missing(PathBuf),
    /// The directory holds no module.
    #[error("`{}` holds no `.wasm` module; put the signed module there (e.g. `cargo waxo build` output) or pass its path", .0.display())]
    Empty(PathBuf),
    /// The directory holds several modules.
    #[error("`{}` holds several modules ({}); pass the one to run", dir.display(), names.join(", "))]
    Ambiguous {
        /// The directory.
        dir: PathBuf,
        /// The candidates.
        names: Vec<String>,
    },
    /// The directory cannot be listed.
    #[error("cannot list `{}`", path.display())]
    Read {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `MODULE|DIR`: a file is the module (its app directory is `cwd`); a directory must
/// hold exactly one `.wasm` file (a signed `*_s.wasm` wins over its unsigned build), and is its
/// own app directory — the layout of a container image.
pub fn resolve_target(path: &Path, cwd: &Path) -> Result<Target, TargetError> {
    if path.is_file() {
        return Ok(Target {
            module: path.to_path_buf(),
            app_dir: cwd.to_path_buf(),
        });
    }
    if !path.is_dir() {
        return Err(TargetError::Missing(path.to_path_buf()));
    }
    let read_error = |source| TargetError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut modules = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let file = entry.path();
        if file.is_file() && file.extension().is_some_and(|e| e == "wasm") {
            modules.push(file);
        }
    }
    let signed: Vec<PathBuf> = modules
        .iter()
        .filter(|m| {
            m.file_stem()
                .is_some_and(|s| s.to_string_lossy().ends_with("_s"))
        })
        .cloned()
        .collect();
    let candidates = if signed.is_empty() { modules } else { signed };
    match candidates.as_slice() {
        [] => Err(TargetError::Empty(path.to_path_buf())),
        [module] => Ok(Target {
            module: module.clone(),
            app_dir: path.to_path_buf(),
        }),
        many => Err(TargetError::Ambiguous {
            dir: path.to_path_buf(),
            names: many
                .iter()
                .filter_map(|m| m.file_name())
                .map(|n| wascap::text::escape_controls(&n.to_string_lossy()).into_owned())
                .collect(),
        }),
    }
}

/// Starts `opts` on a new tokio runtime, announces it on stdout, and serves until `SIGTERM`
/// or Ctrl-C; then drains and returns.
pub fn serve_until_signal(opts: AppOptions) -> Result<(), HostError> {
    let runtime = tokio::runtime::Runtime::new().map_err(HostError::Runtime)?;
    runtime.block_on(async {
        let app = App::start(opts, tokio::runtime::Handle::current()).await?;
        announce(&app);
        let signal = shutdown_signal().await;
        tracing::info!(signal, module = %app.name(), "draining calls in flight, then stopping");
        app.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Prints where the app serves (stdout: scripts read the URL from it).
pub fn announce(app: &App) {
    let mut out = std::io::stdout().lock();
    let name = wascap::text::escape_controls(&app.name()).into_owned();
    // A closed stdout must not stop the service: the announcement is a courtesy.
    let _ = match app.http_addr() {
        Some(addr) => writeln!(out, "serving `{name}` on http://{addr}"),
        None => writeln!(out, "running `{name}`"),
    };
    for subject in app.subjects() {
        let _ = writeln!(
            out,
            "subscribed to `{}`",
            wascap::text::escape_controls(subject)
        );
    }
    if let Some(addr) = app.metrics_addr() {
        let _ = writeln!(out, "metrics on http://{addr}/metrics");
    }
    let _ = writeln!(out, "press Ctrl-C to stop");
    let _ = out.flush();
}

/// Waits for `SIGTERM` (how containers are stopped) or Ctrl-C; returns which.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_resolves_to_its_one_module_and_is_the_app_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = Path::new("/elsewhere");
        assert!(matches!(
            resolve_target(dir.path(), cwd),
            Err(TargetError::Empty(_))
        ));
        std::fs::write(dir.path().join("app.wasm"), b"x").unwrap();
        let target = resolve_target(dir.path(), cwd).unwrap();
        assert_eq!(target.module, dir.path().join("app.wasm"));
        assert_eq!(target.app_dir, dir.path());
        // The signed build wins over the unsigned one.
        std::fs::write(dir.path().join("app_s.wasm"), b"x").unwrap();
        let target = resolve_target(dir.path(), cwd).unwrap();
        assert_eq!(target.module, dir.path().join("app_s.wasm"));
        std::fs::write(dir.path().join("other_s.wasm"), b"x").unwrap();
        let err = resolve_target(dir.path(), cwd).unwrap_err().to_string();
        assert!(
            err.contains("app_s.wasm") && err.contains("other_s.wasm"),
            "{err}"
        );
    }

    #[test]
    fn a_file_is_the_module_and_the_cwd_the_app_dir() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m.wasm");
        std::fs::write(&module, b"x").unwrap();
        let target = resolve_target(&module, Path::new("/cwd")).unwrap();
        assert_eq!(target.app_dir, Path::new("/cwd"));
        let err = resolve_target(&dir.path().join("nope"), Path::new("/")).unwrap_err();
        assert!(matches!(err, TargetError::Missing(_)));
    }

    #[test]
    fn trust_keys_are_checked_when_parsed() {
        let account = nkeys::KeyPair::new_account().public_key();
        assert_eq!(account_key(&account).unwrap(), account);
        let module = nkeys::KeyPair::new_module().public_key();
        assert!(
            account_key(&module)
                .unwrap_err()
                .contains("account public key")
        );
        assert!(account_key("Anope").is_err());
    }
}
