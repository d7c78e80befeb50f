//! The Redis store: every host pointed at the same Redis shares the data.
//!
//! Operations map to `GET`, `SET … PX` (time to live in milliseconds), `DEL`, `EXISTS`,
//! `INCRBY` and `SCAN … MATCH <prefix>*` (glob characters in the prefix escaped). The client
//! is a redis-rs `ConnectionManager`, which reconnects on its own when the server comes back
//! after a restart. Each operation is bounded by [`RedisConfig::timeout`]; a failure or timeout
//! becomes [`KvError::Unavailable`] naming the Redis URL.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError};
use tokio::runtime::Handle;

use crate::{KvError, Store};

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// The server URL, e.g. `redis://127.0.0.1:6379/` or `redis://:password@host:6379/2`.
    pub url: String,
    /// The longest one operation may take, reconnecting included (default 2 s). Past it the
    /// operation fails with `unavailable`.
    pub timeout: Duration,
    /// The longest one connection attempt may take (default 1 s).
    pub connect_timeout: Duration,
}

impl RedisConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// A [`Store`] in Redis.
pub struct RedisStore {
    manager: ConnectionManager,
    handle: Handle,
    config: RedisConfig,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `config`, running its client on the multi-threaded Tokio runtime of
    /// `handle`. It connects lazily, so the host may start before Redis; use
    /// [`ping`](Self::ping) to check the server at start-up. Fails only on a malformed URL
    /// (`invalid_argument`).
    pub fn new(config: RedisConfig, handle: Handle) -> Result<Self, KvError> {
        let client = Client::open(config.url.as_str()).map_err(|e| KvError::InvalidConfig {
            message: format!(
                "`{}` is not a Redis URL ({e}); use e.g. `redis://127.0.0.1:6379/`",
                config.url
            ),
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        // The manager spawns its reconnect tasks on the runtime it is created in.
        let manager = {
            let _entered = handle.enter();
            ConnectionManager::new_lazy_with_config(client, manager_config)
        }
        .map_err(|e| KvError::InvalidConfig {
            message: format!(
                "cannot configure the Redis client for `{}`: {e}",
                config.url
            ),
        })?;
        Ok(Self {
            manager,
            handle,
            config,
        })
    }

    /// The configuration this store was made with.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Checks that the server answers `PING`.
    pub fn ping(&self) -> Result<(), KvError> {
        self.run(|mut c| async move { ::redis::cmd("PING").query_async::<String>(&mut c).await })
            .map(drop)
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> KvError {
        KvError::Unavailable {
            message: format!(
                "redis at `{}` is unavailable: {reason}; check that the server is running and \
                 reachable from this host and that the key-value `url` in waxo.toml is right",
                self.config.url
            ),
        }
    }

    /// Runs one command future on the runtime, bounded by the timeout.
    fn run<T, F, Fut>(&self, op: F) -> Result<T, KvError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.run_raw(op)?.map_err(|e| self.unavailable(e))
    }

    /// Like [`run`](Self::run), but hands Redis errors back to classify them.
    fn run_raw<T, F, Fut>(&self, op: F) -> Result<Result<T, RedisError>, KvError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let fut = op(self.manager.clone());
        self.handle
            .block_on(async { tokio::time::timeout(self.config.timeout, fut).await })
            .map_err(|_| {
                self.unavailable(format_args!("no answer within {:?}", self.config.timeout))
            })
    }
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped, followed by `*`.
fn match_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    pattern
}

/// Whether `e` is Redis refusing a command (as opposed to a connection problem).
fn is_server_refusal(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let key = key.to_owned();
        self.run(|mut c| async move { ::redis::cmd("GET").arg(key).query_async(&mut c).await })
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(key).arg(value);
        if let Some(ttl) = ttl {
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            cmd.arg("PX").arg(ms);
        }
        self.run(|mut c| async move { cmd.query_async::<()>(&mut c).await })
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        let key = key.to_owned();
        self.run(|mut c| async move {
            ::redis::cmd("DEL")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
        })
        .map(|n| n > 0)
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        let key = key.to_owned();
        self.run(|mut c| async move {
            ::redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
        })
        .map(|n| n > 0)
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let owned = key.to_owned();
        let result = self.run_raw(|mut c| async move {
            ::redis::cmd("INCRBY")
                .arg(owned)
                .arg(delta)
                .query_async::<i64>(&mut c)
                .await
        })?;
        result.map_err(|e| {
            if is_server_refusal(&e) {
                if e.to_string().contains("overflow") {
                    KvError::Overflow {
                        key: key.into(),
                        delta,
                    }
                } else {
                    KvError::NotAnInteger { key: key.into() }
                }
            } else {
                self.unavailable(e)
            }
        })
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let pattern = match_pattern(prefix);
        let mut keys = self.run(|mut c| async move {
            let mut keys: Vec<String> = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut c)
                    .await?;
                keys.extend(batch);
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })?;
        // SCAN may return a key more than once.
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the Redis command helpers.

    use super::*;

    #[test]
    fn match_pattern_escapes_globs() {
        assert_eq!(match_pattern("MABC/"), "MABC/*");
        assert_eq!(match_pattern("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
        assert_eq!(match_pattern(""), "*");
    }

    #[test]
    fn a_malformed_url_is_refused() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let err = RedisStore::new(RedisConfig::new("not a url"), rt.handle().clone()).unwrap_err();
        assert_eq!(err.code(), "invalid_argument");
        assert!(err.to_string().contains("not a url"), "{err}");
    }
}
