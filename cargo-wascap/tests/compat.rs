//! Tests for wire compatibility with the wascap standard, against wasmCloud's `wascap` 0.16
//! (the reference implementation) as a library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{component, count_sections, module, signed};
use wascap::{SectionName, VerifyOptions, caps};
use wascap_reference::jwt::{Claims as RefClaims, Component, validate_token};

fn reference_signed(module: &[u8]) -> (Vec<u8>, nkeys::KeyPair) {
    let issuer = nkeys::KeyPair::new_account();
    let claims = RefClaims::<Component>::with_dates(
        "reference".into(),
        issuer.public_key(),
        nkeys::KeyPair::new_module().public_key(),
        // wascap 0.16 no longer writes capability claims.
        Some(vec!["ref".into()]),
        None,
        None,
        false,
        Some(7),
        Some("1.0.0".into()),
        None,
    );
    let bytes = wascap_reference::wasm::embed_claims(module, &claims, &issuer).unwrap();
    (bytes, issuer)
}

#[test]
fn the_reference_accepts_what_we_sign() {
    for original in [module(), component()] {
        let (bytes, issuer) = signed(&original, &[caps::KEYVALUE, caps::LOGGING]);
        // extract_claims also checks the hash for revision-3 tokens.
        let token = wascap_reference::wasm::extract_claims(&bytes)
            .unwrap()
            .expect("the reference finds our token");
        let validation = validate_token::<Component>(&token.jwt).unwrap();
        assert!(validation.signature_valid);
        assert!(!validation.expired && !validation.cannot_use_yet);
        let claims = token.claims;
        assert_eq!(claims.issuer, issuer.public_key());
        let meta = claims.metadata.unwrap();
        assert_eq!(meta.name.as_deref(), Some("echo"));
        // The reference no longer models `caps`, but it carries them in the signed body.
        let body = token.jwt.split('.').nth(1).unwrap();
        let body: serde_json::Value = serde_json::from_slice(
            &data_encoding::BASE64URL_NOPAD
                .decode(body.as_bytes())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            body["wascap"]["caps"],
            serde_json::json!([caps::KEYVALUE, caps::LOGGING])
        );
        assert_eq!(meta.ver.as_deref(), Some("0.1.0"));
        assert_eq!(meta.rev, Some(3));
        assert_eq!(meta.module_hash, wascap::module_hash(&original).unwrap());
    }
}

#[test]
fn the_reference_detects_tampering_with_what_we_sign() {
    let (mut bytes, _) = signed(&module(), &[]);
    bytes[30] ^= 0x01;
    assert!(wascap_reference::wasm::extract_claims(&bytes).is_err());
}

#[test]
fn we_verify_what_the_reference_signs_in_wasmcloud_jwt() {
    for original in [module(), component()] {
        let (bytes, issuer) = reference_signed(&original);
        assert_eq!(count_sections(&bytes, "wasmcloud_jwt"), 1);
        let v = wascap::verify(
            &bytes,
            &VerifyOptions {
                trusted_issuers: vec![issuer.public_key()],
                required_caps: vec![],
            },
        )
        .unwrap();
        assert_eq!(v.section, SectionName::WasmcloudJwt);
        assert_eq!(v.claims.name(), "reference");
        assert_eq!(v.claims.metadata.as_ref().unwrap().rev, Some(7));
        assert!(v.claims.caps().is_empty());
    }
}

#[test]
fn we_read_a_reference_token_from_a_jwt_section() {
    let (bytes, _) = reference_signed(&module());
    let token = wascap::extract(&bytes).unwrap().unwrap();
    let mut moved = module();
    let mut section = wasm_encoder::Module::new();
    section.section(&wasm_encoder::CustomSection {
        name: "jwt".into(),
        data: token.jwt.as_bytes().into(),
    });
    moved.extend_from_slice(&section.finish()[8..]);
    let v = wascap::verify(&moved, &VerifyOptions::default()).unwrap();
    assert_eq!(v.section, SectionName::Jwt);
    assert_eq!(v.claims.name(), "reference");
}

#[test]
fn we_detect_tampering_with_what_the_reference_signs() {
    let (mut bytes, _) = reference_signed(&module());
    bytes[30] ^= 0x01;
    let err = wascap::verify(&bytes, &VerifyOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err}");
}

#[test]
fn resigning_a_reference_module_leaves_one_token_the_reference_reads() {
    let (theirs, _) = reference_signed(&module());
    let (ours, issuer) = signed(&theirs, &[caps::MESSAGING]);
    assert_eq!(count_sections(&ours, "wasmcloud_jwt"), 0);
    assert_eq!(count_sections(&ours, "jwt"), 1);
    let token = wascap_reference::wasm::extract_claims(&ours)
        .unwrap()
        .unwrap();
    assert_eq!(token.claims.issuer, issuer.public_key());
}
