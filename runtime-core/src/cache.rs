//! The on-disk cache of compiled artifacts.
//!
//! Layout: `<cache_dir>/<engine key>/<module sha-256>.wxa`, where the engine key names the
//! wasmer version, the target triple, the compiler and the metering configuration, so an
//! artifact is only ever loaded by an engine that could have produced it. A file is
//! `WXOART1\n` + the SHA-256 of the artifact + the artifact (`Module::serialize` output).
//! Files are written to a temporary name and renamed into place, so concurrent hosts never
//! see half-written entries. Anything unexpected on read (short file, wrong magic, checksum
//! mismatch, or an artifact wasmer refuses) is a *corrupt* entry: the module is recompiled
//! and the entry rewritten; the host never fails because of its cache.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::BuildError;

const MAGIC: &[u8; 8] = b"WXOART1\n";
const HEADER: usize = MAGIC.len() + 32;

/// How a module's compiled code was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheOutcome {
    /// The host has no cache directory; the module was compiled.
    Disabled,
    /// A cached artifact was loaded; nothing was compiled.
    Hit,
    /// No cached artifact existed; the module was compiled and the artifact stored.
    Miss,
    /// A cached artifact existed but was unusable; the module was recompiled and the entry
    /// replaced.
    Recompiled {
        /// Why the entry was unusable.
        reason: String,
    },
}

/// The result of looking up an entry.
pub(crate) enum Lookup {
    Hit(Vec<u8>),
    Miss,
    Corrupt(String),
}

/// The artifact cache for one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// Opens (creating it if needed) the cache for `engine_key` under `root`.
    pub(crate) fn open(root: &Path, engine_key: &str) -> Result<Self, BuildError> {
        let dir = root.join(engine_key);
        std::fs::create_dir_all(&dir).map_err(|error| BuildError::CacheDir {
            path: dir.clone(),
            error,
        })?;
        Ok(Self { dir })
    }

    /// Where the artifact of the module with this SHA-256 (hex) lives.
    pub(crate) fn path_for(&self, module_sha256: &str) -> PathBuf {
        self.dir.join(format!("{module_sha256}.wxa"))
    }

    /// Reads and integrity-checks an entry.
    pub(crate) fn get(&self, module_sha256: &str) -> Lookup {
        let path = self.path_for(module_sha256);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Corrupt(format!("cannot read `{}`: {e}", path.display())),
        };
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return Lookup::Corrupt(format!("`{}` is not a waxosuit artifact", path.display()));
        }
        let (header, artifact) = bytes.split_at(HEADER);
        if Sha256::digest(artifact).as_slice() != &header[MAGIC.len()..] {
            return Lookup::Corrupt(format!("`{}` fails its checksum", path.display()));
        }
        Lookup::Hit(artifact.to_vec())
    }

    /// Stores an artifact atomically; returns its path.
    pub(crate) fn put(&self, module_sha256: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path_for(module_sha256);
        let tmp = self.dir.join(format!(
            ".{module_sha256}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(artifact))?;
            f.write_all(artifact)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map(|()| path)
    }

    /// Removes an entry (after it proved unusable); errors are ignored: the next `put`
    /// overwrites it anyway.
    pub(crate) fn remove(&self, module_sha256: &str) {
        let _ = std::fs::remove_file(self.path_for(module_sha256));
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the artifact cache file format.

    use super::*;

    #[test]
    fn put_then_get_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path(), "engine").unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Miss));
        let path = cache.put("abc", b"artifact bytes").unwrap();
        assert!(path.ends_with("engine/abc.wxa"));
        match cache.get("abc") {
            Lookup::Hit(b) => assert_eq!(b, b"artifact bytes"),
            _ => panic!("expected a hit"),
        }
    }

    #[test]
    fn flipped_byte_short_file_and_garbage_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path(), "engine").unwrap();
        let path = cache.put("abc", b"artifact bytes").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("checksum")));
        std::fs::write(&path, b"WXO").unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(_)));
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("not a waxosuit")));
        cache.remove("abc");
        assert!(matches!(cache.get("abc"), Lookup::Miss));
    }
}
