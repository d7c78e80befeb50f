//! The `waxosuit:messaging` capability provider: in-process pub/sub, or NATS.
//!
//! Guests publish and make requests through `host_call` (`waxosuit:messaging/Publish`,
//! `waxosuit:messaging/Request`, see [`waxosuit_proto::ops`]); [`MessagingProvider`] decodes
//! them and hands them to a [`Broker`]:
//!
//! - [`InProcBroker`] (the embedded default): pub/sub inside this host process.
//! - [`NatsBroker`]: a NATS server; queue groups become NATS queue subscriptions, so several
//!   hosts share the work of one subject.
//!
//! The host subscribes guests with [`MessagingProvider::subscribe_guest`], passing a
//! [`Handler`] that delivers the message to the guest (`waxosuit:messaging/Deliver`) and
//! returns the guest's reply, if any.
//!
//! Subjects follow NATS rules on both brokers: dot-separated non-empty tokens without
//! whitespace; subscriptions may use `*` (exactly one token) and `>` (one or more trailing
//! tokens, last token only); publish subjects may not contain wildcards. Subjects are not
//! namespaced per module: messaging is how modules (and hosts) talk to each other.
//!
//! ```
//! use std::sync::{Arc, mpsc};
//! use waxosuit_messaging::{Broker, InProcBroker, Message};
//!
//! let broker = InProcBroker::new();
//! let (tx, rx) = mpsc::channel();
//! let tx = std::sync::Mutex::new(tx);
//! let _sub = broker
//!     .subscribe("orders.*", None, Arc::new(move |m: Message| {
//!         tx.lock().unwrap().send(m.subject).unwrap();
//!         None
//!     }))
//!     .unwrap();
//! broker.publish("orders.created", b"{}", None).unwrap();
//! assert_eq!(rx.recv().unwrap(), "orders.created");
//! ```
//!
//! # Blocking
//!
//! [`Broker`] and [`Provider::call`] are blocking. [`NatsBroker`] runs its async client on a
//! Tokio runtime it is given a handle of and waits with `Handle::block_on`, so it must not be
//! called from inside an async task: the host calls providers from its blocking guest
//! threads. Handlers run on blocking threads too and may call the broker.

pub mod inproc;
pub mod nats;

use std::sync::Arc;
use std::time::Duration;

use waxosuit_proto::{codes, messaging as msg, ops};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider};

pub use crate::inproc::InProcBroker;
pub use crate::nats::{NatsBroker, NatsConfig};
pub use waxosuit_proto::messaging::Message;

/// The capability id this crate implements.
pub const CAPABILITY_ID: &str = "waxosuit:messaging";

/// Receives the messages of a subscription. Returning `Some(reply)` sends `reply.body` to the
/// delivery's `reply_to` (ignored when the delivery has none).
pub type Handler = Arc<dyn Fn(Message) -> Option<Message> + Send + Sync>;

/// Why a messaging operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagingError {
    /// The broker cannot be reached; retrying may help. The message names the broker.
    #[error("{message}")]
    Unavailable {
        /// Full explanation.
        message: String,
    },
    /// Nobody answered a request in time.
    #[error(
        "no reply to the request on subject `{subject}` within {timeout:?}; check that a subscriber handles `{subject}` and answers, or raise the timeout"
    )]
    Timeout {
        /// The request's subject.
        subject: String,
        /// How long the request waited.
        timeout: Duration,
    },
    /// A request found no subscriber on its subject.
    #[error(
        "no subscriber listens on subject `{subject}`, so the request cannot be answered; start the module that handles it"
    )]
    NoResponders {
        /// The request's subject.
        subject: String,
    },
    /// The broker's configuration is wrong (for example a malformed NATS URL).
    #[error("{message}")]
    InvalidConfig {
        /// Full explanation.
        message: String,
    },
    /// A command's payload is missing or of the wrong type.
    #[error("bad payload for `{op}`: {reason}")]
    InvalidPayload {
        /// The command's op.
        op: String,
        /// What is wrong with the payload.
        reason: String,
    },
    /// A subject is malformed.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject {
        /// The subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MessagingError {
    /// The ABI error code (`"unavailable"`, `"deadline_exceeded"` or `"invalid_argument"`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } | Self::NoResponders { .. } => codes::UNAVAILABLE,
            Self::Timeout { .. } => codes::DEADLINE_EXCEEDED,
            Self::InvalidSubject { .. }
            | Self::InvalidPayload { .. }
            | Self::InvalidConfig { .. } => codes::INVALID_ARGUMENT,
        }
    }
}

