//! The [`export_provider!`](crate::export_provider) macro: the C symbols of a provider library
//! generated from a type implementing [`Provider`](crate::Provider).

/// Exports a [`Provider`](crate::Provider) type as a dynamically loadable provider library
/// speaking the provider C ABI (version [`abi::VERSION`](crate::abi::VERSION)).
///
/// ```text
/// export_provider!(ProviderType, "vendor:capability", constructor);
/// ```
///
/// - `ProviderType` implements [`Provider`](crate::Provider) (so it is `Send + Sync`) and is
///   `'static`.
/// - The capability id is a constant `&'static str` expression (a literal or a `const`); an
///   empty id or one containing NUL fails to compile. Instances must report the same id from
///   [`Provider::capability_id`](crate::Provider::capability_id), or the host's load fails.
/// - `constructor` is a closure or function `FnOnce(&serde_json::Value) -> Result<ProviderType,
///   E>` with `E: Display`; it receives the `config` table of the provider's `[[provider]]`
///   entry in `waxo.toml` as a JSON object (`null` when the host has nothing to pass), and its
///   error becomes the host's load error.
///
/// Invoke it once, at the root of a crate built with `crate-type = ["cdylib"]`. It defines
/// the six `#[no_mangle]` functions `waxo_provider_abi_version`, `…_capability_id`, `…_new`,
/// `…_call`, `…_free_buffer` and `…_drop`; they delegate to [`ffi::export`](crate::ffi::export),
/// which catches every panic, so a panicking provider answers an `internal` error event and
/// the host keeps serving. Build the library with the default `panic = "unwind"` (with
/// `panic = "abort"` a panic ends the host process).
///
/// ```
/// use waxosuit_provider_sdk::{Caller, Command, Event, Provider, export_provider};
///
/// struct Nop;
///
/// impl Provider for Nop {
///     fn capability_id(&self) -> &str {
///         "acme:nop"
///     }
///     fn call(&self, _caller: &Caller, _command: &Command) -> Event {
///         Event::ok()
///     }
/// }
///
/// export_provider!(Nop, "acme:nop", |_config| Ok::<_, String>(Nop));
/// # fn main() { assert_eq!(waxo_provider_abi_version(), 1); }
/// ```
#[macro_export]
macro_rules! export_provider {
    ($provider:ty, $capability:expr, $constructor:expr $(,)?) => {
        /// Provider ABI: the ABI version this library speaks.
        #[unsafe(no_mangle)]
        pub extern "C" fn waxo_provider_abi_version() -> u32 {
            $crate::abi::VERSION
        }

        /// Provider ABI: the capability id, a static NUL-terminated UTF-8 string.
        #[unsafe(no_mangle)]
        pub extern "C" fn waxo_provider_capability_id() -> *const ::std::ffi::c_char {
            const WAXO_CAPABILITY_ID: &str = $capability;
            static WAXO_CAPABILITY_ID_NUL: [u8; WAXO_CAPABILITY_ID.len() + 1] =
                $crate::ffi::export::nul_terminated(WAXO_CAPABILITY_ID);
            WAXO_CAPABILITY_ID_NUL.as_ptr().cast()
        }

        /// Provider ABI: creates an instance from its JSON configuration.
        ///
        /// # Safety
        ///
        /// `config` points to `config_len` readable bytes (or is NULL with length 0);
        /// `err_out` is NULL or points to a writable buffer descriptor.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn waxo_provider_new(
            config: *const u8,
            config_len: usize,
            err_out: *mut $crate::abi::WaxoBuffer,
        ) -> *mut ::std::ffi::c_void {
            // SAFETY: the caller upholds the `waxo_provider_new` contract, which is exactly
            // the contract of `ffi::export::new`.
            unsafe {
                $crate::ffi::export::new::<$provider, _, _>(
                    $capability,
                    config,
                    config_len,
                    err_out,
                    $constructor,
                )
            }
        }

        /// Provider ABI: handles one encoded `Command`, writing an encoded `Event` to `out`.
        ///
        /// # Safety
        ///
        /// `handle` is NULL or a live handle from `waxo_provider_new`; every pointer/length
        /// pair describes readable bytes; `out` is NULL or points to a writable buffer
        /// descriptor.
        #[unsafe(no_mangle)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe extern "C" fn waxo_provider_call(
            handle: *mut ::std::ffi::c_void,
            module: *const u8,
            module_len: usize,
            subject: *const u8,
            subject_len: usize,
            command: *const u8,
            command_len: usize,
            out: *mut $crate::abi::WaxoBuffer,
        ) -> i32 {
            // SAFETY: the caller upholds the `waxo_provider_call` contract, which is exactly
            // the contract of `ffi::export::call` for the type `new` boxed.
            unsafe {
                $crate::ffi::export::call::<$provider>(
                    $capability,
                    handle,
                    module,
                    module_len,
                    subject,
                    subject_len,
                    command,
                    command_len,
                    out,
                )
            }
        }

        /// Provider ABI: frees a buffer returned by this library.
        ///
        /// # Safety
        ///
        /// `(ptr, len)` is a buffer this library returned, not yet freed.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn waxo_provider_free_buffer(ptr: *mut u8, len: usize) {
            // SAFETY: the caller upholds the `waxo_provider_free_buffer` contract.
            unsafe { $crate::ffi::export::free_buffer(ptr, len) }
        }

        /// Provider ABI: destroys an instance made by `waxo_provider_new`.
        ///
        /// # Safety
        ///
        /// `handle` is NULL or a live handle with no call in flight, unused afterwards.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn waxo_provider_drop(handle: *mut ::std::ffi::c_void) {
            // SAFETY: the caller upholds the `waxo_provider_drop` contract for the type
            // `waxo_provider_new` boxed.
            unsafe { $crate::ffi::export::drop::<$provider>(handle) }
        }
    };
}
