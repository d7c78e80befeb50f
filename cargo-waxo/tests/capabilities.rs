//! Tests for capability wiring in `cargo waxo run` (the `App` it starts): each capability is
//! unreachable without its claim — with the real providers configured — and reachable with it,
//! including a provider loaded from a dynamic library written from the book's guide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;

use cargo_waxo::app::{App, AppOptions};
use cargo_waxo::config::Config;
use waxo_test_support::{guest_wasm, sign_with};
use waxosuit_proto::http::HttpClientRequest;
use waxosuit_proto::v1::{Command, Event};
use waxosuit_proto::{codes, keyvalue, messaging, ops};

/// Starts the probe guest, signed with `caps`, wired by `config` (a waxo.toml text).
fn start(dir: &Path, caps: &[&str], config: &str) -> (tokio::runtime::Runtime, App) {
    let signed = sign_with(&std::fs::read(guest_wasm("probe")).unwrap(), caps);
    let module = dir.join("probe_s.wasm");
    std::fs::write(&module, &signed.bytes).unwrap();
    let opts = AppOptions {
        module,
        config: Config::parse(config, dir).unwrap(),
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        metrics: None,
        allow_unsigned: false,
        trust: Vec::new(),
        cache_dir: Some(dir.join("cache")),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(App::start(opts, rt.handle().clone())).unwrap();
    (rt, app)
}

/// What the host answers when the probe sends `inner` through `host_call`.
fn host_call(app: &App, inner: &Command) -> Event {
    app.guest()
        .call(&Command::new("test/HostCall", inner))
        .unwrap()
}

fn wired(dir: &Path) -> String {
    format!(
        "[keyvalue]\npath = \"{}\"\n[http_client]\nallow = [\"127.0.0.1\"]\n",
        dir.join("kv.redb").display()
    )
}

#[test]
fn no_capability_is_reachable_without_its_claim() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, app) = start(dir.path(), &["logging"], &wired(dir.path()));
    let attempts = [
        (
            "waxosuit:keyvalue",
            Command::new(
                ops::KV_INCR,
                &keyvalue::IncrRequest {
                    key: "k".into(),
                    delta: 1,
                },
            ),
        ),
        (
            "waxosuit:messaging",
            Command::new(
                ops::MSG_PUBLISH,
                &messaging::PublishRequest {
                    subject: "s".into(),
                    ..Default::default()
                },
            ),
        ),
        (
            "waxosuit:http_client",
            Command::new(
                ops::HTTP_CLIENT_REQUEST,
                &HttpClientRequest::get("http://127.0.0.1:1/"),
            ),
        ),
    ];
    for (capability, command) in &attempts {
        let event = host_call(&app, command);
        assert_eq!(
            event.error_code(),
            Some(codes::DENIED),
            "{capability}: {event:?}"
        );
        let message = &event.error.as_ref().unwrap().message;
        assert!(
            message.contains(capability) && message.contains("cargo wascap sign --cap"),
            "{message}"
        );
    }
    // Unclaimed capabilities are not even started: no HTTP server, no store file.
    assert!(app.http_addr().is_none());
    assert!(!dir.path().join("kv.redb").exists());
    rt.block_on(app.shutdown());
}

#[test]
fn claimed_capabilities_reach_real_providers() {
    let dir = tempfile::tempdir().unwrap();
    let caps = [
        "keyvalue",
        "messaging",
        "http_client",
        "http_server",
        "logging",
    ];
    let (rt, app) = start(dir.path(), &caps, &wired(dir.path()));
    let incr = Command::new(
        "test/KvIncr",
        &keyvalue::IncrRequest {
            key: "hits".into(),
            delta: 2,
        },
    );
    for expected in [2, 4] {
        let event = app.guest().call(&incr).unwrap();
        let value = event.payload_as::<keyvalue::IncrResponse>().unwrap().value;
        assert_eq!(value, expected);
    }
    assert!(dir.path().join("kv.redb").is_file());
    let publish = Command::new(
        "test/Publish",
        &messaging::PublishRequest {
            subject: "events".into(),
            body: b"x".to_vec(),
            ..Default::default()
        },
    );
    assert!(app.guest().call(&publish).unwrap().is_ok());
    // The guest fetches from its own HTTP server through the HTTP client: both ends real.
    let url = format!("http://{}/hi", app.http_addr().unwrap());
    let fetch = Command::new("test/HttpGet", &HttpClientRequest::get(url));
    let event = app.guest().call(&fetch).unwrap();
    let response: waxosuit_proto::http::HttpResponse = event.payload_as().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(String::from_utf8_lossy(&response.body), "hello from probe");
    // Off the allow-list: denied by the HTTP client provider itself.
    let far = Command::new(
        "test/HttpGet",
        &HttpClientRequest::get("http://localhost:1/"),
    );
    let event = app.guest().call(&far).unwrap();
    assert!(
        event.error.as_ref().unwrap().message.contains("allow-list"),
        "{event:?}"
    );
    rt.block_on(app.shutdown());
}

#[test]
fn a_provider_library_from_the_guide_serves_guests_that_claim_it() {
    let library = waxo_test_support::providers::echo_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[[provider]]\npath = \"{}\"\n", library.display());
    let echo = Command::new(
        "acme:echo/Echo",
        &keyvalue::GetRequest {
            key: "through the C ABI".into(),
        },
    );
    let (rt, app) = start(dir.path(), &["acme:echo"], &config);
    let event = host_call(&app, &echo);
    assert!(event.is_ok(), "{event:?}");
    assert_eq!(
        event.payload_as::<keyvalue::GetRequest>().unwrap().key,
        "through the C ABI"
    );
    rt.block_on(app.shutdown());

    // Without the claim the library is not started, and the call is denied.
    let (rt, app) = start(dir.path(), &["logging"], &config);
    assert_eq!(host_call(&app, &echo).error_code(), Some(codes::DENIED));
    rt.block_on(app.shutdown());
}
