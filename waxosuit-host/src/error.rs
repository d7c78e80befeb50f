//! What can stop a host from starting. Each variant names the object and says what to do; the
//! cause, when there is one, is the `source` (printed once by the binaries' cause chain).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ConfigError;

/// Starting a host failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// `waxo.toml` is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The module file cannot be read.
    #[error("cannot read module `{}`", path.display())]
    ReadModule {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The module is unsigned and unsigned modules were not allowed.
    #[error(
        "`{}` is not signed, and unsigned modules have no capabilities; sign it with \
         `cargo waxo build` (or `cargo wascap sign`), or pass `--allow-unsigned`",
        path.display()
    )]
    Unsigned {
        /// The file.
        path: PathBuf,
    },
    /// The host could not be built (limits, cache directory).
    #[error("cannot start the host")]
    Build(#[source] runtime_core::BuildError),
    /// The module was refused or failed to load.
    #[error("cannot load `{}`", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: runtime_core::LoadError,
    },
    /// A claimed capability's provider could not be started.
    #[error("cannot start the provider for `{capability}`")]
    Provider {
        /// The capability id.
        capability: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A provider library could not be loaded.
    #[error("cannot load the provider library `{}`", path.display())]
    ProviderLibrary {
        /// The library.
        path: PathBuf,
        /// Why.
        #[source]
        source: waxosuit_provider_sdk::loader::LoadError,
    },
    /// Two providers for one capability.
    #[error("cannot bind the provider for `{capability}`")]
    Bind {
        /// The capability id.
        capability: String,
        /// Why.
        #[source]
        source: runtime_core::BuildError,
    },
    /// A listener could not be opened.
    #[error("cannot serve {what} on {addr}; {hint}")]
    Listen {
        /// What was to be served (`HTTP`, `metrics`).
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// What to do instead.
        hint: &'static str,
        /// Why.
        #[source]
        source: waxosuit_http_server::Error,
    },
    /// A messaging subscription failed.
    #[error("cannot subscribe to `{subject}`")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        #[source]
        source: waxosuit_messaging::MessagingError,
    },
    /// The async runtime could not start (threads, file descriptors).
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// `MODULE|DIR` names nothing servable.
    #[error(transparent)]
    Target(#[from] crate::serve::TargetError),
    /// Start-up work on a blocking thread stopped unexpectedly (it panicked).
    #[error("start-up stopped unexpectedly; this is a bug in waxosuit, please report it")]
    StartupPanicked,
}
