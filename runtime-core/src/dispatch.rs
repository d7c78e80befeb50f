//! Guest → host calls: the `waxosuit` import module (`host_call`, `log`), enforcement, and
//! routing each `Command` to the provider bound to its capability.
//!
//! `host_call` never traps for a problem the guest can act on: an undecodable command, a
//! denied or unknown capability, an oversized envelope or a provider failure all come back as
//! an error `Event`. Only a broken ABI traps (a pointer outside guest memory, the guest
//! allocator returning 0, or the wall-clock deadline passing).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prost::Message;
use wasmer::{FunctionEnvMut, Memory, RuntimeError, TypedFunction};
use waxosuit_proto::v1::{Command, Event};
use waxosuit_provider_sdk::{Caller, Provider};

use crate::abi::{as_u32, check_range, pack, read_bytes, write_bytes};
use crate::enforce::{self, Identity};
use crate::limits::Limits;
use crate::metrics::Metrics;

/// Routes commands to providers; shared by every guest of a host.
pub(crate) struct Dispatcher {
    /// Written only while a host is being wired (providers are bound from the claims of the
    /// module it loaded); every `host_call` reads it.
    providers: RwLock<HashMap<String, Arc<dyn Provider>>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limits,
}

/// What every instance of one guest shares: who it is and where its calls go.
pub(crate) struct GuestContext {
    pub(crate) identity: Identity,
    pub(crate) caller: Caller,
    pub(crate) dispatcher: Arc<Dispatcher>,
}

/// The per-instance environment of the host functions.
pub(crate) struct HostEnv {
    pub(crate) ctx: Arc<GuestContext>,
    /// Set right after instantiation (the exports exist only then).
    pub(crate) memory: Option<Memory>,
    pub(crate) alloc: Option<TypedFunction<i32, i32>>,
    /// The wall-clock deadline of the call in progress.
    pub(crate) deadline: Option<Instant>,
}

/// Why a host function trapped the guest; recovered by the caller with `downcast`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostTrap {
    /// The wall-clock deadline passed.
    #[error("the wall-clock deadline of {0:?} passed")]
    Deadline(Duration),
    /// The guest broke the ABI in a host function.
    #[error("{0}")]
    Abi(String),
    /// The guest allocator could not provide a buffer for the host's answer.
    #[error("`waxo_alloc({0})` returned 0 when the host needed a buffer for a host_call answer")]
    AllocFailed(u32),
}

fn trap(t: HostTrap) -> RuntimeError {
    RuntimeError::user(Box::new(t))
}

