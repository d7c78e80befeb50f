//! Tests for `cargo waxo call`, run through the built binary with a temporary HOME.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use clap::CommandFactory;
use predicates::prelude::*;
use wascap::caps::LOGGING;
use waxo_test_support::{guest_wasm, sign_with, wat_fixture};

struct Env {
    home: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("cargo-waxo").unwrap();
        cmd.env("HOME", self.home.path())
            .env_remove("WAXO_LOG")
            .current_dir(self.home.path())
            .args(["waxo", "call"]);
        cmd
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn json(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(stdout));
    })
}

fn probe_signed(env: &Env) -> PathBuf {
    let bytes = std::fs::read(guest_wasm("probe")).unwrap();
    env.write("probe.wasm", &sign_with(&bytes, &[LOGGING]).bytes)
}

#[test]
fn clap_definition_is_consistent() {
    cargo_waxo::Cli::command().debug_assert();
}

#[test]
fn help_says_which_providers_are_bound() {
    Env::new()
        .cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("except logging"))
        .stdout(predicate::str::contains("unavailable"));
}

#[test]
fn unsigned_module_is_refused_without_the_flag() {
    let env = Env::new();
    let module = env.write("hello.wasm", &wat_fixture("hello.wat"));
    env.cmd()
        .arg(&module)
        .args(["--op", "waxosuit:http_server/Handle"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unsigned"))
        .stderr(predicate::str::contains("cargo wascap sign"));
}

#[test]
fn hello_wat_answers_over_http_as_json() {
    let env = Env::new();
    let module = env.write("hello.wasm", &wat_fixture("hello.wat"));
    let out = env
        .cmd()
        .arg(&module)
        .args([
            "--op",
            "waxosuit:http_server/Handle",
            "--data",
            r#"{"method": "GET", "path": "/"}"#,
            "--allow-unsigned",
            "--output",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["payload"]["@type"],
        "type.googleapis.com/waxosuit.http.v1.HttpResponse"
    );
    assert_eq!(v["payload"]["status"], 200);
    // "hello from wat", base64 as in the protobuf JSON mapping of bytes.
    assert_eq!(v["payload"]["body"], "aGVsbG8gZnJvbSB3YXQ=");
    // The artifact cache lives under the temporary HOME.
    assert!(env.home.path().join(".waxo/cache").is_dir());
}

#[test]
fn unknown_op_payload_from_a_file_with_type_is_echoed() {
    let env = Env::new();
    let module = probe_signed(&env);
    let data = env.write(
        "data.json",
        br#"{"@type": "type.googleapis.com/waxosuit.keyvalue.v1.IncrRequest", "key": "hits", "delta": "3"}"#,
    );
    let out = env
        .cmd()
        .arg(&module)
        .args(["--op", "test/Echo", "--output", "json"])
        .arg("--data")
        .arg(format!("@{}", data.display()))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v = json(&out);
    assert_eq!(v["payload"]["key"], "hits", "{v}");
    assert_eq!(v["payload"]["delta"], "3", "{v}");
}

#[test]
fn error_event_is_printed_and_exits_3() {
    let env = Env::new();
    let module = probe_signed(&env);
    env.cmd()
        .arg(&module)
        .args(["--op", "test/NoSuchOp"])
        .assert()
        .code(3)
        .stdout(predicate::str::starts_with("error "));
}

#[test]
fn untrusted_issuer_fails_with_exit_1() {
    let env = Env::new();
    let module = probe_signed(&env);
    env.cmd()
        .arg(&module)
        .args(["--op", "test/Echo", "--trust"])
        .arg(wascap::KeyPair::new_account().public_key())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot load"));
}

#[test]
fn unknown_op_data_without_type_is_explained() {
    let env = Env::new();
    let module = probe_signed(&env);
    env.cmd()
        .arg(&module)
        .args(["--op", "test/Echo", "--data", r#"{"key": "x"}"#])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("@type"));
}

#[test]
fn missing_op_is_a_usage_error() {
    let env = Env::new();
    env.cmd().arg(Path::new("x.wasm")).assert().code(2);
}
