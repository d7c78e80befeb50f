//! The NATS broker: subjects shared by every host connected to the same NATS server.
//!
//! Queue groups map to NATS queue subscriptions, so hosts running the same module share the
//! work of a subject. The async-nats client reconnects on its own after the server comes
//! back (with a delay growing up to [`NatsConfig::reconnect_max_delay`]); while it is
//! disconnected publish and request fail at once with `unavailable` rather than buffering, and
//! subscriptions resume after the reconnect. Every operation is bounded by
//! [`NatsConfig::timeout`] (requests by their own timeout).

use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, ConnectOptions, RequestErrorKind, ServerAddr};
use futures::StreamExt;
use tokio::runtime::Handle;

use crate::{Broker, Handler, Message, MessagingError, Subscription, validate_subject};

/// How to reach NATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// The server URL, e.g. `nats://127.0.0.1:4222` (several comma-separated URLs allowed).
    pub url: String,
    /// The longest a publish or subscribe may take to reach the server (default 2 s).
    pub timeout: Duration,
    /// The longest the first connection may take (default 2 s).
    pub connect_timeout: Duration,
    /// The longest pause between reconnect attempts (default 1 s).
    pub reconnect_max_delay: Duration,
}

impl NatsConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            reconnect_max_delay: Duration::from_secs(1),
        }
    }
}

/// A [`Broker`] on a NATS server.
pub struct NatsBroker {
    client: Client,
    handle: Handle,
    config: NatsConfig,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// Connects to `config.url`, running the client on the multi-threaded Tokio runtime of
    /// `handle`. Fails with `unavailable` naming the URL when the server does not answer
    /// within `connect_timeout`, and with `invalid_argument` when the URL is malformed.
    pub fn connect(config: NatsConfig, handle: Handle) -> Result<Self, MessagingError> {
        let max_delay = config.reconnect_max_delay;
        let options = ConnectOptions::new()
            .connection_timeout(config.connect_timeout)
            .reconnect_delay_callback(move |attempts| {
                let exp = u32::try_from(attempts.min(20)).unwrap_or(20);
                Duration::from_millis(2u64.saturating_pow(exp)).min(max_delay)
            });
        let servers = parse_servers(&config.url)?;
        let connecting = handle.block_on(async move {
            tokio::time::timeout(config.connect_timeout, options.connect(servers)).await
        });
        let client = match connecting {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(unavailable(&config.url, e)),
            Err(_) => {
                return Err(unavailable(
                    &config.url,
                    format_args!("no connection within {:?}", config.connect_timeout),
                ));
            }
        };
        Ok(Self {
            client,
            handle,
            config,
        })
    }