impl Dispatcher {
    pub(crate) fn new(
        providers: HashMap<String, Arc<dyn Provider>>,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> Self {
        Self {
            providers: RwLock::new(providers),
            metrics,
            limits,
        }
    }

    /// Binds `provider` to its capability; refuses a second provider for the same id.
    pub(crate) fn bind(&self, provider: Arc<dyn Provider>) -> Result<(), String> {
        let mut providers = self
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let id = provider.capability_id().to_string();
        if providers.contains_key(&id) {
            return Err(id);
        }
        providers.insert(id, provider);
        Ok(())
    }

    /// Whether a provider is bound to `capability`.
    pub(crate) fn has(&self, capability: &str) -> bool {
        self.providers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(capability)
    }

    fn provider(&self, capability: &str) -> Option<Arc<dyn Provider>> {
        // A poisoned map is still a map: binding cannot leave it half-written.
        self.providers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(capability)
            .cloned()
    }

    /// Decodes, checks and routes one guest command; always answers with an event.
    pub(crate) fn dispatch(&self, ctx: &GuestContext, bytes: &[u8]) -> Event {
        let module = &ctx.identity.name;
        let cmd = match Command::decode(bytes) {
            Ok(c) => c,
            Err(e) => {
                return Event::error(
                    "invalid_argument",
                    format!("module `{module}` sent a host_call that is not a valid Command: {e}"),
                );
            }
        };
        let capability = waxosuit_proto::capability_of(&cmd.op);
        let _span = tracing::debug_span!("host_call", module = %module, op = %cmd.op).entered();
        self.metrics.host_call(module, capability);
        if let Err(denial) = enforce::check(&ctx.identity, capability, &self.metrics) {
            return Event::error("denied", denial.message);
        }
        let Some(provider) = self.provider(capability) else {
            return Event::error(
                "unavailable",
                format!(
                    "capability `{capability}` is not available on this host: no provider is bound for it (op `{}` from module `{module}`); configure a provider for `{capability}`",
                    cmd.op
                ),
            );
        };
        // A provider must answer with an event, but a bug in one must not take the host
        // down with it.
        match catch_unwind(AssertUnwindSafe(|| provider.call(&ctx.caller, &cmd))) {
            Ok(event) => event,
            Err(_) => {
                tracing::error!(module = %module, capability, op = %cmd.op, "provider panicked");
                Event::error(
                    "internal",
                    format!(
                        "the provider for `{capability}` failed while handling `{}`",
                        cmd.op
                    ),
                )
            }
        }
    }
}

fn check_deadline(env: &HostEnv) -> Result<(), RuntimeError> {
    match env.deadline {
        Some(d) if Instant::now() > d => Err(trap(HostTrap::Deadline(
            env.ctx.dispatcher.limits.call_timeout,
        ))),
        _ => Ok(()),
    }
}

fn memory_of(env: &HostEnv) -> Result<Memory, RuntimeError> {
    env.memory.clone().ok_or_else(|| {
        trap(HostTrap::Abi(
            "the guest called the host during instantiation, before its exports existed".into(),
        ))
    })
}

/// The `waxosuit.host_call(ptr, len) -> i64` import.
pub(crate) fn host_call(
    mut env: FunctionEnvMut<'_, HostEnv>,
    ptr: i32,
    len: i32,
) -> Result<i64, RuntimeError> {
    let (ptr, len) = (as_u32(ptr), as_u32(len));
    let (data, store) = env.data_and_store_mut();
    check_deadline(data)?;
    let ctx = Arc::clone(&data.ctx);
    let limit = ctx.dispatcher.limits.max_envelope_bytes;
    let module = &ctx.identity.name;
    let event = if len as usize > limit {
        Event::error(
            "resource_exhausted",
            format!(
                "module `{module}` sent a {len}-byte command, more than the {limit}-byte envelope limit"
            ),
        )
    } else {
        let memory = memory_of(data)?;
        let view = memory.view(&store);
        let bytes = read_bytes(&view, "the host_call command", ptr, len)
            .map_err(|e| trap(HostTrap::Abi(e.to_string())))?;
        let event = ctx.dispatcher.dispatch(&ctx, &bytes);
        // A provider that took longer than the call's deadline ends the call here rather
        // than handing the guest more time.
        check_deadline(data)?;
        event
    };
    let mut encoded = event.encode_to_vec();
    if encoded.len() > limit {
        encoded = Event::error(
            "resource_exhausted",
            format!(
                "the answer to module `{module}` is {} bytes, more than the {limit}-byte envelope limit",
                encoded.len()
            ),
        )
        .encode_to_vec();
    }
    write_to_guest(&mut env, &encoded)
}

/// Copies an encoded event into a buffer from the guest's allocator; returns the packed
/// `(ptr << 32) | len`, or 0 for an empty event.
fn write_to_guest(
    env: &mut FunctionEnvMut<'_, HostEnv>,
    bytes: &[u8],
) -> Result<i64, RuntimeError> {
    if bytes.is_empty() {
        return Ok(0);
    }
    let len = u32::try_from(bytes.len())
        .map_err(|_| trap(HostTrap::Abi("host_call answer larger than 4 GiB".into())))?;
    let alloc = env.data().alloc.clone().ok_or_else(|| {
        trap(HostTrap::Abi(
            "the guest allocator is not available yet".into(),
        ))
    })?;
    // Re-entrant call into the guest; a trap inside it (including running out of fuel)
    // propagates as is.
    let ptr = alloc.call(env, len as i32)?;
    if ptr == 0 {
        return Err(trap(HostTrap::AllocFailed(len)));
    }
    let (data, store) = env.data_and_store_mut();
    let memory = memory_of(data)?;
    let view = memory.view(&store);
    write_bytes(
        &view,
        "the buffer `waxo_alloc` returned",
        as_u32(ptr),
        bytes,
    )
    .map_err(|e| trap(HostTrap::Abi(e.to_string())))?;
    Ok(pack(as_u32(ptr), len))
}

/// The `waxosuit.log(level, ptr, len)` import. Needs the `waxosuit:logging` claim; without
/// it the message is dropped and a denial recorded (never a trap).
pub(crate) fn log(
    mut env: FunctionEnvMut<'_, HostEnv>,
    level: i32,
    ptr: i32,
    len: i32,
) -> Result<(), RuntimeError> {
    let (ptr, len) = (as_u32(ptr), as_u32(len));
    let (data, store) = env.data_and_store_mut();
    check_deadline(data)?;
    let ctx = Arc::clone(&data.ctx);
    let module = &ctx.identity.name;
    let metrics = &ctx.dispatcher.metrics;
    if enforce::check(&ctx.identity, wascap::caps::LOGGING, metrics).is_err() {
        return Ok(());
    }
    let memory = memory_of(data)?;
    let view = memory.view(&store);
    // Check the whole range (a wild pointer is an ABI violation) but copy at most one
    // envelope's worth.
    let limit = u32::try_from(ctx.dispatcher.limits.max_envelope_bytes).unwrap_or(u32::MAX);
    check_range(&view, "the log message", ptr, len)
        .map_err(|e| trap(HostTrap::Abi(e.to_string())))?;
    let bytes = read_bytes(&view, "the log message", ptr, len.min(limit))
        .map_err(|e| trap(HostTrap::Abi(e.to_string())))?;
    let text = String::from_utf8_lossy(&bytes);
    match level {
        i32::MIN..=0 => tracing::trace!(target: "waxosuit::guest", module = %module, "{text}"),
        1 => tracing::debug!(target: "waxosuit::guest", module = %module, "{text}"),
        2 => tracing::info!(target: "waxosuit::guest", module = %module, "{text}"),
        3 => tracing::warn!(target: "waxosuit::guest", module = %module, "{text}"),
        _ => tracing::error!(target: "waxosuit::guest", module = %module, "{text}"),
    }
    Ok(())
}
