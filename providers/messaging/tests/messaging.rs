//! Tests for the messaging brokers and provider: one behavioural suite run against the
//! in-process broker and a real NATS server, plus a NATS crash/restart test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use waxo_test_support::servers::NatsServer;
use waxosuit_messaging::{
    Broker, Handler, InProcBroker, Message, MessagingError, MessagingProvider, NatsBroker,
    NatsConfig,
};
use waxosuit_proto::{messaging as msg, ops, v1::Command};
use waxosuit_provider_sdk::{Caller, Event, Provider};

/// The longest anything may take to happen in these tests.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// A broker under test with whatever keeps it alive.
struct Backend {
    broker: Arc<dyn Broker>,
    nats: Option<NatsServer>,
    _rt: Option<Runtime>,
}

impl Backend {
    fn inproc() -> Self {
        Self {
            broker: Arc::new(InProcBroker::new()),
            nats: None,
            _rt: None,
        }
    }

    fn nats() -> Self {
        let server = NatsServer::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config = NatsConfig::new(server.url());
        config.timeout = Duration::from_secs(1);
        let broker = NatsBroker::connect(config, rt.handle().clone()).unwrap();
        Self {
            broker: Arc::new(broker),
            nats: Some(server),
            _rt: Some(rt),
        }
    }
}

/// Runs each named suite function against both brokers, as tests `<suite>::inproc` and
/// `<suite>::nats`.
macro_rules! on_both_brokers {
    ($($suite:ident),* $(,)?) => {$(
        mod $suite {
            #[test]
            fn inproc() {
                super::$suite(&super::Backend::inproc());
            }
            #[test]
            fn nats() {
                super::$suite(&super::Backend::nats());
            }
        }
    )*};
}

on_both_brokers!(
    publish_reaches_subscribers,
    wildcards_select_subjects,
    queue_group_delivers_each_message_once,
    request_gets_the_reply,
    request_without_reply_times_out,
    request_without_subscriber_fails_fast,
    dropped_subscription_stops_deliveries,
    provider_publish_and_request,
    provider_rejects_bad_commands,
    panicking_handler_keeps_the_subscription,
);

/// A handler forwarding every message to the returned receiver.
fn collector() -> (Handler, Receiver<Message>) {
    let (tx, rx) = mpsc::channel();
    let handler: Handler = Arc::new(move |m: Message| {
        let _ = tx.send(m);
        None
    });
    (handler, rx)
}

fn recv(rx: &Receiver<Message>) -> Message {
    rx.recv_timeout(EVENTUALLY)
        .unwrap_or_else(|_| panic!("no message within {EVENTUALLY:?}"))
}

/// Bodies received up to and including the message with body `end`.
fn bodies_until_end(rx: &Receiver<Message>) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let body = String::from_utf8(recv(rx).body).unwrap();
        let end = body == "end";
        bodies.push(body);
        if end {
            return bodies;
        }
    }
}

/// An echo service on `subject`: replies `echo: <body>`.
fn echo(b: &Backend, subject: &str) -> waxosuit_messaging::Subscription {
    b.broker
        .subscribe(
            subject,
            None,
            Arc::new(|m: Message| {
                let mut body = b"echo: ".to_vec();
                body.extend_from_slice(&m.body);
                Some(Message {
                    body,
                    ..Message::default()
                })
            }),
        )
        .unwrap()
}

fn publish_reaches_subscribers(b: &Backend) {
    let (h1, rx1) = collector();
    let (h2, rx2) = collector();
    let _s1 = b.broker.subscribe("greet", None, h1).unwrap();
    let _s2 = b.broker.subscribe("greet", None, h2).unwrap();
    b.broker
        .publish("greet", b"hello", Some("answers.here"))
        .unwrap();
    b.broker.publish("greet", &[0, 255], None).unwrap();
    for rx in [&rx1, &rx2] {
        let m = recv(rx);
        assert_eq!(
            (m.subject.as_str(), m.body.as_slice(), m.reply_to.as_str()),
            ("greet", &b"hello"[..], "answers.here")
        );
        let m = recv(rx);
        assert_eq!(
            (m.body.as_slice(), m.reply_to.as_str()),
            (&[0, 255][..], "")
        );
    }
}

fn wildcards_select_subjects(b: &Backend) {
    let patterns = ["a.*", "a.>", "a.b", "*.b"];
    let subs: Vec<_> = patterns
        .iter()
        .map(|p| {
            let (h, rx) = collector();
            (b.broker.subscribe(p, None, h).unwrap(), rx)
        })
        .collect();
    for (subject, body) in [
        ("a.b", "1"),
        ("a.b.c", "2"),
        ("a.x", "3"),
        ("b.b", "4"),
        ("a", "5"),
    ] {
        b.broker.publish(subject, body.as_bytes(), None).unwrap();
    }
    b.broker.publish("a.b", b"end", None).unwrap();
    let expected = [
        vec!["1", "3", "end"],
        vec!["1", "2", "3", "end"],
        vec!["1", "end"],
        vec!["1", "4", "end"],
    ];
    for ((pattern, (_sub, rx)), want) in patterns.iter().zip(&subs).zip(expected) {
        assert_eq!(bodies_until_end(rx), want, "subscription `{pattern}`");
    }
}

