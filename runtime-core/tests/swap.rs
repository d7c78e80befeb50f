//! Tests for the swappable guest handle and late provider binding: a call pinned to a version
//! finishes on it while the next call reaches the new one, `wait_idle` waits for calls in
//! flight, and providers bound after load serve the guest (once per capability).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use runtime_core::{BuildError, Caller, Host, LiveGuest, Provider};
use wascap::caps::{KEYVALUE, LOGGING};
use waxo_test_support::{guest_wasm, sign_with};
use waxosuit_proto::keyvalue::{IncrRequest, IncrResponse};
use waxosuit_proto::ops;
use waxosuit_proto::v1::{Command, Event};

/// TEST DOUBLE: a keyvalue provider whose `Incr` waits for a go-ahead, so a test controls
/// exactly when a call is in flight; it answers `value` = the delta it was sent.
struct Gate {
    entered: std::sync::Mutex<mpsc::Sender<()>>,
    release: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Provider for Gate {
    fn capability_id(&self) -> &str {
        KEYVALUE
    }

    fn call(&self, _caller: &Caller, command: &Command) -> Event {
        let req: IncrRequest = command.payload_as().unwrap();
        if req.key == "gated" {
            self.entered.lock().unwrap().send(()).unwrap();
            self.release.lock().unwrap().recv().unwrap();
        }
        Event::with_payload(&IncrResponse { value: req.delta })
    }
}

fn incr(key: &str, delta: i64) -> Command {
    let inner = Command::new(
        ops::KV_INCR,
        &IncrRequest {
            key: key.into(),
            delta,
        },
    );
    Command::new("test/HostCall", &inner)
}

fn probe(caps: &[&str]) -> Vec<u8> {
    sign_with(&std::fs::read(guest_wasm("probe")).unwrap(), caps).bytes
}

#[test]
fn a_pinned_call_finishes_on_its_version_and_the_next_reaches_the_new_one() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let host = Host::builder().build().unwrap();
    let old = host.load(probe(&[KEYVALUE, LOGGING])).unwrap();
    // Bound after load, as the host crate does from the verified claims.
    host.bind_provider(Arc::new(Gate {
        entered: std::sync::Mutex::new(entered_tx),
        release: std::sync::Mutex::new(release_rx),
    }))
    .unwrap();
    let live = LiveGuest::new(old);
    let in_flight = {
        let live = live.clone();
        std::thread::spawn(move || live.call(&incr("gated", 7)).unwrap())
    };
    entered.recv().unwrap();
    assert_eq!(live.in_flight(), 1);
    assert!(
        !live.wait_idle(Duration::from_millis(50)),
        "a call is in flight"
    );

    // The new version claims no keyvalue: its calls are denied, the pinned one is not.
    let new = host.load(probe(&[LOGGING])).unwrap();
    let replaced = live.swap(new);
    assert_eq!(replaced.claims().unwrap().caps().len(), 2);
    let denied = live.call(&incr("free", 1)).unwrap();
    assert_eq!(denied.error.unwrap().code, "denied");

    release.send(()).unwrap();
    let finished = in_flight.join().unwrap();
    assert_eq!(finished.payload_as::<IncrResponse>().unwrap().value, 7);
    assert!(live.wait_idle(Duration::from_secs(5)));
    assert_eq!(live.in_flight(), 0);
}

#[test]
fn a_second_provider_for_one_capability_is_refused() {
    let host = Host::builder().build().unwrap();
    let gate = || {
        let (tx, _) = mpsc::channel();
        let (_, rx) = mpsc::channel();
        Arc::new(Gate {
            entered: std::sync::Mutex::new(tx),
            release: std::sync::Mutex::new(rx),
        })
    };
    assert!(!host.has_provider(KEYVALUE));
    host.bind_provider(gate()).unwrap();
    assert!(host.has_provider(KEYVALUE));
    let err = host.bind_provider(gate()).unwrap_err();
    assert!(matches!(err, BuildError::DuplicateProvider(ref id) if id == KEYVALUE));
}
