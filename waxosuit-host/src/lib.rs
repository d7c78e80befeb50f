//! The Waxosuit host: the composition root that turns a verified module and a `waxo.toml`
//! into a running service.
//!
//! It owns the wiring of capabilities at run time — the [`config`] model of `waxo.toml`,
//! provider selection and binding (built in, or loaded from a dynamic library), the triggers
//! that call guests (the HTTP server, messaging subscriptions) and the Prometheus endpoint —
//! on top of `runtime-core`, which loads, verifies and runs guests. `cargo waxo run` and the
//! headless `waxosuit` binary both serve through it.

pub mod app;
pub mod config;
