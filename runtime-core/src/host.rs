//! The host and its builder, and loaded guests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use waxosuit_proto::v1::{Command, Event};
use waxosuit_provider_sdk::{Caller, Provider};

use crate::cache::ArtifactCache;
use crate::dispatch::{Dispatcher, GuestContext};
use crate::error::{BuildError, CallError, LoadError};
use crate::limits::Limits;
use crate::load::{self, LoadConfig, LoadReport};
use crate::metrics::{GuestMetrics, Metrics, Outcome, Trigger};
use crate::pool::{Pool, Slot, instantiate_error};

/// Configures a [`Host`]. Obtain one with [`Host::builder`].
#[must_use]
#[derive(Default)]
pub struct HostBuilder {
    trusted_issuers: Vec<String>,
    allow_unsigned: bool,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    providers: Vec<Arc<dyn Provider>>,
}

impl HostBuilder {
    /// Accept only modules signed by one of these account keys (`A…`). With none, any
    /// valid issuer is accepted.
    pub fn trusted_issuers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_issuers
            .extend(issuers.into_iter().map(Into::into));
        self
    }

    /// Accept unsigned modules (development only). An unsigned module has no claims, so
    /// every capability use is denied.
    pub fn allow_unsigned(mut self, allow: bool) -> Self {
        self.allow_unsigned = allow;
        self
    }

    /// Replace the default [`Limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Cache compiled artifacts in this directory (created if missing). Without it every
    /// load compiles.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Bind a provider to its capability (one provider per capability id).
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Builds the host.
    pub fn build(self) -> Result<Host, BuildError> {
        self.limits.validate()?;
        let mut providers: HashMap<String, Arc<dyn Provider>> = HashMap::new();
        for p in self.providers {
            let id = p.capability_id().to_string();
            if providers.insert(id.clone(), p).is_some() {
                return Err(BuildError::DuplicateProvider(id));
            }
        }
        let cache = match &self.cache_dir {
            Some(dir) => Some(ArtifactCache::open(dir, &load::engine_key(&self.limits))?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        let dispatcher = Arc::new(Dispatcher::new(
            providers,
            Arc::clone(&metrics),
            self.limits.clone(),
        ));
        Ok(Host {
            inner: Arc::new(HostInner {
                config: LoadConfig {
                    trusted_issuers: self.trusted_issuers,
                    allow_unsigned: self.allow_unsigned,
                    limits: self.limits,
                    cache,
                },
                metrics,
                dispatcher,
            }),
        })
    }
}

struct HostInner {
    config: LoadConfig,
    metrics: Arc<Metrics>,
    dispatcher: Arc<Dispatcher>,
}

/// The Waxosuit host: loads and verifies modules, runs them, enforces their claims.
///
/// Cheap to clone (shared state); `Send + Sync`.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("limits", &self.inner.config.limits)
            .field("allow_unsigned", &self.inner.config.allow_unsigned)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// A builder with safe defaults: unsigned modules refused, any issuer trusted, default
    /// [`Limits`], no artifact cache, no providers.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The limits this host applies.
    pub fn limits(&self) -> &Limits {
        &self.inner.config.limits
    }

    /// Loads a module from memory: verify claims, compile (through the cache), create the
    /// first instance and check its ABI version.
    pub fn load(&self, bytes: impl AsRef<[u8]>) -> Result<Guest, LoadError> {
        self.load_named(None, bytes.as_ref())
    }

    /// Loads a module file; the file stem names an unsigned module in logs and errors.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<Guest, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| LoadError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        self.load_named(stem.as_deref(), &bytes)
    }

    fn load_named(&self, name: Option<&str>, bytes: &[u8]) -> Result<Guest, LoadError> {
        let inner = &self.inner;
        let loaded = load::load(&inner.config, &inner.metrics, name, bytes)?;
        let ctx = Arc::new(GuestContext {
            caller: Caller::new(
                loaded.identity.name.clone(),
                loaded.identity.subject.clone(),
            ),
            identity: loaded.identity,
            dispatcher: Arc::clone(&inner.dispatcher),
        });
        let first = Slot::new(&loaded.engine, &loaded.module, &ctx)
            .map_err(|e| instantiate_error(&ctx.identity.name, e))?;
        let pool = Pool::new(
            loaded.engine,
            loaded.module,
            Arc::clone(&ctx),
            Arc::clone(&inner.metrics),
            first,
        );
        Ok(Guest {
            inner: Arc::new(GuestInner {
                ctx,
                pool,
                claims: loaded.claims,
                series: inner.metrics.for_guest(&loaded.report.module),
                report: loaded.report,
                metrics: Arc::clone(&inner.metrics),
            }),
        })
    }

    /// All host metrics in the Prometheus text format (see the [`metrics`](crate::metrics)
    /// module for the names).
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.render()
    }

    /// Binds `provider` to its capability after the host is built — how a host wires the
    /// providers a loaded module's verified claims ask for, without verifying it twice.
    /// Refuses a second provider for the same capability.
    pub fn bind_provider(&self, provider: Arc<dyn Provider>) -> Result<(), BuildError> {
        self.inner
            .dispatcher
            .bind(provider)
            .map_err(BuildError::DuplicateProvider)
    }

    /// Whether a provider is bound to `capability`.
    pub fn has_provider(&self, capability: &str) -> bool {
        self.inner.dispatcher.has(capability)
    }

    /// Counts one answer a trigger gave on behalf of `module` (see
    /// `waxosuit_trigger_responses_total` in [`metrics`](crate::metrics)).
    pub fn record_trigger(&self, module: &str, trigger: Trigger, outcome: Outcome) {
        self.inner.metrics.trigger(module, trigger, outcome);
    }

    /// How many capability uses by `module` of `capability` were denied so far.
    pub fn denials(&self, module: &str, capability: &str) -> u64 {
        self.inner.metrics.denials_for(module, capability)
    }
}

