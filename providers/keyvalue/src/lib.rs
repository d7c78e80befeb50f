//! The `waxosuit:keyvalue` capability provider: an embedded redb store, or Redis.
//!
//! Guests send `waxosuit:keyvalue/*` commands (`Get`, `Set`, `Delete`, `Exists`, `Incr`,
//! `ListKeys`, see [`waxosuit_proto::ops`]); [`KeyValueProvider`] decodes them, applies the
//! caller's namespace, and runs them against a [`Store`]:
//!
//! - [`RedbStore`] (the embedded default): one persistent redb file, by convention the app's
//!   `.waxo/kv.redb`. Every write is committed with an fsync before it is acknowledged.
//! - [`RedisStore`]: a Redis server, shared by every host pointed at it.
//!
//! # Namespacing
//!
//! Two guests never see each other's keys. The provider stores the guest key `k` as
//! `<namespace>/k` where the namespace is
//!
//! - the caller's subject key (`M…`, from its verified claims) for a signed module, so the key
//!   space follows the module's identity across versions and renames;
//! - `~<module name>` for an unsigned module (allowed only in development), with `%` and `/`
//!   in the name escaped as `%25` and `%2F`.
//!
//! Subject keys are base32 and never contain `~` or `/`, so no two namespaces overlap and no
//! guest key can reach into another namespace. `ListKeys` answers guest keys (the namespace
//! stripped). Code using a [`Store`] directly sees the raw, prefixed keys.
//!
//! ```
//! use std::sync::Arc;
//! use waxosuit_keyvalue::{KeyValueProvider, RedbStore};
//! use waxosuit_proto::{keyvalue, ops, v1::Command};
//! use waxosuit_provider_sdk::{Caller, Provider};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = RedbStore::open(dir.path().join(".waxo/kv.redb")).unwrap();
//! let provider = KeyValueProvider::new(Arc::new(store));
//! let caller = Caller::new("counter", "MCOUNTER");
//! let cmd = Command::new(ops::KV_INCR, &keyvalue::IncrRequest { key: "hits".into(), delta: 2 });
//! let event = provider.call(&caller, &cmd);
//! assert_eq!(event.payload_as::<keyvalue::IncrResponse>().unwrap().value, 2);
//! ```
//!
//! # Blocking
//!
//! [`Store`] and [`Provider::call`] are blocking. [`RedisStore`] runs its async client on a
//! Tokio runtime it is given a handle of and waits with `Handle::block_on`, so it must not be
//! called from inside an async task (Tokio panics there): the host calls providers from its
//! blocking guest threads. The runtime must be multi-threaded so its workers drive the I/O.

pub mod redb;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use waxosuit_proto::{PayloadError, codes, keyvalue as kv, ops};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider};

pub use crate::redb::RedbStore;
pub use crate::redis::{RedisConfig, RedisStore};

/// The capability id this crate implements.
pub const CAPABILITY_ID: &str = "waxosuit:keyvalue";

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The backend cannot be reached or cannot store data right now; retrying may help. The
    /// message names the backend (file path or Redis URL) and what to check.
    #[error("{message}")]
    Unavailable {
        /// Full explanation.
        message: String,
    },
    /// `Incr` on a key whose value is not a decimal 64-bit integer.
    #[error(
        "key `{key}` holds a value that is not a 64-bit integer, so it cannot be incremented; set it to a number or use another key"
    )]
    NotAnInteger {
        /// The key.
        key: String,
    },
    /// `Incr` would leave the 64-bit range.
    #[error("incrementing key `{key}` by {delta} overflows a 64-bit integer")]
    Overflow {
        /// The key.
        key: String,
        /// The increment asked for.
        delta: i64,
    },
    /// The store's configuration is wrong (for example a malformed Redis URL).
    #[error("{message}")]
    InvalidConfig {
        /// Full explanation.
        message: String,
    },
    /// The key cannot be stored.
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl KvError {
    /// The ABI error code for this error (`"unavailable"` or `"invalid_argument"`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => codes::UNAVAILABLE,
            Self::NotAnInteger { .. }
            | Self::Overflow { .. }
            | Self::InvalidKey { .. }
            | Self::InvalidConfig { .. } => codes::INVALID_ARGUMENT,
        }
    }
}

