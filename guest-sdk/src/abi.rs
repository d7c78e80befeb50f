//! The guest side of the waxosuit ABI, version 2: the exports emitted by [`handler!`](crate::handler)
//! and the `waxosuit` host imports. All of the SDK's unsafe code lives here.
//!
//! Buffers from `waxo_alloc` are allocated with the Rust global allocator and the layout
//! `(len, align 1)`, so a `Vec<u8>` of exactly `len` bytes and a `waxo_alloc(len)` buffer are
//! interchangeable (which is how a `host_call` answer becomes the guest's `Vec`).

use prost::Message;
use waxosuit_proto::codes;
use waxosuit_proto::v1::{Command, Event};

use crate::{CapabilitiesContext, Result};

/// The signature of a guest handler.
pub type Handler = fn(&CapabilitiesContext, &Command) -> Result<Event>;

/// Registers `handler` (a `fn(&CapabilitiesContext, &Command) -> Result<Event>`) as the guest's
/// entry point and, on wasm32, emits the ABI exports `waxo_abi_version`, `waxo_alloc`,
/// `waxo_free` and `waxo_handle`. Use it once per guest crate.
#[macro_export]
macro_rules! handler {
    ($handler:path) => {
        /// ABI export: the waxosuit ABI version this guest speaks.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn waxo_abi_version() -> i32 {
            $crate::__private::ABI_VERSION
        }

        /// ABI export: allocates `len` bytes for the host; 0 when it cannot.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub extern "C" fn waxo_alloc(len: i32) -> i32 {
            $crate::__private::alloc(len)
        }

        /// ABI export: frees a buffer of `len` bytes from `waxo_alloc`.
        ///
        /// # Safety
        /// `ptr`/`len` must describe a live buffer from this module's allocator.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn waxo_free(ptr: i32, len: i32) {
            // SAFETY: forwarded unchanged; the caller (the host) upholds the contract of
            // `waxo_free`, which is the contract of `free`.
            unsafe { $crate::__private::free(ptr, len) }
        }

        /// ABI export: handles the encoded `Command` at `ptr` (the host's buffer, read during
        /// the call only) and returns the packed location of the encoded `Event`, which stays
        /// valid until the next call.
        ///
        /// # Safety
        /// `ptr`/`len` must describe `len` initialised bytes that nothing writes during the call.
        #[cfg(target_arch = "wasm32")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn waxo_handle(ptr: i32, len: i32) -> i64 {
            // SAFETY: forwarded unchanged; the caller (the host) upholds the contract of
            // `waxo_handle`, which is the contract of `handle`.
            unsafe { $crate::__private::handle(ptr, len, $handler) }
        }

        // Off wasm32 nothing is exported; still check the handler's signature (and use it).
        #[cfg(not(target_arch = "wasm32"))]
        const _: $crate::__private::Handler = $handler;
    };
}

/// Decodes `input` as a `Command`, runs `handler` and encodes its `Event` (empty for an empty
/// event). A handler `Err` becomes a `guest_error` event; an undecodable command an
/// `invalid_argument` one.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // used by the wasm32 exports
pub(crate) fn dispatch(handler: Handler, ctx: &CapabilitiesContext, input: &[u8]) -> Vec<u8> {
    let event = match Command::decode(input) {
        Ok(cmd) => handler(ctx, &cmd).unwrap_or_else(crate::Error::into_event),
        Err(e) => Event::error(
            codes::INVALID_ARGUMENT,
            format!(
                "the guest could not decode the command ({} bytes): {e}",
                input.len()
            ),
        ),
    };
    event.encode_to_vec()
}

/// Implementation of `waxo_alloc`: `len` bytes with align 1; a dangling non-null pointer for 0
/// bytes (nothing to write, nothing to free); 0 when the allocator fails.
#[cfg(target_arch = "wasm32")]
pub fn alloc(len: i32) -> i32 {
    let len = len as u32 as usize;
    if len == 0 {
        return std::ptr::NonNull::<u8>::dangling().as_ptr() as usize as i32;
    }
    let Ok(layout) = std::alloc::Layout::from_size_align(len, 1) else {
        return 0;
    };
    // SAFETY: `layout` has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc(layout) };
    ptr as usize as i32
}

