//! Loading a provider from a dynamic library (feature `loader`): the host side of the
//! provider C ABI.
//!
//! [`load`] checks the file before handing it to `dlopen` (it must exist and be an ELF shared
//! object for this machine: a library built for another architecture gives a clear error
//! instead of undefined behaviour), then checks the ABI version before calling anything else,
//! resolves the other symbols, validates the capability id and creates the provider instance
//! from its JSON configuration. The returned provider keeps the library loaded.
//!
//! Nothing the library returns is trusted: buffers are bounds- and size-checked and decoded
//! defensively; a malformed answer becomes an error [`Event`], never a host panic.
//!
//! ```no_run
//! # fn main() -> Result<(), waxosuit_provider_sdk::loader::LoadError> {
//! use waxosuit_provider_sdk::{Caller, Command};
//!
//! let echo = waxosuit_provider_sdk::loader::load(
//!     "target/release/libecho_provider.so".as_ref(),
//!     &serde_json::json!({ "max_payload_bytes": 1024 }),
//! )?;
//! assert_eq!(echo.capability_id(), "acme:echo");
//! let event = echo.call(&Caller::new("probe", ""), &Command::without_payload("acme:echo/Echo"));
//! assert!(event.is_ok());
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use waxosuit_proto::codes;
use waxosuit_proto::prost::Message;

use crate::abi;
use crate::ffi::host::{Api, CallOutcome, CapabilityIdError, Instance, OpenLibrary, Taken};
use crate::{Caller, Command, Event, Provider};

/// Why a provider library could not be loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing or unreadable.
    #[error(
        "cannot read provider library `{}`: {source}; check the `path` of its `[[provider]]` \
         entry in waxo.toml",
        path.display()
    )]
    Read {
        /// The library path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not an ELF shared object.
    #[error(
        "`{}` is not a provider library: {reason}; point `path` at the `lib<name>.so` of a crate \
         built with `crate-type = [\"cdylib\"]`",
        path.display()
    )]
    NotSharedLibrary {
        /// The library path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The library is built for another machine.
    #[error(
        "`{}` is built for {found}, this host is {host}; rebuild the provider for this machine",
        path.display()
    )]
    WrongArchitecture {
        /// The library path.
        path: PathBuf,
        /// The machine the library is built for, e.g. `aarch64`.
        found: String,
        /// This host's machine, e.g. `x86_64`.
        host: &'static str,
    },
    /// `dlopen` failed.
    #[error("cannot load provider library `{}`: {source}", path.display())]
    Open {
        /// The library path.
        path: PathBuf,
        /// The dynamic loader's error.
        source: libloading::Error,
    },
    /// A required symbol is missing.
    #[error(
        "`{}` does not export `{symbol}`, so it is not a waxosuit provider library; build it \
         with `waxosuit_provider_sdk::export_provider!` ({source})",
        path.display()
    )]
    MissingSymbol {
        /// The library path.
        path: PathBuf,
        /// The missing symbol.
        symbol: &'static str,
        /// The dynamic loader's error.
        source: libloading::Error,
    },
    /// The library speaks another provider ABI version.
    #[error(
        "`{}` speaks provider ABI {found}, this host speaks {expected}; rebuild the provider \
         against a waxosuit-provider-sdk speaking ABI {expected}",
        path.display()
    )]
    AbiMismatch {
        /// The library path.
        path: PathBuf,
        /// The version the library reports.
        found: u32,
        /// The version this host speaks ([`abi::VERSION`]).
        expected: u32,
    },
    /// The capability id is NULL, too long, empty or not UTF-8.
    #[error("`{}` exports an invalid capability id: {reason}", path.display())]
    InvalidCapabilityId {
        /// The library path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration could not be encoded as JSON.
    #[error("cannot encode the configuration of provider `{}`: {source}", path.display())]
    Config {
        /// The library path.
        path: PathBuf,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// `waxo_provider_new` failed.
    #[error(
        "provider `{capability}` from `{}` failed to start: {message}",
        path.display()
    )]
    Init {
        /// The library path.
        path: PathBuf,
        /// The capability id the library exports.
        capability: String,
        /// The library's message.
        message: String,
    },
}

