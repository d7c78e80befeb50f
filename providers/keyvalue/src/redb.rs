//! The embedded default store: one persistent redb file (the app's `.waxo/kv.redb`).
//!
//! Each entry is stored in the table `kv` as `key → expiry ‖ value`, where `expiry` is 8
//! little-endian bytes of Unix milliseconds (0 = never expires). Expired entries are
//! invisible to every operation and are overwritten by the next write of their key.
//!
//! Every write runs in its own write transaction committed with
//! `Durability::Immediate`: the file is fsynced before the
//! operation returns, so an acknowledged write survives a crash of the host or machine.
//! `incr` reads, adds and writes inside one transaction, and redb runs one write transaction
//! at a time, so concurrent increments never lose an update.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::{KvError, Store};

/// The table holding every entry.
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// Bytes of the expiry header in front of each value.
const HEADER: usize = 8;

/// A [`Store`] in a redb file.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store at `path`, creating its parent directories.
    ///
    /// A file left by a crashed process is repaired on open. Fails with
    /// [`KvError::Unavailable`] naming the file when it cannot be created or opened (for
    /// example because another process holds it open).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KvError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| KvError::Unavailable {
                message: format!(
                    "cannot create the directory `{}` for the key-value file: {e}; check its \
                     permissions",
                    parent.display()
                ),
            })?;
        }
        let db = Database::create(&path).map_err(|e| KvError::Unavailable {
            message: format!(
                "cannot open the key-value file `{}`: {e}; check that no other waxosuit host \
                 uses it and that the disk is writable",
                path.display()
            ),
        })?;
        let store = Self { db, path };
        // Create the table so readers never meet a missing one.
        store.write(|txn| {
            txn.open_table(TABLE)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes every expired entry and answers how many were removed. Expired entries are
    /// already invisible; this only reclaims their space (call it now and then, e.g. at
    /// start-up or from a timer).
    pub fn purge_expired(&self) -> Result<usize, KvError> {
        let now = now_ms();
        self.write(|txn| {
            let mut table = txn.open_table(TABLE)?;
            let mut removed = 0;
            table.retain(|_, entry| {
                let keep = live(entry, now).is_some();
                removed += usize::from(!keep);
                keep
            })?;
            Ok(removed)
        })
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> KvError {
        KvError::Unavailable {
            message: format!(
                "the key-value file `{}` failed: {e}; check free disk space and permissions",
                self.path.display()
            ),
        }
    }

    /// Runs `f` in a write transaction and commits it durably (fsync before returning); an
    /// error from `f` aborts the transaction.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, TxnError>,
    ) -> Result<T, KvError> {
        let run = || -> Result<T, TxnError> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            let out = f(&txn)?;
            txn.commit()?;
            Ok(out)
        };
        run().map_err(|e| match e {
            TxnError::Kv(e) => e,
            TxnError::Redb(e) => self.unavailable(e),
        })
    }

    /// Runs `f` on the table in a read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&::redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, ::redb::Error>,
    ) -> Result<T, KvError> {
        let run = || -> Result<T, ::redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(TABLE)?;
            f(&table)
        };
        run().map_err(|e| self.unavailable(e))
    }
}

/// An error inside a write transaction: the store's own or redb's.
enum TxnError {
    Kv(KvError),
    Redb(::redb::Error),
}

