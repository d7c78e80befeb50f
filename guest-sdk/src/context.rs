//! [`CapabilitiesContext`]: the guest's typed access to the host capabilities, each call one
//! `Command` sent through the `host_call` import and one `Event` back.

use std::time::Duration;

use prost::{Message, Name};
use waxosuit_proto::abi::level;
use waxosuit_proto::http::{HttpClientRequest, HttpResponse};
use waxosuit_proto::messaging::{self, PublishRequest, RequestRequest};
use waxosuit_proto::v1::{Command, Event};
use waxosuit_proto::{codes, keyvalue as kv, ops};

use crate::{Error, Result, abi};

/// Sends an encoded `Command` and returns the encoded `Event` (empty means an empty `Event`).
pub(crate) type Transport = fn(&[u8]) -> Result<Vec<u8>>;
/// Writes one log line at an ABI log level.
pub(crate) type LogSink = fn(i32, &str);

/// Access to the host capabilities, passed to the handler for each command.
///
/// A host call the module's claims do not allow comes back as an [`Error`] with code `denied`.
#[derive(Debug, Clone, Copy)]
pub struct CapabilitiesContext {
    transport: Transport,
    log_sink: LogSink,
}

impl CapabilitiesContext {
    /// The context talking to the real host (or failing off wasm32).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // used by the wasm32 exports
    pub(crate) fn host() -> Self {
        Self {
            transport: abi::host_call,
            log_sink: abi::log,
        }
    }

    /// A context with another transport, for unit tests of the SDK.
    #[cfg(test)]
    pub(crate) fn with(transport: Transport, log_sink: LogSink) -> Self {
        Self {
            transport,
            log_sink,
        }
    }

    /// Key-value store (`waxosuit:keyvalue`).
    pub fn kv(&self) -> KeyValue<'_> {
        KeyValue { ctx: self }
    }

    /// Messaging (`waxosuit:messaging`).
    pub fn msg(&self) -> Messaging<'_> {
        Messaging { ctx: self }
    }

    /// Outgoing HTTP (`waxosuit:http_client`).
    pub fn http(&self) -> HttpClient<'_> {
        HttpClient { ctx: self }
    }

    /// Logging (`waxosuit:logging`); without that claim the host drops the lines.
    pub fn log(&self) -> Logger<'_> {
        Logger { ctx: self }
    }

    /// Sends any command (e.g. to a custom `vendor:name` capability) and returns the host's
    /// `Event` as is, error or not. `Err` only when the call itself failed (not inside a host,
    /// or an undecodable answer).
    pub fn call(&self, cmd: &Command) -> Result<Event> {
        let answer = (self.transport)(&cmd.encode_to_vec())?;
        Event::decode(answer.as_slice()).map_err(|e| {
            Error::new(
                codes::INTERNAL,
                format!(
                    "the host answered `{}` with an undecodable event: {e}",
                    cmd.op
                ),
            )
        })
    }

    /// Sends `req` for `op`; an error event becomes `Err`.
    fn send<Req: Name>(&self, op: &str, req: &Req) -> Result<Event> {
        let event = self.call(&Command::new(op, req))?;
        match event.error {
            Some(e) => Err(Error::new(e.code, e.message)),
            None => Ok(event),
        }
    }

    /// Sends `req` for `op` and decodes the answer as `Resp`.
    fn request<Req: Name, Resp: Name + Default>(&self, op: &str, req: &Req) -> Result<Resp> {
        let event = self.send(op, req)?;
        event.payload_as::<Resp>().map_err(|e| {
            Error::new(
                codes::INTERNAL,
                format!("the host answered `{op}` with an unexpected payload: {e}"),
            )
        })
    }
}

/// Key-value operations; see [`CapabilitiesContext::kv`].
#[derive(Debug, Clone, Copy)]
pub struct KeyValue<'a> {
    ctx: &'a CapabilitiesContext,
}

