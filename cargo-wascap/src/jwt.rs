//! Compact JWT encoding with an Ed25519 nkeys signature.
//!
//! The header is exactly `{"typ":"jwt","alg":"Ed25519"}` (the wascap standard's spelling, not
//! RFC 8037's `EdDSA`), so a stock JWT library cannot parse it: the `header.claims` bytes are
//! signed and verified with nkeys directly.

use data_encoding::BASE64URL_NOPAD;
use nkeys::KeyPair;
use serde::Deserialize;

use crate::{Claims, Error};

/// The header every token carries, already serialised.
const HEADER_JSON: &str = r#"{"typ":"jwt","alg":"Ed25519"}"#;

#[derive(Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

/// A token split into its parts.
pub(crate) struct Decoded {
    pub claims: Claims,
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// Length of `header.claims`, the signed prefix of the token.
    pub signed_len: usize,
}

/// Serialises and signs `claims` with `issuer`.
pub(crate) fn encode(claims: &Claims, issuer: &KeyPair) -> Result<String, Error> {
    let body = serde_json::to_vec(claims)?;
    let mut token = BASE64URL_NOPAD.encode(HEADER_JSON.as_bytes());
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&body));
    let signature = issuer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&BASE64URL_NOPAD.encode(&signature));
    Ok(token)
}

/// Parses a token without checking its signature. The error says what is wrong, in words.
pub(crate) fn decode(token: &str) -> Result<Decoded, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not three base64url parts separated by dots".into());
    };
    let header: Header = segment(header, "header")?;
    if header.alg != "Ed25519" || !header.typ.eq_ignore_ascii_case("jwt") {
        return Err(format!(
            "unsupported token header (typ `{}`, alg `{}`); expected typ `jwt`, alg `Ed25519`",
            header.typ, header.alg
        ));
    }
    let claims: Claims = segment(body, "claims")?;
    let signature = BASE64URL_NOPAD
        .decode(sig.as_bytes())
        .map_err(|e| format!("the token's signature is not base64url: {e}"))?;
    Ok(Decoded {
        claims,
        signature,
        signed_len: token.len() - sig.len() - 1,
    })
}

/// Checks `decoded`'s signature against its issuer's public key.
pub(crate) fn signature_valid(token: &str, decoded: &Decoded) -> bool {
    KeyPair::from_public_key(&decoded.claims.issuer)
        .and_then(|kp| kp.verify(&token.as_bytes()[..decoded.signed_len], &decoded.signature))
        .is_ok()
}

fn segment<T: for<'de> Deserialize<'de>>(part: &str, what: &str) -> Result<T, String> {
    let bytes = BASE64URL_NOPAD
        .decode(part.as_bytes())
        .map_err(|e| format!("the token's {what} is not base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the token's {what} is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(issuer: &KeyPair) -> Claims {
        Claims {
            expires: None,
            id: "id".into(),
            issued_at: 1,
            issuer: issuer.public_key(),
            subject: KeyPair::new_module().public_key(),
            not_before: None,
            metadata: None,
            wascap_revision: Some(3),
        }
    }

    #[test]
    fn header_is_the_standard_one() {
        let kp = KeyPair::new_account();
        let token = encode(&claims(&kp), &kp).unwrap();
        let header = token.split('.').next().unwrap();
        assert_eq!(
            BASE64URL_NOPAD.decode(header.as_bytes()).unwrap(),
            HEADER_JSON.as_bytes()
        );
    }

    #[test]
    fn round_trip_and_signature() {
        let kp = KeyPair::new_account();
        let c = claims(&kp);
        let token = encode(&c, &kp).unwrap();
        let d = decode(&token).unwrap();
        assert_eq!(d.claims, c);
        assert!(signature_valid(&token, &d));
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let kp = KeyPair::new_account();
        let token = encode(&claims(&kp), &kp).unwrap();
        let mut forged = claims(&kp);
        forged.subject = KeyPair::new_module().public_key();
        let body = BASE64URL_NOPAD.encode(&serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], body, parts[2]);
        let d = decode(&tampered).unwrap();
        assert!(!signature_valid(&tampered, &d));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.AA"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
