//! Protobuf envelopes (Command, Event) and capability messages shared by guests and the host.
//!
//! The `.proto` sources live in `proto/proto/waxosuit/…` and are compiled at build time with
//! `protox` and `prost-build`; every generated message implements [`prost::Name`], so it packs
//! into a [`prost_types::Any`] with the type URL `type.googleapis.com/<full.name>`.
//!
//! ```
//! use waxosuit_proto::{keyvalue, ops, v1::{Command, Event}};
//!
//! let cmd = Command::new(ops::KV_INCR, &keyvalue::IncrRequest { key: "hits".into(), delta: 1 });
//! let req: keyvalue::IncrRequest = cmd.payload_as().unwrap();
//! assert_eq!(req.key, "hits");
//! assert_eq!(waxosuit_proto::capability_of(&cmd.op), "waxosuit:keyvalue");
//!
//! let ev = Event::with_payload(&keyvalue::IncrResponse { value: 1 });
//! assert_eq!(ev.payload_as::<keyvalue::IncrResponse>().unwrap().value, 1);
//! assert_eq!(Event::error("denied", "no").error_code(), Some("denied"));
//! ```

mod envelope;

pub use envelope::{PayloadError, capability_of};
pub use prost;
pub use prost_types;

/// Envelopes of the guest ⇄ host ABI: [`v1::Command`], [`v1::Event`], [`v1::Error`]
/// (package `waxosuit.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/waxosuit.v1.rs"));
}

/// Payloads of the `waxosuit:keyvalue` operations (package `waxosuit.keyvalue.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod keyvalue {
    include!(concat!(env!("OUT_DIR"), "/waxosuit.keyvalue.v1.rs"));
}

/// Payloads of the `waxosuit:messaging` operations (package `waxosuit.messaging.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod messaging {
    include!(concat!(env!("OUT_DIR"), "/waxosuit.messaging.v1.rs"));
}

/// Payloads of `waxosuit:http_server` and `waxosuit:http_client` (package `waxosuit.http.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod http {
    include!(concat!(env!("OUT_DIR"), "/waxosuit.http.v1.rs"));
}

