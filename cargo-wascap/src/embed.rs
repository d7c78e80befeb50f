//! Finding, stripping and hashing the token section of a WebAssembly binary.
//!
//! The hash the claims record is SHA-256 over the module *as the wascap standard rebuilds it
//! without its token sections*: the 8-byte header, then every other section re-emitted as
//! `id, LEB128 size, contents` (nested modules and components of a component binary are
//! rebuilt the same way). For binaries written with minimal LEB128 sizes, which is what
//! toolchains and our own signer emit, that is byte-for-byte the file minus its token
//! sections. The walk streams slices of the input into a [`Sink`], so hashing reads each
//! byte once and copies nothing at the top level.

use std::fmt;

use sha2::{Digest, Sha256};
use wasmparser::{Encoding, Parser, Payload};

use crate::ModuleError;

/// The section name this library writes.
pub(crate) const SECTION_JWT: &str = "jwt";
/// The section name wasmCloud's `wascap` writes; read as well.
pub(crate) const SECTION_WASMCLOUD_JWT: &str = "wasmcloud_jwt";

pub(crate) const MODULE_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\0\x01\0";
pub(crate) const CUSTOM_SECTION_ID: u8 = 0;
/// Section ids of nested core modules and components in a component binary.
const CORE_MODULE_SECTION_ID: u8 = 1;
const COMPONENT_SECTION_ID: u8 = 4;

/// Which custom section held a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionName {
    /// `jwt`, written by this library (and by wascap before 0.9).
    Jwt,
    /// `wasmcloud_jwt`, written by wasmCloud's wascap since 0.9.
    WasmcloudJwt,
}

impl SectionName {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            SECTION_JWT => Some(Self::Jwt),
            SECTION_WASMCLOUD_JWT => Some(Self::WasmcloudJwt),
            _ => None,
        }
    }

    /// The section's name as it appears in the binary.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => SECTION_JWT,
            Self::WasmcloudJwt => SECTION_WASMCLOUD_JWT,
        }
    }
}

impl fmt::Display for SectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token found in a module, not yet decoded or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The compact JWT text (invalid UTF-8 replaced, so decoding it fails cleanly).
    pub jwt: String,
    /// The section that held it.
    pub section: SectionName,
}

/// Where the stripped module goes.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Streams the module without its token sections into `sink` and returns the first
/// top-level token, if any.
pub(crate) fn strip(module: &[u8], sink: &mut dyn Sink) -> Result<Option<Token>, ModuleError> {
    // Nested modules/components need their rebuilt size before their contents, so each open
    // nesting level is buffered; the top level streams straight into the sink.
    let mut nested: Vec<Vec<u8>> = Vec::new();
    let mut token = None;
    let mut put = |nested: &mut Vec<Vec<u8>>, bytes: &[u8]| match nested.last_mut() {
        Some(buf) => buf.extend_from_slice(bytes),
        None => sink.put(bytes),
    };
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload?;
        match &payload {
            Payload::Version { encoding, .. } => {
                let header = match encoding {
                    Encoding::Module => &MODULE_HEADER,
                    Encoding::Component => &COMPONENT_HEADER,
                };
                put(&mut nested, header);
                continue;
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                nested.push(Vec::new());
                continue;
            }
            Payload::End(_) => {
                let Some(inner) = nested.pop() else { break };
                let id = if inner.starts_with(&COMPONENT_HEADER) {
                    COMPONENT_SECTION_ID
                } else {
                    CORE_MODULE_SECTION_ID
                };
                put(&mut nested, &[id]);
                put(&mut nested, leb128(inner.len()).as_slice());
                put(&mut nested, &inner);
                continue;
            }
            Payload::CustomSection(c) => {
                if let Some(section) = SectionName::parse(c.name()) {
                    if nested.is_empty() && token.is_none() {
                        token = Some(Token {
                            jwt: String::from_utf8_lossy(c.data()).into_owned(),
                            section,
                        });
                    }
                    continue;
                }
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            let contents = usize::try_from(range.start)
                .ok()
                .zip(usize::try_from(range.end).ok())
                .and_then(|(start, end)| module.get(start..end))
                .ok_or(ModuleError::SectionOutOfBounds)?;
            put(&mut nested, &[id]);
            put(&mut nested, leb128(contents.len()).as_slice());
            put(&mut nested, contents);
        }
    }
    Ok(token)
}

/// Finds the token of a module that no longer parses, by looking for a token section that
/// ends exactly at the end of the file (where signing puts it). Returns the token and the
/// offset where its section starts. Only used to tell "tampered" from "never signed".
pub(crate) fn trailing_token(module: &[u8]) -> Option<(Token, usize)> {
    [SectionName::Jwt, SectionName::WasmcloudJwt]
        .into_iter()
        .find_map(|section| {
            let mut name = vec![section.as_str().len() as u8];
            name.extend_from_slice(section.as_str().as_bytes());
            let at = module
                .windows(name.len())
                .rposition(|w| w == name.as_slice())?;
            // The section header is `0x00` then the LEB128 size of everything from `at` on.
            let size = module.len() - at;
            let size_leb = leb128(size);
            let start = at.checked_sub(size_leb.len() + 1)?;
            let header_ok =
                module[start] == CUSTOM_SECTION_ID && module[start + 1..at] == *size_leb.as_slice();
            header_ok.then(|| {
                let jwt = &module[at + name.len()..];
                let token = Token {
                    jwt: String::from_utf8_lossy(jwt).into_owned(),
                    section,
                };
                (token, start)
            })
        })
}