/// A key-value backend. Keys are UTF-8 strings, values are bytes.
///
/// Integers written by [`incr`](Store::incr) are stored as decimal ASCII (as Redis does), so
/// `get` after `incr` answers e.g. `b"42"`, and `set(k, b"41")` then `incr(k, 1)` gives 42.
/// Keys past their time to live are invisible to every operation.
pub trait Store: Send + Sync {
    /// The value of `key`, `None` when absent or expired.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value` under `key`, replacing any value and time to live; with `ttl` the key
    /// disappears after that long (`None` = never).
    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError>;
    /// Removes `key`; answers whether it existed (and had not expired).
    fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Whether `key` exists (and has not expired).
    fn exists(&self, key: &str) -> Result<bool, KvError>;
    /// Atomically adds `delta` to the integer at `key` (absent counts as 0) and answers the
    /// new value. The key keeps its time to live.
    fn incr(&self, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Every live key starting with `prefix`, sorted.
    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError>;
}

/// The namespace prefix (ending in `/`) of `caller`'s keys; see the crate docs.
pub fn namespace(caller: &Caller) -> String {
    if caller.subject.is_empty() {
        let escaped = caller.module.replace('%', "%25").replace('/', "%2F");
        format!("~{escaped}/")
    } else {
        format!("{}/", caller.subject)
    }
}

/// The `waxosuit:keyvalue` provider over any [`Store`].
pub struct KeyValueProvider {
    store: Arc<dyn Store>,
}

impl KeyValueProvider {
    /// A provider answering from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The store behind this provider.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn dispatch(&self, caller: &Caller, command: &Command) -> Result<Event, Event> {
        let ns = namespace(caller);
        let full = |key: &str| -> Result<String, Event> {
            if key.is_empty() {
                return Err(error_event(KvError::InvalidKey {
                    key: String::new(),
                    reason: format!("`{}` needs a non-empty key", command.op),
                }));
            }
            Ok(format!("{ns}{key}"))
        };
        let store = self.store.as_ref();
        match command.op.as_str() {
            ops::KV_GET => {
                let req: kv::GetRequest = payload(command)?;
                let value = store.get(&full(&req.key)?).map_err(error_event)?;
                Ok(Event::with_payload(&kv::GetResponse {
                    found: value.is_some(),
                    value: value.unwrap_or_default(),
                }))
            }
            ops::KV_SET => {
                let req: kv::SetRequest = payload(command)?;
                let ttl = (req.ttl_seconds > 0).then(|| Duration::from_secs(req.ttl_seconds));
                store
                    .set(&full(&req.key)?, &req.value, ttl)
                    .map_err(error_event)?;
                Ok(Event::with_payload(&kv::SetResponse {}))
            }
            ops::KV_DELETE => {
                let req: kv::DeleteRequest = payload(command)?;
                let existed = store.delete(&full(&req.key)?).map_err(error_event)?;
                Ok(Event::with_payload(&kv::DeleteResponse { existed }))
            }
            ops::KV_EXISTS => {
                let req: kv::ExistsRequest = payload(command)?;
                let exists = store.exists(&full(&req.key)?).map_err(error_event)?;
                Ok(Event::with_payload(&kv::ExistsResponse { exists }))
            }
            ops::KV_INCR => {
                let req: kv::IncrRequest = payload(command)?;
                let value = store
                    .incr(&full(&req.key)?, req.delta)
                    .map_err(|e| error_event(strip_namespace(e, &ns)))?;
                Ok(Event::with_payload(&kv::IncrResponse { value }))
            }
            ops::KV_LIST_KEYS => {
                let req: kv::ListKeysRequest = payload(command)?;
                let keys = store
                    .list_keys(&format!("{ns}{}", req.prefix))
                    .map_err(error_event)?
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&ns).map(str::to_owned))
                    .collect();
                Ok(Event::with_payload(&kv::ListKeysResponse { keys }))
            }
            other => Err(Event::error(
                codes::UNKNOWN_OPERATION,
                format!(
                    "`{other}` is not a {CAPABILITY_ID} operation; use one of Get, Set, Delete, \
                     Exists, Incr, ListKeys"
                ),
            )),
        }
    }
}

impl Provider for KeyValueProvider {
    fn capability_id(&self) -> &str {
        CAPABILITY_ID
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        match self.dispatch(caller, command) {
            Ok(event) | Err(event) => event,
        }
    }
}

/// Decodes the command's payload, or an `invalid_argument` event.
fn payload<T: waxosuit_proto::prost::Name + Default>(command: &Command) -> Result<T, Event> {
    command.payload_as::<T>().map_err(|e: PayloadError| {
        Event::error(
            codes::INVALID_ARGUMENT,
            format!("bad payload for `{}`: {e}", command.op),
        )
    })
}

fn error_event(e: KvError) -> Event {
    Event::error(e.code(), e.to_string())
}

/// Shows the guest its own key name in errors that name the key.
fn strip_namespace(e: KvError, ns: &str) -> KvError {
    let strip = |key: String| key.strip_prefix(ns).map(str::to_owned).unwrap_or(key);
    match e {
        KvError::NotAnInteger { key } => KvError::NotAnInteger { key: strip(key) },
        KvError::Overflow { key, delta } => KvError::Overflow {
            key: strip(key),
            delta,
        },
        KvError::InvalidKey { key, reason } => KvError::InvalidKey {
            key: strip(key),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    //! Tests for namespacing and error codes.

    use super::*;

    #[test]
    fn signed_modules_are_namespaced_by_subject_and_unsigned_by_escaped_name() {
        assert_eq!(namespace(&Caller::new("svc", "MABC")), "MABC/");
        assert_eq!(namespace(&Caller::new("svc", "")), "~svc/");
        assert_eq!(namespace(&Caller::new("a/b%", "")), "~a%2Fb%25/");
        // A module name containing `/` cannot collide with another namespace.
        assert_ne!(
            format!("{}{}", namespace(&Caller::new("a/b", "")), "c"),
            format!("{}{}", namespace(&Caller::new("a", "")), "b/c")
        );
    }

    #[test]
    fn error_codes() {
        let key = "k".to_owned();
        assert_eq!(
            KvError::Unavailable {
                message: "x".into()
            }
            .code(),
            "unavailable"
        );
        assert_eq!(
            KvError::NotAnInteger { key: key.clone() }.code(),
            "invalid_argument"
        );
        assert_eq!(
            KvError::Overflow { key, delta: 1 }.code(),
            "invalid_argument"
        );
    }
}
