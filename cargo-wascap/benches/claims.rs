//! Benchmarks for target P5: verify throughput on large modules and signing time of a
//! 10 MB module. Run with `cargo bench -p cargo-wascap --bench claims`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wascap::{KeyPair, SignOptions, VerifyOptions};

/// A valid module of about `size` bytes: one memory and a data segment of pseudo-random bytes.
fn module_of(size: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut module = wasm_encoder::Module::new();
    let mut memories = wasm_encoder::MemorySection::new();
    memories.memory(wasm_encoder::MemoryType {
        minimum: (size as u64).div_ceil(65_536) + 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    module.section(&memories);
    let mut segments = wasm_encoder::DataSection::new();
    segments.active(0, &wasm_encoder::ConstExpr::i32_const(0), data);
    module.section(&segments);
    module.finish()
}

fn bench(c: &mut Criterion) {
    let issuer = KeyPair::new_account();
    let subject = KeyPair::new_module();
    let opts = SignOptions {
        name: "bench".into(),
        caps: vec![wascap::caps::KEYVALUE.into()],
        ..Default::default()
    };
    let mut group = c.benchmark_group("claims");
    group.sample_size(20);
    for mb in [2usize, 10] {
        let module = module_of(mb << 20);
        let signed = wascap::sign(&module, &opts, &issuer, &subject).unwrap();
        group.throughput(Throughput::Bytes(signed.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("verify", format!("{mb}MB")),
            &signed,
            |b, m| {
                b.iter(|| wascap::verify(m, &VerifyOptions::default()).unwrap());
            },
        );
        group.throughput(Throughput::Bytes(module.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("sign", format!("{mb}MB")),
            &module,
            |b, m| {
                b.iter(|| wascap::sign(m, &opts, &issuer, &subject).unwrap());
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