/// A provider living in a dynamic library; it keeps the library loaded until dropped.
pub struct DynamicProvider {
    capability_id: String,
    path: PathBuf,
    instance: Instance,
}

impl fmt::Debug for DynamicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicProvider")
            .field("capability_id", &self.capability_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Loads the provider library at `path` and creates its provider with `config` (the
/// `config` table of its `[[provider]]` entry in waxo.toml as a JSON object; `null` when there
/// is nothing to pass).
pub fn load(path: &Path, config: &serde_json::Value) -> Result<Arc<dyn Provider>, LoadError> {
    Ok(Arc::new(DynamicProvider::load(path, config)?))
}

/// A provider library opened and checked (ELF header, ABI version, symbols, capability id)
/// but not started: the host reads [`capability_id`](Self::capability_id) to decide whether
/// any loaded module needs it before calling [`instantiate`](Self::instantiate).
pub struct ProviderLibrary {
    capability_id: String,
    path: PathBuf,
    api: Api,
}

impl fmt::Debug for ProviderLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderLibrary")
            .field("capability_id", &self.capability_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ProviderLibrary {
    /// Opens the library at `path` and runs every check short of creating the provider.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        check_elf(path)?;
        let absolute = std::fs::canonicalize(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let library = OpenLibrary::open(&absolute).map_err(|source| LoadError::Open {
            path: path.to_owned(),
            source,
        })?;
        let missing = |e: crate::ffi::host::MissingSymbol| LoadError::MissingSymbol {
            path: path.to_owned(),
            symbol: e.symbol,
            source: e.source,
        };
        let version = library.abi_version().map_err(missing)?;
        if version != abi::VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.to_owned(),
                found: version,
                expected: abi::VERSION,
            });
        }
        let api = library.resolve().map_err(missing)?;
        let invalid_id = |reason: String| LoadError::InvalidCapabilityId {
            path: path.to_owned(),
            reason,
        };
        let capability_id = match api.capability_id() {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|e| invalid_id(format!("it is not UTF-8 ({e})")))?,
            Err(CapabilityIdError::Null) => return Err(invalid_id("it is NULL".to_owned())),
            Err(CapabilityIdError::TooLong) => {
                return Err(invalid_id(format!(
                    "it is not NUL-terminated within {} bytes",
                    abi::MAX_CAPABILITY_ID_BYTES
                )));
            }
        };
        if capability_id.is_empty() {
            return Err(invalid_id("it is empty".to_owned()));
        }
        Ok(Self {
            capability_id,
            path: path.to_owned(),
            api,
        })
    }

    /// The capability the library provides.
    pub fn capability_id(&self) -> &str {
        &self.capability_id
    }

    /// Creates the provider with `config` (see [`load`]).
    pub fn instantiate(self, config: &serde_json::Value) -> Result<DynamicProvider, LoadError> {
        let Self {
            capability_id,
            path,
            api,
        } = self;
        let config = serde_json::to_vec(config).map_err(|source| LoadError::Config {
            path: path.clone(),
            source,
        })?;
        let instance = api
            .instantiate(&config)
            .map_err(|message| LoadError::Init {
                path: path.clone(),
                capability: capability_id.clone(),
                message: if message.is_empty() {
                    "it gave no reason".to_owned()
                } else {
                    message
                },
            })?;
        Ok(DynamicProvider {
            capability_id,
            path,
            instance,
        })
    }
}

impl DynamicProvider {
    /// Loads the provider library at `path` (see [`load`]).
    pub fn load(path: &Path, config: &serde_json::Value) -> Result<Self, LoadError> {
        ProviderLibrary::open(path)?.instantiate(config)
    }

