//! Tests for the headless `waxosuit` binary, run as a container runs it: serve a directory
//! holding a signed module and its waxo.toml, drain an in-flight slow call on SIGTERM and
//! exit 0, write JSON logs on request, and refuse what it must with exit code 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use waxo_test_support::http::{get, try_request};
use waxo_test_support::providers::echo_provider;
use waxo_test_support::{guest_wasm, sign_with};

/// A running `waxosuit`, killed on drop.
struct Waxosuit {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    addr: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
}

fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn waxosuit(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_waxosuit"));
    cmd.env("WAXO_HOME", home.join("waxo-home"))
        .env_remove("WAXO_LOG")
        .args(args);
    cmd
}

impl Waxosuit {
    /// Starts `waxosuit ARGS…` and waits until it says it is ready.
    fn start(home: &Path, args: &[&str]) -> Self {
        let mut child = waxosuit(home, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut me = Self {
            child,
            stdout,
            stderr,
            addr: None,
            metrics: None,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = me.stdout.recv_timeout(left) else {
                let errors: Vec<String> = me.stderr.try_iter().collect();
                panic!("waxosuit never became ready:\n{}", errors.join("\n"));
            };
            if let Some(url) = line
                .strip_prefix("serving `")
                .and_then(|l| l.split(" on http://").nth(1))
            {
                me.addr = Some(url.parse().unwrap());
            }
            if let Some(url) = line.strip_prefix("metrics on http://") {
                me.metrics = Some(url.trim_end_matches("/metrics").parse().unwrap());
            }
            if line.starts_with("press Ctrl-C") {
                return me;
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        self.addr.expect("no HTTP address announced")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("waxosuit did not stop");
    }
}

impl Drop for Waxosuit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app directory as a container image holds it: the signed probe (claiming HTTP and the
/// slow `acme:echo` test provider) and a waxo.toml loading that provider.
fn app_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let signed = sign_with(
        &std::fs::read(guest_wasm("probe")).unwrap(),
        &["http_server", "acme:echo"],
    );
    std::fs::write(dir.join("probe_s.wasm"), &signed.bytes).unwrap();
    std::fs::write(
        dir.join("waxo.toml"),
        format!("[[provider]]\npath = \"{}\"\n", echo_provider().display()),
    )
    .unwrap();
    dir
}

fn echo_calls(metrics: SocketAddr) -> u64 {
    get(metrics, "/metrics")
        .body
        .lines()
        .find(|l| l.starts_with("waxosuit_host_calls_total{") && l.contains("acme:echo"))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

#[test]
fn sigterm_drains_an_in_flight_slow_call_then_exits_0() {
    let root = tempfile::tempdir().unwrap();
    let dir = app_dir(root.path());
    let mut host = Waxosuit::start(
        root.path(),
        &[
            "run",
            dir.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let addr = host.addr();
    assert_eq!(get(addr, "/").body, "hello from probe");

    let slow = std::thread::spawn(move || get(addr, "/sleep/1500"));
    let metrics = host.metrics.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while echo_calls(metrics) < 1 {
        assert!(Instant::now() < deadline, "the slow call never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.signal("TERM");

    let answer = slow.join().unwrap();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "slept"),
        "the call in flight finished"
    );
    let status = host.wait();
    assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");
    assert!(
        try_request(addr, "GET", "/", b"").is_err(),
        "the listener is closed"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = app_dir(root.path());
    let mut host = Waxosuit::start(
        root.path(),
        &[
            "run",
            dir.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
    );
    // A guest error is logged as a warning.
    assert_eq!(get(host.addr(), "/fail").status, 500);
    host.signal("TERM");
    assert_eq!(host.wait().code(), Some(0));
    let logged: Vec<String> = host.stderr.iter().collect();
    assert!(!logged.is_empty(), "no log lines");
    for line in &logged {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
    assert!(
        logged.iter().any(|l| l.contains("probe fails on purpose")),
        "the guest's error is in the log: {logged:?}"
    );
}

#[test]
fn refused_modules_exit_1_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("unsigned");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(guest_wasm("probe"), dir.join("probe.wasm")).unwrap();
    let out = waxosuit(root.path(), &["run", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not signed") && stderr.contains("--allow-unsigned"),
        "{stderr}"
    );

    // Signed, but by an issuer the host does not trust.
    let dir = app_dir(root.path());
    let stranger = waxo_test_support::KeyPair::new_account().public_key();
    let out = waxosuit(
        root.path(),
        &["run", dir.to_str().unwrap(), "--trust", &stranger],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("issuer"), "{stderr}");
    // Each cause once: the chain does not repeat a message.
    let mut seen = std::collections::HashSet::new();
    for line in stderr.lines() {
        assert!(
            seen.insert(line.trim()),
            "repeated line `{line}` in:\n{stderr}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_bad_trust_keys_are_caught_by_the_parser() {
    let root = tempfile::tempdir().unwrap();
    let out = waxosuit(root.path(), &["run", "x.wasm", "--trust", "MNOTANACCOUNT"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("account public key"));
    let out = waxosuit(root.path(), &["run", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
