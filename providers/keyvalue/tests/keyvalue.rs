//! Tests for the key-value stores and provider: one behavioural suite run against the embedded
//! redb store and a real Redis, plus TTL expiry, Redis crash/restart and redb crash durability.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::runtime::Runtime;
use waxo_test_support::servers::RedisServer;
use waxosuit_keyvalue::{
    KeyValueProvider, KvError, RedbStore, RedisConfig, RedisStore, Store, namespace,
};
use waxosuit_proto::{keyvalue as kv, ops, v1::Command};
use waxosuit_provider_sdk::{Caller, Event, Provider};

/// The longest anything may take to become true in a polling loop.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// A store under test with whatever keeps it alive.
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<TempDir>,
    redis: Option<RedisServer>,
    _rt: Option<Runtime>,
}

impl Backend {
    fn redb() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join(".waxo/kv.redb")).unwrap();
        Self {
            store: Arc::new(store),
            _dir: Some(dir),
            redis: None,
            _rt: None,
        }
    }

    fn redis() -> Self {
        let server = RedisServer::start();
        let rt = runtime();
        let store = RedisStore::new(RedisConfig::new(server.url()), rt.handle().clone()).unwrap();
        store.ping().unwrap();
        Self {
            store: Arc::new(store),
            _dir: None,
            redis: Some(server),
            _rt: Some(rt),
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs each named suite function against both backends, as tests `<suite>::redb` and
/// `<suite>::redis`.
macro_rules! on_both_backends {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[test]
            fn redb() {
                let backend = super::Backend::redb();
                super::$suite(&backend);
            }
            #[test]
            fn redis() {
                let backend = super::Backend::redis();
                super::$suite(&backend);
            }
        }
    )*};
}

on_both_backends!(
    store_operations,
    concurrent_increments_are_atomic,
    provider_operations,
    provider_rejects_bad_commands,
    ttl_keys_eventually_disappear,
);

fn store_operations(b: &Backend) {
    let s = b.store.as_ref();
    assert_eq!(s.get("a").unwrap(), None);
    assert!(!s.exists("a").unwrap());

    s.set("a", b"one", None).unwrap();
    assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"one"[..]));
    assert!(s.exists("a").unwrap());
    s.set("a", b"two", None).unwrap();
    assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"two"[..]));

    // Binary and empty values survive as they are.
    s.set("bin", &[0, 255, 10, 13], None).unwrap();
    assert_eq!(s.get("bin").unwrap().unwrap(), vec![0, 255, 10, 13]);
    s.set("empty", b"", None).unwrap();
    assert_eq!(s.get("empty").unwrap(), Some(Vec::new()));
    assert!(s.exists("empty").unwrap());

    assert!(s.delete("a").unwrap());
    assert!(!s.delete("a").unwrap());
    assert_eq!(s.get("a").unwrap(), None);

    // Incr: a missing key counts as 0; integers are stored as decimal text.
    assert_eq!(s.incr("n", 5).unwrap(), 5);
    assert_eq!(s.incr("n", -7).unwrap(), -2);
    assert_eq!(s.get("n").unwrap().as_deref(), Some(&b"-2"[..]));
    s.set("m", b"41", None).unwrap();
    assert_eq!(s.incr("m", 1).unwrap(), 42);
    assert_eq!(
        s.incr("bin", 1).unwrap_err(),
        KvError::NotAnInteger { key: "bin".into() }
    );
    s.set("big", i64::MAX.to_string().as_bytes(), None).unwrap();
    assert!(matches!(
        s.incr("big", 1).unwrap_err(),
        KvError::Overflow { .. }
    ));
    assert_eq!(
        s.get("big").unwrap().unwrap(),
        i64::MAX.to_string().as_bytes()
    );

    // ListKeys: by prefix, sorted; glob characters are plain characters.
    for k in ["user/2", "user/1", "users", "x*y", "xzy"] {
        s.set(k, b"v", None).unwrap();
    }
    assert_eq!(s.list_keys("user/").unwrap(), vec!["user/1", "user/2"]);
    assert_eq!(
        s.list_keys("user").unwrap(),
        vec!["user/1", "user/2", "users"]
    );
    assert_eq!(s.list_keys("x*").unwrap(), vec!["x*y"]);
    assert_eq!(s.list_keys("nothing").unwrap(), Vec::<String>::new());
    let all = s.list_keys("").unwrap();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted: {all:?}");
    assert!(all.contains(&"n".to_owned()) && all.contains(&"empty".to_owned()));
}

fn concurrent_increments_are_atomic(b: &Backend) {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&b.store);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store.incr("counter", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        b.store.get("counter").unwrap().as_deref(),
        Some(&b"100"[..])
    );
}

fn call<T: waxosuit_proto::prost::Name + Default>(
    p: &KeyValueProvider,
    caller: &Caller,
    op: &str,
    msg: &impl waxosuit_proto::prost::Name,
) -> T {
    let event = p.call(caller, &Command::new(op, msg));
    assert!(event.is_ok(), "{op} failed: {:?}", event.error);
    event.payload_as::<T>().unwrap()
}