/// Encodes a custom section (`0x00`, size, name, data).
pub(crate) fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let name_len = leb128(name.len());
    let size = name_len.len() + name.len() + data.len();
    let mut out = Vec::with_capacity(size + 6);
    out.push(CUSTOM_SECTION_ID);
    out.extend_from_slice(leb128(size).as_slice());
    out.extend_from_slice(name_len.as_slice());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Returns the first token of a module, if it has one.
pub fn extract(module: &[u8]) -> Result<Option<Token>, ModuleError> {
    strip(module, &mut Discard)
}

/// Computes the hash the claims record for `module`: SHA-256 of the module without its
/// token sections, as 64 uppercase hex digits.
pub fn module_hash(module: &[u8]) -> Result<String, ModuleError> {
    let mut hasher = Sha256::new();
    strip(module, &mut hasher)?;
    Ok(hex(hasher))
}

pub(crate) fn hex(hasher: Sha256) -> String {
    data_encoding::HEXUPPER.encode(&hasher.finalize())
}

struct Discard;

impl Sink for Discard {
    fn put(&mut self, _: &[u8]) {}
}

/// An unsigned LEB128 encoding of a section size (at most 5 bytes for a u32).
pub(crate) struct Leb {
    bytes: [u8; 10],
    len: usize,
}

impl Leb {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn len(&self) -> usize {
        self.len
    }
}

pub(crate) fn leb128(mut value: usize) -> Leb {
    let mut leb = Leb {
        bytes: [0; 10],
        len: 0,
    };
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            leb.bytes[leb.len] = byte;
            leb.len += 1;
            return leb;
        }
        leb.bytes[leb.len] = byte | 0x80;
        leb.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(src: &str) -> Vec<u8> {
        wat::parse_str(src).unwrap()
    }

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        custom_section(name, data)
    }

    #[test]
    fn leb128_matches_the_spec() {
        assert_eq!(leb128(0).as_slice(), [0]);
        assert_eq!(leb128(127).as_slice(), [0x7f]);
        assert_eq!(leb128(128).as_slice(), [0x80, 0x01]);
        assert_eq!(leb128(624_485).as_slice(), [0xe5, 0x8e, 0x26]);
    }

    #[test]
    fn strip_removes_both_token_sections_and_keeps_others() {
        let base = wat(r#"(module (func (export "f")))"#);
        let mut module = base.clone();
        module.extend(custom("jwt", b"a.b.c"));
        module.extend(custom("producers-like", b"keep me"));
        module.extend(custom("wasmcloud_jwt", b"d.e.f"));
        let mut out = Vec::new();
        let token = strip(&module, &mut out).unwrap().unwrap();
        assert_eq!(token.jwt, "a.b.c");
        assert_eq!(token.section, SectionName::Jwt);
        let mut expected = base;
        expected.extend(custom("producers-like", b"keep me"));
        assert_eq!(out, expected);
    }

    #[test]
    fn hash_ignores_tokens_but_not_other_custom_sections() {
        let base = wat("(module)");
        let mut signed = base.clone();
        signed.extend(custom("jwt", b"x"));
        assert_eq!(module_hash(&base).unwrap(), module_hash(&signed).unwrap());
        let mut other = base.clone();
        other.extend(custom("name", b"x"));
        assert_ne!(module_hash(&base).unwrap(), module_hash(&other).unwrap());
        assert_eq!(module_hash(&base).unwrap().len(), 64);
    }

    #[test]
    fn trailing_token_is_found_only_at_the_very_end() {
        let mut module = wat("(module)");
        let section = custom_section(SECTION_JWT, b"aaa.bbb.ccc");
        module.extend(&section);
        let (token, start) = trailing_token(&module).unwrap();
        assert_eq!(token.jwt, "aaa.bbb.ccc");
        assert_eq!(start, module.len() - section.len());
        module.push(0);
        assert!(trailing_token(&module).is_none());
    }

    #[test]
    fn components_are_walked_and_rebuilt() {
        let component = wat(r#"(component (core module (func (export "f"))))"#);
        let mut out = Vec::new();
        assert!(strip(&component, &mut out).unwrap().is_none());
        assert_eq!(out, component);
    }

    #[test]
    fn junk_is_an_error() {
        assert!(extract(b"").is_err());
        assert!(extract(b"not wasm at all").is_err());
        let mut truncated = wat(r#"(module (func (export "f")))"#);
        truncated.truncate(truncated.len() - 2);
        assert!(extract(&truncated).is_err());
    }
}
