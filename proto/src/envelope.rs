//! Helper methods on the envelopes ([`Command`], [`Event`]) shared by the host and guests.

use prost::Name;
use prost_types::Any;

use crate::v1::{Command, Error, Event};

/// The capability id of an op: everything before the last `/`, or the whole op when it has no
/// `/` (`"waxosuit:keyvalue/Get"` → `"waxosuit:keyvalue"`, `"a/b/c"` → `"a/b"`).
pub fn capability_of(op: &str) -> &str {
    op.rsplit_once('/').map_or(op, |(cap, _)| cap)
}

/// Why a payload could not be read as the message type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The envelope carries no payload.
    #[error("the envelope has no payload; expected a `{expected}`")]
    Missing {
        /// Type URL that was expected.
        expected: String,
    },
    /// The payload is another message type.
    #[error("the payload is a `{found}`, expected a `{expected}`")]
    WrongType {
        /// Type URL that was expected.
        expected: String,
        /// Type URL the payload carries.
        found: String,
    },
    /// The payload bytes do not decode as the expected type.
    #[error("the payload does not decode as a `{expected}`: {reason}")]
    Decode {
        /// Type URL that was expected.
        expected: String,
        /// The decoder's explanation.
        reason: String,
    },
}

/// Packs a message into an [`Any`] with its `type.googleapis.com/…` type URL.
pub(crate) fn pack<M: Name>(msg: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// Unpacks an optional [`Any`] as `T`, checking its type URL.
pub(crate) fn unpack<T: Name + Default>(payload: Option<&Any>) -> Result<T, PayloadError> {
    let expected = T::type_url();
    let Some(any) = payload else {
        return Err(PayloadError::Missing { expected });
    };
    if any.type_url != expected {
        return Err(PayloadError::WrongType {
            expected,
            found: any.type_url.clone(),
        });
    }
    T::decode(any.value.as_slice()).map_err(|e| PayloadError::Decode {
        expected,
        reason: e.to_string(),
    })
}

impl Command {
    /// A command for `op` carrying `msg` as its payload.
    pub fn new<M: Name>(op: impl Into<String>, msg: &M) -> Self {
        Self {
            op: op.into(),
            payload: Some(pack(msg)),
        }
    }

    /// A command for `op` without a payload.
    pub fn without_payload(op: impl Into<String>) -> Self {
        Self {
            op: op.into(),
            payload: None,
        }
    }

    /// The capability id this command addresses (see [`capability_of`]).
    pub fn capability(&self) -> &str {
        capability_of(&self.op)
    }

    /// The payload decoded as `T`; fails when it is absent, another type, or malformed.
    pub fn payload_as<T: Name + Default>(&self) -> Result<T, PayloadError> {
        unpack(self.payload.as_ref())
    }
}

impl Event {
    /// A successful event without payload (what a `0` return of the ABI means).
    pub fn ok() -> Self {
        Self::default()
    }

    /// A successful event carrying `msg`.
    pub fn with_payload<M: Name>(msg: &M) -> Self {
        Self {
            error: None,
            payload: Some(pack(msg)),
        }
    }

    /// A failed event; `code` should be one of [`crate::codes`].
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: Some(Error {
                code: code.into(),
                message: message.into(),
            }),
            payload: None,
        }
    }

    /// Whether the event reports success (no `error`).
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// The error code, `None` on success.
    pub fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }

    /// The payload decoded as `T`; fails when it is absent, another type, or malformed.
    pub fn payload_as<T: Name + Default>(&self) -> Result<T, PayloadError> {
        unpack(self.payload.as_ref())
    }
}

