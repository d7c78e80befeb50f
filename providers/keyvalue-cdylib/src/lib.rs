//! The `waxosuit:keyvalue` provider as a dynamic library: a thin shell exporting
//! [`waxosuit_keyvalue::KeyValueProvider`] through the provider C ABI
//! ([`waxosuit_provider_sdk::export_provider!`]).
//!
//! Configuration (the `config` table of the `[[provider]]` entry in waxo.toml) picks the
//! backend; `backend` is required and unknown fields are refused:
//!
//! ```toml
//! [[provider]]
//! path = "target/release/libwaxosuit_keyvalue_cdylib.so"
//! config = { backend = "embedded", path = "/srv/app/.waxo/kv.redb" }
//! # or: config = { backend = "redis", url = "redis://127.0.0.1:6379/" }
//! ```
//!
//! The embedded `path` is used as given: a relative path is relative to the host's working
//! directory, not to waxo.toml. The Redis store connects lazily (the host may start before
//! Redis) on a tokio runtime the library owns (one worker thread): it is a separate copy of
//! tokio, so it cannot use the host's runtime. The embedded store needs no runtime.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use waxosuit_keyvalue::{CAPABILITY_ID, KeyValueProvider, RedbStore, RedisConfig, RedisStore};
use waxosuit_provider_sdk::serde_json::{self, Value};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, export_provider};

/// What a valid configuration looks like, for error messages.
const EXAMPLES: &str = "use e.g. `{ backend = \"embedded\", path = \"/srv/app/.waxo/kv.redb\" }` \
                        or `{ backend = \"redis\", url = \"redis://127.0.0.1:6379/\" }`";

/// The backends this library can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Embedded,
    Redis,
}

/// The configuration as JSON, before the per-backend checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    backend: Option<Backend>,
    path: Option<PathBuf>,
    url: Option<String>,
}

/// The store the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreConfig {
    /// A redb file.
    Embedded(PathBuf),
    /// A Redis server URL.
    Redis(String),
}

/// The key-value provider with the runtime its Redis client does its I/O on.
pub struct KeyValueShell {
    // Dropped before the runtime: the Redis connections live on it.
    provider: KeyValueProvider,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl KeyValueShell {
    /// Parses `config` and opens the store it names (the redb file, or a lazily connected
    /// Redis client on a runtime of its own).
    pub fn from_config(config: &Value) -> Result<Self, String> {
        match parse_config(config)? {
            StoreConfig::Embedded(path) => {
                let store = RedbStore::open(&path).map_err(|e| e.to_string())?;
                Ok(Self {
                    provider: KeyValueProvider::new(Arc::new(store)),
                    _runtime: None,
                })
            }
            StoreConfig::Redis(url) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("waxo-keyvalue")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the keyvalue runtime: {e}"))?;
                let store = RedisStore::new(RedisConfig::new(url), runtime.handle().clone())
                    .map_err(|e| format!("invalid keyvalue config: {e}"))?;
                Ok(Self {
                    provider: KeyValueProvider::new(Arc::new(store)),
                    _runtime: Some(runtime),
                })
            }
        }
    }
}

/// The [`StoreConfig`] described by the JSON `config`.
fn parse_config(config: &Value) -> Result<StoreConfig, String> {
    let invalid = |reason: String| format!("invalid keyvalue config: {reason}");
    let raw: RawConfig = if config.is_null() {
        RawConfig::default()
    } else {
        serde_json::from_value(config.clone()).map_err(|e| invalid(format!("{e}; {EXAMPLES}")))?
    };
    match (raw.backend, raw.path, raw.url) {
        (None, _, _) => Err(invalid(format!("`backend` is missing; {EXAMPLES}"))),
        (Some(Backend::Embedded), Some(path), None) if !path.as_os_str().is_empty() => {
            Ok(StoreConfig::Embedded(path))
        }
        (Some(Backend::Embedded), _, Some(_)) => Err(invalid(
            "`url` is for `backend = \"redis\"`; remove it, or set `backend = \"redis\"`".into(),
        )),
        (Some(Backend::Embedded), _, None) => Err(invalid(
            "`backend = \"embedded\"` needs the `path` of its redb file, e.g. \
             `/srv/app/.waxo/kv.redb`"
                .into(),
        )),
        (Some(Backend::Redis), None, Some(url)) if !url.is_empty() => Ok(StoreConfig::Redis(url)),
        (Some(Backend::Redis), Some(_), _) => Err(invalid(
            "`path` is for `backend = \"embedded\"`; remove it, or set `backend = \"embedded\"`"
                .into(),
        )),
        (Some(Backend::Redis), None, _) => Err(invalid(
            "`backend = \"redis\"` needs the server `url`, e.g. `redis://127.0.0.1:6379/`".into(),
        )),
    }
}

impl Provider for KeyValueShell {
    fn capability_id(&self) -> &str {
        self.provider.capability_id()
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        self.provider.call(caller, command)
    }
}

export_provider!(KeyValueShell, CAPABILITY_ID, KeyValueShell::from_config);

#[cfg(test)]
mod tests {
    //! Tests for the configuration parsing.

    use super::*;
    use serde_json::json;

    #[test]
    fn each_backend_maps_to_its_store() {
        let config = parse_config(&json!({ "backend": "embedded", "path": "/tmp/kv.redb" }));
        assert_eq!(config, Ok(StoreConfig::Embedded("/tmp/kv.redb".into())));
        let config = parse_config(&json!({ "backend": "redis", "url": "redis://h:1/" }));
        assert_eq!(config, Ok(StoreConfig::Redis("redis://h:1/".into())));
    }

    #[test]
    fn a_missing_backend_or_its_setting_is_refused_with_an_example() {
        for config in [Value::Null, json!({})] {
            let err = parse_config(&config).unwrap_err();
            assert!(err.starts_with("invalid keyvalue config: `backend` is missing; use e.g."));
        }
        let err = parse_config(&json!({ "backend": "embedded" })).unwrap_err();
        assert!(err.contains("needs the `path`"), "{err}");
        let err = parse_config(&json!({ "backend": "embedded", "path": "" })).unwrap_err();
        assert!(err.contains("needs the `path`"), "{err}");
        let err = parse_config(&json!({ "backend": "redis" })).unwrap_err();
        assert!(err.contains("needs the server `url`"), "{err}");
    }

    #[test]
    fn unknown_fields_backends_and_mixed_settings_are_refused() {
        let err = parse_config(&json!({ "backend": "embedded", "pth": "x" })).unwrap_err();
        assert!(err.contains("unknown field `pth`"), "{err}");
        let err = parse_config(&json!({ "backend": "mongo" })).unwrap_err();
        assert!(err.contains("unknown variant `mongo`"), "{err}");
        let err = parse_config(&json!({ "backend": "redis", "url": "redis://h/", "path": "p" }))
            .unwrap_err();
        assert!(
            err.contains("`path` is for `backend = \"embedded\"`"),
            "{err}"
        );
        let err = parse_config(&json!({ "backend": "embedded", "path": "p", "url": "redis://h/" }))
            .unwrap_err();
        assert!(err.contains("`url` is for `backend = \"redis\"`"), "{err}");
    }
}
