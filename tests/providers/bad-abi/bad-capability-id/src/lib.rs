//! A provider library speaking ABI 1 whose capability id is not UTF-8. The host must refuse
//! it before calling `waxo_provider_new`; the functions that must not run abort the process.

use std::ffi::{c_char, c_void};

/// `acme:` followed by bytes that are not UTF-8.
static CAPABILITY_ID: [u8; 8] = *b"acme:\xff\xfe\0";

/// Reports ABI 1.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_abi_version() -> u32 {
    1
}

/// The invalid capability id.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_capability_id() -> *const c_char {
    CAPABILITY_ID.as_ptr().cast()
}

/// Must not be called.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_new(_: *const u8, _: usize, _: *mut c_void) -> *mut c_void {
    std::process::abort()
}

/// Must not be called.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn waxo_provider_call(
    _: *mut c_void,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *mut c_void,
) -> i32 {
    std::process::abort()
}

/// Must not be called.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_free_buffer(_: *mut u8, _: usize) {
    std::process::abort()
}

/// Must not be called.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_drop(_: *mut c_void) {
    std::process::abort()
}