/// Implementation of `waxo_free`. Zero-length buffers and null pointers are ignored.
///
/// # Safety
/// `ptr` must come from [`alloc`]`(len)` and must not have been freed yet.
#[cfg(target_arch = "wasm32")]
pub unsafe fn free(ptr: i32, len: i32) {
    let len = len as u32 as usize;
    if ptr == 0 || len == 0 {
        return;
    }
    // SAFETY: by the caller's contract the buffer was allocated by the global allocator with
    // size `len` and align 1 (from_size_align succeeded at allocation time, so it does here).
    unsafe {
        std::alloc::dealloc(
            ptr as u32 as usize as *mut u8,
            std::alloc::Layout::from_size_align_unchecked(len, 1),
        );
    }
}

/// Implementation of `waxo_handle` (ABI 2): reads the command in the host's buffer (which
/// stays the host's), runs `handler`, and keeps the encoded event until the next call; the
/// host copies it out and never frees it.
///
/// # Safety
/// `ptr` must point to `len` initialised bytes that nothing writes during the call. Ignored
/// when `len` is 0.
#[cfg(target_arch = "wasm32")]
pub unsafe fn handle(ptr: i32, len: i32, handler: Handler) -> i64 {
    thread_local! {
        /// The event of the last call: the host reads it after `waxo_handle` returns, so it
        /// must outlive the call; the next call replaces (and so frees) it.
        static LAST_EVENT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let len = len as u32 as usize;
    let input: &[u8] = if len == 0 || ptr == 0 {
        &[]
    } else {
        // SAFETY: by the caller's contract `ptr` points to `len` initialised bytes that stay
        // untouched for the duration of this call, which is the borrow's lifetime.
        unsafe { std::slice::from_raw_parts(ptr as u32 as usize as *const u8, len) }
    };
    install_panic_logger();
    let out = dispatch(handler, &CapabilitiesContext::host(), input);
    if out.is_empty() {
        return 0;
    }
    let packed = waxosuit_proto::abi::pack(out.as_ptr() as usize as u32, out.len() as u32);
    LAST_EVENT.with(|last| *last.borrow_mut() = out);
    packed
}

/// Sends panic messages through the `log` import (level error) before the panic traps, since
/// a wasm32-unknown-unknown guest has no stderr.
#[cfg(target_arch = "wasm32")]
fn install_panic_logger() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(
                waxosuit_proto::abi::level::ERROR,
                &format!("guest panicked: {info}"),
            );
        }));
    });
}

#[cfg(target_arch = "wasm32")]
mod imports {
    //! The host functions of import module `waxosuit`.
    #[link(wasm_import_module = "waxosuit")]
    unsafe extern "C" {
        /// Sends the encoded `Command` at `ptr..ptr+len`; returns the packed location of the
        /// encoded `Event`, in a buffer the host got from `waxo_alloc` (0 = empty event).
        pub(super) fn host_call(ptr: i32, len: i32) -> i64;
        /// Logs the UTF-8 text at `ptr..ptr+len` at `level` (0 trace … 4 error).
        pub(super) fn log(level: i32, ptr: i32, len: i32);
    }
}

/// Sends an encoded command through the `host_call` import; returns the encoded event.
#[cfg(target_arch = "wasm32")]
pub(crate) fn host_call(cmd: &[u8]) -> Result<Vec<u8>> {
    // SAFETY: the host only reads `cmd.len()` bytes at `cmd.as_ptr()` during the call, and
    // the slice outlives the call.
    let packed = unsafe { imports::host_call(cmd.as_ptr() as usize as i32, cmd.len() as i32) };
    let (ptr, len) = waxosuit_proto::abi::unpack(packed);
    if len == 0 {
        // Empty event; a zero-length `waxo_alloc` buffer owns nothing.
        return Ok(Vec::new());
    }
    if ptr == 0 {
        return Err(crate::Error::new(
            codes::INTERNAL,
            "the host returned a null event buffer; the host breaks the waxosuit ABI",
        ));
    }
    // SAFETY: per the ABI the host wrote `len` bytes into a buffer it obtained from our
    // `waxo_alloc(len)` — the global allocator with layout (len, align 1), which is what a
    // Vec<u8> of capacity `len` owns — and handed its ownership to us.
    Ok(unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, len as usize, len as usize) })
}

