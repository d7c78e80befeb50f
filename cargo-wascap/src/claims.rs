//! The claims a module carries: the JWT body and its `wascap` metadata object.
//!
//! Field names and optionality follow the wascap standard so that tokens round-trip with
//! other implementations.

use serde::{Deserialize, Serialize};

/// The revision of the claims format written by this library. Readers of the standard skip
/// the hash check on tokens without it, so it is always written.
pub const WASCAP_REVISION: u32 = 3;

/// A JWT claims set describing a WebAssembly module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the Unix epoch (`exp`).
    #[serde(rename = "exp", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Unique token id (`jti`).
    #[serde(rename = "jti", default)]
    pub id: String,
    /// Issue time, seconds since the Unix epoch (`iat`).
    #[serde(rename = "iat", default)]
    pub issued_at: u64,
    /// The account public key that signed the token (`iss`, `A…`).
    #[serde(rename = "iss")]
    pub issuer: String,
    /// The module public key (`sub`, `M…`).
    #[serde(rename = "sub")]
    pub subject: String,
    /// Start of validity, seconds since the Unix epoch (`nbf`).
    #[serde(rename = "nbf", default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// What the module is and may do (`wascap`).
    #[serde(rename = "wascap", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ModuleMetadata>,
    /// Claims format revision (`wascap_revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wascap_revision: Option<u32>,
}

/// The `wascap` object of a module's claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleMetadata {
    /// Descriptive name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 of the module without its token sections, uppercase hex.
    pub hash: String,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Capability ids the module may use.
    #[serde(default)]
    pub caps: Vec<String>,
    /// Monotonic revision number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i32>,
    /// Human version string (semver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Short alias callers may use instead of the public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_alias: Option<String>,
    /// Whether this is a capability provider (always false for modules).
    #[serde(default)]
    pub prov: bool,
}

impl Claims {
    /// The module's name, or `""` when the token has none.
    pub fn name(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.name.as_deref())
            .unwrap_or("")
    }

    /// The capability ids the module may use.
    pub fn caps(&self) -> &[String] {
        self.metadata.as_ref().map_or(&[], |m| &m.caps)
    }

    /// Whether the claims list capability `id`.
    pub fn has_cap(&self, id: &str) -> bool {
        self.caps().iter().any(|c| c == id)
    }

    /// The module hash recorded in the claims, or `""`.
    pub fn hash(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| &m.hash)
    }
}
