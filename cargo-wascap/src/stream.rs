//! Stripping a module read from a [`Read`], for signing without holding the module in memory.
//!
//! A core module is a header followed by `id, LEB128 size, contents` sections, so its token
//! sections can be dropped while the rest streams through a fixed buffer: signing a 10 MiB
//! module then needs kilobytes, not megabytes (target P5). The walk emits exactly what
//! [`embed::strip`] emits for the same bytes (sections re-emitted with minimal LEB128 sizes,
//! contents copied as they are), so both give the same hash; the tests hold them to it.
//!
//! Component binaries need their nested modules rebuilt before their sizes are known, so
//! they — and anything that is not a core module header — are read whole and handed to
//! [`embed::strip`], which also produces wasmparser's error for bytes that are not wasm.

use std::io::{self, Read};

use crate::ModuleError;
use crate::embed::{self, MODULE_HEADER, SectionName, Sink, leb128};

/// The size of the buffer sections stream through.
const CHUNK: usize = 64 * 1024;
/// The highest section id of a core module (13, the tag section).
const MAX_SECTION_ID: u8 = 13;

/// Why a streamed module could not be stripped.
#[derive(Debug)]
pub(crate) enum StreamError {
    /// Reading the input failed.
    Read(io::Error),
    /// The input is not a well-formed module.
    Module(ModuleError),
}

impl From<ModuleError> for StreamError {
    fn from(e: ModuleError) -> Self {
        Self::Module(e)
    }
}

/// Streams the module in `reader`, without its token sections, into `sink`.
pub(crate) fn strip(reader: &mut dyn Read, sink: &mut dyn Sink) -> Result<(), StreamError> {
    let mut header = [0u8; 8];
    let got = read_up_to(reader, &mut header)?;
    if got < header.len() || header != MODULE_HEADER {
        let mut whole = header[..got].to_vec();
        reader.read_to_end(&mut whole).map_err(StreamError::Read)?;
        embed::strip(&whole, sink)?;
        return Ok(());
    }
    sink.put(&MODULE_HEADER);
    let mut input = Counted {
        reader,
        offset: header.len() as u64,
    };
    let mut buf = vec![0u8; CHUNK];
    while let Some(id) = input.byte()? {
        let at = input.offset - 1;
        if id > MAX_SECTION_ID {
            return Err(malformed(format!("unknown section id {id} at offset {at}")));
        }
        let (size, _) = input.leb_u32()?;
        if id != embed::CUSTOM_SECTION_ID {
            sink.put(&[id]);
            sink.put(leb128(size as usize).as_slice());
            input.copy(u64::from(size), &mut buf, Some(sink))?;
            continue;
        }
        // A custom section: `name length, name, data`.
        let (name_len, name_len_bytes) = input.leb_u32()?;
        let name_end = u64::from(name_len) + name_len_bytes.len() as u64;
        if name_end > u64::from(size) {
            return Err(malformed(format!(
                "the name of the custom section at offset {at} runs past the section"
            )));
        }
        let mut name = vec![0u8; name_len as usize];
        input.exact(&mut name)?;
        let name = String::from_utf8(name).map_err(|_| {
            malformed(format!(
                "the name of the custom section at offset {at} is not UTF-8"
            ))
        })?;
        let data_len = u64::from(size) - name_end;
        if SectionName::parse(&name).is_some() {
            input.copy(data_len, &mut buf, None)?;
            continue;
        }
        sink.put(&[id]);
        sink.put(leb128(size as usize).as_slice());
        sink.put(&name_len_bytes);
        sink.put(name.as_bytes());
        input.copy(data_len, &mut buf, Some(sink))?;
    }
    Ok(())
}

fn malformed(message: String) -> StreamError {
    StreamError::Module(ModuleError::Malformed(message))
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, StreamError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Read(e)),
        }
    }
    Ok(got)
}

/// The input with the offset reached, for error messages.
struct Counted<'a> {
    reader: &'a mut dyn Read,
    offset: u64,
}

