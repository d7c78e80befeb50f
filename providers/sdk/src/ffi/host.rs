//! The host side of the C ABI: opening a provider library, resolving its symbols and calling
//! them. Every value handed back to [`crate::loader`] is an owned Rust value (bytes copied out
//! of library buffers, which are freed here with the library's own `free_buffer`).

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::ptr::NonNull;

use libloading::Library;

use crate::abi::{self, WaxoBuffer};

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type CapabilityIdFn = unsafe extern "C" fn() -> *const c_char;
type NewFn = unsafe extern "C" fn(*const u8, usize, *mut WaxoBuffer) -> *mut c_void;
type CallFn = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    usize,
    *const u8,
    usize,
    *const u8,
    usize,
    *mut WaxoBuffer,
) -> i32;
type FreeBufferFn = unsafe extern "C" fn(*mut u8, usize);
type DropFn = unsafe extern "C" fn(*mut c_void);

/// A provider library opened with `dlopen`, before its ABI version is known.
pub(crate) struct OpenLibrary {
    library: Library,
}

/// Why a symbol lookup failed: the symbol's name and the loader's message.
pub(crate) struct MissingSymbol {
    pub(crate) symbol: &'static str,
    pub(crate) source: libloading::Error,
}

impl OpenLibrary {
    /// Opens the library at `path` (which should be absolute so no search path is used).
    ///
    /// The caller has checked that `path` is an ELF shared object for this machine.
    pub(crate) fn open(path: &Path) -> Result<Self, libloading::Error> {
        // SAFETY: loading a library runs its initialisers. Loading a provider is the host
        // operator's decision (a path in waxo.toml), equivalent to running its code; the caller
        // has checked the ELF header so a library for another machine is never mapped. Rust
        // cdylibs built with `export_provider!` have no initialisers of their own.
        let library = unsafe { Library::new(path) }?;
        Ok(Self { library })
    }

    /// Resolves and calls `waxo_provider_abi_version`, the first function the host calls.
    pub(crate) fn abi_version(&self) -> Result<u32, MissingSymbol> {
        // SAFETY: the symbol is declared by the ABI (every version) as
        // `uint32_t waxo_provider_abi_version(void)`; it takes no arguments and only returns
        // a number, so calling it is sound for any library exporting it under that name.
        unsafe {
            let f = self
                .library
                .get::<AbiVersionFn>(abi::SYM_ABI_VERSION)
                .map_err(|source| MissingSymbol {
                    symbol: abi::SYM_ABI_VERSION,
                    source,
                })?;
            Ok(f())
        }
    }

    /// Resolves the remaining ABI-1 symbols. Call only after [`Self::abi_version`] returned
    /// [`abi::VERSION`]: the function types below are those of version 1.
    pub(crate) fn resolve(self) -> Result<Api, MissingSymbol> {
        fn get<T: Copy>(library: &Library, symbol: &'static str) -> Result<T, MissingSymbol> {
            // SAFETY: the library declared ABI version 1, whose symbols have exactly the
            // function types `T` used by the callers below. The copied function pointer stays
            // valid while `library` is loaded, which `Api` guarantees by owning it.
            unsafe { library.get::<T>(symbol) }
                .map(|sym| *sym)
                .map_err(|source| MissingSymbol { symbol, source })
        }
        let library = &self.library;
        Ok(Api {
            capability_id: get::<CapabilityIdFn>(library, abi::SYM_CAPABILITY_ID)?,
            new: get::<NewFn>(library, abi::SYM_NEW)?,
            call: get::<CallFn>(library, abi::SYM_CALL)?,
            free_buffer: get::<FreeBufferFn>(library, abi::SYM_FREE_BUFFER)?,
            drop: get::<DropFn>(library, abi::SYM_DROP)?,
            _library: self.library,
        })
    }
}

/// Why `waxo_provider_capability_id` was unusable.
pub(crate) enum CapabilityIdError {
    /// It returned NULL.
    Null,
    /// No NUL within [`abi::MAX_CAPABILITY_ID_BYTES`] bytes.
    TooLong,
}

/// What a library buffer held, copied out.
pub(crate) enum Taken {
    /// The bytes.
    Bytes(Vec<u8>),
    /// A NULL pointer with a non-zero length.
    NullWithLength(usize),
    /// More bytes than the limit (the buffer was freed unread).
    TooLarge(usize),
}

/// The resolved function table of an ABI-1 library, which it keeps loaded.
pub(crate) struct Api {
    capability_id: CapabilityIdFn,
    new: NewFn,
    call: CallFn,
    free_buffer: FreeBufferFn,
    drop: DropFn,
    // Held only to keep the library mapped (it unmaps on drop); the last field, so it is dropped
    // after everything else, and `Instance::drop` runs before any field is dropped.
    _library: Library,
}

