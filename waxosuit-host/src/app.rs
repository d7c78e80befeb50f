//! Serving a guest: the capabilities its claims list are wired from `waxo.toml` (embedded
//! defaults when absent), the host loads it, and its triggers start — the HTTP server for
//! `waxosuit:http_server`, subscriptions for `waxosuit:messaging` — plus the optional
//! Prometheus endpoint. Only claimed capabilities get a provider.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use runtime_core::{Guest, Host, Limits, Provider};
use tokio::runtime::Handle;
use waxosuit_http_client::{AllowList, HttpClientConfig, HttpClientProvider};
use waxosuit_http_server::{HttpServer, HttpServerConfig};
use waxosuit_keyvalue::redb::RedbStore;
use waxosuit_keyvalue::redis::{RedisConfig, RedisStore};
use waxosuit_keyvalue::{KeyValueProvider, Store};
use waxosuit_messaging::inproc::InProcBroker;
use waxosuit_messaging::nats::{NatsBroker, NatsConfig};
use waxosuit_messaging::{Broker, MessagingProvider, Subscription};
use waxosuit_proto::http::{HttpRequest, HttpResponse};
use waxosuit_proto::messaging::Message;
use waxosuit_proto::ops;
use waxosuit_proto::v1::Command;
use waxosuit_provider_sdk::loader::ProviderLibrary;

use crate::config::{Config, KeyValueBackend, MessagingBackend};

/// What to serve, and how.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The module file.
    pub module: PathBuf,
    /// The wiring.
    pub config: Config,
    /// Overrides `[http] bind`.
    pub http: Option<SocketAddr>,
    /// Overrides `[metrics] bind`.
    pub metrics: Option<SocketAddr>,
    /// Run modules without claims (they get no capabilities).
    pub allow_unsigned: bool,
    /// Issuers trusted in addition to `[trust] issuers`.
    pub trust: Vec<String>,
    /// Compiled-artifact cache.
    pub cache_dir: PathBuf,
}

/// A guest being served.
pub struct App {
    guest: Guest,
    host: Host,
    http: Option<HttpServer>,
    metrics: Option<HttpServer>,
    subscriptions: Vec<Subscription>,
    subjects: Vec<String>,
}

/// The part of start-up that blocks (provider connections, compiling, subscribing).
struct Loaded {
    host: Host,
    guest: Guest,
    caps: Vec<String>,
    subscriptions: Vec<Subscription>,
    subjects: Vec<String>,
}

impl App {
    /// Loads the module and starts everything it claims, on the tokio runtime `rt` this is
    /// called on.
    pub async fn start(opts: AppOptions, rt: Handle) -> anyhow::Result<Self> {
        // Provider clients (Redis, NATS) and the compiler block: keep them off the async
        // workers, where blocking on the runtime is not allowed.
        let load_opts = opts.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&load_opts, rt))
            .await
            .context("start-up stopped unexpectedly")??;
        let Loaded {
            host,
            guest,
            caps,
            subscriptions,
            subjects,
        } = loaded;
        let config = &opts.config;
        let mut app = Self {
            guest,
            host,
            http: None,
            metrics: None,
            subscriptions,
            subjects,
        };
        if caps.iter().any(|c| c == wascap::caps::HTTP_SERVER) {
            let bind = opts.http.unwrap_or(config.http.bind);
            let server_config = HttpServerConfig {
                bind,
                max_body_bytes: usize::try_from(config.http.max_body).unwrap_or(usize::MAX),
                ..Default::default()
            };
            let guest = app.guest.clone();
            let handler = Arc::new(move |request: HttpRequest| handle_http(&guest, request));
            let server = HttpServer::start(server_config, handler).await;
            app.http = Some(server.map_err(|e| {
                anyhow::anyhow!(
                    "{e}; pass `--http 127.0.0.1:PORT` or set `[http] bind` in waxo.toml"
                )
            })?);
        }
        if let Some(bind) = opts.metrics.or(config.metrics.as_ref().map(|m| m.bind)) {
            let host = app.host.clone();
            let handler = Arc::new(move |request: HttpRequest| {
                Ok(if request.path == "/metrics" {
                    HttpResponse::text(200, host.metrics_text())
                        .with_header("content-type", "text/plain; version=0.0.4")
                } else {
                    HttpResponse::text(404, "metrics are at /metrics\n")
                })
            });
            let metrics_config = HttpServerConfig {
                bind,
                ..Default::default()
            };
            let server = HttpServer::start(metrics_config, handler).await;
            app.metrics = Some(server.map_err(|e| {
                anyhow::anyhow!("metrics endpoint: {e}; pass another `--metrics ADDR`")
            })?);
        }
        Ok(app)
    }

    /// The loaded guest (for calling it directly, e.g. in tests).
    pub fn guest(&self) -> &Guest {
        &self.guest
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        self.guest.name()
    }

    /// Where HTTP requests are served, if the module claims `waxosuit:http_server`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::local_addr)
    }

    /// Where `/metrics` is served, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(HttpServer::local_addr)
    }

    /// Subjects delivered to the guest.
    pub fn subjects(&self) -> &[String] {
        &self.subjects
    }

    /// Stops the triggers, letting requests in flight finish.
    pub async fn shutdown(self) {
        let subscriptions = self.subscriptions;
        // Unsubscribing talks to the broker and may block.
        let _ = tokio::task::spawn_blocking(move || drop(subscriptions)).await;
        if let Some(http) = self.http {
            http.shutdown().await;
        }
        if let Some(metrics) = self.metrics {
            metrics.shutdown().await;
        }
    }
}