impl<E: Into<::redb::Error>> From<E> for TxnError {
    fn from(e: E) -> Self {
        Self::Redb(e.into())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Splits a stored entry into `(expiry, value)`; `None` when it has expired (or is too
/// short to be an entry, which only a foreign writer could produce).
fn live(entry: &[u8], now: u64) -> Option<(u64, &[u8])> {
    let (header, value) = entry.split_at_checked(HEADER)?;
    let expiry = u64::from_le_bytes(header.try_into().ok()?);
    (expiry == 0 || now < expiry).then_some((expiry, value))
}

fn encode(expiry: u64, value: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(HEADER + value.len());
    entry.extend_from_slice(&expiry.to_le_bytes());
    entry.extend_from_slice(value);
    entry
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let now = now_ms();
        self.read(|table| {
            Ok(table
                .get(key)?
                .and_then(|entry| live(entry.value(), now).map(|(_, v)| v.to_vec())))
        })
    }

    fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let expiry = match ttl {
            None => 0,
            Some(ttl) => now_ms()
                .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
                .max(1),
        };
        let entry = encode(expiry, value);
        self.write(|txn| {
            let mut table = txn.open_table(TABLE)?;
            table.insert(key, entry.as_slice())?;
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        let now = now_ms();
        self.write(|txn| {
            let mut table = txn.open_table(TABLE)?;
            let removed = table.remove(key)?;
            Ok(removed.is_some_and(|entry| live(entry.value(), now).is_some()))
        })
    }

    fn exists(&self, key: &str) -> Result<bool, KvError> {
        let now = now_ms();
        self.read(|table| {
            Ok(table
                .get(key)?
                .is_some_and(|entry| live(entry.value(), now).is_some()))
        })
    }

    fn incr(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let now = now_ms();
        self.write(|txn| {
            let mut table = txn.open_table(TABLE)?;
            let current = match table.get(key)? {
                Some(entry) => live(entry.value(), now).map(|(expiry, v)| (expiry, v.to_vec())),
                None => None,
            };
            let (expiry, old) = match current {
                None => (0, 0),
                Some((expiry, bytes)) => {
                    let parsed = std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok());
                    match parsed {
                        Some(n) => (expiry, n),
                        None => {
                            return Err(TxnError::Kv(KvError::NotAnInteger { key: key.into() }));
                        }
                    }
                }
            };
            let new = old.checked_add(delta).ok_or_else(|| {
                TxnError::Kv(KvError::Overflow {
                    key: key.into(),
                    delta,
                })
            })?;
            table.insert(key, encode(expiry, new.to_string().as_bytes()).as_slice())?;
            Ok(new)
        })
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>, KvError> {
        let now = now_ms();
        self.read(|table| {
            let mut keys = Vec::new();
            for item in table.range(prefix..)? {
                let (key, entry) = item?;
                let key = key.value();
                if !key.starts_with(prefix) {
                    break;
                }
                if live(entry.value(), now).is_some() {
                    keys.push(key.to_owned());
                }
            }
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the redb entry encoding.

    use super::*;

    #[test]
    fn entries_round_trip_and_expire() {
        let e = encode(0, b"v");
        assert_eq!(live(&e, 5), Some((0, &b"v"[..])));
        let e = encode(10, b"v");
        assert_eq!(live(&e, 9), Some((10, &b"v"[..])));
        assert_eq!(live(&e, 10), None);
        assert_eq!(live(b"short", 0), None);
    }

    #[test]
    fn open_creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app/.waxo/kv.redb");
        let store = RedbStore::open(&path).unwrap();
        assert!(path.is_file());
        assert_eq!(store.path(), path);
    }

    #[test]
    fn purge_expired_removes_only_expired_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("kv.redb")).unwrap();
        store.set("live", b"1", None).unwrap();
        store
            .set("later", b"2", Some(Duration::from_secs(3600)))
            .unwrap();
        // An entry that expired a second ago, written as the store would have written it.
        store
            .write(|txn| {
                let mut table = txn.open_table(TABLE)?;
                table.insert("old", encode(now_ms() - 1000, b"3").as_slice())?;
                Ok(())
            })
            .unwrap();
        assert_eq!(store.purge_expired().unwrap(), 1);
        assert_eq!(store.purge_expired().unwrap(), 0);
        assert_eq!(store.list_keys("").unwrap(), vec!["later", "live"]);
    }

    #[test]
    fn a_second_open_of_the_same_file_is_unavailable_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        let _first = RedbStore::open(&path).unwrap();
        let err = RedbStore::open(&path).unwrap_err();
        assert_eq!(err.code(), "unavailable");
        assert!(err.to_string().contains("kv.redb"), "{err}");
    }
}