impl KeyValue<'_> {
    /// The value at `key`, `None` when it does not exist.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let resp: kv::GetResponse = self
            .ctx
            .request(ops::KV_GET, &kv::GetRequest { key: key.into() })?;
        Ok(resp.found.then_some(resp.value))
    }

    /// Stores `value` at `key`, without expiry.
    pub fn set(&self, key: &str, value: impl Into<Vec<u8>>) -> Result<()> {
        self.set_ttl_seconds(key, value.into(), 0)
    }

    /// Stores `value` at `key`, expiring after `ttl` (rounded up to whole seconds, at least 1).
    pub fn set_with_ttl(&self, key: &str, value: impl Into<Vec<u8>>, ttl: Duration) -> Result<()> {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        self.set_ttl_seconds(key, value.into(), secs.max(1))
    }

    fn set_ttl_seconds(&self, key: &str, value: Vec<u8>, ttl_seconds: u64) -> Result<()> {
        let req = kv::SetRequest {
            key: key.into(),
            value,
            ttl_seconds,
        };
        // SetResponse is empty: accept a bare success event too.
        self.ctx.send(ops::KV_SET, &req).map(drop)
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let resp: kv::DeleteResponse = self
            .ctx
            .request(ops::KV_DELETE, &kv::DeleteRequest { key: key.into() })?;
        Ok(resp.existed)
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        let resp: kv::ExistsResponse = self
            .ctx
            .request(ops::KV_EXISTS, &kv::ExistsRequest { key: key.into() })?;
        Ok(resp.exists)
    }

    /// Adds `delta` to the integer at `key` (missing counts as 0); returns the new value.
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let req = kv::IncrRequest {
            key: key.into(),
            delta,
        };
        let resp: kv::IncrResponse = self.ctx.request(ops::KV_INCR, &req)?;
        Ok(resp.value)
    }

    /// Every key starting with `prefix` (all keys for `""`).
    pub fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let req = kv::ListKeysRequest {
            prefix: prefix.into(),
        };
        let resp: kv::ListKeysResponse = self.ctx.request(ops::KV_LIST_KEYS, &req)?;
        Ok(resp.keys)
    }
}

/// Messaging operations; see [`CapabilitiesContext::msg`].
#[derive(Debug, Clone, Copy)]
pub struct Messaging<'a> {
    ctx: &'a CapabilitiesContext,
}

impl Messaging<'_> {
    /// Publishes `body` on `subject`.
    pub fn publish(&self, subject: &str, body: impl Into<Vec<u8>>) -> Result<()> {
        let req = PublishRequest {
            subject: subject.into(),
            body: body.into(),
            reply_to: String::new(),
        };
        // PublishResponse is empty: accept a bare success event too.
        self.ctx.send(ops::MSG_PUBLISH, &req).map(drop)
    }

    /// Publishes `body` on `subject` and waits up to `timeout` for one reply
    /// (`Duration::ZERO` uses the host's default).
    pub fn request(
        &self,
        subject: &str,
        body: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<messaging::Message> {
        let req = RequestRequest {
            subject: subject.into(),
            body: body.into(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let resp: messaging::RequestResponse = self.ctx.request(ops::MSG_REQUEST, &req)?;
        resp.reply.ok_or_else(|| {
            Error::new(
                codes::INTERNAL,
                format!("the host answered the request on `{subject}` without a reply message"),
            )
        })
    }
}

/// Outgoing HTTP; see [`CapabilitiesContext::http`].
#[derive(Debug, Clone, Copy)]
pub struct HttpClient<'a> {
    ctx: &'a CapabilitiesContext,
}

impl HttpClient<'_> {
    /// Sends `req`; any HTTP status is `Ok`, transport failures and denials are `Err`.
    pub fn request(&self, req: &HttpClientRequest) -> Result<HttpResponse> {
        self.ctx.request(ops::HTTP_CLIENT_REQUEST, req)
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<HttpResponse> {
        self.request(&HttpClientRequest::get(url))
    }
}

/// Logging through the host; see [`CapabilitiesContext::log`].
#[derive(Debug, Clone, Copy)]
pub struct Logger<'a> {
    ctx: &'a CapabilitiesContext,
}