/// Off wasm32 there is no host: every call fails.
#[cfg(not(target_arch = "wasm32"))]
#[allow(dead_code)] // only the tests call it off wasm32
pub(crate) fn host_call(_cmd: &[u8]) -> Result<Vec<u8>> {
    Err(crate::Error::new(
        codes::UNAVAILABLE,
        "not running inside a waxosuit host; build the guest for wasm32-unknown-unknown and run it with `cargo waxo run`",
    ))
}

/// Writes one log line through the `log` import.
#[cfg(target_arch = "wasm32")]
pub(crate) fn log(level: i32, msg: &str) {
    // SAFETY: the host only reads `msg.len()` bytes at `msg.as_ptr()` during the call.
    unsafe { imports::log(level, msg.as_ptr() as usize as i32, msg.len() as i32) }
}

/// Off wasm32 there is no host: log lines are dropped.
#[cfg(not(target_arch = "wasm32"))]
#[allow(dead_code)] // only the tests call it off wasm32
pub(crate) fn log(_level: i32, _msg: &str) {}

#[cfg(test)]
mod tests {
    //! Tests for command dispatch (the platform-independent part of `waxo_handle`).

    use super::*;
    use crate::Error;
    use waxosuit_proto::{keyvalue, ops};

    fn echo(_: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
        let req: keyvalue::GetRequest = cmd.payload_as()?;
        Ok(Event::with_payload(&keyvalue::GetResponse {
            found: true,
            value: req.key.into_bytes(),
        }))
    }

    fn fails(_: &CapabilitiesContext, _: &Command) -> Result<Event> {
        Err(Error::new(codes::NOT_FOUND, "no such thing"))
    }

    fn empty(_: &CapabilitiesContext, _: &Command) -> Result<Event> {
        Ok(Event::ok())
    }

    fn run(handler: Handler, input: &[u8]) -> Event {
        let out = dispatch(handler, &CapabilitiesContext::host(), input);
        Event::decode(out.as_slice()).unwrap()
    }

    #[test]
    fn handler_result_is_encoded() {
        let cmd = Command::new("test/Echo", &keyvalue::GetRequest { key: "k".into() });
        let ev = run(echo, &cmd.encode_to_vec());
        assert!(ev.is_ok());
        assert_eq!(
            ev.payload_as::<keyvalue::GetResponse>().unwrap().value,
            b"k"
        );
    }

    #[test]
    fn handler_error_becomes_guest_error_keeping_the_code_in_the_message() {
        let ev = run(fails, &Command::without_payload("x/Y").encode_to_vec());
        let err = ev.error.unwrap();
        assert_eq!(err.code, codes::GUEST_ERROR);
        assert_eq!(err.message, "not_found: no such thing");

        let ev = Error::guest("boom").into_event();
        assert_eq!(ev.error.unwrap().message, "boom");
    }

    #[test]
    fn wrong_payload_type_is_reported_as_guest_error() {
        let cmd = Command::new(ops::KV_SET, &keyvalue::SetRequest::default());
        let ev = run(echo, &cmd.encode_to_vec());
        let err = ev.error.unwrap();
        assert_eq!(err.code, codes::GUEST_ERROR);
        assert!(
            err.message.starts_with("invalid_argument:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn undecodable_command_is_invalid_argument() {
        let ev = run(echo, &[0x0a, 0x09, b'x']);
        assert_eq!(ev.error_code(), Some(codes::INVALID_ARGUMENT));
    }

    #[test]
    fn empty_event_encodes_to_nothing() {
        let out = dispatch(empty, &CapabilitiesContext::host(), &[]);
        assert!(out.is_empty());
    }

    #[test]
    fn off_wasm_host_calls_fail_clearly() {
        let err = CapabilitiesContext::host().kv().incr("a", 1).unwrap_err();
        assert_eq!(err.code, codes::UNAVAILABLE);
        assert!(err.message.contains("not running inside a waxosuit host"));
    }
}
