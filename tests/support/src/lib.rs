//! Test support: guest fixtures built once per run, WAT fixtures, signing helpers.
//!
//! Only tests use this crate, so its functions panic with an explanation instead of returning
//! errors: a fixture that cannot be built or signed is a broken test setup.
//!
//! ```no_run
//! let wasm = std::fs::read(waxo_test_support::guest_wasm("probe")).unwrap();
//! let signed = waxo_test_support::sign_with(&wasm, &["keyvalue", "logging"]);
//! let hello = waxo_test_support::wat_fixture("hello.wat");
//! # let _ = (signed, hello);
//! ```
// Failing loudly is this crate's error handling (see above).
#![allow(clippy::panic)]

pub mod bins;
pub mod http;
pub mod providers;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use wascap::KeyPair;

/// The root of the waxosuit repository (the directory of the root `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // tests/support -> tests -> repo root
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent().and_then(Path::parent) {
        Some(root) => root.to_path_buf(),
        None => panic!(
            "cannot find the repository root above `{}`",
            manifest.display()
        ),
    }
}

/// The Cargo target directory of the running test binary: the nearest ancestor of the
/// executable holding `CACHEDIR.TAG` (Cargo writes it there), else `$CARGO_TARGET_DIR`, else
/// `<repo>/target`.
pub fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file())
    {
        return dir.to_path_buf();
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target"),
    }
}

/// Builds the guest crates of `tests/guests` for `wasm32-unknown-unknown` (once per test
/// process; Cargo's lock serialises parallel processes) into `<target>/wasm-guests`, and
/// returns the path of `<name>.wasm`.
///
/// Panics with Cargo's output when the build fails, and with the `rustup` command to run when
/// the wasm32 target is not installed.
pub fn guest_wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match BUILT.get_or_init(build_guests) {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let wasm = dir.join(format!("{}.wasm", name.replace('-', "_")));
    if !wasm.is_file() {
        let available: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".wasm"))
                    .collect()
            })
            .unwrap_or_default();
        panic!(
            "no guest `{name}` in tests/guests (built: {available:?}); add a crate for it to the \
             members of tests/guests/Cargo.toml"
        );
    }
    wasm
}

/// Runs the guest build; returns the directory holding the `.wasm` files.
fn build_guests() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = repo_root().join("tests/guests/Cargo.toml");
    let target_dir = target_dir().join("wasm-guests");
    let output = Command::new(&cargo)
        .arg("build")
        .args(["--target", "wasm32-unknown-unknown"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the host build must not leak into the wasm32 build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{}` to build the test guests: {e}; set $CARGO to a cargo binary",
                Path::new(&cargo).display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let missing_target = stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`");
        if missing_target {
            return Err(format!(
                "the wasm32-unknown-unknown target is not installed; run \
                 `rustup target add wasm32-unknown-unknown`\n{stderr}"
            ));
        }
        return Err(format!(
            "building the test guests failed ({}):\n{stderr}",
            manifest.display()
        ));
    }
    Ok(target_dir.join("wasm32-unknown-unknown/debug"))
}

/// Compiles the WAT fixture `tests/fixtures/<relative_path>` to wasm bytes.
pub fn wat_fixture(relative_path: impl AsRef<Path>) -> Vec<u8> {
    let path = repo_root().join("tests/fixtures").join(relative_path);
    match wat::parse_file(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot compile WAT fixture `{}`: {e}", path.display()),
    }
}

/// A module signed by [`sign_with`], with the keys that signed it.
pub struct Signed {
    /// The signed module.
    pub bytes: Vec<u8>,
    /// The account key that signed (its public key starts with `A`).
    pub issuer: KeyPair,
    /// The module key the claims are about (its public key starts with `M`).
    pub subject: KeyPair,
}

/// Signs `module` with fresh issuer and subject keys, claiming `caps` (short names such as
/// `"keyvalue"` or full ids such as `"waxosuit:keyvalue"` / `"acme:thing"`).
pub fn sign_with(module: &[u8], caps: &[&str]) -> Signed {
    let issuer = KeyPair::new_account();
    let subject = KeyPair::new_module();
    let bytes = sign_as(module, caps, &issuer, &subject);
    Signed {
        bytes,
        issuer,
        subject,
    }
}

/// Signs `module` with the given keys (e.g. to re-sign a new version under the same subject),
/// claiming `caps` like [`sign_with`]; the claims' name is `"test"`.
pub fn sign_as(module: &[u8], caps: &[&str], issuer: &KeyPair, subject: &KeyPair) -> Vec<u8> {
    let caps = caps
        .iter()
        .map(|c| match wascap::caps::parse_capability(c) {
            Ok(id) => id,
            Err(e) => panic!("bad capability `{c}` in a test: {e}"),
        })
        .collect();
    let opts = wascap::SignOptions {
        name: "test".into(),
        caps,
        ..Default::default()
    };
    match wascap::sign(module, &opts, issuer, subject) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot sign the test module: {e}"),
    }
}
