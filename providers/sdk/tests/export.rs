//! Tests for the `export_provider!` expansion: the generated C functions called directly as
//! Rust functions (no `dlopen`), as a host would call them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::CStr;
use std::sync::Mutex;

use waxosuit_proto::http::HttpResponse;
use waxosuit_proto::prost::Message;
use waxosuit_provider_sdk::abi::{self, WaxoBuffer};
use waxosuit_provider_sdk::serde_json::Value;
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, codes, export_provider};

/// The greetings of the `Probe`s dropped so far.
static DROPPED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Echoes the payload, reports the caller, or panics, depending on the op.
struct Probe {
    greeting: String,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Ok(mut dropped) = DROPPED.lock() {
            dropped.push(self.greeting.clone());
        }
    }
}

impl Provider for Probe {
    fn capability_id(&self) -> &str {
        "test:probe"
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        match command.op.as_str() {
            "test:probe/Echo" => Event {
                error: None,
                payload: command.payload.clone(),
            },
            "test:probe/Who" => Event::with_payload(&HttpResponse::text(
                200,
                format!("{} {} {}", self.greeting, caller.module, caller.subject),
            )),
            "test:probe/Panic" => panic!("probe told to panic"),
            other => Event::error(codes::UNKNOWN_OPERATION, other),
        }
    }
}

fn probe_from_config(config: &Value) -> Result<Probe, String> {
    match config.get("greeting") {
        Some(Value::String(greeting)) => Ok(Probe {
            greeting: greeting.clone(),
        }),
        Some(Value::Bool(true)) => panic!("the probe constructor panics on `greeting = true`"),
        _ => Err("`greeting` must be a string".to_owned()),
    }
}

export_provider!(Probe, "test:probe", probe_from_config);

