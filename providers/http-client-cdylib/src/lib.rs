//! The `waxosuit:http_client` provider as a dynamic library: a thin shell exporting
//! [`waxosuit_http_client::HttpClientProvider`] through the provider C ABI
//! ([`waxosuit_provider_sdk::export_provider!`]).
//!
//! The library owns a tokio runtime of its own (one worker thread): it is a separate copy of
//! tokio, so it cannot use the host's runtime. Configuration (the `config` table of the
//! `[[provider]]` entry in waxo.toml):
//!
//! ```toml
//! [[provider]]
//! path = "target/release/libwaxosuit_http_client_cdylib.so"
//! config = { allow = ["api.example.com", "*.internal:8443"], timeout_ms = 5000, max_response_bytes = 1048576 }
//! ```

use std::time::Duration;

use serde::Deserialize;
use waxosuit_http_client::{AllowList, CAPABILITY, HttpClientConfig, HttpClientProvider};
use waxosuit_provider_sdk::serde_json::{self, Value};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, export_provider};

/// The configuration as JSON; absent fields keep [`HttpClientConfig::default`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    allow: Vec<String>,
    timeout_ms: Option<u64>,
    max_response_bytes: Option<usize>,
}

/// The http_client provider with the runtime it does its I/O on.
pub struct HttpClientShell {
    // Dropped before the runtime: the client's connections live on it.
    provider: HttpClientProvider,
    _runtime: tokio::runtime::Runtime,
}

impl HttpClientShell {
    /// Parses `config` (JSON `null` means the defaults, with an empty allow-list that allows
    /// nothing) and starts the runtime.
    pub fn from_config(config: &Value) -> Result<Self, String> {
        let config = parse_config(config)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("waxo-http-client")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the http_client runtime: {e}"))?;
        let provider = HttpClientProvider::new(config, runtime.handle().clone());
        Ok(Self {
            provider,
            _runtime: runtime,
        })
    }
}

/// The [`HttpClientConfig`] described by the JSON `config`.
fn parse_config(config: &Value) -> Result<HttpClientConfig, String> {
    let raw: RawConfig = if config.is_null() {
        RawConfig::default()
    } else {
        serde_json::from_value(config.clone())
            .map_err(|e| format!("invalid http_client config: {e}"))?
    };
    let defaults = HttpClientConfig::default();
    Ok(HttpClientConfig {
        allow: AllowList::new(&raw.allow)
            .map_err(|e| format!("invalid http_client config: {e}"))?,
        timeout: raw
            .timeout_ms
            .map_or(defaults.timeout, Duration::from_millis),
        max_response_bytes: raw
            .max_response_bytes
            .unwrap_or(defaults.max_response_bytes),
    })
}

impl Provider for HttpClientShell {
    fn capability_id(&self) -> &str {
        self.provider.capability_id()
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        self.provider.call(caller, command)
    }
}

export_provider!(HttpClientShell, CAPABILITY, HttpClientShell::from_config);

#[cfg(test)]
mod tests {
    //! Tests for the configuration parsing.

    use super::*;

    #[test]
    fn null_config_means_defaults_allowing_nothing() {
        let config = parse_config(&Value::Null).unwrap();
        assert_eq!(config, HttpClientConfig::default());
        assert!(!config.allow.allows("example.com", 443));
    }

    #[test]
    fn fields_map_to_the_config() {
        let config = parse_config(&serde_json::json!({
            "allow": ["example.com:8080"],
            "timeout_ms": 250,
            "max_response_bytes": 99,
        }))
        .unwrap();
        assert!(config.allow.allows("example.com", 8080));
        assert!(!config.allow.allows("example.com", 80));
        assert_eq!(config.timeout, Duration::from_millis(250));
        assert_eq!(config.max_response_bytes, 99);
    }

    #[test]
    fn unknown_fields_and_bad_entries_are_refused() {
        let err = parse_config(&serde_json::json!({ "alow": [] })).unwrap_err();
        assert!(err.contains("unknown field `alow`"), "{err}");
        let err = parse_config(&serde_json::json!({ "allow": ["bad host!"] })).unwrap_err();
        assert!(err.contains("`bad host!`"), "{err}");
    }
}
