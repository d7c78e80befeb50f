//! Tests for the `cargo-wascap` binary: run as `cargo wascap …` would, in a temp dir with its
//! own HOME, checking output and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use wascap::KeyPair;

/// A scratch directory with its own HOME and an unsigned module `echo.wasm`.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("echo.wasm"), common::module()).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// `cargo wascap ARGS…` in the sandbox.
    fn wascap(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("cargo-wascap").unwrap();
        cmd.current_dir(self.dir.path())
            .env("HOME", self.home())
            .env_remove("WAXO_KEYS_DIR")
            .env_remove("WAXO_ISSUER_KEY")
            .env_remove("WAXO_SUBJECT_KEY")
            .arg("wascap")
            .args(args);
        cmd
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output).unwrap()
}

#[test]
fn sign_inspect_verify_round_trip() {
    let sb = Sandbox::new();
    sb.wascap(&[
        "sign",
        "echo.wasm",
        "--name",
        "echo",
        "--kv",
        "--cap",
        "logging",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "signed `echo.wasm` -> `echo_s.wasm`",
    ))
    .stderr(predicate::str::contains("created account key"));
    sb.wascap(&["inspect", "echo_s.wasm"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Key-value store (waxosuit:keyvalue)",
        ))
        .stdout(predicate::str::contains("signature     valid"))
        .stdout(predicate::str::contains("expires       never"));
    sb.wascap(&["verify", "echo_s.wasm", "--require-cap", "kv"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("ok: `echo_s.wasm` is `echo`"));
    // Keys were created once, privately, and reused.
    let keys = sb.home().join(".waxo/keys");
    assert!(keys.join("default_account.nk").is_file());
    assert!(keys.join("echo_module.nk").is_file());
    sb.wascap(&["sign", "echo.wasm", "--name", "echo"])
        .assert()
        .success()
        .stderr(predicate::str::contains("created").not());
}

#[test]
fn inspect_json_has_the_documented_keys() {
    let sb = Sandbox::new();
    sb.wascap(&[
        "sign",
        "echo.wasm",
        "--name",
        "echo",
        "--http-server",
        "--tag",
        "edge",
        "--ver",
        "1.2.3",
        "--rev",
        "4",
        "--call-alias",
        "echo_svc",
        "--expires-in",
        "90d",
    ])
    .assert()
    .success();
    let out = sb
        .wascap(&["inspect", "echo_s.wasm", "--output", "json"])
        .assert()
        .success();
    let v = json(&out.get_output().stdout);
    for key in [
        "name",
        "issuer",
        "subject",
        "capabilities",
        "tags",
        "ver",
        "rev",
        "call_alias",
        "expires",
        "not_before",
        "hash",
        "signature_valid",
        "hash_valid",
    ] {
        assert!(v.get(key).is_some(), "missing `{key}` in {v}");
    }
    assert_eq!(v["name"], "echo");
    assert_eq!(
        v["capabilities"],
        serde_json::json!(["waxosuit:http_server"])
    );
    assert_eq!(v["tags"], serde_json::json!(["edge"]));
    assert_eq!(v["ver"], "1.2.3");
    assert_eq!(v["rev"], 4);
    assert_eq!(v["call_alias"], "echo_svc");
    assert_eq!(v["expires"], "in 90 days");
    assert_eq!(v["not_before"], "immediately");
    assert_eq!(v["signature_valid"], true);
    assert_eq!(v["hash_valid"], true);
    assert_eq!(v["section"], "jwt");
    let jwt = sb
        .wascap(&["inspect", "echo_s.wasm", "--jwt-only"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&jwt.get_output().stdout)
            .trim()
            .split('.')
            .count(),
        3
    );
}

#[test]
fn resigning_replaces_the_token() {
    let sb = Sandbox::new();
    sb.wascap(&["sign", "echo.wasm", "--name", "echo", "--kv"])
        .assert()
        .success();
    sb.wascap(&[
        "sign",
        "echo_s.wasm",
        "-o",
        "echo_s.wasm",
        "--name",
        "echo",
        "--msg",
    ])
    .assert()
    .success();
    let bytes = sb.read("echo_s.wasm");
    assert_eq!(common::count_sections(&bytes, "jwt"), 1);
    sb.wascap(&["verify", "echo_s.wasm", "--require-cap", "messaging"])
        .assert()
        .code(0);
    sb.wascap(&["verify", "echo_s.wasm", "--require-cap", "keyvalue"])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("re-sign with `--cap keyvalue`"));
}