/// Starts the claimed providers, loads the module and subscribes it; runs on a blocking
/// thread.
fn load(opts: &AppOptions, rt: Handle) -> anyhow::Result<Loaded> {
    let bytes = std::fs::read(&opts.module)
        .with_context(|| format!("cannot read module `{}`", opts.module.display()))?;
    let caps = claimed_capabilities(&bytes, opts)?;
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let config = &opts.config;

    let mut builder = Host::builder()
        .trusted_issuers(config.trust.issuers.iter().chain(&opts.trust).cloned())
        .allow_unsigned(opts.allow_unsigned)
        .limits(limits(config))
        .cache_dir(&opts.cache_dir);
    let mut messaging = None;
    if has(wascap::caps::KEYVALUE) {
        builder = builder.provider(keyvalue(config, rt.clone())?);
    }
    if has(wascap::caps::MESSAGING) {
        let provider = Arc::new(messaging_provider(config, rt.clone())?);
        messaging = Some(Arc::clone(&provider));
        builder = builder.provider(provider);
    }
    if has(wascap::caps::HTTP_CLIENT) {
        let client = HttpClientConfig {
            allow: AllowList::new(&config.http_client.allow)?,
            timeout: config.http_client.timeout,
            max_response_bytes: usize::try_from(config.http_client.max_response)
                .unwrap_or(usize::MAX),
        };
        builder = builder.provider(Arc::new(HttpClientProvider::new(client, rt.clone())));
    }
    for library in &config.providers {
        let opened = ProviderLibrary::open(&library.path)?;
        if !has(opened.capability_id()) {
            tracing::info!(
                capability = opened.capability_id(),
                path = %library.path.display(),
                "provider not started: the module does not claim its capability"
            );
            continue;
        }
        let settings = serde_json::to_value(&library.config)
            .context("cannot pass a provider its `config` table")?;
        builder = builder.provider(Arc::new(opened.instantiate(&settings)?));
    }
    let host = builder.build().context("cannot start the host")?;
    let guest = host
        .load(bytes)
        .map_err(|e| anyhow::anyhow!("cannot load `{}`: {e}", opts.module.display()))?;

    let mut subscriptions = Vec::new();
    let mut subjects = Vec::new();
    if let Some(messaging) = messaging {
        for sub in &config.messaging.subscriptions {
            let target = guest.clone();
            let deliver = Arc::new(move |message: Message| deliver(&target, message));
            let subscription = messaging
                .subscribe_guest(&sub.subject, sub.queue_group.clone(), deliver)
                .with_context(|| format!("cannot subscribe to `{}`", sub.subject))?;
            subscriptions.push(subscription);
            subjects.push(sub.subject.clone());
        }
    }
    Ok(Loaded {
        host,
        guest,
        caps,
        subscriptions,
        subjects,
    })
}