impl Counted<'_> {
    /// The next byte, or `None` at the end of the input.
    fn byte(&mut self) -> Result<Option<u8>, StreamError> {
        let mut b = [0u8; 1];
        match read_up_to(self.reader, &mut b)? {
            0 => Ok(None),
            _ => {
                self.offset += 1;
                Ok(Some(b[0]))
            }
        }
    }

    /// Fills `buf`; the input ending first means a section runs past the end of the file.
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StreamError> {
        let got = read_up_to(self.reader, buf)?;
        self.offset += got as u64;
        if got < buf.len() {
            return Err(ModuleError::SectionOutOfBounds.into());
        }
        Ok(())
    }

    /// An unsigned LEB128 `u32` (at most 5 bytes), and the bytes it was written with.
    fn leb_u32(&mut self) -> Result<(u32, Vec<u8>), StreamError> {
        let at = self.offset;
        let mut value: u64 = 0;
        let mut raw = Vec::with_capacity(5);
        loop {
            let Some(b) = self.byte()? else {
                return Err(ModuleError::SectionOutOfBounds.into());
            };
            value |= u64::from(b & 0x7f) << (7 * raw.len());
            raw.push(b);
            if b & 0x80 == 0 {
                break;
            }
            if raw.len() == 5 {
                return Err(malformed(format!(
                    "the integer at offset {at} is longer than 5 bytes"
                )));
            }
        }
        let value = u32::try_from(value).map_err(|_| {
            malformed(format!(
                "the integer at offset {at} does not fit in 32 bits"
            ))
        })?;
        Ok((value, raw))
    }

    /// Moves `len` bytes from the input into `sink` (or nowhere) through `buf`.
    fn copy(
        &mut self,
        mut len: u64,
        buf: &mut [u8],
        mut sink: Option<&mut dyn Sink>,
    ) -> Result<(), StreamError> {
        while len > 0 {
            let n = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
            self.exact(&mut buf[..n])?;
            if let Some(sink) = sink.as_mut() {
                sink.put(&buf[..n]);
            }
            len -= n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Tests that the streamed strip matches the in-memory one and fails cleanly.

    use super::*;

    fn streamed(module: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        strip(&mut &module[..], &mut out)?;
        Ok(out)
    }

    fn in_memory(module: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        embed::strip(module, &mut out).unwrap();
        out
    }

    fn signed_like(base: &[u8]) -> Vec<u8> {
        let mut module = base.to_vec();
        module.extend(embed::custom_section("jwt", b"a.b.c"));
        module.extend(embed::custom_section("keep", &vec![9u8; 200_000]));
        module.extend(embed::custom_section("wasmcloud_jwt", b"d.e.f"));
        module
    }

    #[test]
    fn matches_the_in_memory_strip_for_modules_and_components() {
        let module = wat::parse_str(
            r#"(module (memory 1) (data (i32.const 0) "hi") (func (export "f") (result i32) i32.const 7))"#,
        )
        .unwrap();
        let component = wat::parse_str("(component (core module))").unwrap();
        for base in [module, component] {
            let input = signed_like(&base);
            assert_eq!(streamed(&input).unwrap(), in_memory(&input));
        }
    }

    #[test]
    fn non_minimal_section_sizes_are_re_emitted_minimal_like_the_in_memory_strip() {
        // A type section (id 1) of one byte (zero types) with its size written in 3 bytes.
        let mut input = MODULE_HEADER.to_vec();
        input.extend([1, 0x81, 0x80, 0x00, 0]);
        assert_eq!(streamed(&input).unwrap(), in_memory(&input));
        assert_eq!(streamed(&input).unwrap()[8..], [1, 1, 0]);
    }

    #[test]
    fn truncation_and_bad_sizes_are_module_errors_never_panics() {
        let base = signed_like(&wat::parse_str("(module (memory 1))").unwrap());
        for cut in 8..base.len() {
            match streamed(&base[..cut]) {
                Ok(_) => {} // a cut between sections leaves a valid, shorter module
                Err(StreamError::Module(_)) => {}
                Err(StreamError::Read(e)) => panic!("cut at {cut}: {e}"),
            }
        }
        let mut past_end = MODULE_HEADER.to_vec();
        past_end.extend([1, 0x7f, 0]);
        assert!(matches!(
            streamed(&past_end),
            Err(StreamError::Module(ModuleError::SectionOutOfBounds))
        ));
        let mut too_long = MODULE_HEADER.to_vec();
        too_long.extend([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(
            streamed(&too_long),
            Err(StreamError::Module(ModuleError::Malformed(_)))
        ));
        let mut bad_id = MODULE_HEADER.to_vec();
        bad_id.extend([42, 0]);
        assert!(matches!(
            streamed(&bad_id),
            Err(StreamError::Module(ModuleError::Malformed(_)))
        ));
        // Not wasm at all: wasmparser's own error, through the in-memory path.
        assert!(matches!(
            streamed(b"hello world, not wasm"),
            Err(StreamError::Module(ModuleError::Parse(_)))
        ));
    }
}
