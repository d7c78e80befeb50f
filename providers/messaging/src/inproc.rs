//! The embedded default broker: pub/sub inside this host process.
//!
//! Each subscription has its own delivery thread fed by an unbounded queue, so a publisher
//! never runs a handler itself (a guest publishing to a subject it subscribes to does not
//! re-enter itself) and each subscription sees its messages in publish order. Queue groups
//! take turns: each message goes to the next member of the group. Requests subscribe a
//! one-shot inbox subject (`_INBOX.<n>`) and publish with it as `reply_to`.
//!
//! Nothing is persisted and nothing leaves the process; use [`NatsBroker`](crate::NatsBroker)
//! to share subjects between hosts.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use crate::{
    Broker, Handler, Message, MessagingError, Subscription, subject_matches, validate_subject,
};

/// In-process pub/sub with NATS-style subjects, queue groups and request/reply.
#[derive(Clone, Default)]
pub struct InProcBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for InProcBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcBroker").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
    /// Turn counter for queue groups.
    turn: AtomicUsize,
}

struct Sub {
    id: u64,
    pattern: String,
    queue_group: Option<String>,
    tx: Sender<Message>,
}

impl Inner {
    fn subs(&self) -> MutexGuard<'_, Vec<Sub>> {
        // A panic while holding the lock cannot leave the list half-updated (each update is
        // one push or retain), so a poisoned lock is still usable.
        self.subs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, pattern: &str, queue_group: Option<String>, tx: Sender<Message>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subs().push(Sub {
            id,
            pattern: pattern.to_owned(),
            queue_group,
            tx,
        });
        id
    }

    fn remove(&self, id: u64) {
        self.subs().retain(|s| s.id != id);
    }

    /// Queues `message` for every matching subscription (one per queue group); answers how
    /// many got it.
    fn publish(&self, message: &Message) -> usize {
        let subs = self.subs();
        let mut groups: BTreeMap<&str, Vec<&Sub>> = BTreeMap::new();
        let mut delivered = 0;
        for sub in subs.iter() {
            if !subject_matches(&sub.pattern, &message.subject) {
                continue;
            }
            match &sub.queue_group {
                Some(group) => groups.entry(group).or_default().push(sub),
                None => {
                    if sub.tx.send(message.clone()).is_ok() {
                        delivered += 1;
                    }
                }
            }
        }
        for members in groups.values() {
            let turn = self.turn.fetch_add(1, Ordering::Relaxed);
            if let Some(member) = members.get(turn % members.len())
                && member.tx.send(message.clone()).is_ok()
            {
                delivered += 1;
            }
        }
        delivered
    }
}

impl InProcBroker {
    /// A broker without subscriptions.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Delivers each queued message to `handler` and publishes its reply, until the queue closes.
fn run_subscription(broker: Weak<Inner>, rx: mpsc::Receiver<Message>, handler: Handler) {
    while let Ok(message) = rx.recv() {
        let reply_to = message.reply_to.clone();
        let subject = message.subject.clone();
        let reply = match catch_unwind(AssertUnwindSafe(|| handler(message))) {
            Ok(reply) => reply,
            Err(_) => {
                tracing::error!(subject, "a messaging handler panicked; message dropped");
                None
            }
        };
        if let (Some(reply), false) = (reply, reply_to.is_empty()) {
            let Some(inner) = broker.upgrade() else {
                return;
            };
            inner.publish(&Message {
                subject: reply_to,
                reply_to: String::new(),
                body: reply.body,
            });
        }
    }
}

impl Broker for InProcBroker {
    fn publish(
        &self,
        subject: &str,
        body: &[u8],
        reply_to: Option<&str>,
    ) -> Result<(), MessagingError> {
        validate_subject(subject, false)?;
        if let Some(reply_to) = reply_to {
            validate_subject(reply_to, false)?;
        }
        self.inner.publish(&Message {
            subject: subject.into(),
            reply_to: reply_to.unwrap_or_default().into(),
            body: body.to_vec(),
        });
        Ok(())
    }

    fn request(
        &self,
        subject: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Message, MessagingError> {
        validate_subject(subject, false)?;
        let (tx, rx) = mpsc::channel();
        let inbox = format!(
            "_INBOX.{}",
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let id = self.inner.add(&inbox, None, tx);
        let delivered = self.inner.publish(&Message {
            subject: subject.into(),
            reply_to: inbox,
            body: body.to_vec(),
        });
        let result = if delivered == 0 {
            Err(MessagingError::NoResponders {
                subject: subject.into(),
            })
        } else {
            rx.recv_timeout(timeout).map_err(|e| match e {
                RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected => {
                    MessagingError::Timeout {
                        subject: subject.into(),
                        timeout,
                    }
                }
            })
        };
        self.inner.remove(id);
        result
    }

    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<String>,
        handler: Handler,
    ) -> Result<Subscription, MessagingError> {
        validate_subject(subject, true)?;
        let (tx, rx) = mpsc::channel();
        let weak = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name(format!("waxo-msg {subject}"))
            .spawn(move || run_subscription(weak, rx, handler))
            .map_err(|e| MessagingError::Unavailable {
                message: format!(
                    "cannot start a delivery thread for subject `{subject}`: {e}; the host is \
                     out of threads or memory"
                ),
            })?;
        let id = self.inner.add(subject, queue_group, tx);
        let weak = Arc::downgrade(&self.inner);
        Ok(Subscription::new(move || {
            if let Some(inner) = weak.upgrade() {
                // Dropping the sender ends the delivery thread once its queue is drained.
                inner.remove(id);
            }
        }))
    }
}
