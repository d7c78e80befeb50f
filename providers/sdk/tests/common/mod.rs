//! Test harness: the provider library fixtures, built once per test process by
//! `waxo_test_support::providers` (see there).
//!
//! The fixtures are real crates: `tests/providers/echo-provider` (a standalone crate written as
//! the book's provider guide says), `tests/providers/bad-abi` (broken libraries) and the
//! workspace's `providers/http-client-cdylib`.
#![allow(dead_code)]

use std::path::PathBuf;

pub use waxo_test_support::providers::echo_provider;
use waxo_test_support::providers::provider_library;

/// One of the broken libraries of `tests/providers/bad-abi`: `wrong_version`,
/// `missing_symbol` or `bad_capability_id`.
pub fn bad_abi(name: &str) -> PathBuf {
    provider_library("tests/providers/bad-abi/Cargo.toml", &["--workspace"], name)
}

/// `libwaxosuit_http_client_cdylib.so`, the real `waxosuit:http_client` provider.
pub fn http_client_cdylib() -> PathBuf {
    provider_library(
        "providers/http-client-cdylib/Cargo.toml",
        &[],
        "waxosuit_http_client_cdylib",
    )
}
