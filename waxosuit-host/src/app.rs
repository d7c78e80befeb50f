//! Serving a guest: [`load`](crate::load::load) it with its providers, then start its
//! triggers — the HTTP server for `waxosuit:http_server`, subscriptions for
//! `waxosuit:messaging` — and the optional Prometheus endpoint. Every trigger calls the same
//! [`LiveGuest`], the handle a later swap replaces.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runtime_core::{Host, LiveGuest};
use tokio::runtime::Handle;
use waxosuit_http_server::{HttpServer, HttpServerConfig};
use waxosuit_messaging::Subscription;
use waxosuit_proto::http::HttpRequest;

use crate::config::Config;
use crate::error::HostError;
use crate::load::{HostOptions, Loaded, load};
use crate::trigger;

/// How long shutdown waits for calls in flight (HTTP requests and message deliveries).
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

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
    /// Compiled-artifact cache (`None`: compile on every start).
    pub cache_dir: Option<PathBuf>,
}

/// A guest being served.
pub struct App {
    guest: LiveGuest,
    host: Host,
    http: Option<HttpServer>,
    metrics: Option<HttpServer>,
    subscriptions: Vec<Subscription>,
    subjects: Vec<String>,
}

impl App {
    /// Loads the module and starts everything it claims, on the tokio runtime `rt` this is
    /// called on.
    pub async fn start(opts: AppOptions, rt: Handle) -> Result<Self, HostError> {
        let config = opts.config.clone();
        let host_opts = HostOptions {
            module: opts.module.clone(),
            config: opts.config.clone(),
            allow_unsigned: opts.allow_unsigned,
            trust: opts.trust.clone(),
            cache_dir: opts.cache_dir.clone(),
            bind_providers: true,
        };
        // Provider clients (Redis, NATS), subscribing and the compiler block: keep them off the
        // async workers, where blocking on the runtime is not allowed.
        let (loaded, guest, subscriptions) = tokio::task::spawn_blocking(move || {
            let loaded = load(&host_opts, &rt)?;
            let guest = LiveGuest::new(loaded.guest.clone());
            let subscriptions = match &loaded.bound.messaging {
                Some(provider) => trigger::messaging::subscribe(
                    provider,
                    &host_opts.config.messaging.subscriptions,
                    &guest,
                    &loaded.host,
                )?,
                None => Vec::new(),
            };
            Ok::<_, HostError>((loaded, guest, subscriptions))
        })
        .await
        .map_err(|_| HostError::StartupPanicked)??;
        let Loaded { host, claimed, .. } = loaded;
        let subjects = if subscriptions.is_empty() {
            Vec::new()
        } else {
            config
                .messaging
                .subscriptions
                .iter()
                .map(|s| s.subject.clone())
                .collect()
        };
        let mut app = Self {
            guest,
            host,
            http: None,
            metrics: None,
            subscriptions,
            subjects,
        };
        if claimed.iter().any(|c| c == wascap::caps::HTTP_SERVER) {
            let bind = opts.http.unwrap_or(config.http.bind);
            app.http = Some(app.serve_http(bind, &config).await?);
        }
        if let Some(bind) = opts.metrics.or(config.metrics.as_ref().map(|m| m.bind)) {
            app.metrics = Some(trigger::metrics::serve(app.host.clone(), bind).await?);
        }
        Ok(app)
    }

    async fn serve_http(&self, bind: SocketAddr, config: &Config) -> Result<HttpServer, HostError> {
        let http = trigger::http::HttpTrigger::new(
            self.guest.clone(),
            self.host.clone(),
            config.http.show_guest_errors,
        );
        let handler = Arc::new(move |request: HttpRequest| Ok(http.handle(request)));
        let server_config = HttpServerConfig {
            bind,
            max_body_bytes: usize::try_from(config.http.max_body).unwrap_or(usize::MAX),
            shutdown_grace: DRAIN_GRACE,
        };
        HttpServer::start(server_config, handler)
            .await
            .map_err(|source| HostError::Listen {
                what: "HTTP",
                addr: bind,
                hint: "pass `--http 127.0.0.1:PORT` or set `[http] bind` in waxo.toml",
                source,
            })
    }

    /// The live guest the triggers call (for calling it directly, e.g. in tests).
    pub fn guest(&self) -> &LiveGuest {
        &self.guest
    }

    /// The host (its metrics, its providers).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The module's name.
    pub fn name(&self) -> String {
        self.guest.current().name().to_string()
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

    /// Stops the triggers and drains: no new request or message is accepted, and calls in
    /// flight finish (up to [`DRAIN_GRACE`]) before this returns.
    pub async fn shutdown(self) {
        let subscriptions = self.subscriptions;
        // Unsubscribing talks to the broker and may block.
        let _ = tokio::task::spawn_blocking(move || drop(subscriptions)).await;
        if let Some(http) = self.http {
            http.shutdown().await;
        }
        let guest = self.guest.clone();
        let idle = tokio::task::spawn_blocking(move || guest.wait_idle(DRAIN_GRACE)).await;
        if !matches!(idle, Ok(true)) {
            tracing::warn!(
                in_flight = self.guest.in_flight(),
                grace = ?DRAIN_GRACE,
                "calls still in flight after the grace period; stopping anyway"
            );
        }
        if let Some(metrics) = self.metrics {
            metrics.shutdown().await;
        }
    }
}
