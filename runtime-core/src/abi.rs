//! The guest ABI boundary: the only module of this crate with `unsafe` code.
//!
//! It owns everything where the host touches guest-controlled state:
//! - the ABI version check and the typed lookup of the guest's exports,
//! - bounds-checked reads and writes of guest linear memory (pointer + length come from the
//!   guest and are never trusted),
//! - packing and unpacking of the `(ptr << 32) | len` return values,
//! - the engine tunables that clamp linear memory to the configured limit (wasmer's
//!   `Tunables` trait has `unsafe` methods),
//! - deserialising a compiled artifact from the cache (loading executable code is `unsafe`).

use std::ptr::NonNull;

use wasmer::sys::Tunables;
use wasmer::sys::vm::{VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition};
use wasmer::{
    Engine, Global, Instance, MemoryError, MemoryStyle, MemoryType, MemoryView, Module, Pages,
    Store, TableStyle, TableType, TypedFunction,
};

use crate::limits::clamp_memory;

/// The guest ABI version this host speaks.
pub const ABI_VERSION: i32 = waxosuit_proto::abi::VERSION;

/// Exports every guest must have, with their signatures (for error messages).
pub(crate) const REQUIRED_EXPORTS: [(&str, &str); 5] = [
    ("memory", "memory"),
    ("waxo_abi_version", "func () -> i32"),
    ("waxo_alloc", "func (i32) -> i32"),
    ("waxo_free", "func (i32, i32)"),
    ("waxo_handle", "func (i32, i32) -> i64"),
];

/// The import module the host functions live in.
pub(crate) const IMPORT_MODULE: &str = "waxosuit";

/// The metering globals the middleware adds to every compiled module.
const FUEL_REMAINING: &str = "wasmer_metering_remaining_points";
const FUEL_EXHAUSTED: &str = "wasmer_metering_points_exhausted";

/// Packs a pointer and a length into the ABI's i64 return value.
pub(crate) fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Unpacks an ABI i64 into `(ptr, len)` (u32 halves).
pub(crate) fn unpack(value: i64) -> (u32, u32) {
    let v = value as u64;
    ((v >> 32) as u32, (v & 0xffff_ffff) as u32)
}

/// Reinterprets an i32 carried through the ABI as the u32 it stands for.
pub(crate) fn as_u32(value: i32) -> u32 {
    value as u32
}

/// A guest pointer or length that does not fit its memory.
#[derive(Debug, thiserror::Error)]
#[error("{what} at {ptr:#x} with length {len} is outside the guest's {size}-byte memory")]
pub(crate) struct OutOfBounds {
    what: &'static str,
    ptr: u32,
    len: u32,
    size: u64,
}

/// Checks that `len` bytes at `ptr` lie inside guest memory, without copying them.
pub(crate) fn check_range(
    view: &MemoryView<'_>,
    what: &'static str,
    ptr: u32,
    len: u32,
) -> Result<(), OutOfBounds> {
    let size = view.data_size();
    if u64::from(ptr) + u64::from(len) > size {
        return Err(OutOfBounds {
            what,
            ptr,
            len,
            size,
        });
    }
    Ok(())
}

/// Copies `len` bytes at `ptr` out of guest memory, after checking the whole range lies
/// inside the memory.
pub(crate) fn read_bytes(
    view: &MemoryView<'_>,
    what: &'static str,
    ptr: u32,
    len: u32,
) -> Result<Vec<u8>, OutOfBounds> {
    let size = view.data_size();
    let end = u64::from(ptr) + u64::from(len);
    let oob = || OutOfBounds {
        what,
        ptr,
        len,
        size,
    };
    if end > size {
        return Err(oob());
    }
    let mut buf = vec![0u8; len as usize];
    view.read(u64::from(ptr), &mut buf).map_err(|_| oob())?;
    Ok(buf)
}

/// Like [`read_bytes`], but into `buf` (replacing its contents), so a caller can reuse one
/// buffer across calls.
pub(crate) fn read_into(
    view: &MemoryView<'_>,
    what: &'static str,
    ptr: u32,
    len: u32,
    buf: &mut Vec<u8>,
) -> Result<(), OutOfBounds> {
    let size = view.data_size();
    let oob = || OutOfBounds {
        what,
        ptr,
        len,
        size,
    };
    check_range(view, what, ptr, len)?;
    buf.clear();
    buf.resize(len as usize, 0);
    view.read(u64::from(ptr), buf).map_err(|_| oob())
}

