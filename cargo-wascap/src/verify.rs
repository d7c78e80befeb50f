//! Inspecting a module's claims, and verifying them.
//!
//! [`inspect`] reports what the token says and whether its signature and hash check out,
//! without judging. [`verify`] judges, returning one typed error per reason a module must be
//! refused; the CLI maps each to an exit code.

use sha2::{Digest, Sha256};

use crate::embed::{self, SectionName};
use crate::{Claims, ModuleError, caps, time};

/// What a module's token says, and how it checks out.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The decoded claims.
    pub claims: Claims,
    /// The token as found.
    pub jwt: String,
    /// The section that held it.
    pub section: SectionName,
    /// Whether the issuer's signature over the token is valid.
    pub signature_valid: bool,
    /// The hash of the module as it is now.
    pub computed_hash: String,
    /// Whether that hash is the one the claims record.
    pub hash_valid: bool,
    /// Set when the module no longer parses as WebAssembly but still ends with a token
    /// (it was damaged or tampered with after signing).
    pub malformed: Option<String>,
    /// The time the validity checks were made at.
    pub checked_at: u64,
}

impl Inspection {
    /// Whether the claims have expired.
    pub fn expired(&self) -> bool {
        self.claims.expires.is_some_and(|exp| exp < self.checked_at)
    }

    /// Whether the claims are not valid yet.
    pub fn not_yet_valid(&self) -> bool {
        self.claims
            .not_before
            .is_some_and(|nbf| nbf > self.checked_at)
    }

    /// Expiry in words (`in 30 days`, `2 hours ago`, `never`).
    pub fn expires_human(&self) -> String {
        self.claims
            .expires
            .map_or_else(|| "never".into(), |t| time::relative(self.checked_at, t))
    }

    /// Start of validity in words (`in 1 hour`, `immediately`).
    pub fn not_before_human(&self) -> String {
        self.claims.not_before.map_or_else(
            || "immediately".into(),
            |t| time::relative(self.checked_at, t),
        )
    }
}

/// What [`verify`] additionally requires.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Issuer public keys (`A…`) to accept; empty accepts any issuer.
    pub trusted_issuers: Vec<String>,
    /// Capability ids the claims must list.
    pub required_caps: Vec<String>,
}

/// A module whose claims passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The claims.
    pub claims: Claims,
    /// The token.
    pub jwt: String,
    /// The module hash (equal to the one in the claims).
    pub hash: String,
    /// The section that held the token.
    pub section: SectionName,
}

/// Why a module's claims were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a WebAssembly module or component.
    #[error("{0}")]
    Malformed(String),
    /// There is no token section.
    #[error("the module is not signed (it has no `jwt` section); sign it with `cargo wascap sign`")]
    Unsigned,
    /// The token section does not hold a well-formed token.
    #[error("the module's token is malformed: {0}; re-sign the module")]
    InvalidToken(String),
    /// The signature does not match the issuer.
    #[error(
        "the token's signature does not match its issuer `{issuer}`: the claims were altered after signing; re-sign the module"
    )]
    BadSignature {
        /// The issuer the token names.
        issuer: String,
    },
    /// The module changed after it was signed.
    #[error(
        "the module was modified after signing: its hash is {actual} but the claims record {expected}{malformed}; rebuild and re-sign it",
        malformed = malformed.as_ref().map(|m| format!(" (and it no longer parses: {m})")).unwrap_or_default()
    )]
    HashMismatch {
        /// The hash in the claims.
        expected: String,
        /// The module's hash now.
        actual: String,
        /// Why the module no longer parses, when it does not.
        malformed: Option<String>,
    },
    /// The subject is not a module public key.
    #[error(
        "the claims' subject `{subject}` is not a module key (`M…`); re-sign with a module key as subject"
    )]
    InvalidSubject {
        /// The subject found.
        subject: String,
    },
    /// The claims expired.
    #[error("the claims expired {human} ({at}); re-sign with a later `--expires-in`")]
    Expired {
        /// When, in words.
        human: String,
        /// When, RFC 3339.
        at: String,
    },
    /// The claims are not valid yet.
    #[error(
        "the claims are not valid until {at} ({human}); wait, or re-sign without `--not-before`"
    )]
    NotYetValid {
        /// When, in words.
        human: String,
        /// When, RFC 3339.
        at: String,
    },
    /// The issuer is not on the trusted list.
    #[error(
        "issuer `{issuer}` is not trusted (trusted: {trusted}); trust it explicitly or re-sign with a trusted account key"
    )]
    UntrustedIssuer {
        /// The issuer found.
        issuer: String,
        /// The trusted list, comma separated.
        trusted: String,
    },
    /// A required capability is not in the claims.
    #[error(
        "the claims do not list capability `{cap}` ({friendly}); re-sign with `--cap {hint}`",
        friendly = caps::friendly_name(cap),
        hint = caps::short_name(cap).unwrap_or(cap)
    )]
    MissingCapability {
        /// The capability id.
        cap: String,
    },
}

