//! Tests for the host end to end: the Rust `probe` guest and the hand-written `hello.wat`
//! through a test keyvalue provider; claims enforcement; signature checks; concurrency; the
//! compiled-artifact cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use runtime_core::{CacheOutcome, Caller, Guest, Host, LoadError, Provider};
use wascap::caps::{KEYVALUE, LOGGING};
use waxo_test_support::{guest_wasm, sign_with, wat_fixture};
use waxosuit_proto::http::HttpResponse;
use waxosuit_proto::keyvalue::{IncrRequest, IncrResponse};
use waxosuit_proto::v1::{Command, Event};
use waxosuit_proto::{codes, ops};

/// TEST DOUBLE: an in-memory keyvalue provider that only implements `Incr` and counts the
/// increments it served. The real providers come with issue 4.
#[derive(Default)]
struct CountingKeyValue {
    values: Mutex<HashMap<String, i64>>,
    incrs: AtomicUsize,
    callers: Mutex<Vec<Caller>>,
}

impl Provider for CountingKeyValue {
    fn capability_id(&self) -> &str {
        KEYVALUE
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        self.callers.lock().unwrap().push(caller.clone());
        if command.op != ops::KV_INCR {
            return Event::error(
                codes::UNKNOWN_OPERATION,
                format!("test double: {}", command.op),
            );
        }
        let req: IncrRequest = match command.payload_as() {
            Ok(r) => r,
            Err(e) => return Event::error(codes::INVALID_ARGUMENT, e.to_string()),
        };
        self.incrs.fetch_add(1, Ordering::SeqCst);
        let mut values = self.values.lock().unwrap();
        let v = values.entry(req.key).or_default();
        *v += req.delta;
        Event::with_payload(&IncrResponse { value: *v })
    }
}

fn probe() -> Vec<u8> {
    std::fs::read(guest_wasm("probe")).unwrap()
}

fn host_with(kv: &Arc<CountingKeyValue>) -> Host {
    Host::builder()
        .provider(Arc::clone(kv) as Arc<dyn Provider>)
        .build()
        .unwrap()
}

fn kv_incr(key: &str) -> Command {
    Command::new(
        "test/KvIncr",
        &IncrRequest {
            key: key.into(),
            delta: 1,
        },
    )
}

fn incr_value(guest: &Guest, key: &str) -> i64 {
    let event = guest.call(&kv_incr(key)).unwrap();
    assert!(event.error.is_none(), "{event:?}");
    event.payload_as::<IncrResponse>().unwrap().value
}

#[test]
fn probe_increments_through_the_provider() {
    let kv = Arc::new(CountingKeyValue::default());
    let host = host_with(&kv);
    let signed = sign_with(&probe(), &[KEYVALUE, LOGGING]);
    let guest = host.load(&signed.bytes).unwrap();
    assert_eq!(incr_value(&guest, "hits"), 1);
    assert_eq!(incr_value(&guest, "hits"), 2);
    assert_eq!(kv.incrs.load(Ordering::SeqCst), 2);
    let caller = kv.callers.lock().unwrap()[0].clone();
    assert_eq!(caller.module, guest.name());
    assert_eq!(caller.subject, signed.subject.public_key());
    let text = host.metrics_text();
    let calls = format!(
        "waxosuit_guest_calls_total{{module=\"{}\"}} 2",
        guest.name()
    );
    assert!(text.contains(&calls), "{text}");
}

#[test]
fn probe_answers_http_and_echo() {
    let host = Host::builder().build().unwrap();
    let guest = host.load(sign_with(&probe(), &[LOGGING]).bytes).unwrap();
    let event = guest
        .call(&Command::new(
            ops::HTTP_SERVER_HANDLE,
            &waxosuit_proto::http::HttpRequest {
                method: "GET".into(),
                path: "/".into(),
                ..Default::default()
            },
        ))
        .unwrap();
    let resp: HttpResponse = event.payload_as().unwrap();
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("hello from probe"));

    let payload = IncrRequest {
        key: "echoed".into(),
        delta: 7,
    };
    let event = guest.call(&Command::new("test/Echo", &payload)).unwrap();
    assert_eq!(event.payload_as::<IncrRequest>().unwrap(), payload);

    let event = guest
        .call(&Command {
            op: "test/NoSuchOp".into(),
            payload: None,
        })
        .unwrap();
    assert!(event.error.is_some(), "{event:?}");
}

