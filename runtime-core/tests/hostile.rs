//! Tests for hostile guests: each misbehaving call fails with a clear error, the host
//! survives, and the next call on the same guest succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use runtime_core::{CallError, Direction, Guest, Host, Limits, LoadError};
use waxo_test_support::wat_fixture;
use waxosuit_proto::prost_types::Any;
use waxosuit_proto::v1::Command;

fn host(limits: Limits) -> Host {
    Host::builder()
        .allow_unsigned(true)
        .limits(limits)
        .build()
        .unwrap()
}

fn load(host: &Host, fixture: &str) -> Guest {
    host.load(wat_fixture(format!("hostile/{fixture}.wat")))
        .unwrap_or_else(|e| panic!("loading {fixture}: {e}"))
}

fn good() -> Command {
    Command {
        op: "test/Ok".into(),
        payload: None,
    }
}

fn bad() -> Command {
    Command {
        op: "test/Misbehave".into(),
        payload: None,
    }
}

/// The next good call works (on a fresh instance when the bad one was discarded).
fn assert_survives(guest: &Guest) {
    for _ in 0..2 {
        let event = guest.call(&good()).expect("the good call after a bad one");
        assert!(event.error.is_none(), "{event:?}");
    }
}

#[test]
fn endless_loop_is_stopped_by_the_fuel_budget() {
    let host = host(Limits {
        max_fuel_per_call: 5_000_000,
        ..Limits::default()
    });
    let guest = load(&host, "endless_loop");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::DeadlineExceeded { .. }), "{err:?}");
    assert!(err.to_string().contains("5000000 fuel units"), "{err}");
    assert_eq!(err.code(), "deadline_exceeded");
    assert_survives(&guest);
    assert!(
        host.metrics_text().contains(
            r#"waxosuit_guest_call_errors_total{module="unsigned",code="deadline_exceeded"} 1"#
        ),
        "{}",
        host.metrics_text()
    );
}

#[test]
fn unreachable_trap_is_reported_and_the_instance_replaced() {
    let guest = load(&host(Limits::default()), "trap");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert_survives(&guest);
    assert_eq!(guest.instances(), 1);
}

#[test]
fn growing_memory_stops_at_the_limit() {
    let guest = load(
        &host(Limits {
            max_memory_bytes: 1024 * 1024,
            ..Limits::default()
        }),
        "memory_exhaustion",
    );
    // The fixture grows until memory.grow fails, then answers with its size in pages as
    // the event length (bytes that are not an Event): 1 MiB = 16 pages.
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Abi { .. }), "{err:?}");
    assert!(err.to_string().contains("returned 16 bytes"), "{err}");
    assert_survives(&guest);
}

#[test]
fn huge_command_that_the_guest_cannot_allocate_is_resource_exhausted() {
    let guest = load(
        &host(Limits {
            max_memory_bytes: 1024 * 1024,
            max_envelope_bytes: 8 * 1024 * 1024,
            ..Limits::default()
        }),
        "memory_exhaustion",
    );
    let big = Command {
        op: "test/Big".into(),
        payload: Some(Any {
            type_url: "type.googleapis.com/test.Big".into(),
            value: vec![0u8; 2 * 1024 * 1024],
        }),
    };
    let err = guest.call(&big).unwrap_err();
    assert!(
        matches!(err, CallError::ResourceExhausted { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("returned 0"), "{err}");
    assert_survives(&guest);
}

#[test]
fn initial_memory_above_the_limit_is_refused_at_load() {
    let host = host(Limits::default());
    let err = host
        .load(wat_fixture("hostile/huge_initial_memory.wat"))
        .unwrap_err();
    assert!(matches!(err, LoadError::Instantiate { .. }), "{err:?}");
    assert!(err.to_string().contains("2048 pages"), "{err}");
    // The host still loads good guests.
    assert_survives(&load(&host, "trap"));
}

#[test]
fn infinite_recursion_is_a_trap_not_a_crash() {
    let guest = load(&host(Limits::default()), "stack_overflow");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err:?}");
    assert_survives(&guest);
}

#[test]
fn event_pointer_outside_memory_is_an_abi_error() {
    let guest = load(&host(Limits::default()), "oob_pointer");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Abi { .. }), "{err:?}");
    assert!(err.to_string().contains("outside the guest's"), "{err}");
    assert_survives(&guest);
}

#[test]
fn garbage_event_bytes_are_an_abi_error() {
    let guest = load(&host(Limits::default()), "garbage_event");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Abi { .. }), "{err:?}");
    assert!(err.to_string().contains("not an Event"), "{err}");
    assert_survives(&guest);
}

#[test]
fn oversized_event_length_is_refused_before_reading() {
    let guest = load(&host(Limits::default()), "oversized_length");
    let err = guest.call(&bad()).unwrap_err();
    match &err {
        CallError::EnvelopeTooLarge {
            direction, size, ..
        } => {
            assert_eq!(*direction, Direction::Event);
            assert_eq!(*size, 0x7fff_ffff);
        }
        other => panic!("{other:?}"),
    }
    assert_survives(&guest);
}

#[test]
fn host_call_with_a_wild_pointer_traps_the_guest_only() {
    let guest = load(&host(Limits::default()), "wild_host_call");
    let err = guest.call(&bad()).unwrap_err();
    assert!(matches!(err, CallError::Abi { .. }), "{err:?}");
    assert!(err.to_string().contains("host_call command"), "{err}");
    assert_survives(&guest);
}

#[test]
fn command_larger_than_the_envelope_limit_is_refused() {
    let guest = load(
        &host(Limits {
            max_envelope_bytes: 1024,
            ..Limits::default()
        }),
        "trap",
    );
    let big = Command {
        op: "x".repeat(2000),
        payload: None,
    };
    let err = guest.call(&big).unwrap_err();
    assert!(
        matches!(
            err,
            CallError::EnvelopeTooLarge {
                direction: Direction::Command,
                ..
            }
        ),
        "{err:?}"
    );
    assert_survives(&guest);
}

#[test]
fn wrong_abi_version_is_refused_with_both_versions_named() {
    let host = host(Limits::default());
    let err = host
        .load(wat_fixture("hostile/wrong_abi_version.wat"))
        .unwrap_err();
    assert!(matches!(err, LoadError::Abi { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("speaks waxosuit ABI 7, this host speaks 2"),
        "{err}"
    );
    assert_survives(&load(&host, "trap"));
}

#[test]
fn missing_exports_are_listed() {
    let host = host(Limits::default());
    let err = host
        .load(wat_fixture("hostile/missing_exports.wat"))
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LoadError::Abi { .. }), "{err:?}");
    for name in ["waxo_alloc", "waxo_free", "waxo_handle"] {
        assert!(msg.contains(name), "{msg}");
    }
    assert_survives(&load(&host, "trap"));
}

#[test]
fn unknown_import_is_refused() {
    let host = host(Limits::default());
    let wasm =
        wat::parse_str(r#"(module (import "env" "abort" (func)) (memory (export "memory") 1))"#)
            .unwrap();
    let err = host.load(wasm).unwrap_err();
    assert!(err.to_string().contains("`env.abort`"), "{err}");
}

#[test]
fn not_webassembly_is_refused() {
    let err = host(Limits::default())
        .load(b"not wasm at all")
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}
