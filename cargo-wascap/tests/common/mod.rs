//! Shared fixtures for the wascap tests: realistic small modules and key pairs.
#![allow(dead_code)]

use wascap::{KeyPair, SignOptions};

/// A small module with code, data, exports and a custom `name` section.
pub fn module() -> Vec<u8> {
    wat::parse_str(
        r#"(module $echo
            (memory (export "memory") 1)
            (data (i32.const 16) "hello, waxosuit")
            (func $add (export "add") (param i32 i32) (result i32)
                local.get 0 local.get 1 i32.add)
            (func (export "twice") (param i32) (result i32)
                local.get 0 local.get 0 call $add))"#,
    )
    .unwrap()
}

/// A component binary with a nested core module.
pub fn component() -> Vec<u8> {
    wat::parse_str(r#"(component (core module (func (export "f"))) (core module))"#).unwrap()
}

/// Default claims for tests.
pub fn opts(caps: &[&str]) -> SignOptions {
    SignOptions {
        name: "echo".into(),
        caps: caps.iter().map(|c| c.to_string()).collect(),
        tags: vec!["test".into()],
        ver: Some("0.1.0".into()),
        rev: Some(3),
        ..Default::default()
    }
}

/// Signs `module` with fresh keys; returns the bytes and the issuer.
pub fn signed(module: &[u8], caps: &[&str]) -> (Vec<u8>, KeyPair) {
    let issuer = KeyPair::new_account();
    let bytes = wascap::sign(module, &opts(caps), &issuer, &KeyPair::new_module()).unwrap();
    (bytes, issuer)
}

/// Counts top-level custom sections called `name`.
pub fn count_sections(module: &[u8], name: &str) -> usize {
    wasmparser::Parser::new(0)
        .parse_all(module)
        .filter(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == name))
        .count()
}