    /// The library this provider was loaded from, as given to [`load`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn internal(&self, what: impl fmt::Display) -> Event {
        Event::error(
            codes::INTERNAL,
            format!(
                "provider `{}` (`{}`) {what}",
                self.capability_id,
                self.path.display()
            ),
        )
    }
}

impl Provider for DynamicProvider {
    fn capability_id(&self) -> &str {
        &self.capability_id
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        let encoded = command.encode_to_vec();
        let outcome = self.instance.call(
            &caller.module,
            &caller.subject,
            &encoded,
            abi::MAX_EVENT_BYTES,
        );
        match outcome {
            CallOutcome::Status(status) => {
                self.internal(format_args!("failed the call with ABI status {status}"))
            }
            CallOutcome::Event(Taken::NullWithLength(len)) => {
                self.internal(format_args!("returned a NULL event buffer of {len} bytes"))
            }
            CallOutcome::Event(Taken::TooLarge(len)) => Event::error(
                codes::RESOURCE_EXHAUSTED,
                format!(
                    "provider `{}` returned a {len}-byte event, more than the {}-byte limit",
                    self.capability_id,
                    abi::MAX_EVENT_BYTES
                ),
            ),
            CallOutcome::Event(Taken::Bytes(bytes)) => Event::decode(bytes.as_slice())
                .unwrap_or_else(|e| {
                    self.internal(format_args!("returned an event that does not decode: {e}"))
                }),
        }
    }
}

/// ELF constants (System V ABI, `elf.h`).
const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELF_HEADER_LEN: usize = 64;
const ET_DYN: u16 = 3;

/// The `e_machine` value of this host's architecture, `None` for one this check does not know.
fn host_machine() -> Option<u16> {
    Some(match std::env::consts::ARCH {
        "x86" => 0x03,
        "x86_64" => 0x3e,
        "arm" => 0x28,
        "aarch64" => 0xb7,
        "riscv32" | "riscv64" => 0xf3,
        "mips" | "mips64" => 0x08,
        "powerpc" => 0x14,
        "powerpc64" => 0x15,
        "s390x" => 0x16,
        "loongarch64" => 0x102,
        _ => return None,
    })
}

/// The architecture name of an ELF `e_machine` (and class for the ambiguous ones).
fn machine_name(machine: u16, is_64: bool) -> String {
    let name = match (machine, is_64) {
        (0x03, _) => "x86",
        (0x3e, _) => "x86_64",
        (0x28, _) => "arm",
        (0xb7, _) => "aarch64",
        (0xf3, true) => "riscv64",
        (0xf3, false) => "riscv32",
        (0x08, true) => "mips64",
        (0x08, false) => "mips",
        (0x14, _) => "powerpc",
        (0x15, _) => "powerpc64",
        (0x16, _) => "s390x",
        (0x102, _) => "loongarch64",
        _ => return format!("an unknown machine (ELF e_machine {machine:#x})"),
    };
    name.to_owned()
}

/// Checks that `path` is readable and an ELF shared object for this machine whose loadable
/// segments lie inside the file, reading only its headers. Skipped on platforms whose
/// libraries are not ELF.
///
/// The extent check matters: the dynamic loader maps segments straight from the file, and
/// touching a segment past the end of a truncated file kills the host with `SIGBUS`.
fn check_elf(path: &Path) -> Result<(), LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut header = Vec::with_capacity(ELF_HEADER_LEN);
    (&mut file)
        .take(ELF_HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(read_error)?;
    if cfg!(any(target_vendor = "apple", windows)) {
        return Ok(());
    }
    let layout = check_elf_header(path, &header)?;
    let file_len = file.metadata().map_err(read_error)?.len();
    let table_len = u64::from(layout.phentsize) * u64::from(layout.phnum);
    let not_library = |reason: String| LoadError::NotSharedLibrary {
        path: path.to_owned(),
        reason,
    };
    if layout
        .phoff
        .checked_add(table_len)
        .is_none_or(|end| end > file_len)
    {
        return Err(not_library(format!(
            "its program headers lie past its end ({file_len} bytes); the file is truncated"
        )));
    }
    let mut table = Vec::new();
    file.seek(SeekFrom::Start(layout.phoff))
        .and_then(|_| (&mut file).take(table_len).read_to_end(&mut table))
        .map_err(read_error)?;
    check_segments(&layout, &table, file_len).map_err(not_library)
}

