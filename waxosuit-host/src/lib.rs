//! The Waxosuit host: the composition root that turns a verified module and a `waxo.toml`
//! into a running service.
//!
//! It owns the wiring of capabilities at run time — the [`config`] model of `waxo.toml`,
//! provider selection and binding from the module's verified claims ([`load`]), the
//! [`trigger`]s that call guests (the HTTP server, messaging subscriptions) through a swappable
//! [`LiveGuest`](runtime_core::LiveGuest), the Prometheus endpoint, and the mapping of typed
//! call errors to protocol answers — on top of `runtime-core`, which loads, verifies and runs
//! guests. `cargo waxo run`, `cargo waxo call` and the headless `waxosuit` binary ([`cli`])
//! all build their host here. Nothing in it builds code: no cargo, templates or prompts.

pub mod app;
mod bind;
pub mod cli;
pub mod config;
pub mod error;
pub mod load;
pub mod logging;
pub mod serve;
pub mod trigger;

pub use error::HostError;
