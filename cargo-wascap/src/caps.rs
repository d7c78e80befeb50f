//! Capability ids: the standard Waxosuit ones, short names for flags, and friendly names.
//!
//! A capability id is `namespace:name` (`waxosuit:keyvalue`, or a custom `vendor:name`).
//! The ids of older wascap users (`wascap:`, `wascc:`, `wasmcloud:`) are recognised for
//! display, so `inspect` can describe modules signed elsewhere.

use std::borrow::Cow;

use crate::Error;

/// Key-value store.
pub const KEYVALUE: &str = "waxosuit:keyvalue";
/// Publish/subscribe messaging.
pub const MESSAGING: &str = "waxosuit:messaging";
/// Receiving HTTP requests.
pub const HTTP_SERVER: &str = "waxosuit:http_server";
/// Making outbound HTTP requests.
pub const HTTP_CLIENT: &str = "waxosuit:http_client";
/// Writing to the host's log.
pub const LOGGING: &str = "waxosuit:logging";

/// The standard capabilities: (id, short name, friendly name).
const STANDARD: [(&str, &str, &str); 5] = [
    (KEYVALUE, "keyvalue", "Key-value store"),
    (MESSAGING, "messaging", "Messaging"),
    (HTTP_SERVER, "http_server", "HTTP server"),
    (HTTP_CLIENT, "http_client", "HTTP client"),
    (LOGGING, "logging", "Logging"),
];

/// Short names accepted by `--cap`, in the order the help text lists them.
pub const SHORT_NAMES: [&str; 5] = [
    "keyvalue",
    "messaging",
    "http_server",
    "http_client",
    "logging",
];

/// Friendly names of capability ids used by other wascap implementations.
const FOREIGN: [(&str, &str); 18] = [
    ("wasmcloud:keyvalue", "Key-value store"),
    ("wasmcloud:messaging", "Messaging"),
    ("wasmcloud:httpserver", "HTTP server"),
    ("wasmcloud:httpclient", "HTTP client"),
    ("wasmcloud:builtin:logging", "Logging"),
    ("wasmcloud:blobstore", "Blob store"),
    ("wasmcloud:eventstreams", "Event streams"),
    ("wasmcloud:builtin:numbergen", "Number generation"),
    ("wascc:keyvalue", "Key-value store"),
    ("wascc:messaging", "Messaging"),
    ("wascc:http_server", "HTTP server"),
    ("wascc:http_client", "HTTP client"),
    ("wascc:logging", "Logging"),
    ("wascc:blobstore", "Blob store"),
    ("wascc:eventstreams", "Event streams"),
    ("wascc:extras", "Extras"),
    ("wascap:keyvalue", "Key-value store"),
    ("wascap:messaging", "Messaging"),
];

/// Turns what a user typed into a capability id.
///
/// Accepts a short name (`keyvalue`, also `kv`, `msg`, `http-server`, `log`, …) or a full id
/// `namespace:name` made of lowercase letters, digits, `_`, `-`, `.` and further `:`.
pub fn parse_capability(input: &str) -> Result<String, Error> {
    let s = input.trim();
    let short = match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "keyvalue" | "kv" | "key_value" => Some(KEYVALUE),
        "messaging" | "msg" => Some(MESSAGING),
        "http_server" | "httpserver" => Some(HTTP_SERVER),
        "http_client" | "httpclient" => Some(HTTP_CLIENT),
        "logging" | "log" => Some(LOGGING),
        _ => None,
    };
    if let Some(id) = short {
        return Ok(id.to_string());
    }
    let valid_char = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ':')
    };
    match s.split_once(':') {
        Some((ns, name))
            if !ns.is_empty()
                && !name.is_empty()
                && !name.starts_with(':')
                && !name.ends_with(':')
                && s.chars().all(valid_char) =>
        {
            Ok(s.to_string())
        }
        _ => Err(Error::InvalidCapability(input.to_string())),
    }
}

/// A human name for a capability id; unknown ids are returned as they are.
pub fn friendly_name(id: &str) -> Cow<'static, str> {
    STANDARD
        .iter()
        .map(|(i, _, f)| (*i, *f))
        .chain(FOREIGN)
        .find(|(i, _)| *i == id)
        .map_or_else(|| Cow::Owned(id.to_string()), |(_, f)| Cow::Borrowed(f))
}

/// The `--cap` short name of a standard id, for fix hints such as `--cap keyvalue`.
pub fn short_name(id: &str) -> Option<&'static str> {
    STANDARD
        .iter()
        .find(|(i, _, _)| *i == id)
        .map(|(_, s, _)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_map_to_standard_ids() {
        assert_eq!(parse_capability("keyvalue").unwrap(), KEYVALUE);
        assert_eq!(parse_capability("KV").unwrap(), KEYVALUE);
        assert_eq!(parse_capability("http-server").unwrap(), HTTP_SERVER);
        assert_eq!(parse_capability("log").unwrap(), LOGGING);
        for short in SHORT_NAMES {
            let id = parse_capability(short).unwrap();
            assert_eq!(short_name(&id), Some(short));
        }
    }

    #[test]
    fn full_and_custom_ids_pass_through() {
        assert_eq!(parse_capability("waxosuit:keyvalue").unwrap(), KEYVALUE);
        assert_eq!(parse_capability("acme:billing").unwrap(), "acme:billing");
        assert_eq!(
            parse_capability("wasmcloud:builtin:logging").unwrap(),
            "wasmcloud:builtin:logging"
        );
    }

    #[test]
    fn malformed_ids_are_refused_with_the_short_names() {
        for bad in ["", "nope", ":x", "x:", "a b:c", "Acme:Billing", "a::"] {
            let err = parse_capability(bad).unwrap_err().to_string();
            assert!(err.contains("keyvalue, messaging"), "{bad}: {err}");
        }
    }

    #[test]
    fn friendly_names_cover_other_spellings() {
        assert_eq!(friendly_name(KEYVALUE), "Key-value store");
        assert_eq!(friendly_name("wasmcloud:httpserver"), "HTTP server");
        assert_eq!(friendly_name("wascc:logging"), "Logging");
        assert_eq!(friendly_name("acme:billing"), "acme:billing");
    }
}
