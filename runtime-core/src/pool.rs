//! The instance pool of one guest, and one call through one instance.
//!
//! A wasm instance is single-threaded, so concurrent calls use different instances: a call
//! takes an idle instance, or creates one while fewer than `Limits::max_instances` exist, or
//! waits (up to `Limits::call_timeout`) for one to come back. An instance that trapped or
//! broke the ABI mid-call is discarded (its memory and allocator state cannot be trusted);
//! the next call gets a fresh one.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prost::Message;
use wasmer::{Engine, Function, FunctionEnv, Instance, Module, RuntimeError, Store, imports};
use waxosuit_proto::v1::{Command, Event};

use crate::abi::{
    GuestExports, IMPORT_MODULE, MovableStore, as_u32, read_into, unpack, write_bytes,
};
use crate::dispatch::{self, GuestContext, HostEnv, HostTrap};
use crate::error::{CallError, Direction};
use crate::metrics::Metrics;

/// One instance with its own store.
pub(crate) struct Slot {
    store: MovableStore,
    env: FunctionEnv<HostEnv>,
    exports: GuestExports,
    /// Reused for the encoded command and the returned event bytes of each call.
    scratch: Vec<u8>,
    /// The command buffer in guest memory (ABI 2: the host's, reused across calls).
    command: GuestBuffer,
}

/// A buffer the host obtained from the guest's `waxo_alloc` and keeps across calls.
#[derive(Clone, Copy, Default)]
struct GuestBuffer {
    ptr: u32,
    /// 0 while the host holds no buffer.
    cap: u32,
}

/// Buffers above this size — the host's scratch and the guest-side command buffer — are
/// released after the call instead of kept (one extra `waxo_free` after a large command).
const SCRATCH_KEEP: usize = 64 * 1024;

/// The smallest command buffer the host asks the guest for: most commands fit, so most
/// instances allocate once in their life.
const MIN_COMMAND_BUFFER: u32 = 1024;

/// Why a fresh instance could not be made.
pub(crate) enum InstantiateError {
    /// The module does not speak the ABI (version, export types).
    Abi(String),
    /// Linking or the start function failed, or memory could not be created.
    Other(String),
}

/// A failed call, and whether the instance must be thrown away.
struct Failure {
    error: CallError,
    discard: bool,
}

impl Failure {
    fn keep(error: CallError) -> Self {
        Self {
            error,
            discard: false,
        }
    }
    fn discard(error: CallError) -> Self {
        Self {
            error,
            discard: true,
        }
    }
}

impl Slot {
    /// Instantiates the module in a new store and checks the ABI.
    pub(crate) fn new(
        engine: &Engine,
        module: &Module,
        ctx: &Arc<GuestContext>,
    ) -> Result<Self, InstantiateError> {
        let mut store = Store::new(engine.clone());
        let env = FunctionEnv::new(
            &mut store,
            HostEnv {
                ctx: Arc::clone(ctx),
                memory: None,
                alloc: None,
                deadline: None,
            },
        );
        let host_call = Function::new_typed_with_env(&mut store, &env, dispatch::host_call);
        let log = Function::new_typed_with_env(&mut store, &env, dispatch::log);
        let imports = imports! {
            IMPORT_MODULE => {
                "host_call" => host_call,
                "log" => log,
            }
        };
        let instance = Instance::new(&mut store, module, &imports)
            .map_err(|e| InstantiateError::Other(e.to_string()))?;
        let exports =
            GuestExports::resolve(&mut store, &instance).map_err(InstantiateError::Abi)?;
        let data = env.as_mut(&mut store);
        data.memory = Some(exports.memory.clone());
        data.alloc = Some(exports.alloc.clone());
        Ok(Self {
            store: MovableStore::new(store),
            env,
            exports,
            scratch: Vec::new(),
            command: GuestBuffer::default(),
        })
    }

    /// One host → guest call: copy the command in, run `waxo_handle`, copy the event out.
    fn invoke(
        &mut self,
        command: &Command,
        module: &str,
        limits: &crate::Limits,
        started: Instant,
    ) -> Result<Event, Failure> {
        self.exports
            .refuel(&mut self.store, limits.max_fuel_per_call)
            .map_err(|m| {
                Failure::discard(CallError::Instantiate {
                    module: module.to_string(),
                    message: format!("cannot set the fuel budget: {m}"),
                })
            })?;
        // Only read while this call runs; the next call overwrites it.
        self.env.as_mut(&mut *self.store).deadline = Some(started + limits.call_timeout);
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        command.encode_raw(&mut buf);
        let mut result = if buf.len() > limits.max_envelope_bytes {
            Err(Failure::keep(CallError::EnvelopeTooLarge {
                module: module.to_string(),
                direction: Direction::Command,
                size: buf.len() as u64,
                limit: limits.max_envelope_bytes,
            }))
        } else {
            self.invoke_inner(&mut buf, module, limits)
        };
        // Large buffers are not kept for the instance's life, on either side of the boundary
        // (whatever the call's outcome, unless the instance is thrown away anyway).
        if buf.capacity() <= SCRATCH_KEEP {
            self.scratch = buf;
        }
        let instance_kept = !matches!(&result, Err(f) if f.discard);
        if instance_kept
            && self.command.cap as usize > SCRATCH_KEEP
            && let Err(f) = self.release_command_buffer(module, limits)
        {
            result = Err(f);
        }
        result
    }

