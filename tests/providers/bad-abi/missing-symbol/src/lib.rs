//! A provider library speaking ABI 1 that lacks `waxo_provider_drop`. The host must name the
//! missing symbol and call nothing but `waxo_provider_abi_version`; the other functions abort
//! the process if called.

use std::ffi::{c_char, c_void};

/// Reports ABI 1.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_abi_version() -> u32 {
    1
}

/// Must not be called.
#[unsafe(no_mangle)]
pub extern "C" fn waxo_provider_capability_id() -> *const c_char {
    std::process::abort()
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