#[test]
fn hello_wat_logs_increments_and_answers() {
    let kv = Arc::new(CountingKeyValue::default());
    let host = host_with(&kv);
    let guest = host
        .load(sign_with(&wat_fixture("hello.wat"), &[KEYVALUE, LOGGING]).bytes)
        .unwrap();
    let event = guest
        .call(&Command {
            op: ops::HTTP_SERVER_HANDLE.into(),
            payload: None,
        })
        .unwrap();
    assert!(event.error.is_none(), "{event:?}");
    let resp: HttpResponse = event.payload_as().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(String::from_utf8_lossy(&resp.body), "hello from wat");
    assert_eq!(kv.incrs.load(Ordering::SeqCst), 1);
    assert_eq!(kv.values.lock().unwrap()["hits"], 1);
}

/// A command with a `size`-byte payload.
fn sized(size: usize) -> Command {
    Command {
        op: "test/Size".into(),
        payload: Some(waxosuit_proto::prost_types::Any {
            type_url: "type.googleapis.com/test.Bytes".into(),
            value: vec![7; size],
        }),
    }
}

/// `[allocs, frees]` as counted by `buffer_counter.wat` after a call with a `size`-byte payload.
fn buffer_counts(guest: &Guest, size: usize) -> Vec<u8> {
    guest.call(&sized(size)).unwrap().payload.unwrap().value
}

#[test]
fn the_command_buffer_is_allocated_once_grown_when_needed_and_the_event_never_freed() {
    let host = Host::builder().allow_unsigned(true).build().unwrap();
    let guest = host.load(wat_fixture("buffer_counter.wat")).unwrap();
    // One buffer for the instance's life: no allocation or free per call.
    for _ in 0..5 {
        assert_eq!(buffer_counts(&guest, 10), [1, 0]);
    }
    // A command that does not fit: the old buffer is freed and a larger one allocated...
    assert_eq!(buffer_counts(&guest, 4000), [2, 1]);
    // ...and kept for the small commands that follow.
    assert_eq!(buffer_counts(&guest, 10), [2, 1]);
    // A large command's buffer is given back after its call, so the next one allocates anew.
    assert_eq!(buffer_counts(&guest, 100_000), [3, 2]);
    assert_eq!(buffer_counts(&guest, 10), [4, 3]);
    assert_eq!(buffer_counts(&guest, 10), [4, 3]);
    // ...even when the call fails without losing the instance (a garbage answer).
    let err = guest.call(&sized(300_000)).unwrap_err();
    assert!(err.to_string().contains("not an Event"), "{err}");
    assert_eq!(buffer_counts(&guest, 10), [6, 5]);
}

#[test]
fn unclaimed_capability_is_denied_named_and_counted() {
    let kv = Arc::new(CountingKeyValue::default());
    let host = host_with(&kv);
    let guest = host.load(sign_with(&probe(), &[LOGGING]).bytes).unwrap();
    let event = guest.call(&kv_incr("hits")).unwrap();
    let err = event
        .error
        .expect("a denial must reach the guest as an error");
    let expected = format!(
        "module `{}` calls `waxosuit:keyvalue` but its claims do not list it; re-sign with `cargo wascap sign --cap keyvalue`",
        guest.name()
    );
    assert!(err.message.contains(&expected), "{err:?}");
    assert_eq!(
        kv.incrs.load(Ordering::SeqCst),
        0,
        "the provider must not be called"
    );
    assert_eq!(host.denials(guest.name(), KEYVALUE), 1);
    let line = format!(
        "waxosuit_capability_denials_total{{module=\"{}\",capability=\"waxosuit:keyvalue\"}} 1",
        guest.name()
    );
    assert!(
        host.metrics_text().contains(&line),
        "{}",
        host.metrics_text()
    );
}

