//! Provider binding: for each capability the module's *verified* claims list, the provider
//! `waxo.toml` chooses — a `[[provider]]` library for that capability, else the built-in one
//! (embedded default or the configured backend). Capabilities a module does not claim get no
//! provider, so no backend connection is ever made on their behalf.

use std::path::PathBuf;
use std::sync::Arc;

use runtime_core::{Host, Provider};
use tokio::runtime::Handle;
use wascap::caps;
use waxosuit_http_client::{AllowList, HttpClientConfig, HttpClientProvider};
use waxosuit_keyvalue::redb::RedbStore;
use waxosuit_keyvalue::redis::{RedisConfig, RedisStore};
use waxosuit_keyvalue::{KeyValueProvider, Store};
use waxosuit_messaging::inproc::InProcBroker;
use waxosuit_messaging::nats::{NatsBroker, NatsConfig};
use waxosuit_messaging::{Broker, MessagingProvider};
use waxosuit_provider_sdk::loader::ProviderLibrary;

use crate::config::{Config, KeyValueBackend, MessagingBackend};
use crate::error::HostError;

/// What binding produced that the triggers need.
#[derive(Default)]
pub(crate) struct Bound {
    /// The messaging provider, when the module claims messaging (its subscriptions are made
    /// through it).
    pub(crate) messaging: Option<Arc<MessagingProvider>>,
}

/// Binds a provider to `host` for every capability in `claimed`.
pub(crate) fn bind(
    host: &Host,
    claimed: &[String],
    config: &Config,
    rt: &Handle,
) -> Result<Bound, HostError> {
    let mut bound = Bound::default();
    let claims = |cap: &str| claimed.iter().any(|c| c == cap);
    // Libraries first: one named in waxo.toml replaces the built-in provider of its capability.
    for library in &config.providers {
        let opened =
            ProviderLibrary::open(&library.path).map_err(|source| HostError::ProviderLibrary {
                path: library.path.clone(),
                source,
            })?;
        let capability = opened.capability_id().to_string();
        if !claims(&capability) {
            tracing::info!(
                capability,
                path = %library.path.display(),
                "provider not started: the module does not claim its capability"
            );
            continue;
        }
        let settings = serde_json::to_value(&library.config).map_err(|e| HostError::Provider {
            capability: capability.clone(),
            source: Box::new(e),
        })?;
        let provider =
            opened
                .instantiate(&settings)
                .map_err(|source| HostError::ProviderLibrary {
                    path: library.path.clone(),
                    source,
                })?;
        attach(host, Arc::new(provider))?;
    }
    for cap in claimed {
        if host.has_provider(cap) {
            continue;
        }
        match cap.as_str() {
            caps::KEYVALUE => attach(host, keyvalue(config, rt)?)?,
            caps::MESSAGING => {
                let provider = Arc::new(messaging(config, rt)?);
                bound.messaging = Some(Arc::clone(&provider));
                attach(host, provider)?;
            }
            caps::HTTP_CLIENT => attach(host, http_client(config, rt)?)?,
            // Logging is served by the runtime itself; the HTTP server is a trigger, started
            // by the app; other ids have no built-in provider (a host call answers
            // `unavailable`, naming the capability).
            _ => {}
        }
    }
    Ok(bound)
}

fn attach(host: &Host, provider: Arc<dyn Provider>) -> Result<(), HostError> {
    let capability = provider.capability_id().to_string();
    host.bind_provider(provider)
        .map_err(|source| HostError::Bind { capability, source })
}

fn failed(capability: &str, e: impl std::error::Error + Send + Sync + 'static) -> HostError {
    HostError::Provider {
        capability: capability.to_string(),
        source: Box::new(e),
    }
}

fn keyvalue(config: &Config, rt: &Handle) -> Result<Arc<dyn Provider>, HostError> {
    let store: Arc<dyn Store> = match config.keyvalue_backend() {
        KeyValueBackend::Embedded => {
            let path = config
                .keyvalue
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(".waxo/kv.redb"));
            Arc::new(RedbStore::open(&path).map_err(|e| failed(caps::KEYVALUE, e))?)
        }
        KeyValueBackend::Redis => {
            let url = config.keyvalue.url.clone().unwrap_or_default();
            Arc::new(
                RedisStore::new(RedisConfig::new(url), rt.clone())
                    .map_err(|e| failed(caps::KEYVALUE, e))?,
            )
        }
    };
    Ok(Arc::new(KeyValueProvider::new(store)))
}

fn messaging(config: &Config, rt: &Handle) -> Result<MessagingProvider, HostError> {
    let broker: Arc<dyn Broker> = match config.messaging_backend() {
        MessagingBackend::Inproc => Arc::new(InProcBroker::new()),
        MessagingBackend::Nats => {
            let url = config.messaging.url.clone().unwrap_or_default();
            Arc::new(
                NatsBroker::connect(NatsConfig::new(url), rt.clone())
                    .map_err(|e| failed(caps::MESSAGING, e))?,
            )
        }
    };
    Ok(MessagingProvider::new(broker))
}

fn http_client(config: &Config, rt: &Handle) -> Result<Arc<dyn Provider>, HostError> {
    let client = HttpClientConfig {
        allow: AllowList::new(&config.http_client.allow)
            .map_err(|e| failed(caps::HTTP_CLIENT, e))?,
        timeout: config.http_client.timeout,
        max_response_bytes: usize::try_from(config.http_client.max_response).unwrap_or(usize::MAX),
    };
    Ok(Arc::new(HttpClientProvider::new(client, rt.clone())))
}