impl Api {
    /// The bytes of the capability id (without the NUL), read at most
    /// [`abi::MAX_CAPABILITY_ID_BYTES`] + 1 bytes far.
    pub(crate) fn capability_id(&self) -> Result<Vec<u8>, CapabilityIdError> {
        // SAFETY: ABI 1 declares `const char *waxo_provider_capability_id(void)`.
        let ptr = unsafe { (self.capability_id)() };
        if ptr.is_null() {
            return Err(CapabilityIdError::Null);
        }
        let mut id = Vec::new();
        for i in 0..=abi::MAX_CAPABILITY_ID_BYTES {
            // SAFETY: the ABI requires a NUL-terminated static string, so every byte up to and
            // including the NUL is readable; the scan stops at the first NUL and never reads
            // more than MAX_CAPABILITY_ID_BYTES + 1 bytes, bounding the damage of a library
            // that breaks the rule.
            let byte = unsafe { ptr.add(i).cast::<u8>().read() };
            if byte == 0 {
                return Ok(id);
            }
            id.push(byte);
        }
        Err(CapabilityIdError::TooLong)
    }

    /// Copies a library buffer out (at most `max` bytes, longer ones per `truncate`: cut to
    /// `max` bytes, or refused as [`Taken::TooLarge`]) and frees it with the library's
    /// `free_buffer`.
    fn take(&self, buf: WaxoBuffer, max: usize, truncate: bool) -> Taken {
        if buf.ptr.is_null() {
            return if buf.len == 0 {
                Taken::Bytes(Vec::new())
            } else {
                Taken::NullWithLength(buf.len)
            };
        }
        let taken = if buf.len > max && !truncate {
            Taken::TooLarge(buf.len)
        } else {
            // SAFETY: the ABI says a non-NULL buffer from the library holds `len` readable
            // bytes until it is given back; we read at most `len` bytes and copy them before
            // freeing.
            let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len.min(max)) };
            Taken::Bytes(bytes.to_vec())
        };
        // SAFETY: `(ptr, len)` is exactly the buffer the library returned, given back once.
        unsafe { (self.free_buffer)(buf.ptr, buf.len) };
        taken
    }

    /// Calls `waxo_provider_new` with the JSON `config`; on failure returns the library's
    /// message (lossy UTF-8, at most [`abi::MAX_ERROR_BYTES`] bytes, empty if it gave none).
    pub(crate) fn instantiate(self, config: &[u8]) -> Result<Instance, String> {
        let mut err = WaxoBuffer::EMPTY;
        // SAFETY: ABI 1 `waxo_provider_new`: `config` points to `config.len()` readable bytes
        // for the duration of the call, `err` is a writable buffer descriptor.
        let handle = unsafe { (self.new)(config.as_ptr(), config.len(), &mut err) };
        let message = match self.take(err, abi::MAX_ERROR_BYTES, true) {
            Taken::Bytes(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Taken::NullWithLength(len) => {
                format!("(the library returned a NULL error message of {len} bytes)")
            }
            Taken::TooLarge(_) => String::new(),
        };
        match NonNull::new(handle) {
            Some(handle) => Ok(Instance { handle, api: self }),
            None => Err(message),
        }
    }
}

/// A live provider instance (the handle from `waxo_provider_new`) and its library.
pub(crate) struct Instance {
    handle: NonNull<c_void>,
    api: Api,
}

// SAFETY: the ABI requires a provider instance to be usable from any thread, concurrently
// (`export_provider!` only accepts `Provider: Send + Sync` types); the handle is only passed
// back to the library's own functions, and `Api` holds plain function pointers and a
// `Library` (itself `Send + Sync`).
unsafe impl Send for Instance {}
// SAFETY: see `Send` above: concurrent `waxo_provider_call`s on one handle are allowed.
unsafe impl Sync for Instance {}

/// The raw outcome of one `waxo_provider_call`.
pub(crate) enum CallOutcome {
    /// Status 0 and the returned buffer.
    Event(Taken),
    /// A non-zero status.
    Status(i32),
}

impl Instance {
    /// Calls `waxo_provider_call` with the caller strings and an encoded `Command`; the
    /// returned buffer is copied (at most `max_event` bytes) and freed.
    pub(crate) fn call(
        &self,
        module: &str,
        subject: &str,
        command: &[u8],
        max_event: usize,
    ) -> CallOutcome {
        let mut out = WaxoBuffer::EMPTY;
        // SAFETY: ABI 1 `waxo_provider_call`: `handle` is live (dropped only in `Drop`), each
        // pointer/length pair describes bytes borrowed for the whole call, `out` is writable.
        let status = unsafe {
            (self.api.call)(
                self.handle.as_ptr(),
                module.as_ptr(),
                module.len(),
                subject.as_ptr(),
                subject.len(),
                command.as_ptr(),
                command.len(),
                &mut out,
            )
        };
        let taken = self.api.take(out, max_event, false);
        if status == abi::STATUS_OK {
            CallOutcome::Event(taken)
        } else {
            CallOutcome::Status(status)
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the handle came from this library's `waxo_provider_new`; `&mut self` proves
        // no call is in flight, and it is never used again. `self.api` (and the library) is
        // dropped only after this returns.
        unsafe { (self.api.drop)(self.handle.as_ptr()) };
    }
}
