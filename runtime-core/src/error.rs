//! The errors the host reports: building a host, loading a module, calling a guest.

use std::path::PathBuf;

/// Building a [`Host`](crate::Host) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The compiled-artifact cache directory cannot be created.
    #[error("cannot create the artifact cache directory `{}`: {error}; pass a writable directory to `cache_dir`", path.display())]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// Why (embedded in the message, so not a `source`).
        error: std::io::Error,
    },
    /// Two providers claim the same capability id.
    #[error(
        "two providers are bound to capability `{0}`; bind exactly one provider per capability"
    )]
    DuplicateProvider(String),
    /// A limit is out of range.
    #[error("invalid limit: {0}")]
    InvalidLimits(String),
}

/// Loading a module into the host failed; the host is unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The module file cannot be read.
    #[error("cannot read module `{}`: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (embedded in the message, so not a `source`).
        error: std::io::Error,
    },
    /// The module is unsigned and the host does not allow unsigned modules.
    #[error(
        "module `{module}` is unsigned and this host refuses unsigned modules; sign it with `cargo wascap sign`, or allow unsigned modules for development (`HostBuilder::allow_unsigned`, `cargo waxo call --allow-unsigned`)"
    )]
    Unsigned {
        /// The module.
        module: String,
    },
    /// The module's claims did not verify (tampered, expired, untrusted issuer, …).
    #[error("module `{module}` was refused: {reason}")]
    Claims {
        /// The module.
        module: String,
        /// What the claims check found (embedded in the message, so not a `source`).
        reason: wascap::VerifyError,
    },
    /// The module is larger than the host accepts.
    #[error(
        "module `{module}` is {size} bytes, more than the {limit}-byte module size limit; raise `Limits::max_module_bytes` or shrink the module"
    )]
    TooLarge {
        /// The module.
        module: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The module is not valid WebAssembly or cannot be compiled.
    #[error("module `{module}` cannot be compiled: {message}")]
    Compile {
        /// The module.
        module: String,
        /// The compiler's explanation.
        message: String,
    },
    /// The module does not speak this host's guest ABI (missing exports, unknown imports,
    /// wrong ABI version).
    #[error("module `{module}` {message}")]
    Abi {
        /// The module.
        module: String,
        /// What is wrong, phrased to follow the module name.
        message: String,
    },
    /// The module compiled but cannot be instantiated (e.g. it asks for more memory than the
    /// limit, or its start function trapped).
    #[error("module `{module}` cannot be instantiated: {message}")]
    Instantiate {
        /// The module.
        module: String,
        /// Why.
        message: String,
    },
}

/// Which way an envelope was travelling when it broke a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A `Command` sent by the host into the guest.
    Command,
    /// An `Event` returned by the guest.
    Event,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Command => "command",
            Direction::Event => "event",
        })
    }
}

/// A call into a guest failed. The host keeps serving; an instance that failed mid-call is
/// discarded and replaced by a fresh one.
///
/// A guest that *answers* with an error `Event` is not a `CallError`: that is a successful
/// call whose event carries the guest's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The envelope is larger than `Limits::max_envelope_bytes`.
    #[error(
        "the {direction} for module `{module}` is {size} bytes, more than the {limit}-byte envelope limit; send less data or raise `Limits::max_envelope_bytes`"
    )]
    EnvelopeTooLarge {
        /// The module.
        module: String,
        /// Which envelope.
        direction: Direction,
        /// Its size in bytes.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// The guest ran out of its per-call budget (e.g. an endless loop) or the wall-clock
    /// deadline passed; it was stopped.
    #[error(
        "module `{module}` exceeded its per-call deadline ({what}) and was stopped; fix the guest or raise the limit"
    )]
    DeadlineExceeded {
        /// The module.
        module: String,
        /// Which budget ran out.
        what: String,
    },
    /// The guest ran out of a resource: its allocator returned 0 or memory could not grow.
    #[error("module `{module}` ran out of resources: {message}")]
    ResourceExhausted {
        /// The module.
        module: String,
        /// What ran out.
        message: String,
    },
    /// The guest trapped (unreachable, stack overflow, out-of-bounds access, …).
    #[error("module `{module}` trapped: {message}")]
    Trap {
        /// The module.
        module: String,
        /// The trap.
        message: String,
    },
    /// The guest broke the ABI: a pointer or length outside its memory, or bytes that are not
    /// an `Event`.
    #[error("module `{module}` broke the guest ABI: {message}")]
    Abi {
        /// The module.
        module: String,
        /// What it did.
        message: String,
    },
    /// No instance became free before the deadline (all busy).
    #[error(
        "module `{module}` is busy: all {instances} instances stayed in use for {waited_ms} ms; raise `Limits::max_instances` or retry"
    )]
    Busy {
        /// The module.
        module: String,
        /// Pool size.
        instances: usize,
        /// How long the call waited.
        waited_ms: u128,
    },
    /// A fresh instance could not be created.
    #[error("module `{module}` cannot be instantiated: {message}")]
    Instantiate {
        /// The module.
        module: String,
        /// Why.
        message: String,
    },
}

impl CallError {
    /// The ABI error code that describes this failure (`"deadline_exceeded"`,
    /// `"resource_exhausted"`, `"guest_error"`, `"invalid_argument"`, `"unavailable"`,
    /// `"internal"`), for turning it into an error `Event`.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::EnvelopeTooLarge { .. } | CallError::ResourceExhausted { .. } => {
                "resource_exhausted"
            }
            CallError::DeadlineExceeded { .. } => "deadline_exceeded",
            CallError::Trap { .. } | CallError::Abi { .. } => "guest_error",
            CallError::Busy { .. } => "unavailable",
            CallError::Instantiate { .. } => "internal",
        }
    }

    /// This failure as an error `Event` (code from [`CallError::code`], message from
    /// `Display`), e.g. to answer an HTTP request.
    pub fn to_event(&self) -> waxosuit_proto::v1::Event {
        waxosuit_proto::v1::Event::error(self.code(), self.to_string())
    }
}
