//! Tests for the `waxosuit:keyvalue` shell library: built once, loaded with
//! `waxosuit_provider_sdk::loader::load` and driven through the provider C ABI, on the
//! embedded redb store and on a real Redis server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use waxo_test_support::servers::RedisServer;
use waxosuit_proto::keyvalue as kv;
use waxosuit_proto::ops;
use waxosuit_provider_sdk::loader::{self, LoadError};
use waxosuit_provider_sdk::serde_json::{Value, json};
use waxosuit_provider_sdk::{Caller, Command, Provider, codes};

fn caller() -> Caller {
    Caller::new("counter", "MCOUNTER")
}

fn set(provider: &dyn Provider, key: &str, value: &[u8]) {
    let request = kv::SetRequest {
        key: key.into(),
        value: value.to_vec(),
        ttl_seconds: 0,
    };
    let event = provider.call(&caller(), &Command::new(ops::KV_SET, &request));
    assert!(event.is_ok(), "{event:?}");
}

fn get(provider: &dyn Provider, key: &str) -> Option<Vec<u8>> {
    let request = kv::GetRequest { key: key.into() };
    let event = provider.call(&caller(), &Command::new(ops::KV_GET, &request));
    assert!(event.is_ok(), "{event:?}");
    let response: kv::GetResponse = event.payload_as().unwrap();
    response.found.then_some(response.value)
}

fn incr(provider: &dyn Provider, key: &str, delta: i64) -> i64 {
    let request = kv::IncrRequest {
        key: key.into(),
        delta,
    };
    let event = provider.call(&caller(), &Command::new(ops::KV_INCR, &request));
    assert!(event.is_ok(), "{event:?}");
    event.payload_as::<kv::IncrResponse>().unwrap().value
}

fn load_err(path: &Path, config: &Value) -> LoadError {
    match loader::load(path, config) {
        Ok(p) => panic!("`{}` loaded as `{}`", path.display(), p.capability_id()),
        Err(e) => e,
    }
}

/// The message of an `Init` error from the shell, checking the rest of the error.
fn init_message(path: &Path, err: LoadError) -> String {
    let LoadError::Init {
        capability,
        message,
        ..
    } = &err
    else {
        panic!("not an init error: {err:?}");
    };
    assert_eq!(capability, "waxosuit:keyvalue");
    assert_eq!(
        err.to_string(),
        format!(
            "provider `waxosuit:keyvalue` from `{}` failed to start: {message}",
            path.display()
        )
    );
    message.clone()
}

#[test]
fn embedded_store_persists_across_provider_instances() {
    let lib = common::shell_library();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data/kv.redb");
    let config = json!({ "backend": "embedded", "path": file });

    let provider = loader::load(&lib, &config).unwrap();
    assert_eq!(provider.capability_id(), "waxosuit:keyvalue");
    assert_eq!(get(&*provider, "greeting"), None);
    set(&*provider, "greeting", b"hello");
    assert_eq!(incr(&*provider, "hits", 2), 2);
    assert_eq!(incr(&*provider, "hits", 3), 5);
    assert_eq!(get(&*provider, "greeting").as_deref(), Some(&b"hello"[..]));
    // Releases the redb file, which one instance holds open at a time.
    drop(provider);
    assert!(file.is_file(), "no redb file at {}", file.display());

    let reopened = loader::load(&lib, &config).unwrap();
    assert_eq!(get(&*reopened, "greeting").as_deref(), Some(&b"hello"[..]));
    assert_eq!(get(&*reopened, "hits").as_deref(), Some(&b"5"[..]));
    assert_eq!(incr(&*reopened, "hits", 1), 6);
}

#[test]
fn errors_come_back_as_events_with_codes() {
    let lib = common::shell_library();
    let dir = tempfile::tempdir().unwrap();
    let config = json!({ "backend": "embedded", "path": dir.path().join("kv.redb") });
    let provider = loader::load(&lib, &config).unwrap();
    set(&*provider, "name", b"not a number");
    let request = kv::IncrRequest {
        key: "name".into(),
        delta: 1,
    };
    let event = provider.call(&caller(), &Command::new(ops::KV_INCR, &request));
    assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));
    let event = provider.call(
        &caller(),
        &Command::without_payload("waxosuit:keyvalue/Explode"),
    );
    assert_eq!(event.error_code(), Some(codes::UNKNOWN_OPERATION));
}

#[test]
fn redis_store_is_shared_by_instances_on_the_same_server() {
    let redis = RedisServer::start();
    let lib = common::shell_library();
    let config = json!({ "backend": "redis", "url": redis.url() });

    let first = loader::load(&lib, &config).unwrap();
    assert_eq!(first.capability_id(), "waxosuit:keyvalue");
    set(&*first, "greeting", b"hello");
    assert_eq!(incr(&*first, "hits", 40), 40);

    let second = loader::load(&lib, &config).unwrap();
    assert_eq!(get(&*second, "greeting").as_deref(), Some(&b"hello"[..]));
    assert_eq!(incr(&*second, "hits", 2), 42);
    drop(second);
    // The first instance keeps its runtime and connection after the second is gone.
    assert_eq!(get(&*first, "hits").as_deref(), Some(&b"42"[..]));
}

#[test]
fn redis_down_is_an_unavailable_event_naming_the_server() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let lib = common::shell_library();
    // The client connects lazily: loading succeeds while Redis is down.
    redis.kill();
    let provider = loader::load(&lib, &json!({ "backend": "redis", "url": url })).unwrap();
    let request = kv::GetRequest { key: "k".into() };
    let event = provider.call(&caller(), &Command::new(ops::KV_GET, &request));
    let error = event.error.expect("redis is down");
    assert_eq!(error.code, codes::UNAVAILABLE);
    assert!(
        error.message.contains(&format!("`{url}`")),
        "{}",
        error.message
    );
}

#[test]
fn bad_config_is_an_init_error_saying_what_to_write() {
    let lib = common::shell_library();
    let message = init_message(
        &lib,
        load_err(&lib, &json!({ "backend": "embedded", "pth": "kv.redb" })),
    );
    assert!(
        message.starts_with("invalid keyvalue config: unknown field `pth`, expected one of"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "use e.g. `{ backend = \"embedded\", path = \"/srv/app/.waxo/kv.redb\" }` or \
             `{ backend = \"redis\", url = \"redis://127.0.0.1:6379/\" }`"
        ),
        "{message}"
    );

    let message = init_message(&lib, load_err(&lib, &Value::Null));
    assert!(
        message.starts_with("invalid keyvalue config: `backend` is missing; use e.g."),
        "{message}"
    );

    let message = init_message(&lib, load_err(&lib, &json!({ "backend": "redis" })));
    assert_eq!(
        message,
        "invalid keyvalue config: `backend = \"redis\"` needs the server `url`, e.g. \
         `redis://127.0.0.1:6379/`"
    );

    let message = init_message(
        &lib,
        load_err(&lib, &json!({ "backend": "redis", "url": "http://nope" })),
    );
    assert!(
        message.starts_with("invalid keyvalue config: `http://nope` is not a Redis URL"),
        "{message}"
    );
}

#[test]
fn an_unusable_embedded_path_is_an_init_error_naming_it() {
    let lib = common::shell_library();
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the store's directory should be.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let file = blocker.join("kv.redb");
    let err = load_err(&lib, &json!({ "backend": "embedded", "path": file }));
    let message = init_message(&lib, err);
    assert!(
        message.starts_with(&format!(
            "cannot create the directory `{}` for the key-value file",
            blocker.display()
        )),
        "{message}"
    );
}