fn queue_group_delivers_each_message_once(b: &Backend) {
    let (h1, rx1) = collector();
    let (h2, rx2) = collector();
    let (h_all, rx_all) = collector();
    let _m1 = b
        .broker
        .subscribe("jobs", Some("workers".into()), h1)
        .unwrap();
    let _m2 = b
        .broker
        .subscribe("jobs", Some("workers".into()), h2)
        .unwrap();
    let _all = b.broker.subscribe("jobs", None, h_all).unwrap();
    for n in 0..40 {
        b.broker
            .publish("jobs", n.to_string().as_bytes(), None)
            .unwrap();
    }
    // A plain subscriber still gets everything.
    for n in 0..40 {
        assert_eq!(recv(&rx_all).body, n.to_string().into_bytes());
    }
    let mut seen = HashSet::new();
    let (mut got1, mut got2) = (0, 0);
    let deadline = Instant::now() + EVENTUALLY;
    while seen.len() < 40 {
        assert!(
            Instant::now() < deadline,
            "only {} of 40 jobs delivered",
            seen.len()
        );
        for (rx, count) in [(&rx1, &mut got1), (&rx2, &mut got2)] {
            while let Ok(m) = rx.try_recv() {
                *count += 1;
                assert!(
                    seen.insert(m.body.clone()),
                    "job {:?} delivered twice",
                    m.body
                );
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got1 + got2, 40);
    assert!(
        got1 > 0 && got2 > 0,
        "one member got every job ({got1}, {got2})"
    );
}

fn request_gets_the_reply(b: &Backend) {
    let _svc = echo(b, "svc.echo");
    let reply = b.broker.request("svc.echo", b"ping", EVENTUALLY).unwrap();
    assert_eq!(reply.body, b"echo: ping");
    // Queue-group services answer requests too, once.
    let _grouped = b
        .broker
        .subscribe(
            "svc.grouped",
            Some("g".into()),
            Arc::new(|_| {
                Some(Message {
                    body: b"from the group".to_vec(),
                    ..Message::default()
                })
            }),
        )
        .unwrap();
    let reply = b.broker.request("svc.grouped", b"", EVENTUALLY).unwrap();
    assert_eq!(reply.body, b"from the group");
}

fn request_without_reply_times_out(b: &Backend) {
    let (silent, _rx) = collector();
    let _s = b.broker.subscribe("svc.silent", None, silent).unwrap();
    let err = b
        .broker
        .request("svc.silent", b"?", Duration::from_millis(300))
        .unwrap_err();
    assert!(matches!(err, MessagingError::Timeout { .. }), "{err:?}");
    assert_eq!(err.code(), "deadline_exceeded");
    assert!(err.to_string().contains("svc.silent"), "{err}");
}

fn request_without_subscriber_fails_fast(b: &Backend) {
    let err = b
        .broker
        .request("svc.nobody", b"?", EVENTUALLY)
        .unwrap_err();
    assert!(
        matches!(err, MessagingError::NoResponders { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("svc.nobody"), "{err}");
}

fn dropped_subscription_stops_deliveries(b: &Backend) {
    let (h_gone, rx_gone) = collector();
    let (h_kept, rx_kept) = collector();
    let gone = b.broker.subscribe("news", None, h_gone).unwrap();
    let _kept = b.broker.subscribe("news", None, h_kept).unwrap();
    b.broker.publish("news", b"first", None).unwrap();
    assert_eq!(recv(&rx_gone).body, b"first");
    gone.unsubscribe();
    b.broker.publish("news", b"second", None).unwrap();
    b.broker.publish("news", b"end", None).unwrap();
    assert_eq!(bodies_until_end(&rx_kept), vec!["first", "second", "end"]);
    assert!(rx_gone.try_recv().is_err(), "delivered after unsubscribe");
}

fn provider_publish_and_request(b: &Backend) {
    let p = MessagingProvider::new(Arc::clone(&b.broker));
    assert_eq!(p.capability_id(), "waxosuit:messaging");
    let caller = Caller::new("pub", "MPUB");

    // The host subscribes a guest; the guest's handler answers requests.
    let (tx, rx) = mpsc::channel();
    let _guest = p
        .subscribe_guest(
            "orders.*",
            Some("order-service".into()),
            Arc::new(move |m: Message| {
                let _ = tx.send(m.clone());
                Some(Message {
                    body: [b"ack ".as_slice(), &m.body].concat(),
                    ..Message::default()
                })
            }),
        )
        .unwrap();

    let event = p.call(
        &caller,
        &Command::new(
            ops::MSG_PUBLISH,
            &msg::PublishRequest {
                subject: "orders.created".into(),
                body: b"42".to_vec(),
                reply_to: String::new(),
            },
        ),
    );
    assert!(event.is_ok(), "{:?}", event.error);
    event.payload_as::<msg::PublishResponse>().unwrap();
    let delivered = recv(&rx);
    assert_eq!(
        (delivered.subject.as_str(), delivered.body.as_slice()),
        ("orders.created", &b"42"[..])
    );

    let event = p.call(
        &caller,
        &Command::new(
            ops::MSG_REQUEST,
            &msg::RequestRequest {
                subject: "orders.get".into(),
                body: b"7".to_vec(),
                timeout_ms: 0,
            },
        ),
    );
    assert!(event.is_ok(), "{:?}", event.error);
    let reply = event
        .payload_as::<msg::RequestResponse>()
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(reply.body, b"ack 7");

    let event = p.call(
        &caller,
        &Command::new(
            ops::MSG_REQUEST,
            &msg::RequestRequest {
                subject: "nobody.home".into(),
                body: Vec::new(),
                timeout_ms: 200,
            },
        ),
    );
    expect_error(event, "unavailable", "nobody.home");
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
    let p = MessagingProvider::new(Arc::clone(&b.broker));
    let caller = Caller::new("m", "MM");
    expect_error(
        p.call(
            &caller,
            &Command::new(ops::MSG_DELIVER, &Message::default()),
        ),
        "unknown_operation",
        "Deliver",
    );
    expect_error(
        p.call(
            &caller,
            &Command::new(ops::MSG_PUBLISH, &msg::RequestRequest::default()),
        ),
        "invalid_argument",
        "RequestRequest",
    );
    expect_error(
        p.call(
            &caller,
            &Command::new(
                ops::MSG_PUBLISH,
                &msg::PublishRequest {
                    subject: "orders.*".into(),
                    ..Default::default()
                },
            ),
        ),
        "invalid_argument",
        "orders.*",
    );
    let err = p
        .subscribe_guest("bad..subject", None, collector().0)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_argument");
}

fn panicking_handler_keeps_the_subscription(b: &Backend) {
    let (tx, rx) = mpsc::channel();
    let _s = b
        .broker
        .subscribe(
            "fragile",
            None,
            Arc::new(move |m: Message| {
                if m.body == b"boom" {
                    panic!("test handler panics on purpose");
                }
                let _ = tx.send(m);
                None
            }),
        )
        .unwrap();
    b.broker.publish("fragile", b"boom", None).unwrap();
    b.broker.publish("fragile", b"fine", None).unwrap();
    assert_eq!(recv(&rx).body, b"fine");
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
fn nats_killed_gives_unavailable_then_work_resumes_after_restart() {
    let mut backend = Backend::nats();
    let url = backend.nats.as_ref().unwrap().url();
    let (handler, rx) = collector();
    let _sub = backend
        .broker
        .subscribe("after.restart", None, handler)
        .unwrap();
    let _svc = echo(&backend, "svc.echo");
    backend
        .broker
        .publish("after.restart", b"before", None)
        .unwrap();
    assert_eq!(recv(&rx).body, b"before");

    backend.nats.as_mut().unwrap().kill();
    for _ in 0..3 {
        let broker = Arc::clone(&backend.broker);
        let err = bounded(move || broker.publish("after.restart", b"lost", None)).unwrap_err();
        assert_eq!(err.code(), "unavailable", "{err}");
        assert!(err.to_string().contains(&url), "{err}");
        let broker = Arc::clone(&backend.broker);
        let err = bounded(move || broker.request("svc.echo", b"?", Duration::from_millis(500)))
            .unwrap_err();
        assert!(
            matches!(
                err,
                MessagingError::Unavailable { .. } | MessagingError::Timeout { .. }
            ),
            "{err:?}"
        );
    }

    backend.nats.as_mut().unwrap().restart();
    // The client reconnects and resubscribes on its own: publishing and requests work again,
    // and the subscription made before the crash receives messages.
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let broker = Arc::clone(&backend.broker);
        let result =
            bounded(move || broker.request("svc.echo", b"again", Duration::from_millis(500)));
        match result {
            Ok(reply) => {
                assert_eq!(reply.body, b"echo: again");
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "nats still failing after the restart: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    backend
        .broker
        .publish("after.restart", b"after", None)
        .unwrap();
    // A message refused during the outage may still arrive (at most once); skip it.
    while recv(&rx).body != b"after" {}
}
