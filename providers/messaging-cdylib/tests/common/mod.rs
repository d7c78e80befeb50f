//! Test harness: this shell crate's provider library, built once per test process by
//! `waxo_test_support::providers` without dev-dependencies, as a host would get it.

use std::path::PathBuf;

/// `libwaxosuit_messaging_cdylib.so` (or the platform's equivalent).
pub fn shell_library() -> PathBuf {
    waxo_test_support::providers::provider_library(
        "providers/messaging-cdylib/Cargo.toml",
        &[],
        "waxosuit_messaging_cdylib",
    )
}
