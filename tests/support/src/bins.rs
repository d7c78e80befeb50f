//! Binaries of other workspace packages, for tests that run them (Cargo only provides
//! `CARGO_BIN_EXE_*` for a package's own binaries).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::{repo_root, target_dir};

/// Builds binary `bin` of workspace package `package` (debug, into the test's own target
/// directory, so usually a no-op) once per process, and returns its path.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    let _one_at_a_time = LOCK
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = target_dir()
        .join("debug")
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .args(["build", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir())
        .output();
    match output {
        Ok(out) if out.status.success() && path.is_file() => path,
        Ok(out) => panic!(
            "cannot build `{bin}` of `{package}`:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run cargo to build `{bin}`: {e}"),
    }
}
