//! Provider libraries (cdylibs) built for tests: the shipped shells and the fixtures of
//! `tests/providers/`, each built once per test process with `$CARGO build` into
//! `<target>/provider-fixtures` (Cargo's lock serialises parallel test processes), without
//! dev-dependencies, exactly as a host would get them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::{repo_root, target_dir};

/// Where provider libraries are built.
pub fn fixtures_target_dir() -> PathBuf {
    target_dir().join("provider-fixtures")
}

/// Builds the crate (or workspace) of `manifest` (relative to the repository root) with the
/// extra cargo `args`, once per process, and returns `lib<name>.so` (or the platform's
/// equivalent). Panics with Cargo's output when the build fails.
pub fn provider_library(manifest: &str, args: &[&str], name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Result<(), String>>>> = OnceLock::new();
    let key = format!("{manifest} {}", args.join(" "));
    let outcome = {
        let mut built = BUILT
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        built
            .entry(key)
            .or_insert_with(|| cargo_build(manifest, args))
            .clone()
    };
    if let Err(e) = outcome {
        panic!("{e}");
    }
    let file = format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = fixtures_target_dir().join("debug").join(file);
    assert!(
        path.is_file(),
        "the build of `{manifest}` did not produce {}",
        path.display()
    );
    path
}

/// `libecho_provider.so`: the provider guide's example (`acme:echo`).
pub fn echo_provider() -> PathBuf {
    provider_library(
        "tests/providers/echo-provider/Cargo.toml",
        &[],
        "echo_provider",
    )
}

fn cargo_build(manifest: &str, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = repo_root().join(manifest);
    let output = Command::new(&cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(args)
        .arg("--target-dir")
        .arg(fixtures_target_dir())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", Path::new(&cargo).display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the provider library `{}` failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