    /// `buf` holds the encoded command on entry and is reused for the event bytes.
    ///
    /// ABI 2: the command goes into the instance's reusable buffer, so a call is a single
    /// `waxo_handle` (plus a `waxo_alloc` when the buffer is missing or too small), and the
    /// event stays the guest's: the host copies it out and never frees it.
    fn invoke_inner(
        &mut self,
        buf: &mut Vec<u8>,
        module: &str,
        limits: &crate::Limits,
    ) -> Result<Event, Failure> {
        let abi = |message: String| CallError::Abi {
            module: module.to_string(),
            message,
        };
        // The length was checked against the envelope limit, which fits in u32.
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let target = self.command_buffer(len, module, limits)?;
        {
            let view = self.exports.memory.view(&*self.store);
            write_bytes(
                &view,
                "the command buffer `waxo_alloc` returned",
                target.ptr,
                buf,
            )
            .map_err(|e| Failure::discard(abi(e.to_string())))?;
        }
        let packed = self
            .exports
            .handle
            .call(&mut *self.store, target.ptr as i32, len as i32)
            .map_err(|e| Failure::discard(self.classify(e, module, limits)))?;
        if packed == 0 {
            return Ok(Event::default());
        }
        let (event_ptr, event_len) = unpack(packed);
        if event_len as usize > limits.max_envelope_bytes {
            return Err(Failure::discard(CallError::EnvelopeTooLarge {
                module: module.to_string(),
                direction: Direction::Event,
                size: u64::from(event_len),
                limit: limits.max_envelope_bytes,
            }));
        }
        {
            let view = self.exports.memory.view(&*self.store);
            read_into(
                &view,
                "the event `waxo_handle` returned",
                event_ptr,
                event_len,
                buf,
            )
            .map_err(|e| Failure::discard(abi(e.to_string())))?;
        }
        Event::decode(buf.as_slice()).map_err(|e| {
            Failure::keep(abi(format!(
                "`waxo_handle` returned {event_len} bytes that are not an Event: {e}"
            )))
        })
    }

    /// The instance's command buffer, grown (through the guest's allocator) to hold `len`
    /// bytes.
    fn command_buffer(
        &mut self,
        len: u32,
        module: &str,
        limits: &crate::Limits,
    ) -> Result<GuestBuffer, Failure> {
        if self.command.cap >= len && self.command.cap > 0 {
            return Ok(self.command);
        }
        self.release_command_buffer(module, limits)?;
        let cap = len.max(MIN_COMMAND_BUFFER);
        let ptr = self
            .exports
            .alloc
            .call(&mut *self.store, cap as i32)
            .map_err(|e| Failure::discard(self.classify(e, module, limits)))?;
        if ptr == 0 {
            return Err(Failure::discard(CallError::ResourceExhausted {
                module: module.to_string(),
                message: format!(
                    "`waxo_alloc({cap})` returned 0: the guest could not allocate the command buffer (memory limit {} bytes)",
                    limits.max_memory_bytes
                ),
            }));
        }
        self.command = GuestBuffer {
            ptr: as_u32(ptr),
            cap,
        };
        Ok(self.command)
    }

    /// Gives the command buffer back to the guest's allocator.
    fn release_command_buffer(
        &mut self,
        module: &str,
        limits: &crate::Limits,
    ) -> Result<(), Failure> {
        let GuestBuffer { ptr, cap } = std::mem::take(&mut self.command);
        if cap == 0 {
            return Ok(());
        }
        self.exports
            .free
            .call(&mut *self.store, ptr as i32, cap as i32)
            .map_err(|e| Failure::discard(self.classify(e, module, limits)))
    }