/// Copies `data` into guest memory at `ptr`, after checking the whole range lies inside it.
pub(crate) fn write_bytes(
    view: &MemoryView<'_>,
    what: &'static str,
    ptr: u32,
    data: &[u8],
) -> Result<(), OutOfBounds> {
    let size = view.data_size();
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let end = u64::from(ptr) + data.len() as u64;
    let oob = || OutOfBounds {
        what,
        ptr,
        len,
        size,
    };
    if end > size {
        return Err(oob());
    }
    view.write(u64::from(ptr), data).map_err(|_| oob())
}

/// A wasmer `Store` that may be moved to another thread between calls.
///
/// Wasmer 7 made `Store` `!Send` (wasmerio/wasmer#7001: the `Send` bound of the `on_called`
/// handler was dropped, and the VM object table holds raw pointers). The host needs to move
/// an idle instance from the pool to whichever thread makes the next call; see the SAFETY
/// comment for why that is sound here.
pub(crate) struct MovableStore(Store);

// SAFETY: a `MovableStore` is owned by exactly one pool slot and used by one thread at a
// time: slots move in and out of the pool's `Mutex`, never shared, so there is no concurrent
// access. The only question is thread *affinity*, and the `sys` backend (the only one this
// crate enables: features `sys` + `cranelift`) has none between calls: wasmer installs its
// thread-local store context only for the duration of a call and removes it on return (see
// wasmer's `entities/store/context.rs`: "without requiring that async tasks are tied to
// specific threads"), stores were `Send` up to wasmer 6, and the raw pointers in the object
// table point into heap allocations owned by the store itself, which move with it. The
// thread-affine V8 backend is not compiled in, and this crate never installs an
// `on_called` handler (the non-`Send` closure type behind the lost bound).
#[allow(unsafe_code)]
unsafe impl Send for MovableStore {}

impl MovableStore {
    pub(crate) fn new(store: Store) -> Self {
        Self(store)
    }
}

impl std::ops::Deref for MovableStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0
    }
}

impl std::ops::DerefMut for MovableStore {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.0
    }
}

/// The typed exports of one guest instance.
#[derive(Clone)]
pub(crate) struct GuestExports {
    pub(crate) memory: wasmer::Memory,
    pub(crate) alloc: TypedFunction<i32, i32>,
    pub(crate) free: TypedFunction<(i32, i32), ()>,
    pub(crate) handle: TypedFunction<(i32, i32), i64>,
    fuel_remaining: Global,
    fuel_exhausted: Global,
}

impl GuestExports {
    /// Looks up the ABI exports with their exact types and checks the ABI version.
    /// Errors are phrased to follow the module name ("does not export …").
    pub(crate) fn resolve(store: &mut Store, instance: &Instance) -> Result<Self, String> {
        let ex = &instance.exports;
        let version: TypedFunction<(), i32> = ex
            .get_typed_function(store, "waxo_abi_version")
            .map_err(|e| {
                format!(
                    "does not export `waxo_abi_version` as `func () -> i32` ({e}); it is not a waxosuit guest or was built for an older ABI"
                )
            })?;
        // The version function is guest code: it runs under the fuel budget set at
        // instantiation.
        let v = version
            .call(store)
            .map_err(|e| format!("trapped in `waxo_abi_version`: {}", e.message()))?;
        if v != ABI_VERSION {
            return Err(format!(
                "speaks waxosuit ABI {v}, this host speaks {ABI_VERSION}; rebuild it against a matching guest SDK"
            ));
        }
        let missing = |name: &str, sig: &str, e: &dyn std::fmt::Display| {
            format!("does not export `{name}` as `{sig}` ({e}); every waxosuit guest must")
        };
        let memory = ex
            .get_memory("memory")
            .map_err(|e| missing("memory", "memory", &e))?
            .clone();
        let alloc = ex
            .get_typed_function(store, "waxo_alloc")
            .map_err(|e| missing("waxo_alloc", "func (i32) -> i32", &e))?;
        let free = ex
            .get_typed_function(store, "waxo_free")
            .map_err(|e| missing("waxo_free", "func (i32, i32)", &e))?;
        let handle = ex
            .get_typed_function(store, "waxo_handle")
            .map_err(|e| missing("waxo_handle", "func (i32, i32) -> i64", &e))?;
        let fuel_remaining = ex
            .get_global(FUEL_REMAINING)
            .map_err(|e| format!("was compiled without the metering middleware ({e})"))?
            .clone();
        let fuel_exhausted = ex
            .get_global(FUEL_EXHAUSTED)
            .map_err(|e| format!("was compiled without the metering middleware ({e})"))?
            .clone();
        Ok(Self {
            memory,
            alloc,
            free,
            handle,
            fuel_remaining,
            fuel_exhausted,
        })
    }

