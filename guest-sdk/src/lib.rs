//! Rust guest SDK: handler registration, ABI exports and the capabilities context.
//!
//! A guest is a `cdylib` crate built for `wasm32-unknown-unknown` with one handler:
//!
//! ```
//! use waxosuit_guest::prelude::*;
//!
//! fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
//!     let n = ctx.kv().incr("counter", 1)?;
//!     ctx.log().info(&format!("count {n}"));
//!     Ok(Event::with_payload(&HttpResponse::text(200, n.to_string())))
//! }
//! waxosuit_guest::handler!(handle);
//! # fn main() {}
//! ```
//!
//! [`handler!`] emits the ABI exports (`waxo_abi_version`, `waxo_alloc`, `waxo_free`,
//! `waxo_handle`) when compiling for wasm32; on other targets it only type-checks the handler,
//! so guests also build on the host for clippy and unit tests. There, every host call fails
//! with "not running inside a waxosuit host" and logging does nothing.
//!
//! A handler's `Err(e)` reaches the host as an `Event` with code `guest_error`; a panic traps
//! the instance, which the host turns into an error as well.

mod abi;
mod context;
mod error;

pub use context::{CapabilitiesContext, HttpClient, KeyValue, Logger, Messaging};
pub use error::{Error, Result};
/// The protobuf types shared with the host (envelopes and capability payloads).
pub use waxosuit_proto as proto;

/// Everything a handler needs: `use waxosuit_guest::prelude::*;`.
pub mod prelude {
    pub use crate::{CapabilitiesContext, Error, Result};
    pub use waxosuit_proto::http::{Header, HttpClientRequest, HttpRequest, HttpResponse};
    pub use waxosuit_proto::v1::{Command, Event};
    pub use waxosuit_proto::{codes, keyvalue, messaging, ops};
}

/// Support for the [`handler!`] macro; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::abi::Handler;
    #[cfg(target_arch = "wasm32")]
    pub use crate::abi::{alloc, free, handle};
    pub use waxosuit_proto::abi::VERSION as ABI_VERSION;
}
