//! The SDK's error type: an error code (see `waxosuit_proto::codes`) and a message.

use waxosuit_proto::{PayloadError, codes, v1::Event};

/// Result of SDK calls and handlers; the error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed host call (the host's error `Event`) or a handler failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// Machine-readable code, one of `waxosuit_proto::codes` (custom codes are allowed).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A `guest_error`: the handler's own failure.
    pub fn guest(message: impl Into<String>) -> Self {
        Self::new(codes::GUEST_ERROR, message)
    }

    /// The event a handler's `Err(self)` becomes: code `guest_error`, and the message prefixed
    /// by the original code when it was another one.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // used by the wasm32 exports
    pub(crate) fn into_event(self) -> Event {
        let message = if self.code == codes::GUEST_ERROR {
            self.message
        } else {
            format!("{}: {}", self.code, self.message)
        };
        Event::error(codes::GUEST_ERROR, message)
    }
}

impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        Self::new(codes::INVALID_ARGUMENT, e.to_string())
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Self::new(codes::INVALID_ARGUMENT, e.to_string())
    }
}
