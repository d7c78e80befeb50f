//! Benchmark P3 (DESIGN.md): the start of a signed module with a warm artifact cache —
//! everything `Host::load` does (claims verification, cache lookup and integrity check,
//! deserialising the compiled artifact, the first instance and its ABI check) — for a 2 MB
//! module that is all code (the worst case for its size) and for a real SDK guest, plus
//! cold starts (Cranelift compile, no cache) for contrast.
//!
//! Run: `cargo bench -p runtime-core --bench start -- --warm-up-time 2 --measurement-time 5`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use runtime_core::{CacheOutcome, Host};
use waxo_test_support::sign_with;

/// The size the design names.
const TARGET_BYTES: usize = 2 * 1024 * 1024;

/// A valid ABI 2 guest of about [`TARGET_BYTES`], made mostly of code (which is what makes a
/// real module expensive to compile): the ABI exports plus many filler functions, each a
/// loop of arithmetic, memory traffic and branches, called from nowhere but compiled all the
/// same.
fn guest_of_about(bytes: usize) -> Vec<u8> {
    let mut wat = String::from(
        r#"(module
  (memory (export "memory") 2)
  (func (export "waxo_abi_version") (result i32) (i32.const 2))
  (func (export "waxo_alloc") (param $len i32) (result i32) (i32.const 1024))
  (func (export "waxo_free") (param i32 i32))
  (func (export "waxo_handle") (param i32 i32) (result i64) (i64.const 0))
"#,
    );
    let mut n = 0;
    // One filler function encodes to a little under 600 bytes; grow until the module is
    // large enough, checking the real encoded size every hundred functions.
    loop {
        for _ in 0..100 {
            filler(&mut wat, n);
            n += 1;
        }
        let module = wat::parse_str(format!("{wat})")).unwrap();
        if module.len() >= bytes {
            return module;
        }
    }
}

fn filler(wat: &mut String, n: usize) {
    let _ = writeln!(
        wat,
        "  (func $f{n} (param $p i32) (param $q i32) (result i32) (local $i i32) (local $acc i32)"
    );
    wat.push_str("    (local.set $acc (local.get $q))\n    (block $done (loop $again\n");
    for k in 0..12 {
        let _ = write!(
            wat,
            "      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const {m})) \
             (i32.load offset={off} (i32.and (i32.add (local.get $p) (local.get $i)) (i32.const 65532)))))\n\
             (if (i32.gt_u (local.get $acc) (i32.const {lim})) (then \
             (i32.store offset={off} (i32.const 0) (i32.xor (local.get $acc) (i32.const {x})))))\n",
            m = 31 + k + n % 7,
            off = (k * 4) % 256,
            lim = 1000 + k * 17 + n,
            x = n * 13 + k,
        );
    }
    wat.push_str(
        "      (local.set $i (i32.add (local.get $i) (i32.const 4)))\n      \
         (br_if $again (i32.lt_u (local.get $i) (i32.const 64)))))\n    (local.get $acc))\n",
    );
}

/// `module` without the custom section called `name` (sections are copied byte for byte).
fn without_custom_section(module: &[u8], name: &str) -> Vec<u8> {
    let mut out = module[..8].to_vec();
    let mut reader = wasmparser::BinaryReader::new(&module[8..], 8);
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().unwrap();
        let size = reader.read_var_u32().unwrap() as usize;
        let body = reader.read_bytes(size).unwrap();
        let end = reader.original_position();
        let is_named =
            id == 0 && wasmparser::BinaryReader::new(body, 0).read_string().ok() == Some(name);
        if !is_named {
            out.extend_from_slice(&module[start as usize..end as usize]);
        }
    }
    assert!(out.len() < module.len(), "no `{name}` section to drop");
    out
}

/// Signs `module`, warms a fresh cache with it and checks the second load is a hit; returns
/// the host and the signed bytes.
fn warm(label: &str, module: &[u8], cache: &std::path::Path) -> (Host, Vec<u8>) {
    let signed = sign_with(module, &[]).bytes;
    let host = Host::builder().cache_dir(cache).build().unwrap();
    let first = host.load(&signed).unwrap();
    assert_eq!(first.report().cache, CacheOutcome::Miss);
    let artifact = first.report().artifact.clone().unwrap();
    let again = host.load(&signed).unwrap();
    assert_eq!(again.report().cache, CacheOutcome::Hit);
    eprintln!(
        "p3 {label}: signed module {} bytes, cached artifact {} bytes",
        signed.len(),
        std::fs::metadata(&artifact).unwrap().len()
    );
    (host, signed)
}

fn p3(c: &mut Criterion) {
    let cache = tempfile::tempdir().unwrap();
    // The worst case for a given size: a module that is all code.
    let (dense_host, dense) = warm("all-code", &guest_of_about(TARGET_BYTES), cache.path());
    // A real guest as `cargo waxo build` makes it (the test probe, an SDK guest in a debug
    // build: mostly debug sections around a few hundred KB of code).
    let probe = std::fs::read(waxo_test_support::guest_wasm("probe")).unwrap();
    // The same guest brought to about the design's size by dropping its largest debug
    // section (`.debug_str`): real compiler output, 2 MB.
    let trimmed = without_custom_section(&probe, ".debug_str");
    let (probe_host, probe) = warm("sdk-guest-debug", &probe, cache.path());
    let (trimmed_host, trimmed) = warm("sdk-guest-debug-2mb", &trimmed, cache.path());

    // Only the start is timed: dropping the guest (unmapping its code) is not.
    let mut group = c.benchmark_group("p3");
    group.bench_function("start_signed_2mb_all_code_warm_cache", |b| {
        b.iter_with_large_drop(|| dense_host.load(black_box(&dense)).unwrap())
    });
    group.bench_function("start_signed_sdk_guest_debug_2mb_warm_cache", |b| {
        b.iter_with_large_drop(|| trimmed_host.load(black_box(&trimmed)).unwrap())
    });
    group.bench_function("start_signed_sdk_guest_debug_warm_cache", |b| {
        b.iter_with_large_drop(|| probe_host.load(black_box(&probe)).unwrap())
    });
    group.finish();

    // Cold start for contrast: every iteration compiles (no cache directory).
    let uncached = Host::builder().build().unwrap();
    let mut group = c.benchmark_group("p3_contrast");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("start_signed_2mb_all_code_no_cache", |b| {
        b.iter_with_large_drop(|| uncached.load(black_box(&dense)).unwrap())
    });
    group.bench_function("start_signed_sdk_guest_debug_no_cache", |b| {
        b.iter_with_large_drop(|| uncached.load(black_box(&probe)).unwrap())
    });
    group.finish();
}

// The macros generate undocumented items.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::p3);
}
criterion_main!(group::benches);
