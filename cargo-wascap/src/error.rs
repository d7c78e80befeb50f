//! Error types of the claims library.

use std::path::PathBuf;

/// Why a file could not be read as a WebAssembly binary.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The bytes do not parse as a WebAssembly module or component.
    #[error("not a valid WebAssembly module: {0}")]
    Parse(#[from] wasmparser::BinaryReaderError),
    /// A section's declared size runs past the end of the file.
    #[error("not a valid WebAssembly module: a section runs past the end of the file (truncated?)")]
    SectionOutOfBounds,
    /// The section structure is broken (found while streaming a module).
    #[error("not a valid WebAssembly module: {0}")]
    Malformed(String),
}

/// Errors from signing, key handling and claims encoding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a WebAssembly binary.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// A key could not be created, parsed or used.
    #[error("{0}")]
    Key(String),
    /// A key file could not be read or written.
    #[error("cannot {action} key file `{path}`: {source}")]
    KeyFile {
        /// What was being done ("read", "write", "create directory for").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A capability id is not well formed.
    #[error(
        "`{0}` is not a capability: use a short name ({known}) or a full id like `vendor:name`",
        known = crate::caps::SHORT_NAMES.join(", ")
    )]
    InvalidCapability(String),
    /// A duration such as `30s` or `90d` did not parse.
    #[error("invalid duration `{input}`: {reason} (examples: 30s, 10m, 2h, 90d)")]
    InvalidDuration {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// Reading the module to sign failed.
    #[error("cannot read the module: {0}")]
    Read(#[source] std::io::Error),
    /// Writing the signed module failed.
    #[error("cannot write the signed module: {0}")]
    Write(#[source] std::io::Error),
    /// The claims could not be serialised.
    #[error("cannot encode claims: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<nkeys::error::Error> for Error {
    fn from(e: nkeys::error::Error) -> Self {
        Error::Key(e.to_string().to_lowercase())
    }
}