/// A live subscription; dropping it (or calling [`unsubscribe`](Self::unsubscribe)) stops the
/// deliveries. A delivery already running finishes.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Subscription {
    /// A subscription that runs `cancel` once when dropped (for [`Broker`] implementations).
    pub fn new(cancel: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self {
            cancel: Some(Box::new(cancel)),
        }
    }

    /// Stops the deliveries now.
    pub fn unsubscribe(self) {
        drop(self);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// A message broker.
pub trait Broker: Send + Sync {
    /// Publishes `body` on `subject`, with an optional subject for replies. Returns once the
    /// broker has taken the message (delivery is at most once).
    fn publish(
        &self,
        subject: &str,
        body: &[u8],
        reply_to: Option<&str>,
    ) -> Result<(), MessagingError>;

    /// Publishes `body` on `subject` with a fresh inbox as `reply_to` and waits up to
    /// `timeout` for the first reply.
    fn request(
        &self,
        subject: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Message, MessagingError>;

    /// Delivers the messages published on subjects matching `subject` to `handler` until the
    /// returned [`Subscription`] is dropped. With a `queue_group`, each message goes to one
    /// member of the group (across every host sharing the broker) instead of to all.
    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<String>,
        handler: Handler,
    ) -> Result<Subscription, MessagingError>;
}

/// Checks `subject` against the NATS rules; `wildcards` allows `*` and `>` tokens
/// (subscriptions).
pub fn validate_subject(subject: &str, wildcards: bool) -> Result<(), MessagingError> {
    let invalid = |reason: &str| MessagingError::InvalidSubject {
        subject: subject.into(),
        reason: reason.into(),
    };
    if subject.is_empty() {
        return Err(invalid("it is empty"));
    }
    if subject.chars().any(char::is_whitespace) {
        return Err(invalid("it contains whitespace"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "" => {
                return Err(invalid(
                    "it has an empty token (`..` or a leading/trailing `.`)",
                ));
            }
            "*" | ">" if !wildcards => {
                return Err(invalid(
                    "wildcards (`*`, `>`) are only allowed when subscribing",
                ));
            }
            ">" if i + 1 != tokens.len() => {
                return Err(invalid("`>` must be the last token"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the subscription subject `pattern` (with `*`/`>` wildcards) matches `subject`.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The `waxosuit:messaging` provider over any [`Broker`].
pub struct MessagingProvider {
    broker: Arc<dyn Broker>,
    default_timeout: Duration,
    max_timeout: Duration,
}

impl MessagingProvider {
    /// A provider over `broker`; requests without a timeout wait 5 s, and no request waits
    /// more than 60 s.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self {
            broker,
            default_timeout: Duration::from_secs(5),
            max_timeout: Duration::from_secs(60),
        }
    }

    /// Sets how long a request with `timeout_ms = 0` waits.
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// Sets the longest a guest request may wait (larger timeouts are cut to it).
    pub fn with_max_timeout(mut self, timeout: Duration) -> Self {
        self.max_timeout = timeout;
        self
    }

    /// The broker behind this provider.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// Subscribes a guest to `subject` (wildcards allowed), optionally in `queue_group`.
    ///
    /// `deliver` is called on a blocking thread for each message; the host implements it by
    /// calling the guest's `waxosuit:messaging/Deliver` with the [`Message`] and returning
    /// the `Message` payload of the guest's `Event`, if any (an error `Event` means no reply).
    /// Drop the returned [`Subscription`] when the guest is unloaded.
    pub fn subscribe_guest(
        &self,
        subject: &str,
        queue_group: Option<String>,
        deliver: Handler,
    ) -> Result<Subscription, MessagingError> {
        validate_subject(subject, true)?;
        self.broker.subscribe(subject, queue_group, deliver)
    }

    fn dispatch(&self, command: &Command) -> Result<Event, MessagingError> {
        match command.op.as_str() {
            ops::MSG_PUBLISH => {
                let req: msg::PublishRequest = payload(command)?;
                let reply_to = (!req.reply_to.is_empty()).then_some(req.reply_to.as_str());
                self.broker.publish(&req.subject, &req.body, reply_to)?;
                Ok(Event::with_payload(&msg::PublishResponse {}))
            }
            ops::MSG_REQUEST => {
                let req: msg::RequestRequest = payload(command)?;
                let timeout = if req.timeout_ms == 0 {
                    self.default_timeout
                } else {
                    Duration::from_millis(req.timeout_ms).min(self.max_timeout)
                };
                let reply = self.broker.request(&req.subject, &req.body, timeout)?;
                Ok(Event::with_payload(&msg::RequestResponse {
                    reply: Some(reply),
                }))
            }
            other => Ok(Event::error(
                codes::UNKNOWN_OPERATION,
                format!(
                    "`{other}` is not a {CAPABILITY_ID} operation a guest can send; use Publish \
                     or Request"
                ),
            )),
        }
    }
}

/// Decodes the command's payload (an `invalid_argument` error when it is not the right type).
fn payload<T: waxosuit_proto::prost::Name + Default>(
    command: &Command,
) -> Result<T, MessagingError> {
    command
        .payload_as::<T>()
        .map_err(|e| MessagingError::InvalidPayload {
            op: command.op.clone(),
            reason: e.to_string(),
        })
}

impl Provider for MessagingProvider {
    fn capability_id(&self) -> &str {
        CAPABILITY_ID
    }

    fn call(&self, _caller: &Caller, command: &Command) -> Event {
        self.dispatch(command)
            .unwrap_or_else(|e| Event::error(e.code(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    //! Tests for subject rules and error codes.

    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(subject_matches("a.*", "a.b"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(!subject_matches("a.*", "a"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches("*.b.>", "x.b.y"));
        assert!(subject_matches(">", "anything.at.all"));
    }

    #[test]
    fn subjects_are_validated() {
        assert!(validate_subject("a.b", false).is_ok());
        assert!(validate_subject("a.*.>", true).is_ok());
        for (bad, wildcards) in [
            ("", true),
            ("a..b", true),
            (".a", true),
            ("a b", true),
            ("a.*", false),
            ("a.>", false),
            ("a.>.b", true),
        ] {
            let err = validate_subject(bad, wildcards).unwrap_err();
            assert_eq!(err.code(), "invalid_argument", "{bad}: {err}");
        }
    }
}