/// The capabilities the module claims; empty for an allowed unsigned module. Verification
/// proper happens in the host; this only decides which providers to start.
fn claimed_capabilities(bytes: &[u8], opts: &AppOptions) -> anyhow::Result<Vec<String>> {
    match wascap::inspect(bytes) {
        Ok(report) => Ok(report.claims.caps().to_vec()),
        Err(wascap::VerifyError::Unsigned) if opts.allow_unsigned => {
            tracing::warn!(
                "`{}` is not signed: it runs without claims, so no capability is bound",
                opts.module.display()
            );
            Ok(Vec::new())
        }
        Err(wascap::VerifyError::Unsigned) => bail!(
            "`{}` is not signed, and unsigned modules have no capabilities; sign it with \
             `cargo waxo build` (or `cargo wascap sign`), or pass `--allow-unsigned`",
            opts.module.display()
        ),
        Err(e) => bail!("`{}`: {e}", opts.module.display()),
    }
}

fn limits(config: &Config) -> Limits {
    let mut limits = Limits::default();
    let l = &config.limits;
    if let Some(memory) = l.memory {
        limits.max_memory_bytes = memory;
    }
    if let Some(timeout) = l.call_timeout {
        limits.call_timeout = timeout;
    }
    if let Some(fuel) = l.fuel {
        limits.max_fuel_per_call = fuel;
    }
    if let Some(envelope) = l.max_envelope {
        limits.max_envelope_bytes = usize::try_from(envelope).unwrap_or(usize::MAX);
    }
    if let Some(instances) = l.instances {
        limits.max_instances = instances;
    }
    limits
}

fn keyvalue(config: &Config, rt: Handle) -> anyhow::Result<Arc<dyn Provider>> {
    let store: Arc<dyn Store> =
        match config.keyvalue_backend() {
            KeyValueBackend::Embedded => {
                let path = config
                    .keyvalue
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".waxo/kv.redb"));
                Arc::new(RedbStore::open(&path).with_context(|| {
                    format!("cannot open the key-value store `{}`", path.display())
                })?)
            }
            KeyValueBackend::Redis => {
                let url = config.keyvalue.url.clone().unwrap_or_default();
                let store = RedisStore::new(RedisConfig::new(url.clone()), rt)?;
                Arc::new(store)
            }
        };
    Ok(Arc::new(KeyValueProvider::new(store)))
}

fn messaging_provider(config: &Config, rt: Handle) -> anyhow::Result<MessagingProvider> {
    let broker: Arc<dyn Broker> = match config.messaging_backend() {
        MessagingBackend::Inproc => Arc::new(InProcBroker::new()),
        MessagingBackend::Nats => {
            let url = config.messaging.url.clone().unwrap_or_default();
            Arc::new(
                NatsBroker::connect(NatsConfig::new(url.clone()), rt)
                    .with_context(|| format!("cannot connect to NATS at `{url}`"))?,
            )
        }
    };
    Ok(MessagingProvider::new(broker))
}

/// One HTTP request through the guest.
fn handle_http(guest: &Guest, request: HttpRequest) -> Result<HttpResponse, String> {
    let event = guest
        .call(&Command::new(ops::HTTP_SERVER_HANDLE, &request))
        .map_err(|e| e.to_string())?;
    if let Some(error) = &event.error {
        return Err(format!("{}: {}", error.code, error.message));
    }
    event
        .payload_as::<HttpResponse>()
        .map_err(|e| e.to_string())
}

/// One message through the guest; its `Message` payload, if any, is the reply.
fn deliver(guest: &Guest, message: Message) -> Option<Message> {
    let subject = message.subject.clone();
    match guest.call(&Command::new(ops::MSG_DELIVER, &message)) {
        Ok(event) if event.is_ok() => event.payload_as::<Message>().ok(),
        Ok(event) => {
            tracing::warn!(%subject, error = ?event.error, "guest failed to handle a message");
            None
        }
        Err(e) => {
            tracing::warn!(%subject, error = %e, "guest failed to handle a message");
            None
        }
    }
}
