//! Resource limits applied to every guest, with safe defaults.
//!
//! - **Memory**: a linear memory may not be declared or grown beyond
//!   [`Limits::max_memory_bytes`]. The limit is applied by the engine's tunables when the
//!   memory is created: the memory's maximum is clamped to the limit, so `memory.grow` past it
//!   returns -1 inside the guest (which normally makes its allocator return 0), and a module
//!   whose *minimum* is above the limit fails to instantiate.
//! - **Per-call deadline**: wasmer has no epoch interruption, so every function is compiled
//!   with the metering middleware; each operator costs one unit of *fuel* and a call gets
//!   [`Limits::max_fuel_per_call`] units. When the fuel runs out the guest traps and the call
//!   fails with "deadline exceeded". A wall-clock [`Limits::call_timeout`] is also checked
//!   whenever the guest enters the host (`host_call`, `log`), when a provider answers, and
//!   while waiting for a free instance.
//! - **Envelopes**: a `Command` or `Event` larger than [`Limits::max_envelope_bytes`] is
//!   refused in both directions (host → guest, guest → host, provider → guest).

use std::time::Duration;

use wasmer::{MemoryError, MemoryType, Pages, WASM_PAGE_SIZE};

use crate::error::BuildError;

/// Limits applied to every guest instance. `Limits::default()` gives the safe defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum linear memory per instance, in bytes (rounded down to 64 KiB pages).
    /// Default: 64 MiB.
    pub max_memory_bytes: u64,
    /// Fuel (WebAssembly operators executed) one call may use before it is stopped.
    /// Default: 500 000 000 (about a second of guest computation).
    pub max_fuel_per_call: u64,
    /// Wall-clock deadline of one call, checked on entry to host functions and while waiting
    /// for an instance. Default: 10 s.
    pub call_timeout: Duration,
    /// Maximum encoded size of a `Command` or `Event`, in bytes. Default: 4 MiB.
    pub max_envelope_bytes: usize,
    /// Maximum size of a module file, in bytes. Default: 64 MiB.
    pub max_module_bytes: usize,
    /// Maximum number of instances of one module (the pool size: how many calls run at the
    /// same time). Default: twice the number of CPUs, at least 2.
    pub max_instances: usize,
}

/// One WebAssembly page, in bytes.
const PAGE: u64 = WASM_PAGE_SIZE as u64;

impl Default for Limits {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            max_memory_bytes: 64 * 1024 * 1024,
            max_fuel_per_call: 500_000_000,
            call_timeout: Duration::from_secs(10),
            max_envelope_bytes: 4 * 1024 * 1024,
            max_module_bytes: 64 * 1024 * 1024,
            max_instances: (cpus * 2).max(2),
        }
    }
}

impl Limits {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.max_memory_bytes < PAGE {
            return Err(BuildError::InvalidLimits(format!(
                "max_memory_bytes is {} but a linear memory needs at least one 64 KiB page ({PAGE} bytes)",
                self.max_memory_bytes
            )));
        }
        if self.max_fuel_per_call == 0 || self.max_fuel_per_call > i64::MAX as u64 {
            return Err(BuildError::InvalidLimits(
                "max_fuel_per_call must be between 1 and 2^63-1".to_string(),
            ));
        }
        if self.max_envelope_bytes == 0 || self.max_envelope_bytes > u32::MAX as usize {
            return Err(BuildError::InvalidLimits(
                "max_envelope_bytes must be between 1 and 4 GiB".to_string(),
            ));
        }
        if self.max_instances == 0 {
            return Err(BuildError::InvalidLimits(
                "max_instances must be at least 1".to_string(),
            ));
        }
        Ok(())
    }

    /// The memory limit in whole pages (at most the 4 GiB of wasm32).
    pub fn max_memory_pages(&self) -> Pages {
        let pages = (self.max_memory_bytes / PAGE).min(65_536);
        Pages(u32::try_from(pages).unwrap_or(65_536))
    }
}

/// Clamps a memory type to the page limit: the maximum becomes `min(declared, limit)`; a
/// minimum above the limit is refused.
pub(crate) fn clamp_memory(ty: &MemoryType, limit: Pages) -> Result<MemoryType, MemoryError> {
    if ty.minimum > limit {
        return Err(MemoryError::Generic(format!(
            "the module asks for {} pages ({} bytes) of memory at start, more than the limit of {} pages ({} bytes); raise `Limits::max_memory_bytes` or reduce the module's initial memory",
            ty.minimum.0,
            u64::from(ty.minimum.0) * PAGE,
            limit.0,
            u64::from(limit.0) * PAGE
        )));
    }
    let mut clamped = *ty;
    clamped.maximum = Some(match ty.maximum {
        Some(max) if max < limit => max,
        _ => limit,
    });
    Ok(clamped)
}

#[cfg(test)]
mod tests {
    //! Tests for limit validation and memory clamping.

    use super::*;

    #[test]
    fn defaults_are_valid() {
        Limits::default().validate().unwrap();
        assert_eq!(Limits::default().max_memory_pages(), Pages(1024));
    }

    #[test]
    fn zero_memory_is_rejected() {
        let limits = Limits {
            max_memory_bytes: 1000,
            ..Limits::default()
        };
        let err = limits.validate().unwrap_err().to_string();
        assert!(err.contains("max_memory_bytes"), "{err}");
    }

    #[test]
    fn clamp_lowers_missing_or_large_maximum_and_keeps_smaller() {
        let limit = Pages(16);
        let t = clamp_memory(&MemoryType::new(1, None, false), limit).unwrap();
        assert_eq!(t.maximum, Some(Pages(16)));
        let t = clamp_memory(&MemoryType::new(1, Some(100), false), limit).unwrap();
        assert_eq!(t.maximum, Some(Pages(16)));
        let t = clamp_memory(&MemoryType::new(1, Some(4), false), limit).unwrap();
        assert_eq!(t.maximum, Some(Pages(4)));
    }

    #[test]
    fn clamp_refuses_minimum_above_limit() {
        let err = clamp_memory(&MemoryType::new(17, None, false), Pages(16)).unwrap_err();
        assert!(err.to_string().contains("17 pages"), "{err}");
    }
}
