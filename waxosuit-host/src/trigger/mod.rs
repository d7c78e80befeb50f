//! Triggers: what calls a guest on the world's behalf — the HTTP server, messaging
//! subscriptions — and the metrics endpoint beside them. Each holds a [`LiveGuest`]
//! (a swappable handle), never a concrete guest, so a new version can be swapped in without
//! closing a listener or re-subscribing; each counts its answers in
//! `waxosuit_trigger_responses_total`.
//!
//! [`LiveGuest`]: runtime_core::LiveGuest

pub mod http;
pub mod messaging;
pub mod metrics;