impl Logger<'_> {
    /// Logs at level `trace`.
    pub fn trace(&self, msg: &str) {
        (self.ctx.log_sink)(level::TRACE, msg);
    }
    /// Logs at level `debug`.
    pub fn debug(&self, msg: &str) {
        (self.ctx.log_sink)(level::DEBUG, msg);
    }
    /// Logs at level `info`.
    pub fn info(&self, msg: &str) {
        (self.ctx.log_sink)(level::INFO, msg);
    }
    /// Logs at level `warn`.
    pub fn warn(&self, msg: &str) {
        (self.ctx.log_sink)(level::WARN, msg);
    }
    /// Logs at level `error`.
    pub fn error(&self, msg: &str) {
        (self.ctx.log_sink)(level::ERROR, msg);
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the capability wrappers, against a fake host transport.

    use std::cell::RefCell;

    use super::*;
    use waxosuit_proto::messaging::Message as Msg;

    thread_local! {
        static SEEN: RefCell<Vec<Command>> = const { RefCell::new(Vec::new()) };
        static LOGS: RefCell<Vec<(i32, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// A fake host: answers each op like a well-behaved provider would.
    fn fake_host(bytes: &[u8]) -> Result<Vec<u8>> {
        let cmd = Command::decode(bytes).unwrap();
        SEEN.with(|s| s.borrow_mut().push(cmd.clone()));
        let ev = match cmd.op.as_str() {
            ops::KV_INCR => {
                let r: kv::IncrRequest = cmd.payload_as().unwrap();
                Event::with_payload(&kv::IncrResponse {
                    value: r.delta + 10,
                })
            }
            ops::KV_GET => {
                let r: kv::GetRequest = cmd.payload_as().unwrap();
                let found = r.key == "present";
                Event::with_payload(&kv::GetResponse {
                    found,
                    value: if found { b"v".to_vec() } else { Vec::new() },
                })
            }
            ops::KV_SET | ops::MSG_PUBLISH => Event::ok(),
            ops::KV_DELETE => Event::error(codes::DENIED, "no keyvalue claim"),
            ops::KV_EXISTS => Event::with_payload(&kv::IncrResponse { value: 1 }),
            ops::KV_LIST_KEYS => Event::with_payload(&kv::ListKeysResponse {
                keys: vec!["a".into(), "b".into()],
            }),
            ops::MSG_REQUEST => {
                let r: RequestRequest = cmd.payload_as().unwrap();
                Event::with_payload(&messaging::RequestResponse {
                    reply: Some(Msg {
                        subject: r.subject,
                        reply_to: String::new(),
                        body: r.body,
                    }),
                })
            }
            ops::HTTP_CLIENT_REQUEST => Event::with_payload(&HttpResponse::text(204, "")),
            _ => return Ok(vec![0xff]),
        };
        Ok(ev.encode_to_vec())
    }

    fn fake_log(level: i32, msg: &str) {
        LOGS.with(|l| l.borrow_mut().push((level, msg.to_owned())));
    }

    fn ctx() -> CapabilitiesContext {
        CapabilitiesContext::with(fake_host, fake_log)
    }

    fn last_seen() -> Command {
        SEEN.with(|s| s.borrow().last().cloned().unwrap())
    }

    #[test]
    fn kv_calls_send_the_right_commands_and_decode_answers() {
        let ctx = ctx();
        assert_eq!(ctx.kv().incr("n", 5).unwrap(), 15);
        assert_eq!(last_seen().op, ops::KV_INCR);

        assert_eq!(ctx.kv().get("present").unwrap(), Some(b"v".to_vec()));
        assert_eq!(ctx.kv().get("absent").unwrap(), None);

        ctx.kv().set("k", "v").unwrap();
        let set: kv::SetRequest = last_seen().payload_as().unwrap();
        assert_eq!((set.key.as_str(), set.ttl_seconds), ("k", 0));

        ctx.kv()
            .set_with_ttl("k", b"v".to_vec(), Duration::from_millis(1500))
            .unwrap();
        let set: kv::SetRequest = last_seen().payload_as().unwrap();
        assert_eq!(set.ttl_seconds, 2);
        ctx.kv()
            .set_with_ttl("k", b"v".to_vec(), Duration::ZERO)
            .unwrap();
        let set: kv::SetRequest = last_seen().payload_as().unwrap();
        assert_eq!(
            set.ttl_seconds, 1,
            "a zero ttl must not mean 'never expires'"
        );

        assert_eq!(ctx.kv().list_keys("").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn host_error_event_becomes_err_with_code_and_message() {
        let err = ctx().kv().delete("k").unwrap_err();
        assert_eq!(err, Error::new(codes::DENIED, "no keyvalue claim"));
    }

    #[test]
    fn unexpected_payload_type_is_an_internal_error() {
        let err = ctx().kv().exists("k").unwrap_err();
        assert_eq!(err.code, codes::INTERNAL);
        assert!(err.message.contains("ExistsResponse"), "{}", err.message);
    }

    #[test]
    fn undecodable_answer_is_an_internal_error() {
        let err = ctx()
            .call(&Command::without_payload("acme:thing/Do"))
            .unwrap_err();
        assert_eq!(err.code, codes::INTERNAL);
        assert!(err.message.contains("acme:thing/Do"), "{}", err.message);
    }

    #[test]
    fn messaging_and_http() {
        let ctx = ctx();
        ctx.msg().publish("s", "hi").unwrap();
        let p: PublishRequest = last_seen().payload_as().unwrap();
        assert_eq!((p.subject.as_str(), p.body.as_slice()), ("s", &b"hi"[..]));

        let reply = ctx
            .msg()
            .request("q", "ping", Duration::from_secs(2))
            .unwrap();
        assert_eq!(reply.body, b"ping");
        let r: RequestRequest = last_seen().payload_as().unwrap();
        assert_eq!(r.timeout_ms, 2000);

        assert_eq!(
            ctx.http().get("http://example.invalid/").unwrap().status,
            204
        );
        let g: HttpClientRequest = last_seen().payload_as().unwrap();
        assert_eq!(
            (g.method.as_str(), g.url.as_str()),
            ("GET", "http://example.invalid/")
        );
    }

    #[test]
    fn log_levels_map_to_the_abi_numbers() {
        let ctx = ctx();
        let log = ctx.log();
        log.trace("t");
        log.debug("d");
        log.info("i");
        log.warn("w");
        log.error("e");
        let logs = LOGS.with(|l| l.borrow().clone());
        assert_eq!(
            logs,
            vec![
                (0, "t".to_owned()),
                (1, "d".to_owned()),
                (2, "i".to_owned()),
                (3, "w".to_owned()),
                (4, "e".to_owned())
            ]
        );
    }
}
