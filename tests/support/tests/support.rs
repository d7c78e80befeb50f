//! Tests for the test-support helpers: the guests build and speak the ABI, the WAT fixture
//! compiles and its hand-encoded envelopes decode, signing produces verifiable modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost::Message;
use waxosuit_proto::v1::{Command, Event};
use waxosuit_proto::{abi, http, keyvalue, ops};

/// Exports and imports of a module, as (module, name) / name lists.
fn interface(wasm: &[u8]) -> (Vec<String>, Vec<(String, String)>) {
    let mut exports = Vec::new();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            wasmparser::Payload::ExportSection(s) => {
                for e in s {
                    exports.push(e.unwrap().name.to_owned());
                }
            }
            wasmparser::Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    let imp = imp.unwrap();
                    imports.push((imp.module.to_owned(), imp.name.to_owned()));
                }
            }
            _ => {}
        }
    }
    (exports, imports)
}

/// The active data segments of a module, in order.
fn data_segments(wasm: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::DataSection(s) = payload.unwrap() {
            for d in s {
                out.push(d.unwrap().data.to_vec());
            }
        }
    }
    out
}

fn assert_speaks_abi(wasm: &[u8]) {
    let (exports, imports) = interface(wasm);
    for name in [
        abi::EXPORT_MEMORY,
        abi::EXPORT_ABI_VERSION,
        abi::EXPORT_ALLOC,
        abi::EXPORT_FREE,
        abi::EXPORT_HANDLE,
    ] {
        assert!(
            exports.iter().any(|e| e == name),
            "missing export {name} in {exports:?}"
        );
    }
    for (module, _) in &imports {
        assert_eq!(module, abi::IMPORT_MODULE, "unexpected import {imports:?}");
    }
}

#[test]
fn probe_guest_builds_and_exports_the_abi() {
    let path = waxo_test_support::guest_wasm("probe");
    let wasm = std::fs::read(&path).unwrap();
    assert_speaks_abi(&wasm);
    let (_, imports) = interface(&wasm);
    assert!(imports.contains(&("waxosuit".into(), "host_call".into())));
    assert!(imports.contains(&("waxosuit".into(), "log".into())));
    // A second call reuses the first build.
    assert_eq!(waxo_test_support::guest_wasm("probe"), path);
}

#[test]
#[should_panic(expected = "no guest `no-such-guest`")]
fn unknown_guest_names_the_fix() {
    waxo_test_support::guest_wasm("no-such-guest");
}

#[test]
fn hello_wat_compiles_and_its_envelopes_decode() {
    let wasm = waxo_test_support::wat_fixture("hello.wat");
    assert_speaks_abi(&wasm);

    let segments = data_segments(&wasm);
    assert_eq!(segments.len(), 3);
    assert_eq!(segments[0], b"hello.wat is handling a command");

    assert_eq!(
        segments[1].len(),
        90,
        "waxo_handle passes 90 as the command length"
    );
    let cmd = Command::decode(segments[1].as_slice()).unwrap();
    assert_eq!(cmd.op, ops::KV_INCR);
    let incr: keyvalue::IncrRequest = cmd.payload_as().unwrap();
    assert_eq!((incr.key.as_str(), incr.delta), ("hits", 1));
    assert_eq!(
        segments[1],
        Command::new(ops::KV_INCR, &incr).encode_to_vec(),
        "hand encoding differs from prost's"
    );

    assert_eq!(
        segments[2].len(),
        74,
        "waxo_handle returns 74 as the event length"
    );
    let event = Event::decode(segments[2].as_slice()).unwrap();
    assert!(event.is_ok());
    let resp: http::HttpResponse = event.payload_as().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello from wat");
    assert_eq!(segments[2], Event::with_payload(&resp).encode_to_vec());
}

#[test]
fn signed_modules_verify_with_their_caps() {
    let wasm = waxo_test_support::wat_fixture("hello.wat");
    let signed = waxo_test_support::sign_with(&wasm, &["keyvalue", "waxosuit:logging"]);
    let verified = wascap::verify(
        &signed.bytes,
        &wascap::VerifyOptions {
            trusted_issuers: vec![signed.issuer.public_key()],
            required_caps: vec!["waxosuit:keyvalue".into(), "waxosuit:logging".into()],
        },
    )
    .unwrap();
    assert_eq!(verified.claims.subject, signed.subject.public_key());

    // Re-signing with the same keys keeps the subject and replaces the token.
    let again = waxo_test_support::sign_as(&wasm, &[], &signed.issuer, &signed.subject);
    let verified = wascap::verify(&again, &wascap::VerifyOptions::default()).unwrap();
    assert_eq!(verified.claims.subject, signed.subject.public_key());
    assert!(verified.claims.caps().is_empty());
}
