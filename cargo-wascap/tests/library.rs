//! Tests for the wascap library: signing, re-signing, and every way verification refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{component, count_sections, module, opts, signed};
use wascap::{KeyPair, SectionName, VerifyError, VerifyOptions, caps};

fn verify(bytes: &[u8]) -> Result<wascap::Verified, VerifyError> {
    wascap::verify(bytes, &VerifyOptions::default())
}

#[test]
fn sign_then_verify_reports_the_claims() {
    let (bytes, issuer) = signed(&module(), &[caps::KEYVALUE, caps::LOGGING]);
    let v = verify(&bytes).unwrap();
    assert_eq!(v.claims.name(), "echo");
    assert_eq!(v.claims.issuer, issuer.public_key());
    assert!(v.claims.subject.starts_with('M'));
    assert_eq!(v.claims.caps(), [caps::KEYVALUE, caps::LOGGING]);
    assert_eq!(v.claims.wascap_revision, Some(3));
    assert_eq!(v.section, SectionName::Jwt);
    assert_eq!(v.hash, wascap::module_hash(&module()).unwrap());
    assert_eq!(v.hash, v.claims.hash());
    // The signed module is the original plus one section at the end.
    assert!(bytes.starts_with(&module()));
    assert_eq!(count_sections(&bytes, "jwt"), 1);
}

#[test]
fn resigning_replaces_the_token_instead_of_stacking() {
    let (once, _) = signed(&module(), &[caps::KEYVALUE]);
    let issuer = KeyPair::new_account();
    let twice = wascap::sign(
        &once,
        &opts(&[caps::MESSAGING]),
        &issuer,
        &KeyPair::new_module(),
    )
    .unwrap();
    assert_eq!(count_sections(&twice, "jwt"), 1);
    let v = verify(&twice).unwrap();
    assert_eq!(v.claims.issuer, issuer.public_key());
    assert_eq!(v.claims.caps(), [caps::MESSAGING]);
}

#[test]
fn tampering_with_any_byte_outside_the_token_fails_with_code_4() {
    let original = module();
    let (bytes, _) = signed(&original, &[]);
    for i in 0..original.len() {
        for flip in [0x01u8, 0x80] {
            let mut tampered = bytes.clone();
            tampered[i] ^= flip;
            let err = verify(&tampered).unwrap_err();
            assert_eq!(
                err.exit_code(),
                4,
                "byte {i} ^ {flip:#x}: expected tampering, got {err}"
            );
        }
    }
}

#[test]
fn appending_bytes_after_signing_is_tampering_or_malformed_never_valid() {
    let (mut bytes, _) = signed(&module(), &[]);
    bytes.extend_from_slice(&[0, 3, 1, b'x', 0]);
    let err = verify(&bytes).unwrap_err();
    assert!(matches!(err.exit_code(), 1 | 4), "{err}");
}

#[test]
fn a_forged_token_fails_the_signature_check() {
    let (bytes, _) = signed(&module(), &[]);
    let token = wascap::extract(&bytes).unwrap().unwrap().jwt;
    let parts: Vec<&str> = token.split('.').collect();
    // Someone else's valid claims body under the original signature.
    let (other, _) = signed(&module(), &[caps::HTTP_CLIENT]);
    let other_token = wascap::extract(&other).unwrap().unwrap().jwt;
    let other_body = other_token.split('.').nth(1).unwrap();
    let forged = format!("{}.{}.{}", parts[0], other_body, parts[2]);
    let stripped = &bytes[..module().len()];
    let mut forged_module = stripped.to_vec();
    forged_module.extend(custom_jwt(&forged));
    let err = verify(&forged_module).unwrap_err();
    assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");
    assert_eq!(err.exit_code(), 4);
}

fn custom_jwt(jwt: &str) -> Vec<u8> {
    let mut section = wasm_encoder::Module::new();
    section.section(&wasm_encoder::CustomSection {
        name: "jwt".into(),
        data: jwt.as_bytes().into(),
    });
    section.finish()[8..].to_vec()
}

#[test]
fn a_garbage_token_is_invalid_not_a_panic() {
    for junk in ["", "abc", "a.b.c", "....", "\u{0}\u{1}"] {
        let mut m = module();
        m.extend(custom_jwt(junk));
        let err = verify(&m).unwrap_err();
        assert!(
            matches!(err, VerifyError::InvalidToken(_)),
            "{junk:?}: {err}"
        );
        assert_eq!(err.exit_code(), 4);
    }
}

#[test]
fn expired_and_not_yet_valid_claims_are_refused() {
    let issuer = KeyPair::new_account();
    let subject = KeyPair::new_module();
    let now = wascap::time::now();
    let mut expired = Vec::new();
    let o = wascap::SignOptions {
        expires_in: Some(Duration::from_secs(60)),
        ..opts(&[])
    };
    wascap::sign_to(&module(), &o, &issuer, &subject, now - 3600, &mut expired).unwrap();
    let err = verify(&expired).unwrap_err();
    assert!(matches!(err, VerifyError::Expired { .. }), "{err}");
    assert_eq!(err.exit_code(), 5);
    assert!(err.to_string().contains("59 minutes ago"), "{err}");

    let o = wascap::SignOptions {
        not_before: Some(Duration::from_secs(2 * 3600)),
        ..opts(&[])
    };
    let early = wascap::sign(&module(), &o, &issuer, &subject).unwrap();
    let err = verify(&early).unwrap_err();
    assert!(matches!(err, VerifyError::NotYetValid { .. }), "{err}");
    assert_eq!(err.exit_code(), 6);
    // Valid at the right moment.
    wascap::verify_at(&early, &VerifyOptions::default(), now + 3 * 3600).unwrap();
}