fn set(p: &KeyValueProvider, caller: &Caller, key: &str, value: &[u8]) {
    let _: kv::SetResponse = call(
        p,
        caller,
        ops::KV_SET,
        &kv::SetRequest {
            key: key.into(),
            value: value.to_vec(),
            ttl_seconds: 0,
        },
    );
}

fn get(p: &KeyValueProvider, caller: &Caller, key: &str) -> Option<Vec<u8>> {
    let r: kv::GetResponse = call(p, caller, ops::KV_GET, &kv::GetRequest { key: key.into() });
    r.found.then_some(r.value)
}

fn list(p: &KeyValueProvider, caller: &Caller, prefix: &str) -> Vec<String> {
    let r: kv::ListKeysResponse = call(
        p,
        caller,
        ops::KV_LIST_KEYS,
        &kv::ListKeysRequest {
            prefix: prefix.into(),
        },
    );
    r.keys
}

fn provider_operations(b: &Backend) {
    let p = KeyValueProvider::new(Arc::clone(&b.store));
    assert_eq!(p.capability_id(), "waxosuit:keyvalue");
    let alice = Caller::new("alice", "MALICE");
    let bob = Caller::new("bob", "MBOB");
    let dev = Caller::new("alice", ""); // unsigned, same name as a signed module

    set(&p, &alice, "k", b"from alice");
    set(&p, &bob, "k", b"from bob");
    set(&p, &alice, "k2", b"x");
    assert_eq!(get(&p, &alice, "k").unwrap(), b"from alice");
    assert_eq!(get(&p, &bob, "k").unwrap(), b"from bob");
    assert_eq!(
        get(&p, &dev, "k"),
        None,
        "unsigned modules get their own namespace"
    );
    assert_eq!(list(&p, &alice, ""), vec!["k", "k2"]);
    assert_eq!(list(&p, &bob, ""), vec!["k"]);
    assert_eq!(list(&p, &dev, ""), Vec::<String>::new());
    // The raw store sees the namespaced keys.
    assert_eq!(
        b.store.list_keys(&namespace(&alice)).unwrap(),
        vec!["MALICE/k", "MALICE/k2"]
    );

    let e: kv::ExistsResponse = call(
        &p,
        &bob,
        ops::KV_EXISTS,
        &kv::ExistsRequest { key: "k".into() },
    );
    assert!(e.exists);
    let d: kv::DeleteResponse = call(
        &p,
        &bob,
        ops::KV_DELETE,
        &kv::DeleteRequest { key: "k".into() },
    );
    assert!(d.existed);
    let d: kv::DeleteResponse = call(
        &p,
        &bob,
        ops::KV_DELETE,
        &kv::DeleteRequest { key: "k".into() },
    );
    assert!(!d.existed);
    assert_eq!(
        get(&p, &alice, "k").unwrap(),
        b"from alice",
        "bob's delete stays in bob's namespace"
    );

    let i: kv::IncrResponse = call(
        &p,
        &dev,
        ops::KV_INCR,
        &kv::IncrRequest {
            key: "hits".into(),
            delta: 3,
        },
    );
    assert_eq!(i.value, 3);
    let i: kv::IncrResponse = call(
        &p,
        &dev,
        ops::KV_INCR,
        &kv::IncrRequest {
            key: "hits".into(),
            delta: 4,
        },
    );
    assert_eq!(i.value, 7);

    // A non-integer under Incr names the guest's key, not the namespaced one.
    let event = p.call(
        &alice,
        &Command::new(
            ops::KV_INCR,
            &kv::IncrRequest {
                key: "k".into(),
                delta: 1,
            },
        ),
    );
    assert_eq!(event.error_code(), Some("invalid_argument"));
    let message = event.error.unwrap().message;
    assert!(message.contains("key `k`"), "{message}");
    assert!(!message.contains("MALICE"), "{message}");
}

fn expect_error(event: Event, code: &str, needle: &str) {
    let error = event
        .error
        .unwrap_or_else(|| panic!("expected a `{code}` error"));
    assert_eq!(error.code, code, "{}", error.message);
    assert!(
        error.message.contains(needle),
        "`{needle}` not in: {}",
        error.message
    );
}

fn provider_rejects_bad_commands(b: &Backend) {
    let p = KeyValueProvider::new(Arc::clone(&b.store));
    let c = Caller::new("m", "MM");
    expect_error(
        p.call(
            &c,
            &Command::new("waxosuit:keyvalue/Frobnicate", &kv::GetRequest::default()),
        ),
        "unknown_operation",
        "Frobnicate",
    );
    expect_error(
        p.call(&c, &Command::new(ops::KV_GET, &kv::SetRequest::default())),
        "invalid_argument",
        "SetRequest",
    );
    expect_error(
        p.call(&c, &Command::without_payload(ops::KV_SET)),
        "invalid_argument",
        "no payload",
    );
    expect_error(
        p.call(
            &c,
            &Command::new(ops::KV_GET, &kv::GetRequest { key: String::new() }),
        ),
        "invalid_argument",
        "non-empty key",
    );
}

