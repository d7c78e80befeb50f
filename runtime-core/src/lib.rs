//! The Waxosuit host: loads, verifies, compiles and runs guests, and enforces their claims.
//!
//! ```no_run
//! use std::sync::Arc;
//! use runtime_core::{Host, Limits};
//! use waxosuit_proto::v1::Command;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::builder()
//!     .trusted_issuers(["ACCOUNTPUBLICKEY"])
//!     .limits(Limits::default())
//!     .cache_dir("/tmp/waxo-cache")
//!     .build()?;
//! let guest = host.load_file("probe.wasm")?;
//! let event = guest.call(&Command { op: "waxosuit:core/Health".into(), payload: None })?;
//! println!("{event:?}");
//! # Ok(()) }
//! ```
//!
//! Pipeline of [`Host::load`]: read → `wascap::verify` (unsigned modules refused unless
//! [`HostBuilder::allow_unsigned`]; issuers checked against
//! [`HostBuilder::trusted_issuers`]) → import/export check → compile with Cranelift, through
//! the on-disk artifact cache → first instance, ABI version check. [`Guest::call`] encodes
//! the `Command`, runs it in a pooled instance under the [`Limits`], and decodes the `Event`.
//! Guests reach capabilities through `host_call`; the host checks the claims and routes the
//! command to the bound [`Provider`].

#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod abi;
mod cache;
mod dispatch;
mod enforce;
mod error;
mod host;
mod limits;
mod load;
pub mod metrics;
mod pool;
mod swap;

pub use abi::ABI_VERSION;
pub use cache::CacheOutcome;
pub use error::{BuildError, CallError, Direction, LoadError};
pub use host::{Guest, Host, HostBuilder};
pub use limits::Limits;
pub use load::LoadReport;
pub use metrics::{Outcome, Trigger};
pub use swap::{LiveGuest, Pinned};
pub use waxosuit_provider_sdk::{Caller, Provider};
