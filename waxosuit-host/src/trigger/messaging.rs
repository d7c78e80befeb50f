//! The messaging trigger: `[[messaging.subscribe]]` subjects delivered to the live guest as
//! `waxosuit:messaging/Deliver`; the `Message` payload of its answer, if any, is the reply.

use std::sync::Arc;

use runtime_core::{CallError, Host, LiveGuest, Outcome, Trigger};
use waxosuit_messaging::{MessagingProvider, Subscription};
use waxosuit_proto::messaging::Message;
use waxosuit_proto::ops;
use waxosuit_proto::v1::Command;

use crate::config;
use crate::error::HostError;

/// Subscribes the live guest to every configured subject (blocking: talks to the broker).
pub(crate) fn subscribe(
    provider: &MessagingProvider,
    subscriptions: &[config::Subscription],
    guest: &LiveGuest,
    host: &Host,
) -> Result<Vec<Subscription>, HostError> {
    let mut live = Vec::new();
    for sub in subscriptions {
        let target = guest.clone();
        let host = host.clone();
        let deliver = Arc::new(move |message: Message| deliver(&target, &host, message));
        let subscription = provider
            .subscribe_guest(&sub.subject, sub.queue_group.clone(), deliver)
            .map_err(|source| HostError::Subscribe {
                subject: sub.subject.clone(),
                source,
            })?;
        live.push(subscription);
    }
    Ok(live)
}

/// One message through the guest.
fn deliver(live: &LiveGuest, host: &Host, message: Message) -> Option<Message> {
    let pinned = live.pin();
    let guest = pinned.guest();
    let subject = message.subject.clone();
    let (reply, outcome) = match guest.call(&Command::new(ops::MSG_DELIVER, &message)) {
        Ok(event) if event.is_ok() => (event.payload_as::<Message>().ok(), Outcome::Ok),
        Ok(event) => {
            tracing::warn!(subject = ?subject, error = ?event.error, "the guest failed to handle a message");
            (None, Outcome::GuestError)
        }
        Err(e) => {
            tracing::warn!(subject = ?subject, error = %e, "the guest failed to handle a message");
            let outcome = match e {
                CallError::Busy { .. } => Outcome::Busy,
                CallError::DeadlineExceeded { .. } => Outcome::Deadline,
                CallError::EnvelopeTooLarge { .. } => Outcome::TooLarge,
                _ => Outcome::Failed,
            };
            (None, outcome)
        }
    };
    host.record_trigger(guest.name(), Trigger::Messaging, outcome);
    reply
}
