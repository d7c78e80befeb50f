//! `wascap`: the Waxosuit claims standard.
//!
//! A module's claims are a JWT, signed with an Ed25519 [nkeys](https://docs.rs/nkeys) account
//! key, carried in a custom section of the WebAssembly binary. They say who issued the module,
//! which module key it is (the subject) and which capabilities it may use; the host enforces
//! them. Tokens are wire-compatible with wasmCloud's `wascap` 0.16: what is signed here
//! validates there, and what is signed there inspects and verifies here.
//!
//! * [`sign`] strips any previous token, hashes the module and appends a new `jwt` section.
//! * [`inspect`] reads a token and reports on it without judging it.
//! * [`verify`] judges it: signature, hash, validity window, trusted issuers, capabilities.
//!
//! ```
//! use wascap::{KeyPair, SignOptions, VerifyOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = wat::parse_str("(module)")?;
//! let (issuer, subject) = (KeyPair::new_account(), KeyPair::new_module());
//! let opts = SignOptions { name: "echo".into(), caps: vec![wascap::caps::KEYVALUE.into()], ..Default::default() };
//! let signed = wascap::sign(&module, &opts, &issuer, &subject)?;
//! let verified = wascap::verify(&signed, &VerifyOptions::default())?;
//! assert!(verified.claims.has_cap("waxosuit:keyvalue"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod caps;
mod claims;
mod embed;
mod error;
mod jwt;
pub mod keys;
mod sign;
mod stream;
pub mod text;
pub mod time;
mod verify;

#[cfg(feature = "cli")]
pub mod cli;

pub use claims::{Claims, ModuleMetadata, WASCAP_REVISION};
pub use embed::{SectionName, Token, extract, module_hash};
pub use error::{Error, ModuleError};
pub use nkeys::KeyPair;
pub use sign::{SignOptions, sign, sign_reader, sign_to};
pub use verify::{
    Inspection, Verified, VerifyError, VerifyOptions, claimed_hash, inspect, inspect_at, verify,
    verify_at,
};