fn ttl_keys_eventually_disappear(b: &Backend) {
    let p = KeyValueProvider::new(Arc::clone(&b.store));
    let c = Caller::new("m", "MTTL");
    let _: kv::SetResponse = call(
        &p,
        &c,
        ops::KV_SET,
        &kv::SetRequest {
            key: "session".into(),
            value: b"s".to_vec(),
            ttl_seconds: 1,
        },
    );
    set(&p, &c, "forever", b"f");
    b.store
        .set("MTTL/counter", b"10", Some(Duration::from_secs(1)))
        .unwrap();
    // Incr keeps the key's time to live.
    assert_eq!(b.store.incr("MTTL/counter", 5).unwrap(), 15);

    let deadline = Instant::now() + EVENTUALLY;
    while get(&p, &c, "session").is_some() || b.store.exists("MTTL/counter").unwrap() {
        assert!(
            Instant::now() < deadline,
            "keys with a 1 s TTL still there after {EVENTUALLY:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let e: kv::ExistsResponse = call(
        &p,
        &c,
        ops::KV_EXISTS,
        &kv::ExistsRequest {
            key: "session".into(),
        },
    );
    assert!(!e.exists);
    assert_eq!(list(&p, &c, ""), vec!["forever"]);
    // An expired counter counts from zero again.
    assert_eq!(b.store.incr("MTTL/counter", 1).unwrap(), 1);
    assert_eq!(get(&p, &c, "forever").unwrap(), b"f");
}

/// Runs `f` on another thread and fails the test if it does not finish within `EVENTUALLY`.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(EVENTUALLY)
        .unwrap_or_else(|_| panic!("the call hung for more than {EVENTUALLY:?}"))
}

#[test]
fn redis_killed_gives_unavailable_then_recovers_after_restart() {
    let mut backend = Backend::redis();
    let url = backend.redis.as_ref().unwrap().url();
    let p = Arc::new(KeyValueProvider::new(Arc::clone(&backend.store)));
    let c = Caller::new("m", "MFAULT");
    set(&p, &c, "before", b"1");

    backend.redis.as_mut().unwrap().kill();
    for op in 0..3 {
        let p2 = Arc::clone(&p);
        let c2 = c.clone();
        let event = bounded(move || {
            p2.call(
                &c2,
                &Command::new(
                    ops::KV_SET,
                    &kv::SetRequest {
                        key: format!("during{op}"),
                        value: b"x".to_vec(),
                        ttl_seconds: 0,
                    },
                ),
            )
        });
        expect_error(event, "unavailable", &url);
    }

    backend.redis.as_mut().unwrap().restart();
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let p2 = Arc::clone(&p);
        let c2 = c.clone();
        let event = bounded(move || {
            p2.call(
                &c2,
                &Command::new(
                    ops::KV_SET,
                    &kv::SetRequest {
                        key: "after".into(),
                        value: b"2".to_vec(),
                        ttl_seconds: 0,
                    },
                ),
            )
        });
        if event.is_ok() {
            break;
        }
        assert_eq!(event.error_code(), Some("unavailable"));
        assert!(
            Instant::now() < deadline,
            "redis calls still fail {EVENTUALLY:?} after the restart: {:?}",
            event.error
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&p, &c, "after").unwrap(), b"2");
}

/// Environment variable telling [`durability_child_writer`] which redb file to write.
const CHILD_ENV: &str = "WAXO_KV_DURABILITY_FILE";

#[test]
fn redb_acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".waxo/kv.redb");
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args([
            "durability_child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut killed = false;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.push(n.parse::<u32>().unwrap());
        }
        if acked.len() == 40 && !killed {
            // SIGKILL mid-stream; keep reading: acks already printed must be durable too.
            child.kill().unwrap();
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        killed,
        "the writer stopped before acknowledging 40 keys ({status})"
    );
    assert!(acked.len() >= 40);

    let store = RedbStore::open(&path).unwrap();
    for n in &acked {
        assert_eq!(
            store.get(&format!("key-{n}")).unwrap(),
            Some(format!("value-{n}").into_bytes()),
            "acknowledged key-{n} lost after SIGKILL ({} acknowledged)",
            acked.len()
        );
    }
    assert_eq!(
        store.get("counter").unwrap().map(|v| String::from_utf8(v)
            .unwrap()
            .parse::<u32>()
            .unwrap()
            >= *acked.last().unwrap()),
        Some(true),
        "the counter lost acknowledged increments"
    );
}

/// The child process of [`redb_acknowledged_writes_survive_sigkill`]: writes keys forever,
/// printing `ACK <n>` after each write returns. Runs only when that test starts it.
#[test]
#[ignore = "child process of redb_acknowledged_writes_survive_sigkill"]
fn durability_child_writer() {
    let path = std::env::var_os(CHILD_ENV).unwrap_or_else(|| {
        panic!("run by redb_acknowledged_writes_survive_sigkill, which sets {CHILD_ENV}")
    });
    let store = RedbStore::open(path).unwrap();
    for n in 1..100_000u32 {
        store
            .set(&format!("key-{n}"), format!("value-{n}").as_bytes(), None)
            .unwrap();
        store.incr("counter", 1).unwrap();
        println!("ACK {n}");
    }
}