impl crate::http::Header {
    /// A header `name: value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The value of the first header called `name` (ASCII case-insensitive).
fn find_header<'a>(headers: &'a [crate::http::Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

impl crate::http::HttpResponse {
    /// A response with `status` and raw `body`, without headers.
    pub fn new(status: u32, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u32, body: impl Into<String>) -> Self {
        Self::new(status, body.into().into_bytes())
            .with_header("content-type", "text/plain; charset=utf-8")
    }

    /// The response with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(crate::http::Header::new(name, value));
        self
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl crate::http::HttpRequest {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl crate::http::HttpClientRequest {
    /// A `GET` of `url` without headers or body, with the host's default timeout.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// The request with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(crate::http::Header::new(name, value));
        self
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the envelope helpers.

    use super::*;
    use crate::{codes, keyvalue, ops};
    use prost::Message;

    #[test]
    fn capability_of_takes_everything_before_the_last_slash() {
        assert_eq!(capability_of(ops::KV_GET), "waxosuit:keyvalue");
        assert_eq!(capability_of("a/b/c"), "a/b");
        assert_eq!(capability_of("noslash"), "noslash");
        assert_eq!(capability_of("trailing/"), "trailing");
        assert_eq!(capability_of("/lead"), "");
        assert_eq!(capability_of(""), "");
    }

    #[test]
    fn command_round_trips_through_bytes() {
        let req = keyvalue::IncrRequest {
            key: "hits".into(),
            delta: -3,
        };
        let cmd = Command::new(ops::KV_INCR, &req);
        let bytes = cmd.encode_to_vec();
        let back = Command::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, cmd);
        assert_eq!(back.capability(), "waxosuit:keyvalue");
        assert_eq!(back.payload_as::<keyvalue::IncrRequest>().unwrap(), req);
    }

    #[test]
    fn type_urls_use_the_googleapis_domain() {
        assert_eq!(
            keyvalue::IncrRequest::type_url(),
            "type.googleapis.com/waxosuit.keyvalue.v1.IncrRequest"
        );
        assert_eq!(Command::full_name(), "waxosuit.v1.Command");
    }

    #[test]
    fn payload_as_rejects_missing_wrong_type_and_garbage() {
        let missing = Command::without_payload(ops::CORE_HEALTH);
        assert!(matches!(
            missing.payload_as::<keyvalue::GetRequest>(),
            Err(PayloadError::Missing { .. })
        ));

        let other = Command::new(ops::KV_GET, &keyvalue::SetRequest::default());
        let err = other.payload_as::<keyvalue::GetRequest>().unwrap_err();
        assert_eq!(
            err,
            PayloadError::WrongType {
                expected: "type.googleapis.com/waxosuit.keyvalue.v1.GetRequest".into(),
                found: "type.googleapis.com/waxosuit.keyvalue.v1.SetRequest".into(),
            }
        );

        let mut garbage = Command::new(ops::KV_GET, &keyvalue::GetRequest::default());
        if let Some(p) = garbage.payload.as_mut() {
            p.value = vec![0x0a, 0x05, b'a']; // string field claiming 5 bytes, 1 present
        }
        assert!(matches!(
            garbage.payload_as::<keyvalue::GetRequest>(),
            Err(PayloadError::Decode { .. })
        ));
    }

    #[test]
    fn event_helpers() {
        let ok = Event::ok();
        assert!(ok.is_ok());
        assert_eq!(ok.error_code(), None);
        assert!(
            ok.encode_to_vec().is_empty(),
            "an empty event encodes to zero bytes"
        );

        let with = Event::with_payload(&keyvalue::IncrResponse { value: 42 });
        let back = Event::decode(with.encode_to_vec().as_slice()).unwrap();
        assert!(back.is_ok());
        assert_eq!(
            back.payload_as::<keyvalue::IncrResponse>().unwrap().value,
            42
        );

        let err = Event::error(codes::DENIED, "no keyvalue claim");
        let back = Event::decode(err.encode_to_vec().as_slice()).unwrap();
        assert!(!back.is_ok());
        assert_eq!(back.error_code(), Some("denied"));
        assert_eq!(back.error.unwrap().message, "no keyvalue claim");
    }

    #[test]
    fn abi_pack_unpack_round_trips_full_u32_range() {
        use crate::abi::{pack, unpack};
        assert_eq!(pack(0, 0), 0);
        assert_eq!(unpack(pack(0x1234, 56)), (0x1234, 56));
        assert_eq!(unpack(pack(u32::MAX, u32::MAX)), (u32::MAX, u32::MAX));
        assert_eq!(pack(1, 0), 1 << 32);
    }

    #[test]
    fn file_descriptor_set_lists_every_package() {
        let fds = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let packages: Vec<&str> = fds.file.iter().map(|f| f.package()).collect();
        for p in [
            "waxosuit.v1",
            "waxosuit.keyvalue.v1",
            "waxosuit.messaging.v1",
            "waxosuit.http.v1",
            "waxosuit.core.v1",
            "google.protobuf",
        ] {
            assert!(packages.contains(&p), "missing {p} in {packages:?}");
        }
    }

    #[test]
    fn http_helpers() {
        let r = crate::http::HttpResponse::text(200, "hi");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hi");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("x-missing"), None);
        let g =
            crate::http::HttpClientRequest::get("http://example.invalid/").with_header("a", "b");
        assert_eq!(g.method, "GET");
        assert_eq!(g.headers, vec![crate::http::Header::new("a", "b")]);
    }
}