/// Payloads of the `waxosuit:core` operations (package `waxosuit.core.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod core {
    include!(concat!(env!("OUT_DIR"), "/waxosuit.core.v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file of this crate
/// (including `google/protobuf/any.proto`), e.g. for `prost-reflect` JSON ⇄ protobuf.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Names and constants of the guest ⇄ host ABI (see the ABI chapter of the book).
pub mod abi {
    /// The ABI version this crate describes; `waxo_abi_version` returns it.
    ///
    /// Version 2 (the first released one) lets the host keep one command buffer per instance
    /// and leaves the returned event with the guest, so a host → guest call is one wasm call.
    pub const VERSION: i32 = 2;
    /// Import module of the host functions.
    pub const IMPORT_MODULE: &str = "waxosuit";
    /// Host import `host_call(ptr: i32, len: i32) -> i64`.
    pub const IMPORT_HOST_CALL: &str = "host_call";
    /// Host import `log(level: i32, ptr: i32, len: i32)`.
    pub const IMPORT_LOG: &str = "log";
    /// Guest export: its linear memory.
    pub const EXPORT_MEMORY: &str = "memory";
    /// Guest export `waxo_abi_version() -> i32`.
    pub const EXPORT_ABI_VERSION: &str = "waxo_abi_version";
    /// Guest export `waxo_alloc(len: i32) -> i32`.
    pub const EXPORT_ALLOC: &str = "waxo_alloc";
    /// Guest export `waxo_free(ptr: i32, len: i32)`.
    pub const EXPORT_FREE: &str = "waxo_free";
    /// Guest export `waxo_handle(ptr: i32, len: i32) -> i64`.
    pub const EXPORT_HANDLE: &str = "waxo_handle";

    /// Packs a buffer location into the `i64` returned by `waxo_handle` and `host_call`:
    /// `(ptr << 32) | len`, both as u32.
    pub const fn pack(ptr: u32, len: u32) -> i64 {
        (((ptr as u64) << 32) | len as u64) as i64
    }

    /// Unpacks the `i64` of [`pack`] into `(ptr, len)`.
    pub const fn unpack(packed: i64) -> (u32, u32) {
        let v = packed as u64;
        ((v >> 32) as u32, v as u32)
    }

    /// Log levels of the `log` import.
    pub mod level {
        /// `trace`.
        pub const TRACE: i32 = 0;
        /// `debug`.
        pub const DEBUG: i32 = 1;
        /// `info`.
        pub const INFO: i32 = 2;
        /// `warn`.
        pub const WARN: i32 = 3;
        /// `error`.
        pub const ERROR: i32 = 4;
    }
}

/// Error codes carried in [`v1::Error::code`].
pub mod codes {
    /// The module's claims do not allow the operation (or a policy refused it).
    pub const DENIED: &str = "denied";
    /// The payload is missing, of the wrong type, or invalid.
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    /// The thing asked for does not exist.
    pub const NOT_FOUND: &str = "not_found";
    /// The backend cannot be reached (retrying may help).
    pub const UNAVAILABLE: &str = "unavailable";
    /// The call took longer than its deadline.
    pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";
    /// A limit was hit (message size, memory, …).
    pub const RESOURCE_EXHAUSTED: &str = "resource_exhausted";
    /// The guest's handler failed (returned an error or trapped).
    pub const GUEST_ERROR: &str = "guest_error";
    /// No capability or guest handles this op.
    pub const UNKNOWN_OPERATION: &str = "unknown_operation";
    /// A bug or unexpected failure in the host.
    pub const INTERNAL: &str = "internal";
}

/// Operation names (`Command::op`): `"<capability id>/<Operation>"`.
pub mod ops {
    /// `waxosuit:keyvalue/Get`: `GetRequest` → `GetResponse`.
    pub const KV_GET: &str = "waxosuit:keyvalue/Get";
    /// `waxosuit:keyvalue/Set`: `SetRequest` → `SetResponse`.
    pub const KV_SET: &str = "waxosuit:keyvalue/Set";
    /// `waxosuit:keyvalue/Delete`: `DeleteRequest` → `DeleteResponse`.
    pub const KV_DELETE: &str = "waxosuit:keyvalue/Delete";
    /// `waxosuit:keyvalue/Exists`: `ExistsRequest` → `ExistsResponse`.
    pub const KV_EXISTS: &str = "waxosuit:keyvalue/Exists";
    /// `waxosuit:keyvalue/Incr`: `IncrRequest` → `IncrResponse`.
    pub const KV_INCR: &str = "waxosuit:keyvalue/Incr";
    /// `waxosuit:keyvalue/ListKeys`: `ListKeysRequest` → `ListKeysResponse`.
    pub const KV_LIST_KEYS: &str = "waxosuit:keyvalue/ListKeys";
    /// `waxosuit:messaging/Publish`: `PublishRequest` → `PublishResponse`.
    pub const MSG_PUBLISH: &str = "waxosuit:messaging/Publish";
    /// `waxosuit:messaging/Request`: `RequestRequest` → `RequestResponse`.
    pub const MSG_REQUEST: &str = "waxosuit:messaging/Request";
    /// `waxosuit:messaging/Deliver` (host → guest): `Message` → `Event` (optional `Message` reply).
    pub const MSG_DELIVER: &str = "waxosuit:messaging/Deliver";
    /// `waxosuit:http_client/Request`: `HttpClientRequest` → `HttpResponse`.
    pub const HTTP_CLIENT_REQUEST: &str = "waxosuit:http_client/Request";
    /// `waxosuit:http_server/Handle` (host → guest): `HttpRequest` → `HttpResponse`.
    pub const HTTP_SERVER_HANDLE: &str = "waxosuit:http_server/Handle";
    /// `waxosuit:core/Health` (host → guest): `HealthRequest` → `HealthResponse`.
    pub const CORE_HEALTH: &str = "waxosuit:core/Health";

    /// Every op the guest may send through `host_call`.
    pub const GUEST_TO_HOST: &[&str] = &[
        KV_GET,
        KV_SET,
        KV_DELETE,
        KV_EXISTS,
        KV_INCR,
        KV_LIST_KEYS,
        MSG_PUBLISH,
        MSG_REQUEST,
        HTTP_CLIENT_REQUEST,
    ];
    /// Every op the host may send to `waxo_handle`.
    pub const HOST_TO_GUEST: &[&str] = &[HTTP_SERVER_HANDLE, MSG_DELIVER, CORE_HEALTH];
}