/// Where the program and section headers of an ELF file are, and how to read its fields.
#[derive(Debug)]
struct ElfLayout {
    is_64: bool,
    little_endian: bool,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
    shoff: u64,
    shentsize: u16,
    shnum: u16,
}

impl ElfLayout {
    fn u16_at(&self, bytes: &[u8], at: usize) -> u16 {
        let b = [bytes[at], bytes[at + 1]];
        if self.little_endian {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    }

    fn u32_at(&self, bytes: &[u8], at: usize) -> u32 {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    }

    fn u64_at(&self, bytes: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        if self.little_endian {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        }
    }

    /// An address-sized field (`u32` in 32-bit files, `u64` in 64-bit ones).
    fn addr_at(&self, bytes: &[u8], at32: usize, at64: usize) -> u64 {
        if self.is_64 {
            self.u64_at(bytes, at64)
        } else {
            u64::from(self.u32_at(bytes, at32))
        }
    }
}

/// Checks that every `PT_LOAD` segment of the program header `table` and the section header
/// table end inside a file of `file_len` bytes; the reason when they do not.
fn check_segments(layout: &ElfLayout, table: &[u8], file_len: u64) -> Result<(), String> {
    const PT_LOAD: u32 = 1;
    let entry = usize::from(layout.phentsize);
    let min_entry = if layout.is_64 { 56 } else { 32 };
    if layout.phnum == 0 || entry < min_entry {
        return Err("it has no valid program headers".to_owned());
    }
    for ph in table.chunks_exact(entry) {
        if layout.u32_at(ph, 0) != PT_LOAD {
            continue;
        }
        let offset = layout.addr_at(ph, 4, 8);
        let size = layout.addr_at(ph, 16, 32);
        if offset.checked_add(size).is_none_or(|end| end > file_len) {
            return Err(format!(
                "a loadable segment ends past its end ({file_len} bytes); the file is truncated"
            ));
        }
    }
    let sections = u64::from(layout.shentsize) * u64::from(layout.shnum);
    if layout.shnum > 0
        && layout
            .shoff
            .checked_add(sections)
            .is_none_or(|end| end > file_len)
    {
        return Err(format!(
            "its section headers lie past its end ({file_len} bytes); the file is truncated"
        ));
    }
    Ok(())
}

/// The header checks of [`check_elf`], on the first (up to) 64 bytes of the file.
fn check_elf_header(path: &Path, header: &[u8]) -> Result<ElfLayout, LoadError> {
    let not_library = |reason: &str| LoadError::NotSharedLibrary {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !header.starts_with(&ELF_MAGIC) {
        return Err(not_library("it is not an ELF file (no ELF magic number)"));
    }
    if header.len() < ELF_HEADER_LEN {
        return Err(not_library("it is too short to hold an ELF header"));
    }
    let is_64 = match header[4] {
        1 => false,
        2 => true,
        _ => return Err(not_library("its ELF class is invalid")),
    };
    let little_endian = match header[5] {
        1 => true,
        2 => false,
        _ => return Err(not_library("its ELF byte order is invalid")),
    };
    let mut layout = ElfLayout {
        is_64,
        little_endian,
        phoff: 0,
        phentsize: 0,
        phnum: 0,
        shoff: 0,
        shentsize: 0,
        shnum: 0,
    };
    let (e_type, e_machine) = (layout.u16_at(header, 16), layout.u16_at(header, 18));
    let host_is_64 = cfg!(target_pointer_width = "64");
    let host_little = cfg!(target_endian = "little");
    let name = machine_name(e_machine, is_64);
    let found = if host_machine().is_some_and(|m| m != e_machine) {
        Some(name)
    } else if is_64 != host_is_64 {
        Some(format!("{}-bit {name}", if is_64 { 64 } else { 32 }))
    } else if little_endian != host_little {
        Some(format!(
            "{}-endian {name}",
            if little_endian { "little" } else { "big" }
        ))
    } else {
        None
    };
    if let Some(found) = found {
        return Err(LoadError::WrongArchitecture {
            path: path.to_owned(),
            found,
            host: std::env::consts::ARCH,
        });
    }
    if e_type != ET_DYN {
        let kind = match e_type {
            1 => "a relocatable object file",
            2 => "an executable",
            4 => "a core dump",
            _ => "an ELF file of unknown type",
        };
        return Err(not_library(&format!("it is {kind}, not a shared library")));
    }
    // e_phoff/e_shoff, then e_phentsize, e_phnum, e_shentsize, e_shnum.
    layout.phoff = layout.addr_at(header, 28, 32);
    layout.shoff = layout.addr_at(header, 32, 40);
    let halves = if is_64 { 54 } else { 42 };
    layout.phentsize = layout.u16_at(header, halves);
    layout.phnum = layout.u16_at(header, halves + 2);
    layout.shentsize = layout.u16_at(header, halves + 4);
    layout.shnum = layout.u16_at(header, halves + 6);
    Ok(layout)
}

#[cfg(test)]
mod tests {
    //! Tests for the ELF header check.

    use super::*;

    fn header(class: u8, data: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; ELF_HEADER_LEN];
        h[..4].copy_from_slice(&ELF_MAGIC);
        h[4] = class;
        h[5] = data;
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    fn host() -> u16 {
        host_machine().expect("tests run on a known architecture")
    }

    #[test]
    fn accepts_a_shared_object_for_this_host() {
        let h = header(2, 1, ET_DYN, host());
        check_elf_header(Path::new("libok.so"), &h).unwrap();
    }

    #[test]
    fn names_the_foreign_architecture_and_the_file() {
        let other = if host() == 0xb7 { 0x3e } else { 0xb7 };
        let h = header(2, 1, ET_DYN, other);
        let err = check_elf_header(Path::new("libx.so"), &h).unwrap_err();
        let expected_name = if other == 0xb7 { "aarch64" } else { "x86_64" };
        assert_eq!(
            err.to_string(),
            format!(
                "`libx.so` is built for {expected_name}, this host is {}; rebuild the provider \
                 for this machine",
                std::env::consts::ARCH
            )
        );
    }

    #[test]
    fn refuses_32_bit_big_endian_executables_and_short_files() {
        let err = check_elf_header(Path::new("l.so"), &header(1, 1, ET_DYN, host())).unwrap_err();
        assert!(err.to_string().contains("32-bit"), "{err}");
        let err = check_elf_header(
            Path::new("l.so"),
            &header(2, 2, ET_DYN, host().swap_bytes()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("big-endian"), "{err}");
        let err = check_elf_header(Path::new("l.so"), &header(2, 1, 2, host())).unwrap_err();
        assert!(err.to_string().contains("an executable"), "{err}");
        let err = check_elf_header(Path::new("l.so"), &ELF_MAGIC).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        let err = check_elf_header(Path::new("l.so"), b"#!/bin/sh\n").unwrap_err();
        assert!(matches!(err, LoadError::NotSharedLibrary { .. }), "{err}");
    }

    #[test]
    fn segments_must_end_inside_the_file() {
        let mut h = header(2, 1, ET_DYN, host());
        h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let layout = check_elf_header(Path::new("l.so"), &h).unwrap();
        assert_eq!((layout.phoff, layout.phentsize, layout.phnum), (64, 56, 1));
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        ph[8..16].copy_from_slice(&4096u64.to_le_bytes()); // p_offset
        ph[32..40].copy_from_slice(&4096u64.to_le_bytes()); // p_filesz
        check_segments(&layout, &ph, 8192).unwrap();
        let err = check_segments(&layout, &ph, 8191).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        ph[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check_segments(&layout, &ph, u64::MAX).is_err());
    }
}
