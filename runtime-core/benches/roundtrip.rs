//! Benchmark P1 (DESIGN.md): the full host → guest round trip with a small `Command`/`Event`
//! (encode, alloc, copy in, call, copy out, free, decode, plus the host's pool, fuel and
//! metrics bookkeeping) divided by a raw wasmer typed call of an empty exported function,
//! measured in the same run on the same tiny WAT guest.
//!
//! Run: `cargo bench -p runtime-core --bench roundtrip -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_main};
use prost::Message;
use runtime_core::{Host, Limits};
use wasmer::{Instance, Module, Store, TypedFunction, imports};
use waxosuit_proto::core::{HealthRequest, HealthResponse};
use waxosuit_proto::ops;
use waxosuit_proto::v1::{Command, Event};

/// A tiny guest: a fixed-buffer allocator, a handler answering a constant encoded `Event`
/// (a `HealthResponse`), and an empty export for the raw baseline.
fn guest_wat() -> String {
    let event = Event::with_payload(&HealthResponse {
        healthy: true,
        message: "ok".into(),
    })
    .encode_to_vec();
    let escaped: String = event.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (memory (export "memory") 1)
  (data (i32.const 64) "{escaped}")
  (func (export "waxo_abi_version") (result i32) (i32.const 2))
  ;; One reusable 60 KiB buffer at 1024: enough for the benchmark's command.
  (func (export "waxo_alloc") (param $len i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 61440))
      (then (i32.const 0))
      (else (i32.const 1024))))
  (func (export "waxo_free") (param i32 i32))
  (func (export "waxo_handle") (param i32 i32) (result i64)
    ;; (64 << 32) | len(event)
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const {len})))
  (func (export "empty")))"#,
        len = event.len()
    )
}

fn p1(c: &mut Criterion) {
    let wasm = wat::parse_str(guest_wat()).unwrap();

    // Baseline: plain wasmer (Cranelift), typed call of an empty function.
    let mut store = Store::default();
    let module = Module::new(&store, &wasm).unwrap();
    let instance = Instance::new(&mut store, &module, &imports! {}).unwrap();
    let empty: TypedFunction<(), ()> = instance
        .exports
        .get_typed_function(&store, "empty")
        .unwrap();

    // The host path: an unsigned module (claims verification happens at load, not per
    // call), default limits.
    let host = Host::builder()
        .allow_unsigned(true)
        .limits(Limits::default())
        .build()
        .unwrap();
    let guest = host.load(&wasm).unwrap();
    let command = Command::new(ops::CORE_HEALTH, &HealthRequest {});
    assert!(
        guest
            .call(&command)
            .unwrap()
            .payload_as::<HealthResponse>()
            .unwrap()
            .healthy
    );

    let mut group = c.benchmark_group("p1");
    group.bench_function("raw_wasmer_typed_call_empty", |b| {
        b.iter(|| empty.call(&mut store).unwrap())
    });
    group.bench_function("host_guest_round_trip", |b| {
        b.iter(|| {
            let event = guest.call(black_box(&command)).unwrap();
            black_box(event.payload_as::<HealthResponse>().unwrap())
        })
    });
    group.finish();
}

// The macros generate undocumented items.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::p1);
}
criterion_main!(group::benches);
