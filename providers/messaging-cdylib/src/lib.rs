//! The `waxosuit:messaging` provider as a dynamic library: a thin shell exporting
//! [`waxosuit_messaging::MessagingProvider`] through the provider C ABI
//! ([`waxosuit_provider_sdk::export_provider!`]).
//!
//! Configuration (the `config` table of the `[[provider]]` entry in waxo.toml) picks the
//! broker; no configuration (or no `backend`) means `inproc`, and unknown fields are refused:
//!
//! ```toml
//! [[provider]]
//! path = "target/release/libwaxosuit_messaging_cdylib.so"
//! config = { backend = "nats", url = "nats://127.0.0.1:4222" }
//! # or: config = { backend = "inproc" }
//! ```
//!
//! The `inproc` broker lives inside this library instance: guests using it reach only each
//! other's messages sent through the same instance. The NATS client connects when the
//! provider starts (an unreachable server fails the load) and runs on a tokio runtime the
//! library owns (one worker thread): it is a separate copy of tokio, so it cannot use the
//! host's runtime.

use std::sync::Arc;

use serde::Deserialize;
use waxosuit_messaging::{CAPABILITY_ID, InProcBroker, MessagingProvider, NatsBroker, NatsConfig};
use waxosuit_provider_sdk::serde_json::{self, Value};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, export_provider};

/// What a valid configuration looks like, for error messages.
const EXAMPLES: &str = "use e.g. `{ backend = \"inproc\" }` or `{ backend = \"nats\", url = \"nats://127.0.0.1:4222\" }`";

/// The brokers this library can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Inproc,
    Nats,
}

/// The configuration as JSON, before the per-backend checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    backend: Option<Backend>,
    url: Option<String>,
}

/// The broker the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BrokerConfig {
    /// Pub/sub inside this library instance.
    Inproc,
    /// A NATS server URL (several comma-separated URLs allowed).
    Nats(String),
}

/// The messaging provider with the runtime its NATS client does its I/O on.
pub struct MessagingShell {
    // Dropped before the runtime: the NATS connection lives on it.
    provider: MessagingProvider,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl MessagingShell {
    /// Parses `config` and starts the broker it names (connecting to NATS on a runtime of
    /// its own).
    pub fn from_config(config: &Value) -> Result<Self, String> {
        match parse_config(config)? {
            BrokerConfig::Inproc => Ok(Self {
                provider: MessagingProvider::new(Arc::new(InProcBroker::new())),
                _runtime: None,
            }),
            BrokerConfig::Nats(url) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("waxo-messaging")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the messaging runtime: {e}"))?;
                let broker = NatsBroker::connect(NatsConfig::new(url), runtime.handle().clone())
                    .map_err(|e| e.to_string())?;
                Ok(Self {
                    provider: MessagingProvider::new(Arc::new(broker)),
                    _runtime: Some(runtime),
                })
            }
        }
    }
}

/// The [`BrokerConfig`] described by the JSON `config`.
fn parse_config(config: &Value) -> Result<BrokerConfig, String> {
    let invalid = |reason: String| format!("invalid messaging config: {reason}");
    let raw: RawConfig = if config.is_null() {
        RawConfig::default()
    } else {
        serde_json::from_value(config.clone()).map_err(|e| invalid(format!("{e}; {EXAMPLES}")))?
    };
    match (raw.backend.unwrap_or(Backend::Inproc), raw.url) {
        (Backend::Inproc, None) => Ok(BrokerConfig::Inproc),
        (Backend::Inproc, Some(_)) => Err(invalid(
            "`url` is for `backend = \"nats\"`; set `backend = \"nats\"`, or remove `url` for \
             the in-process broker"
                .into(),
        )),
        (Backend::Nats, Some(url)) if !url.trim().is_empty() => Ok(BrokerConfig::Nats(url)),
        (Backend::Nats, _) => Err(invalid(
            "`backend = \"nats\"` needs the server `url`, e.g. `nats://127.0.0.1:4222`".into(),
        )),
    }
}

impl Provider for MessagingShell {
    fn capability_id(&self) -> &str {
        self.provider.capability_id()
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        self.provider.call(caller, command)
    }
}

export_provider!(MessagingShell, CAPABILITY_ID, MessagingShell::from_config);

#[cfg(test)]
mod tests {
    //! Tests for the configuration parsing.

    use super::*;
    use serde_json::json;

    #[test]
    fn no_config_or_backend_means_inproc() {
        for config in [Value::Null, json!({}), json!({ "backend": "inproc" })] {
            assert_eq!(parse_config(&config), Ok(BrokerConfig::Inproc), "{config}");
        }
    }

    #[test]
    fn nats_needs_its_url() {
        let config = parse_config(&json!({ "backend": "nats", "url": "nats://h:4222" }));
        assert_eq!(config, Ok(BrokerConfig::Nats("nats://h:4222".into())));
        for config in [
            json!({ "backend": "nats" }),
            json!({ "backend": "nats", "url": " " }),
        ] {
            let err = parse_config(&config).unwrap_err();
            assert!(err.contains("needs the server `url`"), "{err}");
        }
    }

    #[test]
    fn unknown_fields_backends_and_a_stray_url_are_refused() {
        let err = parse_config(&json!({ "backend": "nats", "uri": "x" })).unwrap_err();
        assert!(
            err.starts_with("invalid messaging config: unknown field `uri`"),
            "{err}"
        );
        let err = parse_config(&json!({ "backend": "kafka" })).unwrap_err();
        assert!(err.contains("unknown variant `kafka`"), "{err}");
        let err = parse_config(&json!({ "url": "nats://h:4222" })).unwrap_err();
        assert!(err.contains("`url` is for `backend = \"nats\"`"), "{err}");
    }
}