#[test]
fn log_without_the_logging_claim_is_dropped_and_counted_not_trapped() {
    let kv = Arc::new(CountingKeyValue::default());
    let host = host_with(&kv);
    // hello.wat logs before its host_call: without the logging claim the message is
    // dropped, the call still succeeds.
    let guest = host
        .load(sign_with(&wat_fixture("hello.wat"), &[KEYVALUE]).bytes)
        .unwrap();
    let event = guest
        .call(&Command {
            op: ops::HTTP_SERVER_HANDLE.into(),
            payload: None,
        })
        .unwrap();
    assert!(event.error.is_none(), "{event:?}");
    assert_eq!(host.denials(guest.name(), LOGGING), 1);
}

#[test]
fn capability_without_a_provider_is_unavailable() {
    let host = Host::builder().build().unwrap();
    let guest = host
        .load(sign_with(&probe(), &[KEYVALUE, LOGGING]).bytes)
        .unwrap();
    let event = guest.call(&kv_incr("hits")).unwrap();
    let err = event.error.expect("error event");
    assert!(
        err.message.contains("`waxosuit:keyvalue` is not available"),
        "{err:?}"
    );
}

#[test]
fn tampered_module_is_refused() {
    let signed = sign_with(&probe(), &[KEYVALUE]);
    let mut bytes = signed.bytes.clone();
    // Flip a byte well inside the code, before the claims section appended at the end.
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    let err = Host::builder().build().unwrap().load(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Claims {
                reason: wascap::VerifyError::HashMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unsigned_module_is_refused_unless_allowed() {
    let err = Host::builder().build().unwrap().load(probe()).unwrap_err();
    assert!(matches!(err, LoadError::Unsigned { .. }), "{err:?}");
    assert!(err.to_string().contains("cargo wascap sign"), "{err}");

    let host = Host::builder().allow_unsigned(true).build().unwrap();
    let guest = host.load(probe()).unwrap();
    assert!(guest.claims().is_none());
    assert!(!guest.report().signed);
    let payload = IncrRequest {
        key: "k".into(),
        delta: 1,
    };
    let event = guest.call(&Command::new("test/Echo", &payload)).unwrap();
    assert_eq!(event.payload_as::<IncrRequest>().unwrap(), payload);
}

#[test]
fn untrusted_issuer_is_refused_and_trusted_accepted() {
    let signed = sign_with(&probe(), &[LOGGING]);
    let stranger = wascap::KeyPair::new_account().public_key();
    let err = Host::builder()
        .trusted_issuers([stranger.clone()])
        .build()
        .unwrap()
        .load(&signed.bytes)
        .unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Claims {
                reason: wascap::VerifyError::UntrustedIssuer { .. },
                ..
            }
        ),
        "{err:?}"
    );
    Host::builder()
        .trusted_issuers([stranger, signed.issuer.public_key()])
        .build()
        .unwrap()
        .load(&signed.bytes)
        .unwrap();
}

#[test]
fn concurrent_calls_use_several_instances() {
    let kv = Arc::new(CountingKeyValue::default());
    let host = Host::builder()
        .provider(Arc::clone(&kv) as Arc<dyn Provider>)
        .limits(runtime_core::Limits {
            max_instances: 4,
            ..Default::default()
        })
        .build()
        .unwrap();
    let guest = host
        .load(sign_with(&probe(), &[KEYVALUE, LOGGING]).bytes)
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let guest = guest.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let event = guest.call(&kv_incr("shared")).unwrap();
                    assert!(event.error.is_none(), "{event:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(kv.incrs.load(Ordering::SeqCst), 100);
    assert_eq!(kv.values.lock().unwrap()["shared"], 100);
    let n = guest.instances();
    assert!((1..=4).contains(&n), "{n} instances");
}

/// TEST DOUBLE: a keyvalue provider whose `Incr` waits until `n` calls are inside it at the
/// same time (or gives up after 20 s with an error event).
struct Gate {
    n: usize,
    arrived: Mutex<usize>,
    all_in: std::sync::Condvar,
}

impl Provider for Gate {
    fn capability_id(&self) -> &str {
        KEYVALUE
    }

    fn call(&self, _caller: &Caller, _command: &Command) -> Event {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_in.notify_all();
        let (arrived, timeout) = self
            .all_in
            .wait_timeout_while(arrived, std::time::Duration::from_secs(20), |a| *a < self.n)
            .unwrap();
        if timeout.timed_out() {
            return Event::error("unavailable", format!("only {} calls arrived", *arrived));
        }
        Event::with_payload(&IncrResponse { value: 1 })
    }
}

#[test]
fn four_calls_run_at_once_in_four_instances() {
    // Each call blocks inside the provider until all four are in: only possible if the
    // pool runs them in four different instances at the same time.
    let gate = Arc::new(Gate {
        n: 4,
        arrived: Mutex::new(0),
        all_in: std::sync::Condvar::new(),
    });
    let host = Host::builder()
        .provider(gate as Arc<dyn Provider>)
        .limits(runtime_core::Limits {
            max_instances: 4,
            ..Default::default()
        })
        .build()
        .unwrap();
    let guest = host
        .load(sign_with(&probe(), &[KEYVALUE, LOGGING]).bytes)
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let guest = guest.clone();
            std::thread::spawn(move || guest.call(&kv_incr("gate")).unwrap())
        })
        .collect();
    for t in threads {
        let event = t.join().unwrap();
        assert!(event.error.is_none(), "{event:?}");
    }
    assert_eq!(guest.instances(), 4);
    assert!(
        host.metrics_text().contains(&format!(
            "waxosuit_guest_instances{{module=\"{}\"}} 4",
            guest.name()
        )),
        "{}",
        host.metrics_text()
    );
}

