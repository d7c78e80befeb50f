//! Ed25519 nkeys: generating, loading and storing account and module keys.
//!
//! Generated seeds live in `~/.waxo/keys/` (or `$WAXO_KEYS_DIR`) as `<name>_<kind>.nk`, one
//! seed per file, mode 0600 in a 0700 directory. Seeds are never printed unless asked.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nkeys::{KeyPair, KeyPairType};

use crate::Error;

/// Environment variable overriding the key directory.
pub const KEYS_DIR_ENV: &str = "WAXO_KEYS_DIR";

/// The two kinds of key a module's claims use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Signs tokens (the issuer, `A…`).
    Account,
    /// Identifies one module across versions (the subject, `M…`).
    Module,
}

impl KeyKind {
    /// The first letter of public keys of this kind.
    pub fn prefix(self) -> char {
        match self {
            Self::Account => 'A',
            Self::Module => 'M',
        }
    }

    /// A fresh random key pair of this kind.
    pub fn generate(self) -> KeyPair {
        match self {
            Self::Account => KeyPair::new(KeyPairType::Account),
            Self::Module => KeyPair::new(KeyPairType::Module),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Module => "module",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to load a key from, as typed on the command line.
///
/// `SA…`/`SM…` (58 characters) is a literal seed, `env:NAME` reads the seed from an
/// environment variable, anything else is a file holding the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A literal seed.
    Seed(String),
    /// An environment variable holding a seed.
    Env(String),
    /// A file holding a seed.
    File(PathBuf),
}

impl FromStr for KeySource {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if let Some(var) = s.strip_prefix("env:") {
            Self::Env(var.to_string())
        } else if looks_like_seed(s) {
            Self::Seed(s.to_string())
        } else {
            Self::File(PathBuf::from(s))
        })
    }
}

impl fmt::Display for KeySource {
    /// Describes the source without revealing a seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Seed(_) => f.write_str("the seed given on the command line"),
            Self::Env(var) => write!(f, "environment variable `{var}`"),
            Self::File(path) => write!(f, "key file `{}`", path.display()),
        }
    }
}

fn looks_like_seed(s: &str) -> bool {
    s.len() == 58 && s.starts_with('S') && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl KeySource {
    /// Loads the key and checks it is of kind `expected`.
    pub fn load(&self, expected: KeyKind) -> Result<KeyPair, Error> {
        let seed = match self {
            Self::Seed(seed) => seed.clone(),
            Self::Env(var) => std::env::var(var).map_err(|_| {
                Error::Key(format!(
                    "environment variable `{var}` is not set; export it with the {expected} seed (S{}…)",
                    expected.prefix()
                ))
            })?,
            Self::File(path) => read_seed_file(path)?,
        };
        let kp = KeyPair::from_seed(seed.trim())
            .map_err(|e| Error::Key(format!("{self} does not hold a valid seed: {e}")))?;
        check_kind(&kp, expected, &self.to_string())?;
        Ok(kp)
    }
}

/// Checks that `kp` is of kind `expected`; `what` names where it came from.
pub fn check_kind(kp: &KeyPair, expected: KeyKind, what: &str) -> Result<(), Error> {
    let public = kp.public_key();
    if public.starts_with(expected.prefix()) {
        Ok(())
    } else {
        Err(Error::Key(format!(
            "{what} is not {} {expected} key: its public key starts with `{}`, expected `{}`",
            if expected == KeyKind::Account {
                "an"
            } else {
                "a"
            },
            public.chars().next().unwrap_or('?'),
            expected.prefix()
        )))
    }
}

fn read_seed_file(path: &Path) -> Result<String, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::KeyFile {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    // Accept files with comments or other lines (nsc-style): take the first seed-like word.
    text.split_whitespace()
        .find(|w| looks_like_seed(w))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::Key(format!(
                "key file `{}` holds no seed (a 58-character word starting with `S`)",
                path.display()
            ))
        })
}

