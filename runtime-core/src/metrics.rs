//! Prometheus metrics of the host, rendered as Prometheus text by
//! [`Host::metrics_text`](crate::Host::metrics_text).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `waxosuit_guest_calls_total` | counter | `module` |
//! | `waxosuit_guest_call_errors_total` | counter | `module`, `code` |
//! | `waxosuit_guest_call_duration_seconds` | histogram | `module` |
//! | `waxosuit_capability_denials_total` | counter | `module`, `capability` |
//! | `waxosuit_host_calls_total` | counter | `module`, `capability` |
//! | `waxosuit_guest_instances` | gauge | `module` |
//! | `waxosuit_artifact_cache_total` | counter | `outcome` (`hit`, `miss`, `recompiled`) |
//! | `waxosuit_trigger_responses_total` | counter | `module`, `trigger` ([`Trigger`]), `outcome` ([`Outcome`]) |

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModuleLabels {
    pub(crate) module: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub(crate) module: String,
    pub(crate) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CapabilityLabels {
    pub(crate) module: String,
    pub(crate) capability: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLabels {
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TriggerLabels {
    pub(crate) module: String,
    pub(crate) trigger: Trigger,
    pub(crate) outcome: Outcome,
}

/// What called the guest on the world's behalf.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// An HTTP request (`waxosuit:http_server`).
    Http,
    /// A message on a subscribed subject (`waxosuit:messaging`).
    Messaging,
}

/// How a trigger answered. The label values are a closed set, so a guest cannot grow the
/// number of series.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The guest answered successfully.
    Ok,
    /// The guest answered with an error event (HTTP 500).
    GuestError,
    /// Every instance stayed busy (HTTP 503).
    Busy,
    /// The call ran past its deadline (HTTP 504).
    Deadline,
    /// The request was larger than the envelope limit (HTTP 413).
    TooLarge,
    /// The call failed in the host or the guest broke the ABI (HTTP 500).
    Failed,
}

impl Trigger {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Messaging => "messaging",
        }
    }
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::GuestError => "guest_error",
            Outcome::Busy => "busy",
            Outcome::Deadline => "deadline",
            Outcome::TooLarge => "too_large",
            Outcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for Trigger {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

fn latency_histogram() -> Histogram {
    // 1 µs … ~16 s in powers of 4.
    Histogram::new(exponential_buckets(1e-6, 4.0, 13))
}

/// Handles on one guest's call counter and latency histogram (shared with the registry).
pub(crate) struct GuestMetrics {
    pub(crate) calls: Counter,
    pub(crate) latency: Histogram,
}

/// The host's metric families and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) calls: Family<ModuleLabels, Counter>,
    pub(crate) errors: Family<ErrorLabels, Counter>,
    pub(crate) latency: Family<ModuleLabels, Histogram, fn() -> Histogram>,
    pub(crate) denials: Family<CapabilityLabels, Counter>,
    pub(crate) host_calls: Family<CapabilityLabels, Counter>,
    pub(crate) instances: Family<ModuleLabels, Gauge>,
    pub(crate) cache: Family<CacheLabels, Counter>,
    pub(crate) triggers: Family<TriggerLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("waxosuit");
        let calls = Family::<ModuleLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let latency = Family::<ModuleLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let denials = Family::<CapabilityLabels, Counter>::default();
        let host_calls = Family::<CapabilityLabels, Counter>::default();
        let instances = Family::<ModuleLabels, Gauge>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let triggers = Family::<TriggerLabels, Counter>::default();
        registry.register(
            "guest_calls",
            "Calls into guests (host to guest)",
            calls.clone(),
        );
        registry.register(
            "guest_call_errors",
            "Calls into guests that failed (trap, deadline, ABI violation) or answered with an error event, by error code",
            errors.clone(),
        );
        registry.register(
            "guest_call_duration_seconds",
            "Duration of calls into guests",
            latency.clone(),
        );
        registry.register(
            "capability_denials",
            "Capability uses refused because the module's claims do not list the capability",
            denials.clone(),
        );
        registry.register(
            "host_calls",
            "host_call requests from guests, by capability",
            host_calls.clone(),
        );
        registry.register(
            "guest_instances",
            "Live instances per module",
            instances.clone(),
        );
        registry.register(
            "artifact_cache",
            "Compiled-artifact cache lookups by outcome",
            cache.clone(),
        );
        registry.register(
            "trigger_responses",
            "Answers triggers gave for guests (HTTP status classes, message deliveries), by outcome",
            triggers.clone(),
        );
        Self {
            registry,
            calls,
            errors,
            latency,
            denials,
            host_calls,
            instances,
            cache,
            triggers,
        }
    }

    /// The per-module series a guest updates on every call, resolved once at load so a
    /// call does not allocate labels or look them up.
    pub(crate) fn for_guest(&self, module: &str) -> GuestMetrics {
        let labels = Self::module(module);
        GuestMetrics {
            calls: self.calls.get_or_create(&labels).clone(),
            latency: self.latency.get_or_create(&labels).clone(),
        }
    }

    pub(crate) fn module(module: &str) -> ModuleLabels {
        ModuleLabels {
            module: module.to_string(),
        }
    }

    pub(crate) fn error(&self, module: &str, code: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                module: module.to_string(),
                code: code.to_string(),
            })
            .inc();
    }

    pub(crate) fn denial(&self, module: &str, capability: &str) {
        self.denials
            .get_or_create(&CapabilityLabels {
                module: module.to_string(),
                capability: capability.to_string(),
            })
            .inc();
    }

    pub(crate) fn host_call(&self, module: &str, capability: &str) {
        self.host_calls
            .get_or_create(&CapabilityLabels {
                module: module.to_string(),
                capability: capability.to_string(),
            })
            .inc();
    }

    pub(crate) fn cache(&self, outcome: &str) {
        self.cache
            .get_or_create(&CacheLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub(crate) fn trigger(&self, module: &str, trigger: Trigger, outcome: Outcome) {
        self.triggers
            .get_or_create(&TriggerLabels {
                module: module.to_string(),
                trigger,
                outcome,
            })
            .inc();
    }

    /// The denial count for one module and capability (for tests and reports).
    pub(crate) fn denials_for(&self, module: &str, capability: &str) -> u64 {
        self.denials
            .get(&CapabilityLabels {
                module: module.to_string(),
                capability: capability.to_string(),
            })
            .map_or(0, |c| c.get())
    }

    /// All metrics in the Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