    /// Gives the instance a fresh fuel budget for the next call.
    ///
    /// Only the remaining points are reset: the "exhausted" flag is still 0 on every live
    /// instance, because an instance that ran out of fuel is discarded, never reused.
    pub(crate) fn refuel(&self, store: &mut Store, fuel: u64) -> Result<(), String> {
        let fuel = i64::try_from(fuel).unwrap_or(i64::MAX);
        self.fuel_remaining
            .set(store, fuel.into())
            .map_err(|e| e.message())
    }

    /// Whether the last call ran out of fuel.
    pub(crate) fn fuel_exhausted(&self, store: &mut Store) -> bool {
        self.fuel_exhausted.get(store).i32().unwrap_or(0) != 0
    }
}

/// Engine tunables that clamp every linear memory to the configured page limit and delegate
/// everything else to wasmer's `BaseTunables`.
pub(crate) struct LimitingTunables<T: Tunables> {
    limit: Pages,
    base: T,
}

impl<T: Tunables> LimitingTunables<T> {
    pub(crate) fn new(base: T, limit: Pages) -> Self {
        Self { limit, base }
    }
}

impl<T: Tunables> Tunables for LimitingTunables<T> {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        // The style only decides how bounds checks are compiled; it does not depend on the
        // limit, which keeps compiled artifacts independent of it.
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let ty = clamp_memory(ty, self.limit)?;
        self.base.create_host_memory(&ty, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let ty = clamp_memory(ty, self.limit)?;
        // SAFETY: wasmer calls this with a valid `vm_definition_location` (the caller's
        // contract, unchanged); we only narrow the memory type, which keeps it valid: the
        // minimum is untouched and the maximum is lowered, never raised.
        unsafe {
            self.base
                .create_vm_memory(&ty, style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(ty, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        // SAFETY: pure delegation with the caller's own (valid) arguments.
        unsafe { self.base.create_vm_table(ty, style, vm_definition_location) }
    }
}

/// Loads a compiled artifact produced by `Module::serialize` from the cache.
///
/// The caller (the cache) must only pass bytes whose integrity it has checked.
pub(crate) fn deserialize_artifact(
    engine: &Engine,
    artifact: bytes::Bytes,
) -> Result<Module, wasmer::DeserializeError> {
    // SAFETY: deserialising maps executable code. The bytes come from the host's own cache
    // directory, were written by `Module::serialize` of an engine with the same wasmer
    // version, target and compiler configuration (all part of the cache key), and the cache
    // verified their length and checksum just before this call, so they are the exact bytes
    // this host produced; `Module::deserialize` additionally checks the artifact header and
    // version and returns an error (never loads) when they do not match.
    unsafe { Module::deserialize(engine, artifact) }
}

#[cfg(test)]
mod tests {
    //! Tests for i64 packing and bounds-checked memory access.

    use super::*;

    #[test]
    fn pack_unpack_round_trip_including_high_bit() {
        for (p, l) in [(0, 0), (1, 2), (0xffff_fff0, 0x10), (0x8000_0000, u32::MAX)] {
            assert_eq!(unpack(pack(p, l)), (p, l));
        }
        assert_eq!(pack(0, 0), 0);
    }

    #[test]
    fn reads_and_writes_are_bounds_checked() {
        let mut store = Store::default();
        let memory = wasmer::Memory::new(&mut store, MemoryType::new(1, Some(1), false)).unwrap();
        let view = memory.view(&store);
        write_bytes(&view, "test", 10, b"hello").unwrap();
        assert_eq!(read_bytes(&view, "test", 10, 5).unwrap(), b"hello");
        // Exactly at the end is fine, one byte past is not, and overflow never wraps.
        assert!(read_bytes(&view, "test", 65_535, 1).is_ok());
        let err = read_bytes(&view, "event", 65_535, 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("outside the guest's 65536-byte memory")
        );
        assert!(read_bytes(&view, "test", u32::MAX, u32::MAX).is_err());
        assert!(write_bytes(&view, "test", 65_534, b"abc").is_err());
    }
}