#[test]
fn tampered_modules_fail_with_4() {
    let sb = Sandbox::new();
    sb.wascap(&["sign", "echo.wasm", "--name", "echo"])
        .assert()
        .success();
    let signed = sb.read("echo_s.wasm");
    let unsigned_len = common::module().len();
    // First byte, a code byte, a data byte, and the last byte before the token.
    for i in [0, unsigned_len / 2, unsigned_len - 20, unsigned_len - 1] {
        let mut tampered = signed.clone();
        tampered[i] ^= 0x01;
        sb.write("tampered.wasm", &tampered);
        sb.wascap(&["verify", "tampered.wasm"])
            .assert()
            .code(4)
            .stderr(predicate::str::contains("modified after signing"));
    }
    sb.wascap(&["inspect", "tampered.wasm"])
        .assert()
        .success()
        .stdout(predicate::str::contains("INVALID: modified after signing"));
}

#[test]
fn expired_and_not_yet_valid_fail_with_5_and_6() {
    let sb = Sandbox::new();
    let (issuer, subject) = (KeyPair::new_account(), KeyPair::new_module());
    let opts = wascap::SignOptions {
        expires_in: Some(Duration::from_secs(10)),
        ..common::opts(&[])
    };
    let mut expired = Vec::new();
    wascap::sign_to(
        &common::module(),
        &opts,
        &issuer,
        &subject,
        wascap::time::now() - 100,
        &mut expired,
    )
    .unwrap();
    sb.write("expired.wasm", &expired);
    sb.wascap(&["verify", "expired.wasm"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("the claims expired"));

    sb.wascap(&["sign", "echo.wasm", "--name", "echo", "--not-before", "2h"])
        .assert()
        .success();
    sb.wascap(&["verify", "echo_s.wasm"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("not valid until"));
    sb.wascap(&["inspect", "echo_s.wasm"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not before    in 2 hours"));
}

#[test]
fn untrusted_issuer_fails_with_7() {
    let sb = Sandbox::new();
    let out = sb
        .wascap(&["sign", "echo.wasm", "--name", "echo", "--output", "json"])
        .assert()
        .success();
    let issuer = json(&out.get_output().stdout)["issuer"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = KeyPair::new_account().public_key();
    sb.wascap(&["verify", "echo_s.wasm", "--issuer", &stranger])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("is not trusted"));
    sb.wascap(&[
        "verify",
        "echo_s.wasm",
        "--issuer",
        &stranger,
        "--issuer",
        &issuer,
    ])
    .assert()
    .code(0);
}

#[test]
fn unreadable_unsigned_and_malformed_inputs() {
    let sb = Sandbox::new();
    sb.wascap(&["verify", "echo.wasm"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not signed"));
    sb.wascap(&["inspect", "echo.wasm"]).assert().code(3);
    sb.wascap(&["verify", "missing.wasm"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read `missing.wasm`"));
    sb.write(
        "random.wasm",
        b"\x17\x99 definitely not webassembly \x00\xff",
    );
    sb.wascap(&["verify", "random.wasm"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a valid WebAssembly module"));
    sb.wascap(&["sign", "echo.wasm", "--name", "echo"])
        .assert()
        .success();
    let signed = sb.read("echo_s.wasm");
    sb.write("truncated.wasm", &signed[..signed.len() - 10]);
    sb.wascap(&["verify", "truncated.wasm"]).assert().code(1);
    let mut past_end = b"\0asm\x01\0\0\0".to_vec();
    past_end.extend([0, 0x7f, 1, b'x']);
    sb.write("past_end.wasm", &past_end);
    sb.wascap(&["verify", "past_end.wasm"]).assert().code(1);
    sb.wascap(&["sign", "random.wasm", "--name", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not a valid WebAssembly module"));
    assert!(!sb.path("random_s.wasm").exists(), "no half-written output");
    // Signing streams core modules: a section running past the end is caught on the way,
    // and nothing is left behind.
    sb.wascap(&["sign", "past_end.wasm", "--name", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("runs past the end of the file"));
    assert!(
        !sb.path("past_end_s.wasm").exists(),
        "no half-written output"
    );
}

#[test]
fn signing_a_missing_file_fails_before_creating_any_key() {
    let sb = Sandbox::new();
    sb.wascap(&["sign", "missing.wasm", "--name", "x"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read `missing.wasm`"));
    assert!(!sb.home().join(".waxo").exists(), "no keys were generated");
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new();
    sb.wascap(&["verify"]).assert().code(2);
    sb.wascap(&["verify", "echo.wasm", "--issuer", "not-a-key"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not an account public key"));
    sb.wascap(&["sign", "echo.wasm", "--name", "e", "--expires-in", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("examples: 30s"));
    sb.wascap(&["sign", "echo.wasm", "--name", "e", "--cap", "Bad Cap"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a capability"));
    // Outside a crate there is no default name.
    sb.wascap(&["sign", "echo.wasm"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass `--name NAME`"));
}

#[test]
fn keys_gen_prints_public_keys_and_never_seeds_unless_asked() {
    let sb = Sandbox::new();
    let out = sb
        .wascap(&["keys", "gen", "--type", "account"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stdout.trim().starts_with('A') && stdout.trim().len() == 56,
        "{stdout}"
    );
    let saved = sb.home().join(".waxo/keys/default_account.nk");
    let seed = std::fs::read_to_string(&saved).unwrap();
    let seed = seed.trim();
    assert!(seed.starts_with("SA"));
    // Look for the seed itself (and its distinctive private half): a public key is base32
    // and may contain the letters "SA" by chance.
    assert!(
        !stdout.contains(seed) && !stderr.contains(seed) && !stdout.contains(&seed[2..20]),
        "seed leaked"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Never overwrites a key.
    sb.wascap(&["keys", "gen", "--type", "account"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("refusing to overwrite"));
    let out = sb
        .wascap(&[
            "keys",
            "gen",
            "--type",
            "module",
            "--show-seed",
            "--output",
            "json",
        ])
        .assert()
        .success();
    let v = json(&out.get_output().stdout);
    assert!(v["public_key"].as_str().unwrap().starts_with('M'));
    assert!(v["seed"].as_str().unwrap().starts_with("SM"));
    assert!(v["seed_file"].is_null());
}

#[test]
fn keys_from_seed_file_and_env_with_keygen_disabled() {
    let sb = Sandbox::new();
    let issuer = KeyPair::new_account();
    let subject = KeyPair::new_module();
    sb.write("issuer.nk", issuer.seed().unwrap().as_bytes());
    sb.wascap(&[
        "sign",
        "echo.wasm",
        "--name",
        "echo",
        "--issuer",
        "issuer.nk",
        "--subject",
        "env:SUBJECT_SEED",
        "--disable-keygen",
        "--output",
        "json",
    ])
    .env("SUBJECT_SEED", subject.seed().unwrap())
    .assert()
    .success();
    sb.wascap(&["verify", "echo_s.wasm", "--issuer", &issuer.public_key()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(subject.public_key()));
    assert!(!sb.home().join(".waxo").exists(), "keygen was disabled");
    sb.wascap(&["sign", "echo.wasm", "--name", "echo", "--disable-keygen"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--disable-keygen forbids creating one",
        ));
    // A module seed where an account is expected is refused without leaking it.
    let out = sb
        .wascap(&[
            "sign",
            "echo.wasm",
            "--name",
            "e",
            "--issuer",
            &subject.seed().unwrap(),
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("not an account key"), "{stderr}");
    assert!(!stderr.contains(&subject.seed().unwrap()), "seed leaked");
}

#[test]
fn defaults_come_from_the_crate() {
    let sb = Sandbox::new();
    let krate = sb.path("counter");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        r#"[package]
name = "counter-svc"
version = "0.3.1"
edition = "2021"

[package.metadata.waxosuit]
name = "counter"
capabilities = ["keyvalue", "http_server"]
tags = ["demo"]
"#,
    )
    .unwrap();
    std::fs::write(krate.join("src/lib.rs"), "").unwrap();
    let module = sb.path("echo.wasm");
    let out = sb
        .wascap(&["sign", module.to_str().unwrap(), "--output", "json"])
        .current_dir(&krate)
        .assert()
        .success();
    let v = json(&out.get_output().stdout);
    assert_eq!(v["name"], "counter");
    assert_eq!(v["ver"], "0.3.1");
    assert_eq!(
        v["capabilities"],
        serde_json::json!(["waxosuit:keyvalue", "waxosuit:http_server"])
    );
    assert_eq!(v["tags"], serde_json::json!(["demo"]));
    // Flags win over the crate.
    let out = sb
        .wascap(&[
            "sign",
            module.to_str().unwrap(),
            "--name",
            "other",
            "--msg",
            "--output",
            "json",
        ])
        .current_dir(&krate)
        .assert()
        .success();
    let v = json(&out.get_output().stdout);
    assert_eq!(v["name"], "other");
    assert_eq!(v["capabilities"], serde_json::json!(["waxosuit:messaging"]));
    // A bad capability in the crate names the file.
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        manifest.replace("\"keyvalue\"", "\"Not Valid\""),
    )
    .unwrap();
    sb.wascap(&[
        "sign",
        module.to_str().unwrap(),
        "--manifest-path",
        krate.join("Cargo.toml").to_str().unwrap(),
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("[package.metadata.waxosuit]"));
}

#[test]
fn runs_without_the_cargo_prefix_too() {
    let sb = Sandbox::new();
    Command::cargo_bin("cargo-wascap")
        .unwrap()
        .current_dir(sb.dir.path())
        .env("HOME", sb.home())
        .args(["verify", "echo.wasm"])
        .assert()
        .code(3);
}

#[test]
fn help_teaches_the_exit_codes() {
    let sb = Sandbox::new();
    sb.wascap(&["verify", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "8  a required capability is missing",
        ));
}
