//! Building a host for one module: build the runtime host from `waxo.toml`, load (verify,
//! compile) the module once, then bind providers from the claims that verification returned.
//! `cargo waxo run`, `cargo waxo call` and `waxosuit run` all start here.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use runtime_core::{BuildError, Guest, Host, LoadError};
use tokio::runtime::Handle;

use crate::bind::{self, Bound};
use crate::config::Config;
use crate::error::HostError;

/// What to load, and under which rules.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The module file.
    pub module: PathBuf,
    /// The wiring.
    pub config: Config,
    /// Run modules without claims (they get no capabilities).
    pub allow_unsigned: bool,
    /// Issuers trusted in addition to `[trust] issuers`; with none at all, any valid issuer is
    /// accepted.
    pub trust: Vec<String>,
    /// Compiled-artifact cache; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
    /// Bind providers for the claimed capabilities (`false` for a one-shot `cargo waxo call`,
    /// which must not touch backends).
    pub bind_providers: bool,
}

/// A loaded module in its host, with providers bound.
pub struct Loaded {
    /// The host.
    pub host: Host,
    /// The module, verified and compiled.
    pub guest: Guest,
    /// The capabilities its verified claims list (empty when unsigned).
    pub claimed: Vec<String>,
    pub(crate) bound: Bound,
}

/// Builds the host and loads `opts.module` into it. Blocks (file reads, compiling, backend
/// connections): call it off the async workers.
pub fn load(opts: &HostOptions, rt: &Handle) -> Result<Loaded, HostError> {
    let config = &opts.config;
    let limits = config.limits.to_limits();
    let bytes = read_module(&opts.module, limits.max_module_bytes)?;
    let host = build_host(opts, limits)?;
    let guest = host.load(&bytes).map_err(|source| match source {
        LoadError::Unsigned { .. } => HostError::Unsigned {
            path: opts.module.clone(),
        },
        source => HostError::Load {
            path: opts.module.clone(),
            source,
        },
    })?;
    let claimed = match guest.claims() {
        Some(claims) => claims.caps().to_vec(),
        None => {
            tracing::warn!(
                module = %opts.module.display(),
                "the module is not signed: it runs without claims, so no capability is bound"
            );
            Vec::new()
        }
    };
    let bound = if opts.bind_providers {
        bind::bind(&host, &claimed, config, rt)?
    } else {
        Bound::default()
    };
    Ok(Loaded {
        host,
        guest,
        claimed,
        bound,
    })
}

fn build_host(opts: &HostOptions, limits: runtime_core::Limits) -> Result<Host, HostError> {
    let builder = || {
        Host::builder()
            .trusted_issuers(opts.config.trust.issuers.iter().chain(&opts.trust).cloned())
            .allow_unsigned(opts.allow_unsigned)
            .limits(limits.clone())
    };
    let Some(dir) = &opts.cache_dir else {
        return builder().build().map_err(HostError::Build);
    };
    match builder().cache_dir(dir).build() {
        Err(BuildError::CacheDir { path, error }) => {
            // A read-only home (a container's root file system) must not stop the service; it
            // only costs a compile per start.
            tracing::warn!(
                cache = %path.display(),
                %error,
                "the artifact cache directory is not writable; compiling without a cache"
            );
            builder().build().map_err(HostError::Build)
        }
        built => built.map_err(HostError::Build),
    }
}

/// Reads the module, refusing to read more than `limit` bytes: an oversized file is refused
/// by its size, before it costs memory.
fn read_module(path: &Path, limit: usize) -> Result<Vec<u8>, HostError> {
    let read_error = |source| HostError::ReadModule {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes).map_err(read_error)?;
    // The host's own size check (with its message and the limit) refuses what is over.
    Ok(bytes)
}