    /// The configuration this broker was made with.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> MessagingError {
        unavailable(&self.config.url, reason)
    }

    /// Fails at once when the client is not connected (instead of buffering the message).
    fn ensure_connected(&self) -> Result<(), MessagingError> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            State::Disconnected | State::Pending => {
                Err(self.unavailable("the client is disconnected and reconnecting"))
            }
        }
    }

    /// Waits until the server has processed everything sent so far.
    async fn flush(client: &Client, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, client.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

/// The comma-separated server URLs of `url`, each checked.
fn parse_servers(url: &str) -> Result<Vec<ServerAddr>, MessagingError> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ServerAddr>()
                .map_err(|e| MessagingError::InvalidConfig {
                    message: format!(
                        "`{s}` is not a NATS server URL ({e}); use e.g. `nats://127.0.0.1:4222`"
                    ),
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|servers| {
            if servers.is_empty() {
                Err(MessagingError::InvalidConfig {
                    message: "the NATS url is empty; use e.g. `nats://127.0.0.1:4222`".into(),
                })
            } else {
                Ok(servers)
            }
        })
}

fn unavailable(url: &str, reason: impl std::fmt::Display) -> MessagingError {
    MessagingError::Unavailable {
        message: format!(
            "nats at `{url}` is unavailable: {reason}; check that the server is running and \
             reachable from this host and that the messaging `url` in waxo.toml is right"
        ),
    }
}

impl Broker for NatsBroker {
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
        self.ensure_connected()?;
        let client = &self.client;
        let payload = bytes::Bytes::copy_from_slice(body);
        let subject = subject.to_owned();
        let reply_to = reply_to.map(str::to_owned);
        let timeout = self.config.timeout;
        self.handle
            .block_on(async move {
                match reply_to {
                    Some(reply) => client.publish_with_reply(subject, reply, payload).await,
                    None => client.publish(subject, payload).await,
                }
                .map_err(|e| e.to_string())?;
                // Answer only once the server has the message.
                Self::flush(client, timeout).await
            })
            .map_err(|e| self.unavailable(e))
    }

    fn request(
        &self,
        subject: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Message, MessagingError> {
        validate_subject(subject, false)?;
        self.ensure_connected()?;
        let request = async_nats::Request::new()
            .payload(bytes::Bytes::copy_from_slice(body))
            .timeout(Some(timeout));
        let client = &self.client;
        let owned = subject.to_owned();
        // The outer bound covers a request stuck before the client's own timer starts.
        let outer = timeout.saturating_add(self.config.timeout);
        let result = self.handle.block_on(async move {
            tokio::time::timeout(outer, client.send_request(owned, request)).await
        });
        let timed_out = || MessagingError::Timeout {
            subject: subject.into(),
            timeout,
        };
        match result {
            Ok(Ok(reply)) => Ok(Message {
                subject: reply.subject.to_string(),
                reply_to: reply.reply.map(|r| r.to_string()).unwrap_or_default(),
                body: reply.payload.to_vec(),
            }),
            Ok(Err(e)) => Err(match e.kind() {
                RequestErrorKind::TimedOut => timed_out(),
                RequestErrorKind::NoResponders => MessagingError::NoResponders {
                    subject: subject.into(),
                },
                RequestErrorKind::InvalidSubject => MessagingError::InvalidSubject {
                    subject: subject.into(),
                    reason: e.to_string(),
                },
                _ => self.unavailable(e),
            }),
            Err(_) => Err(timed_out()),
        }
    }

    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<String>,
        handler: Handler,
    ) -> Result<Subscription, MessagingError> {
        validate_subject(subject, true)?;
        let client = self.client.clone();
        let owned = subject.to_owned();
        let timeout = self.config.timeout;
        let subscriber = self
            .handle
            .block_on(async move {
                let subscriber = match queue_group {
                    Some(group) => client.queue_subscribe(owned, group).await,
                    None => client.subscribe(owned).await,
                }
                .map_err(|e| e.to_string())?;
                // Return only once the server knows the subscription.
                Self::flush(&client, timeout).await?;
                Ok::<_, String>(subscriber)
            })
            .map_err(|e| self.unavailable(e))?;

        let client = self.client.clone();
        let task = self.handle.spawn(async move {
            let mut subscriber = subscriber;
            while let Some(delivery) = subscriber.next().await {
                let reply_to = delivery.reply.clone();
                let message = Message {
                    subject: delivery.subject.to_string(),
                    reply_to: reply_to.as_ref().map(ToString::to_string).unwrap_or_default(),
                    body: delivery.payload.to_vec(),
                };
                let subject = message.subject.clone();
                let handler = handler.clone();
                // Handlers block (they call guests), so they run off the async workers.
                let reply = match tokio::task::spawn_blocking(move || handler(message)).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        tracing::error!(subject, error = %e, "a messaging handler failed; message dropped");
                        None
                    }
                };
                if let (Some(reply), Some(reply_to)) = (reply, reply_to)
                    && let Err(e) = client.publish(reply_to, reply.body.into()).await
                {
                    tracing::warn!(subject, error = %e, "cannot publish the reply");
                }
            }
        });
        // Aborting drops the subscriber, which unsubscribes from the server.
        Ok(Subscription::new(move || task.abort()))
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the NATS configuration helpers.

    use super::*;

    #[test]
    fn urls_are_split_on_commas_and_checked() {
        assert_eq!(
            parse_servers("nats://127.0.0.1:4222, nats://127.0.0.1:4223")
                .unwrap()
                .len(),
            2
        );
        for bad in ["", " , ", "nats://host:notaport"] {
            let err = parse_servers(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_argument", "{bad}: {err}");
        }
    }

    #[test]
    fn connecting_to_a_dead_port_is_unavailable_and_names_the_url() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // Bind and release a port so nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("nats://127.0.0.1:{port}");
        let mut config = NatsConfig::new(&url);
        config.connect_timeout = Duration::from_millis(500);
        let err = NatsBroker::connect(config, rt.handle().clone()).unwrap_err();
        assert_eq!(err.code(), "unavailable");
        assert!(err.to_string().contains(&url), "{err}");
    }
}