/// TEST DOUBLE: a keyvalue provider that is slow (300 ms) the first time only.
#[derive(Default)]
struct SlowOnce {
    slept: std::sync::atomic::AtomicBool,
}

impl Provider for SlowOnce {
    fn capability_id(&self) -> &str {
        KEYVALUE
    }

    fn call(&self, _caller: &Caller, _command: &Command) -> Event {
        if !self.slept.swap(true, Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        Event::with_payload(&IncrResponse { value: 1 })
    }
}

#[test]
fn wall_clock_deadline_stops_a_call_stuck_in_a_slow_provider() {
    let host = Host::builder()
        .provider(Arc::new(SlowOnce::default()) as Arc<dyn Provider>)
        .limits(runtime_core::Limits {
            call_timeout: std::time::Duration::from_millis(100),
            ..Default::default()
        })
        .build()
        .unwrap();
    let guest = host
        .load(sign_with(&probe(), &[KEYVALUE, LOGGING]).bytes)
        .unwrap();
    let err = guest.call(&kv_incr("slow")).unwrap_err();
    assert!(
        matches!(err, runtime_core::CallError::DeadlineExceeded { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("wall clock"), "{err}");
    assert_eq!(incr_value(&guest, "slow"), 1);
}

#[test]
fn the_cache_is_keyed_by_code_so_a_lying_token_gains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(CountingKeyValue::default());
    let host = Host::builder()
        .provider(Arc::clone(&kv) as Arc<dyn Provider>)
        .cache_dir(dir.path())
        .build()
        .unwrap();
    let signed = sign_with(&probe(), &[LOGGING]);
    assert_eq!(
        host.load(&signed.bytes).unwrap().report().cache,
        CacheOutcome::Miss
    );

    // The same code signed again, with other claims and keys: same compiled artifact.
    let resigned = sign_with(&probe(), &[LOGGING, KEYVALUE]);
    let guest = host.load(&resigned.bytes).unwrap();
    assert_eq!(guest.report().cache, CacheOutcome::Hit);
    assert_eq!(
        guest.report().module_hash,
        wascap::module_hash(&probe()).unwrap().to_ascii_lowercase()
    );
    assert_eq!(incr_value(&guest, "resigned"), 1);

    // Changed code under the old token: the token still names the cached artifact (which the
    // host fetches while it verifies), but verification refuses the module.
    let mut tampered = signed.bytes.clone();
    let code = probe().len() / 2;
    tampered[code] ^= 0x01;
    let Err(err) = host.load(&tampered) else {
        panic!("a tampered module loaded");
    };
    assert!(matches!(err, LoadError::Claims { .. }), "{err}");
    assert!(err.to_string().contains("modified after signing"), "{err}");
}

#[test]
fn a_second_token_naming_another_cached_artifact_does_not_swap_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().cache_dir(dir.path()).build().unwrap();
    // The probe's artifact is in the cache.
    let probe_signed = sign_with(&probe(), &[LOGGING]);
    host.load(&probe_signed.bytes).unwrap();

    // The hello guest, validly signed, with the probe's token appended after its own. The
    // first token is the one verified; the trailing one is what the host reads to prefetch
    // an artifact, so it fetches the probe's code — which must not be what runs.
    let hello = wat_fixture("hello.wat");
    let mut smuggler = sign_with(&hello, &[LOGGING]).bytes;
    let probe_token = &probe_signed.bytes[probe().len()..];
    smuggler.extend_from_slice(probe_token);
    assert_eq!(
        wascap::claimed_hash(&smuggler),
        wascap::claimed_hash(&probe_signed.bytes)
    );

    let guest = host.load(&smuggler).unwrap();
    assert_eq!(guest.report().cache, CacheOutcome::Miss);
    assert_eq!(
        guest.report().module_hash,
        wascap::module_hash(&hello).unwrap().to_ascii_lowercase()
    );
    // The probe would echo this payload back; hello answers with its own event.
    let payload = IncrRequest {
        key: "which".into(),
        delta: 1,
    };
    let event = guest.call(&Command::new("test/Echo", &payload)).unwrap();
    assert_ne!(event.payload_as::<IncrRequest>().ok(), Some(payload));
}

#[test]
fn second_load_hits_the_artifact_cache_and_corruption_recompiles() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign_with(&probe(), &[LOGGING]);
    let host = || Host::builder().cache_dir(dir.path()).build().unwrap();

