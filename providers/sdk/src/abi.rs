//! The provider C ABI, version 1: symbol names, status codes, the buffer type and limits.
//!
//! A provider library (a `cdylib`) exports six C functions; the host resolves them with
//! `dlopen`/`dlsym`. Everything crossing the boundary is plain bytes (UTF-8 text, JSON,
//! protobuf-encoded [`Command`](crate::Command)/[`Event`](crate::Event)), never a Rust type,
//! so host and provider may be built by different compilers, and each keeps its own allocator:
//! a buffer is always freed by the side that allocated it.
//!
//! ```c
//! typedef struct { uint8_t *ptr; size_t len; } WaxoBuffer;
//!
//! uint32_t    waxo_provider_abi_version(void);
//! const char *waxo_provider_capability_id(void);
//! void       *waxo_provider_new(const uint8_t *config, size_t config_len, WaxoBuffer *err_out);
//! int32_t     waxo_provider_call(void *handle,
//!                                const uint8_t *module, size_t module_len,
//!                                const uint8_t *subject, size_t subject_len,
//!                                const uint8_t *command, size_t command_len,
//!                                WaxoBuffer *out);
//! void        waxo_provider_free_buffer(uint8_t *ptr, size_t len);
//! void        waxo_provider_drop(void *handle);
//! ```
//!
//! The book's provider guide (`book/src/providers.md`) documents each function's contract.

/// The provider ABI version this crate implements (host and provider side).
pub const VERSION: u32 = 1;

/// `uint32_t waxo_provider_abi_version(void)`: the ABI version the library speaks. The host
/// calls it before any other function and refuses a library speaking another version.
pub const SYM_ABI_VERSION: &str = "waxo_provider_abi_version";
/// `const char *waxo_provider_capability_id(void)`: the capability id, a static NUL-terminated
/// UTF-8 string such as `"acme:echo"`.
pub const SYM_CAPABILITY_ID: &str = "waxo_provider_capability_id";
/// `void *waxo_provider_new(config, config_len, err_out)`: creates a provider instance from
/// its JSON configuration; NULL on failure with a UTF-8 message in `*err_out`.
pub const SYM_NEW: &str = "waxo_provider_new";
/// `int32_t waxo_provider_call(handle, module, module_len, subject, subject_len, command,
/// command_len, out)`: handles one encoded `Command`, writes an encoded `Event` to `*out`.
pub const SYM_CALL: &str = "waxo_provider_call";
/// `void waxo_provider_free_buffer(ptr, len)`: frees a buffer the library returned.
pub const SYM_FREE_BUFFER: &str = "waxo_provider_free_buffer";
/// `void waxo_provider_drop(void *handle)`: destroys an instance made by `waxo_provider_new`.
pub const SYM_DROP: &str = "waxo_provider_drop";

/// Every symbol a provider library must export, in the order the host resolves them.
pub const SYMBOLS: [&str; 6] = [
    SYM_ABI_VERSION,
    SYM_CAPABILITY_ID,
    SYM_NEW,
    SYM_CALL,
    SYM_FREE_BUFFER,
    SYM_DROP,
];

/// `waxo_provider_call` status: `*out` holds an encoded `Event` (an empty buffer is the empty,
/// successful `Event`). Provider failures, including panics, are error events with status 0.
pub const STATUS_OK: i32 = 0;
/// `waxo_provider_call` status: the handle or `out` pointer is NULL; nothing was written.
pub const STATUS_NULL_ARGUMENT: i32 = -1;

/// Largest encoded `Event` the host accepts from a provider (64 MiB); a larger one becomes a
/// `resource_exhausted` error event.
pub const MAX_EVENT_BYTES: usize = 64 << 20;
/// Largest error message the host reads from `waxo_provider_new` (64 KiB); longer ones are cut.
pub const MAX_ERROR_BYTES: usize = 64 << 10;
/// Largest capability id the host reads (bytes before the terminating NUL).
pub const MAX_CAPABILITY_ID_BYTES: usize = 256;

/// A byte buffer allocated by the provider library and handed to the host, which copies it
/// and gives it back with `waxo_provider_free_buffer(ptr, len)`.
///
/// `ptr` is NULL exactly when `len` is 0 (nothing to free). The library allocates it as a
/// boxed slice of exactly `len` bytes, so `(ptr, len)` is all it needs to free it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaxoBuffer {
    /// First byte, NULL for an empty buffer.
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
}

impl WaxoBuffer {
    /// The empty buffer (`{NULL, 0}`), what the host initialises out-parameters with.
    pub const EMPTY: Self = Self {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

impl Default for WaxoBuffer {
    fn default() -> Self {
        Self::EMPTY
    }
}