struct GuestInner {
    ctx: Arc<GuestContext>,
    pool: Pool,
    claims: Option<wascap::Claims>,
    report: LoadReport,
    metrics: Arc<Metrics>,
    series: GuestMetrics,
}

/// A loaded module. Cheap to clone; `call` may be used from many threads at once (each
/// concurrent call runs in its own instance).
#[derive(Clone)]
pub struct Guest {
    inner: Arc<GuestInner>,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("report", &self.inner.report)
            .finish_non_exhaustive()
    }
}

impl Guest {
    /// The module's name (from its claims, or the file stem / `unsigned`).
    pub fn name(&self) -> &str {
        &self.inner.ctx.identity.name
    }

    /// The verified claims, `None` for an unsigned module.
    pub fn claims(&self) -> Option<&wascap::Claims> {
        self.inner.claims.as_ref()
    }

    /// What happened while loading (hash, signed, artifact cache outcome).
    pub fn report(&self) -> &LoadReport {
        &self.inner.report
    }

    /// Live instances of this guest (idle and busy).
    pub fn instances(&self) -> usize {
        self.inner.pool.live()
    }

    /// Sends `command` to the guest's `waxo_handle` and returns its `Event`.
    ///
    /// `Ok` carries whatever event the guest answered, including an error event (e.g.
    /// `unknown_operation`); `Err` means the call itself failed (trap, deadline, ABI
    /// violation, oversized envelope). Either way the guest stays usable.
    pub fn call(&self, command: &Command) -> Result<Event, CallError> {
        let inner = &self.inner;
        let module = self.name();
        let _span = tracing::info_span!("guest_call", module = %module, op = %command.op).entered();
        let start = Instant::now();
        inner.series.calls.inc();
        let result = self.call_encoded(command, start);
        inner.series.latency.observe(start.elapsed().as_secs_f64());
        match &result {
            Ok(event) => {
                if let Some(err) = &event.error {
                    inner.metrics.error(module, &err.code);
                    tracing::debug!(code = %err.code, message = %err.message, "guest answered with an error event");
                }
            }
            Err(e) => {
                inner.metrics.error(module, e.code());
                tracing::warn!(error = %e, "guest call failed");
            }
        }
        result
    }

    fn call_encoded(&self, command: &Command, started: Instant) -> Result<Event, CallError> {
        // The pool encodes the command into the instance's reusable buffer and checks its
        // size against the envelope limit there.
        self.inner.pool.call(command, started)
    }
}
