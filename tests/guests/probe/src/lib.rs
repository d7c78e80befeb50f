//! `probe`: a test guest exercising the Rust guest SDK. It dispatches on `cmd.op`:
//!
//! | op | payload | answer |
//! |---|---|---|
//! | `test/Echo` | anything (or none) | the same payload, unchanged |
//! | `test/KvIncr` | `keyvalue::IncrRequest` | `keyvalue::IncrResponse` from `kv().incr` |
//! | `test/KvGet` | `keyvalue::GetRequest` | `keyvalue::GetResponse` from `kv().get` |
//! | `test/Publish` | `messaging::PublishRequest` | empty event after `msg().publish` |
//! | `test/Log` | `http::Header` { name: level, value: text } (none: info "probe log") | empty event |
//! | `test/HttpGet` | `http::HttpClientRequest` | the `http::HttpResponse` from `http().request` |
//! | `test/HostCall` | a `v1::Command` | the host's `Event` for it, as is (e.g. a denial) |
//! | `test/Fail` | none | handler `Err` → `guest_error` event "probe fails on purpose" |
//! | `test/Panic` | none | panics → the instance traps |
//! | `test/Loop` | none | never returns (for deadline tests) |
//! | `test/Alloc` | `keyvalue::IncrRequest` { delta: MiB } | allocates and touches that much memory, empty event |
//! | `waxosuit:http_server/Handle` | `http::HttpRequest` | by path, below |
//! | `waxosuit:messaging/Deliver` | `messaging::Message` | the message echoed back as the reply |
//! | `waxosuit:core/Health` | `core::HealthRequest` | `core::HealthResponse` { healthy: true } |
//! | anything else | — | error event `unknown_operation` |
//!
//!
//! HTTP paths: `/loop` never returns (deadline, busy pool); `/fail` answers a `guest_error`
//! event "probe fails on purpose"; `/sleep/MS` asks the `acme:echo` test provider to sleep MS
//! milliseconds (a slow call that completes), then answers 200 "slept"; any other path answers
//! 200 "hello from probe".
//!
//! Host-call failures (`Err` from the SDK) surface as `guest_error` events whose message starts
//! with the host's code, e.g. `denied: …`.

use waxosuit_guest::prelude::*;
use waxosuit_guest::proto::{core, http};

fn handle(ctx: &CapabilitiesContext, cmd: &Command) -> Result<Event> {
    match cmd.op.as_str() {
        "test/Echo" => Ok(Event {
            error: None,
            payload: cmd.payload.clone(),
        }),
        "test/KvIncr" => {
            let req: keyvalue::IncrRequest = cmd.payload_as()?;
            let value = ctx.kv().incr(&req.key, req.delta)?;
            Ok(Event::with_payload(&keyvalue::IncrResponse { value }))
        }
        "test/KvGet" => {
            let req: keyvalue::GetRequest = cmd.payload_as()?;
            let value = ctx.kv().get(&req.key)?;
            Ok(Event::with_payload(&keyvalue::GetResponse {
                found: value.is_some(),
                value: value.unwrap_or_default(),
            }))
        }
        "test/Publish" => {
            let req: messaging::PublishRequest = cmd.payload_as()?;
            ctx.msg().publish(&req.subject, req.body)?;
            Ok(Event::ok())
        }
        "test/Log" => {
            log(ctx, cmd)?;
            Ok(Event::ok())
        }
        "test/HttpGet" => {
            let req: HttpClientRequest = cmd.payload_as()?;
            Ok(Event::with_payload(&ctx.http().request(&req)?))
        }
        "test/HostCall" => {
            let inner: Command = cmd.payload_as()?;
            ctx.call(&inner)
        }
        "test/Fail" => Err(Error::guest("probe fails on purpose")),
        "test/Panic" => panic_on_purpose(),
        "test/Loop" => spin_forever(),
        "test/Alloc" => {
            let req: keyvalue::IncrRequest = cmd.payload_as()?;
            let bytes = usize::try_from(req.delta)
                .unwrap_or(0)
                .saturating_mul(1024 * 1024);
            let buf = vec![1u8; bytes];
            ctx.log().debug(&format!(
                "probe allocated {} bytes",
                std::hint::black_box(&buf).len()
            ));
            Ok(Event::ok())
        }
        ops::HTTP_SERVER_HANDLE => {
            let request: http::HttpRequest = cmd.payload_as()?;
            http_handle(ctx, &request)
        }
        ops::MSG_DELIVER => {
            let msg: messaging::Message = cmd.payload_as()?;
            Ok(Event::with_payload(&msg))
        }
        ops::CORE_HEALTH => Ok(Event::with_payload(&core::HealthResponse {
            healthy: true,
            message: "probe is fine".into(),
        })),
        other => Ok(Event::error(
            codes::UNKNOWN_OPERATION,
            format!("probe does not handle `{other}`"),
        )),
    }
}

/// `waxosuit:http_server/Handle`, by path.
fn http_handle(ctx: &CapabilitiesContext, request: &http::HttpRequest) -> Result<Event> {
    let path = request.path.as_str();
    if path == "/loop" {
        return spin_forever();
    }
    if path == "/fail" {
        return Err(Error::guest("probe fails on purpose"));
    }
    if let Some(ms) = path.strip_prefix("/sleep/") {
        let sleep = Command {
            op: "acme:echo/Sleep".into(),
            payload: Some(waxosuit_guest::proto::prost_types::Any {
                type_url: "acme:echo/Millis".into(),
                value: ms.as_bytes().to_vec(),
            }),
        };
        let answer = ctx.call(&sleep)?;
        if let Some(error) = answer.error {
            return Err(Error::new(error.code, error.message));
        }
        return Ok(Event::with_payload(&HttpResponse::text(200, "slept")));
    }
    Ok(Event::with_payload(&HttpResponse::text(
        200,
        "hello from probe",
    )))
}

/// `test/Log`: logs the payload's text at the level named by its header name.
fn log(ctx: &CapabilitiesContext, cmd: &Command) -> Result<()> {
    let line = match cmd.payload {
        Some(_) => cmd.payload_as::<http::Header>()?,
        None => http::Header::new("info", "probe log"),
    };
    let log = ctx.log();
    match line.name.as_str() {
        "trace" => log.trace(&line.value),
        "debug" => log.debug(&line.value),
        "info" => log.info(&line.value),
        "warn" => log.warn(&line.value),
        "error" => log.error(&line.value),
        other => {
            return Err(Error::new(
                codes::INVALID_ARGUMENT,
                format!("unknown log level `{other}`; use trace, debug, info, warn or error"),
            ));
        }
    }
    Ok(())
}

#[allow(clippy::panic)]
fn panic_on_purpose() -> Result<Event> {
    panic!("probe panics on purpose")
}

fn spin_forever() -> Result<Event> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

waxosuit_guest::handler!(handle);
