//! The only module of this crate with `unsafe` code: both sides of the provider C ABI.
//!
//! - [`export`]: the provider side, generic functions the [`export_provider!`](crate::export_provider)
//!   expansion calls from its `extern "C"` symbols (decode arguments, catch panics, hand out
//!   buffers).
//! - `host` (feature `loader`): the host side, `dlopen`/`dlsym` and calls through the resolved
//!   function pointers, returning plain Rust values to [`crate::loader`].
//!
//! Every `unsafe` block carries a `SAFETY:` comment naming the ABI rule it relies on.

pub mod export;
#[cfg(feature = "loader")]
pub(crate) mod host;

use crate::abi::WaxoBuffer;

/// Hands `bytes` to the other side of the ABI as a [`WaxoBuffer`] (NULL for an empty buffer).
///
/// The allocation is a boxed slice of exactly `len` bytes, released by [`free_buffer`].
pub(crate) fn into_buffer(bytes: Vec<u8>) -> WaxoBuffer {
    if bytes.is_empty() {
        return WaxoBuffer::EMPTY;
    }
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed).cast::<u8>();
    WaxoBuffer { ptr, len }
}

/// Releases a buffer made by [`into_buffer`]; NULL is a no-op.
///
/// # Safety
///
/// `ptr`/`len` must come from one [`into_buffer`] call of this same library and must not have
/// been freed already.
pub(crate) unsafe fn free_buffer(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    let slice = std::ptr::slice_from_raw_parts_mut(ptr, len);
    // SAFETY: by this function's contract `(ptr, len)` is the pointer and length of a
    // `Box<[u8]>` leaked by `into_buffer` in this library (same allocator) and not yet freed.
    drop(unsafe { Box::from_raw(slice) });
}

/// Views `len` bytes at `ptr` as a slice; `None` when `ptr` is NULL but `len` is not 0.
///
/// # Safety
///
/// Unless NULL, `ptr` must point to `len` readable bytes that stay valid and unmodified for
/// `'a`.
pub(crate) unsafe fn bytes_at<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` is non-NULL and, by this function's contract, points to `len` readable
    // bytes valid for `'a`.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

#[cfg(test)]
mod tests {
    //! Tests for the buffer helpers.

    use super::*;

    #[test]
    fn buffers_round_trip_and_empty_is_null() {
        let buf = into_buffer(b"hello".to_vec());
        assert!(!buf.ptr.is_null());
        assert_eq!(buf.len, 5);
        // SAFETY: `buf` was just made by `into_buffer` and is freed once, below.
        let seen = unsafe { bytes_at(buf.ptr, buf.len) }.unwrap().to_vec();
        assert_eq!(seen, b"hello");
        // SAFETY: freed exactly once, from `into_buffer` of this crate.
        unsafe { free_buffer(buf.ptr, buf.len) };

        let empty = into_buffer(Vec::new());
        assert_eq!(empty, WaxoBuffer::EMPTY);
        // SAFETY: NULL is documented as a no-op.
        unsafe { free_buffer(empty.ptr, empty.len) };
    }

    #[test]
    fn null_with_length_is_refused_and_empty_needs_no_pointer() {
        // SAFETY: a NULL pointer with a non-zero length is rejected before any read.
        assert!(unsafe { bytes_at(std::ptr::null(), 3) }.is_none());
        // SAFETY: length 0 never reads through the pointer.
        assert_eq!(unsafe { bytes_at(std::ptr::null(), 0) }, Some(&[][..]));
    }
}
