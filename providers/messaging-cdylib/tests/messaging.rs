//! Tests for the `waxosuit:messaging` shell library: built once, loaded with
//! `waxosuit_provider_sdk::loader::load` and driven through the provider C ABI, on the
//! in-process broker and on a real NATS server watched by a subscriber of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use waxo_test_support::servers::{NatsServer, free_port};
use waxosuit_proto::messaging as msg;
use waxosuit_proto::ops;
use waxosuit_provider_sdk::loader::{self, LoadError};
use waxosuit_provider_sdk::serde_json::{Value, json};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, codes};

/// The longest anything may take to happen in these tests.
const EVENTUALLY: Duration = Duration::from_secs(10);

fn caller() -> Caller {
    Caller::new("publisher", "MPUBLISHER")
}

fn publish(provider: &dyn Provider, subject: &str, body: &[u8]) -> Event {
    let request = msg::PublishRequest {
        subject: subject.into(),
        body: body.to_vec(),
        reply_to: String::new(),
    };
    provider.call(&caller(), &Command::new(ops::MSG_PUBLISH, &request))
}

fn request(provider: &dyn Provider, subject: &str, body: &[u8], timeout_ms: u64) -> Event {
    let request = msg::RequestRequest {
        subject: subject.into(),
        body: body.to_vec(),
        timeout_ms,
    };
    provider.call(&caller(), &Command::new(ops::MSG_REQUEST, &request))
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
    assert_eq!(capability, "waxosuit:messaging");
    assert_eq!(
        err.to_string(),
        format!(
            "provider `waxosuit:messaging` from `{}` failed to start: {message}",
            path.display()
        )
    );
    message.clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn inproc_publishes_and_a_request_without_responders_is_unavailable() {
    let lib = common::shell_library();
    for config in [Value::Null, json!({ "backend": "inproc" })] {
        let provider = loader::load(&lib, &config).unwrap();
        assert_eq!(provider.capability_id(), "waxosuit:messaging");

        let event = publish(&*provider, "orders.created", b"{}");
        assert!(event.is_ok(), "{event:?}");
        event.payload_as::<msg::PublishResponse>().unwrap();

        let event = request(&*provider, "prices.quote", b"AAPL", 1000);
        let error = event.error.expect("nobody answers");
        assert_eq!(error.code, codes::UNAVAILABLE);
        assert!(
            error
                .message
                .starts_with("no subscriber listens on subject `prices.quote`"),
            "{}",
            error.message
        );

        let event = publish(&*provider, "orders.*", b"{}");
        assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));
        let event = provider.call(
            &caller(),
            &Command::without_payload("waxosuit:messaging/Deliver"),
        );
        assert_eq!(event.error_code(), Some(codes::UNKNOWN_OPERATION));
    }
}

#[test]
fn nats_publish_reaches_an_outside_subscriber_and_requests_get_replies() {
    let nats = NatsServer::start();
    let rt = runtime();
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let mut orders = rt
        .block_on(client.subscribe("orders.created".to_owned()))
        .unwrap();
    // A responder doubling the number it receives.
    let mut doubles = rt
        .block_on(client.subscribe("math.double".to_owned()))
        .unwrap();
    let responder = client.clone();
    rt.spawn(async move {
        while let Some(message) = doubles.next().await {
            let n: i64 = std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap();
            if let Some(reply) = message.reply {
                responder
                    .publish(reply, (n * 2).to_string().into())
                    .await
                    .unwrap();
            }
        }
    });
    // The subscriptions are registered on the server before the shell publishes.
    rt.block_on(client.flush()).unwrap();

    let lib = common::shell_library();
    let provider = loader::load(&lib, &json!({ "backend": "nats", "url": nats.url() })).unwrap();
    assert_eq!(provider.capability_id(), "waxosuit:messaging");

    let event = publish(&*provider, "orders.created", b"order 7");
    assert!(event.is_ok(), "{event:?}");
    let received = rt
        .block_on(async { tokio::time::timeout(EVENTUALLY, orders.next()).await })
        .expect("the subscriber got the message in time")
        .expect("the subscription is open");
    assert_eq!(received.subject.as_str(), "orders.created");
    assert_eq!(&received.payload[..], b"order 7");

    let event = request(&*provider, "math.double", b"21", 5000);
    assert!(event.is_ok(), "{event:?}");
    let reply = event
        .payload_as::<msg::RequestResponse>()
        .unwrap()
        .reply
        .expect("a reply message");
    assert_eq!(reply.body, b"42");

    let event = request(&*provider, "nobody.home", b"?", 2000);
    assert_eq!(event.error_code(), Some(codes::UNAVAILABLE), "{event:?}");
}

#[test]
fn an_unreachable_nats_server_fails_the_load_naming_it() {
    let lib = common::shell_library();
    let url = format!("nats://127.0.0.1:{}", free_port());
    let message = init_message(
        &lib,
        load_err(&lib, &json!({ "backend": "nats", "url": url })),
    );
    assert!(
        message.starts_with(&format!("nats at `{url}` is unavailable: ")),
        "{message}"
    );
}

#[test]
fn bad_config_is_an_init_error_saying_what_to_write() {
    let lib = common::shell_library();
    let message = init_message(
        &lib,
        load_err(&lib, &json!({ "backend": "nats", "uri": "nats://h:4222" })),
    );
    assert!(
        message.starts_with("invalid messaging config: unknown field `uri`, expected"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "use e.g. `{ backend = \"inproc\" }` or `{ backend = \"nats\", url = \
             \"nats://127.0.0.1:4222\" }`"
        ),
        "{message}"
    );

    let message = init_message(&lib, load_err(&lib, &json!({ "backend": "nats" })));
    assert_eq!(
        message,
        "invalid messaging config: `backend = \"nats\"` needs the server `url`, e.g. \
         `nats://127.0.0.1:4222`"
    );

    let message = init_message(
        &lib,
        load_err(
            &lib,
            &json!({ "backend": "nats", "url": "nats://bad host:1" }),
        ),
    );
    assert!(
        message.starts_with("`nats://bad host:1` is not a NATS server URL"),
        "{message}"
    );
}