/// A directory of generated seeds.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The store at `$WAXO_KEYS_DIR`, or `~/.waxo/keys`.
    pub fn default_location() -> Result<Self, Error> {
        if let Some(dir) = std::env::var_os(KEYS_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(Self::at(dir));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir)
            .ok_or_else(|| {
                Error::Key(format!(
                    "cannot find the home directory for `~/.waxo/keys`; set HOME or {KEYS_DIR_ENV}"
                ))
            })?;
        Ok(Self::at(home.join(".waxo").join("keys")))
    }

    /// The store in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds key `name` of `kind`.
    pub fn path(&self, name: &str, kind: KeyKind) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}_{kind}.nk"))
    }

    /// Loads key `name` of `kind`, if the store has it.
    pub fn get(&self, name: &str, kind: KeyKind) -> Result<Option<KeyPair>, Error> {
        let path = self.path(name, kind);
        if !path.exists() {
            return Ok(None);
        }
        KeySource::File(path).load(kind).map(Some)
    }

    /// Loads key `name`, generating and saving it first when absent. Returns the key and
    /// the path of the file it was saved to when it was created.
    pub fn get_or_create(
        &self,
        name: &str,
        kind: KeyKind,
    ) -> Result<(KeyPair, Option<PathBuf>), Error> {
        if let Some(kp) = self.get(name, kind)? {
            return Ok((kp, None));
        }
        let kp = kind.generate();
        let path = self.path(name, kind);
        write_seed(&path, &kp)?;
        Ok((kp, Some(path)))
    }
}

/// Writes `kp`'s seed to a new file `path` (mode 0600), refusing to overwrite a key.
pub fn write_seed(path: &Path, kp: &KeyPair) -> Result<(), Error> {
    let io_err = |action, source| Error::KeyFile {
        action,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| io_err("create the directory of", e))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Key(format!(
                "key file `{}` already exists; refusing to overwrite a key (move it away first)",
                path.display()
            ))
        } else {
            io_err("create", e)
        }
    })?;
    let seed = kp.seed()?;
    writeln!(file, "{seed}").map_err(|e| io_err("write", e))?;
    file.sync_all().map_err(|e| io_err("write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_by_shape() {
        let seed = KeyPair::new_account().seed().unwrap();
        assert_eq!(seed.parse::<KeySource>().unwrap(), KeySource::Seed(seed));
        assert_eq!(
            "env:MY_KEY".parse::<KeySource>().unwrap(),
            KeySource::Env("MY_KEY".into())
        );
        assert_eq!(
            "keys/a.nk".parse::<KeySource>().unwrap(),
            KeySource::File("keys/a.nk".into())
        );
    }

    #[test]
    fn wrong_kind_is_refused() {
        let module_seed = KeyPair::new_module().seed().unwrap();
        let err = KeySource::Seed(module_seed.clone())
            .load(KeyKind::Account)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an account key"), "{err}");
        // Compare with the seed itself: a public key may contain "SM" by chance.
        assert!(!err.contains(&module_seed), "the seed must not leak: {err}");
    }

    #[test]
    fn store_creates_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::at(dir.path().join("keys"));
        let (a, created) = store.get_or_create("my svc", KeyKind::Module).unwrap();
        let path = created.unwrap();
        assert!(path.ends_with("my_svc_module.nk"));
        let (b, again) = store.get_or_create("my svc", KeyKind::Module).unwrap();
        assert!(again.is_none());
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(write_seed(&path, &KeyKind::Module.generate()).is_err());
    }

    #[test]
    fn seed_files_may_carry_comments() {
        let dir = tempfile::tempdir().unwrap();
        let kp = KeyPair::new_account();
        let path = dir.path().join("a.nk");
        fs::write(&path, format!("# my key\n{}\n", kp.seed().unwrap())).unwrap();
        let loaded = KeySource::File(path).load(KeyKind::Account).unwrap();
        assert_eq!(loaded.public_key(), kp.public_key());
    }
}
