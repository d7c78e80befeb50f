//! Tests for the errors a newcomer can hit with `cargo waxo build` and `cargo waxo run`: each
//! says what happened and what to do, and exits 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use waxo_test_support::{guest_wasm, sign_with};

fn waxo(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cargo-waxo").unwrap();
    cmd.current_dir(cwd)
        .env("WAXO_HOME", cwd.join(".waxo-home"))
        .env("WAXO_KEYS_DIR", cwd.join("keys"))
        .arg("waxo");
    cmd
}

fn probe(dir: &Path, caps: &[&str]) -> PathBuf {
    let bytes = std::fs::read(guest_wasm("probe")).unwrap();
    let path = dir.join("probe_s.wasm");
    let bytes = if caps.is_empty() {
        bytes
    } else {
        sign_with(&bytes, caps).bytes
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn build_outside_a_crate_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    waxo(dir.path())
        .arg("build")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("this is not a crate"))
        .stderr(predicate::str::contains("cargo waxo new NAME"));
}

#[test]
fn build_without_the_wasm32_target_gives_the_rustup_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"g\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\ncrate-type = [\"cdylib\"]\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    // A rustc whose wasm32 standard library is missing.
    let fake = dir.path().join("rustc-without-wasm32");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho /nonexistent/lib/rustlib/wasm32-unknown-unknown/lib\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    waxo(dir.path())
        .arg("build")
        .env("RUSTC", &fake)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "rustup target add wasm32-unknown-unknown",
        ));
}

#[test]
fn build_of_a_library_that_is_not_a_cdylib_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"plain\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    waxo(dir.path()).arg("build").assert().code(1).stderr(
        predicate::str::contains("crate-type = [\\\"cdylib\\\"]")
            .or(predicate::str::contains("crate-type = [\"cdylib\"]")),
    );
}

#[test]
fn run_on_a_taken_port_names_the_flag_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let module = probe(dir.path(), &["http_server"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    waxo(dir.path())
        .args(["run", module.to_str().unwrap(), "--http", &addr])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already in use"))
        .stderr(predicate::str::contains("--http 127.0.0.1:PORT"));
}

#[test]
fn run_with_a_bad_waxo_toml_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let module = probe(dir.path(), &["keyvalue"]);
    std::fs::write(
        dir.path().join("waxo.toml"),
        "[http]\nbind = \"127.0.0.1:0\"\n\n[keyvalue]\nbackend = \"mongo\"\n",
    )
    .unwrap();
    waxo(dir.path())
        .args(["run", module.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("waxo.toml"))
        .stderr(predicate::str::contains("line 5"))
        .stderr(predicate::str::contains("expected `embedded` or `redis`"));
}

#[test]
fn run_of_an_unsigned_module_says_how_to_sign_it() {
    let dir = tempfile::tempdir().unwrap();
    let module = probe(dir.path(), &[]);
    waxo(dir.path())
        .args(["run", module.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not signed"))
        .stderr(predicate::str::contains("cargo waxo build"))
        .stderr(predicate::str::contains("--allow-unsigned"));
}

#[test]
fn run_of_a_tampered_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let module = probe(dir.path(), &["http_server"]);
    let mut bytes = std::fs::read(&module).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&module, bytes).unwrap();
    waxo(dir.path())
        .args(["run", module.to_str().unwrap(), "--http", "127.0.0.1:0"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("modified after signing"));
}