/// Copies and frees a buffer returned by the exported functions.
fn take(buf: WaxoBuffer) -> Vec<u8> {
    let bytes = if buf.ptr.is_null() {
        assert_eq!(buf.len, 0);
        Vec::new()
    } else {
        // SAFETY: a non-NULL buffer from the library holds `len` bytes until freed below.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    // SAFETY: the buffer came from this library and is freed once.
    unsafe { waxo_provider_free_buffer(buf.ptr, buf.len) };
    bytes
}

/// Calls `waxo_provider_new` with `config` text: the handle, or the error message.
fn new(config: &str) -> Result<*mut std::ffi::c_void, String> {
    let mut err = WaxoBuffer::EMPTY;
    // SAFETY: `config` is readable for the call, `err` is writable.
    let handle = unsafe { waxo_provider_new(config.as_ptr(), config.len(), &mut err) };
    let message = String::from_utf8(take(err)).unwrap();
    if handle.is_null() {
        Err(message)
    } else {
        assert!(message.is_empty());
        Ok(handle)
    }
}

/// Calls `waxo_provider_call` with `command` bytes; returns the status and the event bytes.
fn call_raw(handle: *mut std::ffi::c_void, module: &[u8], command: &[u8]) -> (i32, Vec<u8>) {
    let mut out = WaxoBuffer::EMPTY;
    let subject = b"MSUBJECT";
    // SAFETY: `handle` is live, every slice is readable for the call, `out` is writable.
    let status = unsafe {
        waxo_provider_call(
            handle,
            module.as_ptr(),
            module.len(),
            subject.as_ptr(),
            subject.len(),
            command.as_ptr(),
            command.len(),
            &mut out,
        )
    };
    (status, take(out))
}

fn call(handle: *mut std::ffi::c_void, command: &Command) -> Event {
    let (status, bytes) = call_raw(handle, b"probe-module", &command.encode_to_vec());
    assert_eq!(status, abi::STATUS_OK);
    Event::decode(bytes.as_slice()).unwrap()
}

fn drop_handle(handle: *mut std::ffi::c_void) {
    // SAFETY: `handle` is live, no call is in flight, and it is not used afterwards.
    unsafe { waxo_provider_drop(handle) };
}

#[test]
fn version_and_capability_id_are_static() {
    assert_eq!(waxo_provider_abi_version(), abi::VERSION);
    // SAFETY: the ABI promises a static NUL-terminated string.
    let id = unsafe { CStr::from_ptr(waxo_provider_capability_id()) };
    assert_eq!(id.to_str().unwrap(), "test:probe");
}

#[test]
fn payload_and_caller_round_trip_through_the_c_functions() {
    let handle = new(r#"{"greeting": "round-trip"}"#).unwrap();

    let echo = Command::new("test:probe/Echo", &HttpResponse::text(201, "body"));
    let event = call(handle, &echo);
    assert!(event.is_ok());
    assert_eq!(
        event.payload_as::<HttpResponse>().unwrap(),
        HttpResponse::text(201, "body")
    );

    let event = call(handle, &Command::without_payload("test:probe/Who"));
    let who = event.payload_as::<HttpResponse>().unwrap();
    assert_eq!(who.body, b"round-trip probe-module MSUBJECT");

    let event = call(handle, &Command::without_payload("test:probe/Nope"));
    assert_eq!(event.error_code(), Some(codes::UNKNOWN_OPERATION));

    let dropped = |g: &str| DROPPED.lock().unwrap().iter().filter(|d| *d == g).count();
    assert_eq!(dropped("round-trip"), 0);
    drop_handle(handle);
    assert_eq!(dropped("round-trip"), 1);
}

#[test]
fn a_panic_becomes_an_internal_event_and_the_instance_keeps_serving() {
    let handle = new(r#"{"greeting": "hi"}"#).unwrap();
    let event = call(handle, &Command::without_payload("test:probe/Panic"));
    let error = event.error.unwrap();
    assert_eq!(error.code, codes::INTERNAL);
    assert_eq!(
        error.message,
        "provider `test:probe` panicked: probe told to panic"
    );

    let event = call(handle, &Command::without_payload("test:probe/Who"));
    assert!(event.is_ok(), "{event:?}");
    drop_handle(handle);
}

#[test]
fn new_reports_constructor_errors_bad_json_and_panics() {
    assert_eq!(new("{}").unwrap_err(), "`greeting` must be a string");
    let err = new("{not json").unwrap_err();
    assert!(
        err.starts_with("the configuration is not valid JSON: "),
        "{err}"
    );
    let err = new(r#"{"greeting": true}"#).unwrap_err();
    assert_eq!(
        err,
        "provider `test:probe` panicked while starting: the probe constructor panics on \
         `greeting = true`"
    );
    // An empty configuration is JSON `null`.
    assert_eq!(new("").unwrap_err(), "`greeting` must be a string");
}

#[test]
fn malformed_arguments_become_invalid_argument_events() {
    let handle = new(r#"{"greeting": "hi"}"#).unwrap();

    // Not a protobuf `Command` (a field 1 length prefix running past the end).
    let (status, bytes) = call_raw(handle, b"m", &[0x0a, 0xff, 0x01]);
    assert_eq!(status, abi::STATUS_OK);
    let event = Event::decode(bytes.as_slice()).unwrap();
    assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));
    assert!(
        event
            .error
            .unwrap()
            .message
            .contains("cannot decode the command"),
        "decode error"
    );

    // A caller name that is not UTF-8.
    let command = Command::without_payload("test:probe/Who").encode_to_vec();
    let (status, bytes) = call_raw(handle, b"\xff\xfe", &command);
    assert_eq!(status, abi::STATUS_OK);
    let event = Event::decode(bytes.as_slice()).unwrap();
    assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));

    // NULL with a non-zero length.
    let mut out = WaxoBuffer::EMPTY;
    // SAFETY: NULL pointers are rejected before any read; `out` is writable.
    let status = unsafe {
        waxo_provider_call(
            handle,
            std::ptr::null(),
            4,
            std::ptr::null(),
            0,
            command.as_ptr(),
            command.len(),
            &mut out,
        )
    };
    assert_eq!(status, abi::STATUS_OK);
    let event = Event::decode(take(out).as_slice()).unwrap();
    assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));

    drop_handle(handle);
}

#[test]
fn null_handle_and_out_are_refused_and_null_frees_are_no_ops() {
    let mut out = WaxoBuffer::EMPTY;
    // SAFETY: a NULL handle is refused before anything is read.
    let status = unsafe {
        waxo_provider_call(
            std::ptr::null_mut(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            &mut out,
        )
    };
    assert_eq!(status, abi::STATUS_NULL_ARGUMENT);
    assert_eq!(out, WaxoBuffer::EMPTY);

    let handle = new(r#"{"greeting": "hi"}"#).unwrap();
    // SAFETY: a NULL `out` is refused before anything is read or written.
    let status = unsafe {
        waxo_provider_call(
            handle,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, abi::STATUS_NULL_ARGUMENT);
    drop_handle(handle);

    // SAFETY: NULL is documented as a no-op for both.
    unsafe {
        waxo_provider_free_buffer(std::ptr::null_mut(), 0);
        waxo_provider_drop(std::ptr::null_mut());
    }
}
