//! Signing: strip old tokens, hash, and append a new `jwt` section.

use std::io::{Read, Write};
use std::time::Duration;

use nkeys::KeyPair;
use sha2::{Digest, Sha256};

use crate::embed::{self, Sink};
use crate::keys::{KeyKind, check_kind};
use crate::stream::{self, StreamError};
use crate::{Claims, Error, ModuleMetadata, WASCAP_REVISION};

/// What the claims of a module will say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignOptions {
    /// Descriptive name.
    pub name: String,
    /// Capability ids (see [`crate::caps::parse_capability`]).
    pub caps: Vec<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Human version (semver).
    pub ver: Option<String>,
    /// Monotonic revision.
    pub rev: Option<i32>,
    /// Short call alias.
    pub call_alias: Option<String>,
    /// Validity from the signing time; `None` never expires.
    pub expires_in: Option<Duration>,
    /// Delay before the claims become valid; `None` valid at once.
    pub not_before: Option<Duration>,
}

/// Signs `module` with `issuer` (an account key with its seed) for the module key `subject`.
pub fn sign(
    module: &[u8],
    opts: &SignOptions,
    issuer: &KeyPair,
    subject: &KeyPair,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(module.len() + 1024);
    sign_to(module, opts, issuer, subject, crate::time::now(), &mut out)?;
    Ok(out)
}

/// Signs `module` as if the time were `now` (seconds since the epoch), streaming the signed
/// module into `out`, and returns the claims it wrote. Reads the module once and keeps no
/// second copy of it.
pub fn sign_to(
    module: &[u8],
    opts: &SignOptions,
    issuer: &KeyPair,
    subject: &KeyPair,
    now: u64,
    out: impl Write,
) -> Result<Claims, Error> {
    sign_reader(module, opts, issuer, subject, now, out)
}

/// Like [`sign_to`], reading the module from `module`: a core module streams through a small
/// buffer from input to output (memory does not grow with its size); a component is read
/// whole, since its nested modules are rebuilt.
pub fn sign_reader(
    mut module: impl Read,
    opts: &SignOptions,
    issuer: &KeyPair,
    subject: &KeyPair,
    now: u64,
    out: impl Write,
) -> Result<Claims, Error> {
    check_kind(issuer, KeyKind::Account, "the issuer")?;
    check_kind(subject, KeyKind::Module, "the subject")?;
    let mut tee = Tee {
        hasher: Sha256::new(),
        out,
        error: None,
    };
    stream::strip(&mut module, &mut tee).map_err(|e| match e {
        StreamError::Read(e) => Error::Read(e),
        StreamError::Module(e) => Error::Module(e),
    })?;
    if let Some(e) = tee.error.take() {
        return Err(Error::Write(e));
    }
    let claims = Claims {
        expires: opts.expires_in.map(|d| now.saturating_add(d.as_secs())),
        id: nuid::next().to_string(),
        issued_at: now,
        issuer: issuer.public_key(),
        subject: subject.public_key(),
        not_before: opts.not_before.map(|d| now.saturating_add(d.as_secs())),
        metadata: Some(ModuleMetadata {
            name: Some(opts.name.clone()),
            hash: embed::hex(tee.hasher),
            tags: opts.tags.clone(),
            caps: opts.caps.clone(),
            rev: opts.rev,
            ver: opts.ver.clone(),
            call_alias: opts.call_alias.clone(),
            prov: false,
        }),
        wascap_revision: Some(WASCAP_REVISION),
    };
    let jwt = crate::jwt::encode(&claims, issuer)?;
    let mut out = tee.out;
    out.write_all(&embed::custom_section(embed::SECTION_JWT, jwt.as_bytes()))
        .and_then(|()| out.flush())
        .map_err(Error::Write)?;
    Ok(claims)
}

/// Feeds the stripped module to the hasher and the output at once.
struct Tee<W> {
    hasher: Sha256,
    out: W,
    error: Option<std::io::Error>,
}

impl<W: Write> Sink for Tee<W> {
    fn put(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        if self.error.is_none() {
            self.error = self.out.write_all(bytes).err();
        }
    }
}
