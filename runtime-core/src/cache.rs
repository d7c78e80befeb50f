//! The on-disk cache of compiled artifacts.
//!
//! Layout: `<cache_dir>/<engine key>/<module hash>.wxa`, where the engine key names the
//! wasmer version, the target triple, the compiler and the metering configuration, so an
//! artifact is only ever loaded by an engine that could have produced it. A file is a
//! 32-byte header — `WXOART2\n`, the XXH3-128 checksum of the artifact, the artifact's
//! length (u64, little-endian) — followed by the artifact (`Module::serialize` output).
//! Files are written to a temporary name and renamed into place, so concurrent hosts never
//! see half-written entries. Anything unexpected on read (short file, wrong magic or length,
//! checksum mismatch, or an artifact wasmer refuses) is a *corrupt* entry: the module is
//! recompiled and the entry rewritten; the host never fails because of its cache.
//!
//! The checksum guards against accidental damage (a disk error, a stray edit), not against an
//! attacker: whoever can write the cache directory can already replace the host binary. That
//! is why it is a fast non-cryptographic hash — artifacts run to ten times the module's size,
//! and SHA-256 over them cost more than the rest of a warm start (benchmark P3). The header's
//! 32 bytes keep the artifact 16-byte aligned in the page-aligned mapping it is read
//! through, so wasmer can use it where it lies instead of copying it.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::BuildError;

const MAGIC: &[u8; 8] = b"WXOART2\n";
/// Magic, 16-byte checksum, 8-byte length.
const HEADER: usize = 32;

/// The checksum stored in the header.
fn checksum(artifact: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(artifact).to_le_bytes()
}

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

/// The result of looking up an entry: the artifact bytes from [`ArtifactCache::get`] (a view
/// into the mapped file, no copy), or what was made of them (the load pipeline deserialises
/// them into a module).
pub(crate) enum Lookup<T = Bytes> {
    Hit(T),
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
    pub(crate) fn path_for(&self, module_hash: &str) -> PathBuf {
        self.dir.join(format!("{module_hash}.wxa"))
    }

    /// Reads and integrity-checks an entry.
    #[allow(unsafe_code)] // the file mapping, reasoned about below
    pub(crate) fn get(&self, module_hash: &str) -> Lookup {
        let path = self.path_for(module_hash);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Corrupt(format!("cannot read `{}`: {e}", path.display())),
        };
        // SAFETY: the mapping is only sound while nobody changes the file underneath it.
        // Entries are never written in place: `put` writes a new file and renames it over
        // the old name, so a mapped inode keeps its bytes for as long as it is mapped. (Only
        // someone truncating cache files by hand could break that, and whoever can write
        // the cache directory can already replace the host itself.) Mapping instead of
        // reading saves allocating, zeroing and copying an artifact ten times the module's
        // size on every warm start.
        let bytes = match unsafe { memmap2::Mmap::map(&file) } {
            Ok(map) => Bytes::from_owner(map),
            Err(e) => return Lookup::Corrupt(format!("cannot map `{}`: {e}", path.display())),
        };
        let Some((magic, sum, len)) = parse_header(&bytes) else {
            return Lookup::Corrupt(format!("`{}` is not a waxosuit artifact", path.display()));
        };
        if magic != MAGIC {
            return Lookup::Corrupt(format!(
                "`{}` is not a waxosuit artifact of this version",
                path.display()
            ));
        }
        let artifact = bytes.slice(HEADER..);
        if u64::try_from(artifact.len()).ok() != Some(len) {
            return Lookup::Corrupt(format!(
                "`{}` is truncated or padded: {} artifact bytes, header says {len}",
                path.display(),
                artifact.len()
            ));
        }
        if checksum(&artifact) != sum {
            return Lookup::Corrupt(format!("`{}` fails its checksum", path.display()));
        }
        Lookup::Hit(artifact)
    }

    /// Stores an artifact atomically; returns its path.
    pub(crate) fn put(&self, module_hash: &str, artifact: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.path_for(module_hash);
        let tmp = self.dir.join(format!(
            ".{module_hash}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            let len = u64::try_from(artifact.len()).map_err(std::io::Error::other)?;
            f.write_all(MAGIC)?;
            f.write_all(&checksum(artifact))?;
            f.write_all(&len.to_le_bytes())?;
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
    pub(crate) fn remove(&self, module_hash: &str) {
        let _ = std::fs::remove_file(self.path_for(module_hash));
    }
}

/// Splits a header into magic, checksum and length; `None` when the file is too short.
fn parse_header(bytes: &[u8]) -> Option<(&[u8], [u8; 16], u64)> {
    let header = bytes.get(..HEADER)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (sum, len) = rest.split_at(16);
    Some((
        magic,
        sum.try_into().ok()?,
        u64::from_le_bytes(len.try_into().ok()?),
    ))
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
            Lookup::Hit(b) => {
                assert_eq!(b, &b"artifact bytes"[..]);
                // The artifact keeps the alignment wasmer's archive reader wants.
                assert_eq!(HEADER % 16, 0);
            }
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
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("not a waxosuit")));
        std::fs::write(&path, vec![7u8; 100]).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("not a waxosuit")));
        // A valid entry cut short, or with bytes appended, is caught by its length.
        let path = cache.put("abc", b"artifact bytes").unwrap();
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("truncated")));
        std::fs::write(&path, [&whole[..], b"x"].concat()).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("truncated")));
        // An entry of the previous format is refused by its magic, then rewritten.
        std::fs::write(&path, [&b"WXOART1\n"[..], &whole[8..]].concat()).unwrap();
        assert!(matches!(cache.get("abc"), Lookup::Corrupt(m) if m.contains("this version")));
        cache.remove("abc");
        assert!(matches!(cache.get("abc"), Lookup::Miss));
    }
}