    let first = host().load(&signed.bytes).unwrap();
    assert_eq!(first.report().cache, CacheOutcome::Miss);
    let artifact = first.report().artifact.clone().expect("artifact path");
    assert!(artifact.is_file());

    let second_host = host();
    let second = second_host.load(&signed.bytes).unwrap();
    assert_eq!(second.report().cache, CacheOutcome::Hit);
    assert!(
        second_host
            .metrics_text()
            .contains(r#"waxosuit_artifact_cache_total{outcome="hit"} 1"#)
    );
    let payload = IncrRequest {
        key: "cached".into(),
        delta: 1,
    };
    let event = second.call(&Command::new("test/Echo", &payload)).unwrap();
    assert_eq!(event.payload_as::<IncrRequest>().unwrap(), payload);

    // Corrupt the entry: the next load recompiles (and rewrites it) instead of failing.
    // (The guests map the entry they were loaded from; the host itself never writes an
    // entry in place, only this test does, so they go first.)
    drop((first, second));
    let mut bytes = std::fs::read(&artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    let third = host().load(&signed.bytes).unwrap();
    assert!(
        matches!(third.report().cache, CacheOutcome::Recompiled { .. }),
        "{:?}",
        third.report().cache
    );
    let event = third.call(&Command::new("test/Echo", &payload)).unwrap();
    assert!(event.error.is_none());
    assert_eq!(
        host().load(&signed.bytes).unwrap().report().cache,
        CacheOutcome::Hit
    );

    // Garbage in place of the entry is just as harmless.
    drop(third);
    std::fs::write(&artifact, b"garbage").unwrap();
    let fourth = host().load(&signed.bytes).unwrap();
    assert!(matches!(
        fourth.report().cache,
        CacheOutcome::Recompiled { .. }
    ));
}