#[test]
fn only_trusted_issuers_pass_when_a_list_is_given() {
    let (bytes, issuer) = signed(&module(), &[]);
    let stranger = KeyPair::new_account().public_key();
    let only_stranger = VerifyOptions {
        trusted_issuers: vec![stranger.clone()],
        ..Default::default()
    };
    let err = wascap::verify(&bytes, &only_stranger).unwrap_err();
    assert!(matches!(err, VerifyError::UntrustedIssuer { .. }), "{err}");
    assert_eq!(err.exit_code(), 7);
    let both = VerifyOptions {
        trusted_issuers: vec![stranger, issuer.public_key()],
        ..Default::default()
    };
    wascap::verify(&bytes, &both).unwrap();
}

#[test]
fn required_capabilities_must_be_claimed() {
    let (bytes, _) = signed(&module(), &[caps::KEYVALUE]);
    let need = |c: &str| VerifyOptions {
        required_caps: vec![c.to_string()],
        ..Default::default()
    };
    wascap::verify(&bytes, &need(caps::KEYVALUE)).unwrap();
    let err = wascap::verify(&bytes, &need(caps::HTTP_SERVER)).unwrap_err();
    assert_eq!(err.exit_code(), 8);
    assert!(err.to_string().contains("--cap http_server"), "{err}");
}

#[test]
fn the_signer_refuses_keys_of_the_wrong_kind() {
    let module_key = KeyPair::new_module();
    let err = wascap::sign(&module(), &opts(&[]), &module_key, &module_key).unwrap_err();
    assert!(err.to_string().contains("not an account key"), "{err}");
    let account = KeyPair::new_account();
    let err = wascap::sign(&module(), &opts(&[]), &account, &account).unwrap_err();
    assert!(err.to_string().contains("not a module key"), "{err}");
}

#[test]
fn unsigned_modules_are_reported_as_such() {
    let err = verify(&module()).unwrap_err();
    assert_eq!(err, VerifyError::Unsigned);
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let (bytes, _) = signed(&module(), &[]);
    for len in 0..bytes.len() {
        let err = verify(&bytes[..len]).unwrap_err();
        // Cut at a section boundary before the token: a valid but unsigned module.
        let code = err.exit_code();
        assert!(code == 1 || code == 3, "len {len}: {err}");
    }
    assert_eq!(verify(&bytes[..module().len()]).unwrap_err().exit_code(), 3);
    assert_eq!(
        verify(&bytes[..bytes.len() - 1]).unwrap_err().exit_code(),
        1
    );
}

#[test]
fn random_bytes_are_malformed() {
    // A fixed xorshift stream: reproducible junk of many lengths.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [0usize, 1, 7, 8, 9, 64, 1000, 65_536] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let err = verify(&junk).unwrap_err();
        assert_eq!(err.exit_code(), 1, "{len}: {err}");
        // With a wasm header the rest is still junk.
        let mut with_header = b"\0asm\x01\0\0\0".to_vec();
        with_header.extend(&junk);
        let err = verify(&with_header).unwrap_err();
        assert!(matches!(err.exit_code(), 1 | 3), "{len}: {err}");
    }
}

#[test]
fn a_section_length_past_the_end_is_malformed() {
    // Header, then a custom section claiming 0x7f bytes with only 3 present.
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    bytes.extend([0, 0x7f, 1, b'x', 0]);
    let err = verify(&bytes).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().contains("not a valid WebAssembly module"),
        "{err}"
    );
    // The same on the token section of a signed module.
    let (mut signed_bytes, _) = signed(&module(), &[]);
    let at = module().len() + 1;
    signed_bytes[at] = 0x7f;
    assert_eq!(verify(&signed_bytes).unwrap_err().exit_code(), 1);
}

#[test]
fn components_sign_and_verify() {
    let (bytes, _) = signed(&component(), &[caps::HTTP_SERVER]);
    let v = verify(&bytes).unwrap();
    assert!(v.claims.has_cap(caps::HTTP_SERVER));
    assert_eq!(v.hash, wascap::module_hash(&component()).unwrap());
}

#[test]
fn inspect_reports_invalid_parts_without_failing() {
    let (mut bytes, _) = signed(&module(), &[]);
    bytes[20] ^= 0x01;
    let report = wascap::inspect(&bytes).unwrap();
    assert!(report.signature_valid);
    assert!(!report.hash_valid);
    assert_eq!(report.expires_human(), "never");
    assert_eq!(report.not_before_human(), "immediately");
}

#[test]
fn claimed_hash_reads_the_token_without_judging_it() {
    let (bytes, _) = signed(&module(), &[]);
    assert_eq!(
        wascap::claimed_hash(&bytes).unwrap(),
        verify(&bytes).unwrap().hash
    );
    // It is only what the token says: after tampering it still answers the old hash, and
    // verification is what refuses the module.
    let mut tampered = bytes.clone();
    tampered[9] ^= 0xff;
    assert_eq!(
        wascap::claimed_hash(&tampered),
        wascap::claimed_hash(&bytes)
    );
    assert!(verify(&tampered).is_err());
    // Nothing to read: unsigned, garbage tokens, empty input.
    assert_eq!(wascap::claimed_hash(&module()), None);
    let mut junk = module();
    junk.extend(custom_jwt("a.b.c"));
    assert_eq!(wascap::claimed_hash(&junk), None);
    assert_eq!(wascap::claimed_hash(&[]), None);
}