    /// Turns a runtime error from guest code into the matching call error.
    fn classify(&mut self, err: RuntimeError, module: &str, limits: &crate::Limits) -> CallError {
        let module = module.to_string();
        if self.exports.fuel_exhausted(&mut self.store) {
            return CallError::DeadlineExceeded {
                module,
                what: format!("{} fuel units", limits.max_fuel_per_call),
            };
        }
        if let Some(host) = err.downcast_ref::<HostTrap>() {
            return match host {
                HostTrap::Deadline(d) => CallError::DeadlineExceeded {
                    module,
                    what: format!("wall clock {d:?}"),
                },
                HostTrap::Abi(m) => CallError::Abi {
                    module,
                    message: m.clone(),
                },
                HostTrap::AllocFailed(_) => CallError::ResourceExhausted {
                    module,
                    message: host.to_string(),
                },
            };
        }
        CallError::Trap {
            module,
            message: err.message(),
        }
    }
}

struct PoolState {
    idle: Vec<Slot>,
    live: usize,
    /// Calls waiting for an instance; `notify` is skipped (it costs a syscall) when 0.
    waiting: usize,
}

/// The instances of one guest.
pub(crate) struct Pool {
    engine: Engine,
    module: Module,
    ctx: Arc<GuestContext>,
    metrics: Arc<Metrics>,
    state: Mutex<PoolState>,
    freed: Condvar,
}

impl Pool {
    /// A pool holding `first`, the instance made while loading.
    pub(crate) fn new(
        engine: Engine,
        module: Module,
        ctx: Arc<GuestContext>,
        metrics: Arc<Metrics>,
        first: Slot,
    ) -> Self {
        let pool = Self {
            engine,
            module,
            ctx,
            metrics,
            state: Mutex::new(PoolState {
                idle: vec![first],
                live: 1,
                waiting: 0,
            }),
            freed: Condvar::new(),
        };
        pool.report(1);
        pool
    }

    fn module_name(&self) -> &str {
        &self.ctx.identity.name
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock cannot leave the state inconsistent (it is a
        // vector and a counter), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn report(&self, live: usize) {
        self.metrics
            .instances
            .get_or_create(&Metrics::module(self.module_name()))
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }

    /// The number of live instances (idle or in use).
    pub(crate) fn live(&self) -> usize {
        self.lock().live
    }

    fn checkout(&self, start: Instant) -> Result<Slot, CallError> {
        let limits = &self.ctx.dispatcher.limits;
        let mut state = self.lock();
        loop {
            if let Some(slot) = state.idle.pop() {
                return Ok(slot);
            }
            if state.live < limits.max_instances {
                state.live += 1;
                let live = state.live;
                drop(state);
                self.report(live);
                return match Slot::new(&self.engine, &self.module, &self.ctx) {
                    Ok(slot) => Ok(slot),
                    Err(e) => {
                        self.release();
                        let message = match e {
                            InstantiateError::Abi(m) | InstantiateError::Other(m) => m,
                        };
                        Err(CallError::Instantiate {
                            module: self.module_name().to_string(),
                            message,
                        })
                    }
                };
            }
            let waited = start.elapsed();
            if waited >= limits.call_timeout {
                return Err(CallError::Busy {
                    module: self.module_name().to_string(),
                    instances: limits.max_instances,
                    waited_ms: waited.as_millis(),
                });
            }
            let remaining = limits.call_timeout - waited;
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, remaining.min(Duration::from_secs(1)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            state.waiting -= 1;
        }
    }

    fn checkin(&self, slot: Slot) {
        let waiting = {
            let mut state = self.lock();
            state.idle.push(slot);
            state.waiting
        };
        if waiting > 0 {
            self.freed.notify_one();
        }
    }

    /// Forgets one live instance (dropped by the caller).
    fn release(&self) {
        let (live, waiting) = {
            let mut state = self.lock();
            state.live = state.live.saturating_sub(1);
            (state.live, state.waiting)
        };
        self.report(live);
        if waiting > 0 {
            self.freed.notify_one();
        }
    }

    /// Runs one encoded command through an instance of this guest; `started` is when the
    /// call began (its wall-clock deadline counts from there).
    pub(crate) fn call(&self, command: &Command, started: Instant) -> Result<Event, CallError> {
        let limits = &self.ctx.dispatcher.limits;
        let mut slot = self.checkout(started)?;
        match slot.invoke(command, self.module_name(), limits, started) {
            Ok(event) => {
                self.checkin(slot);
                Ok(event)
            }
            Err(f) if f.discard => {
                tracing::warn!(module = %self.module_name(), error = %f.error, "discarding the instance after a failed call");
                drop(slot);
                self.release();
                Err(f.error)
            }
            Err(f) => {
                self.checkin(slot);
                Err(f.error)
            }
        }
    }
}

/// Maps an instantiation failure to the load error that explains it.
pub(crate) fn instantiate_error(module: &str, e: InstantiateError) -> crate::LoadError {
    match e {
        InstantiateError::Abi(message) => crate::LoadError::Abi {
            module: module.to_string(),
            message,
        },
        InstantiateError::Other(message) => crate::LoadError::Instantiate {
            module: module.to_string(),
            message,
        },
    }
}