impl VerifyError {
    /// The `cargo wascap verify` exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Malformed(_) => 1,
            Self::Unsigned => 3,
            Self::InvalidToken(_)
            | Self::BadSignature { .. }
            | Self::HashMismatch { .. }
            | Self::InvalidSubject { .. } => 4,
            Self::Expired { .. } => 5,
            Self::NotYetValid { .. } => 6,
            Self::UntrustedIssuer { .. } => 7,
            Self::MissingCapability { .. } => 8,
        }
    }
}

impl From<ModuleError> for VerifyError {
    fn from(e: ModuleError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// Reads a module's token and checks its signature and hash, now.
pub fn inspect(module: &[u8]) -> Result<Inspection, VerifyError> {
    inspect_at(module, time::now())
}

/// [`inspect`] with validity judged at `now` (seconds since the epoch).
pub fn inspect_at(module: &[u8], now: u64) -> Result<Inspection, VerifyError> {
    let mut hasher = Sha256::new();
    let (token, computed_hash, malformed) = match embed::strip(module, &mut hasher) {
        Ok(Some(token)) => (token, embed::hex(hasher), None),
        outcome => {
            // No token where a parser finds one. If the file still *ends* with a token
            // section, it was signed and then damaged: hash what precedes the token so the
            // verdict is "tampered" rather than "unsigned" or "unreadable".
            let Some((token, start)) = embed::trailing_token(module) else {
                return match outcome {
                    Err(e) => Err(e.into()),
                    Ok(_) => Err(VerifyError::Unsigned),
                };
            };
            let hash = embed::hex(Sha256::new_with_prefix(&module[..start]));
            let why = match outcome {
                Err(e) => e.to_string(),
                Ok(_) => "its token section is hidden inside another section".to_string(),
            };
            (token, hash, Some(why))
        }
    };
    let decoded = crate::jwt::decode(&token.jwt).map_err(VerifyError::InvalidToken)?;
    let signature_valid = crate::jwt::signature_valid(&token.jwt, &decoded);
    let hash_valid = malformed.is_none() && decoded.claims.hash() == computed_hash;
    Ok(Inspection {
        claims: decoded.claims,
        jwt: token.jwt,
        section: token.section,
        signature_valid,
        computed_hash,
        hash_valid,
        malformed,
        checked_at: now,
    })
}

/// How far from the end of a module [`claimed_hash`] looks for the token. Signing appends
/// it, and tokens are a few KiB.
const CLAIMED_HASH_TAIL: usize = 64 * 1024;

/// The module hash a module's token *claims*, read from a token section at the end of the
/// module without hashing the module or checking the signature: microseconds, whatever the
/// module's size. `None` when there is no such token.
///
/// **Unverified**: a hint for work that is safe to start on a guess and cheap to throw away
/// (the runtime uses it to fetch a compiled artifact from its own cache while [`verify`]
/// hashes the module). Never act on it without [`verify`]'s result.
pub fn claimed_hash(module: &[u8]) -> Option<String> {
    let tail = &module[module.len().saturating_sub(CLAIMED_HASH_TAIL)..];
    let (token, _) = embed::trailing_token(tail)?;
    let decoded = crate::jwt::decode(&token.jwt).ok()?;
    Some(decoded.claims.hash().to_string()).filter(|h| !h.is_empty())
}

/// Verifies a module's claims: signature, hash, subject, validity window, trusted issuers
/// and required capabilities, in that order.
pub fn verify(module: &[u8], opts: &VerifyOptions) -> Result<Verified, VerifyError> {
    verify_at(module, opts, time::now())
}

/// [`verify`] with validity judged at `now` (seconds since the epoch).
pub fn verify_at(module: &[u8], opts: &VerifyOptions, now: u64) -> Result<Verified, VerifyError> {
    let report = inspect_at(module, now)?;
    let claims = &report.claims;
    if !report.signature_valid {
        return Err(VerifyError::BadSignature {
            issuer: claims.issuer.clone(),
        });
    }
    if !report.hash_valid {
        return Err(VerifyError::HashMismatch {
            expected: claims.hash().to_string(),
            actual: report.computed_hash.clone(),
            malformed: report.malformed.clone(),
        });
    }
    if nkeys::KeyPair::from_public_key(&claims.subject).is_err() || !claims.subject.starts_with('M')
    {
        return Err(VerifyError::InvalidSubject {
            subject: claims.subject.clone(),
        });
    }
    if let Some(exp) = claims.expires.filter(|_| report.expired()) {
        return Err(VerifyError::Expired {
            human: report.expires_human(),
            at: time::rfc3339(exp),
        });
    }
    if let Some(nbf) = claims.not_before.filter(|_| report.not_yet_valid()) {
        return Err(VerifyError::NotYetValid {
            human: report.not_before_human(),
            at: time::rfc3339(nbf),
        });
    }
    if !opts.trusted_issuers.is_empty() && !opts.trusted_issuers.contains(&claims.issuer) {
        return Err(VerifyError::UntrustedIssuer {
            issuer: claims.issuer.clone(),
            trusted: opts.trusted_issuers.join(", "),
        });
    }
    if let Some(cap) = opts.required_caps.iter().find(|c| !claims.has_cap(c)) {
        return Err(VerifyError::MissingCapability { cap: cap.clone() });
    }
    Ok(Verified {
        hash: report.computed_hash,
        section: report.section,
        jwt: report.jwt,
        claims: report.claims,
    })
}
