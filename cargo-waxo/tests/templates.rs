//! Tests for `cargo waxo new / build / run` and the templates: each template is scaffolded
//! non-interactively with the built binary, built for wasm32, signed, served and exercised
//! for real (HTTP requests; messages through a real NATS server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use waxo_test_support::servers::NatsServer;

/// A temporary HOME with the real toolchain still reachable.
struct Dev {
    home: tempfile::TempDir,
}

impl Dev {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self) -> &Path {
        self.home.path()
    }

    /// `cargo waxo ARGS…` in `cwd`.
    fn waxo(&self, cwd: &Path, args: &[&str]) -> Command {
        let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        let rustup = std::env::var_os("RUSTUP_HOME")
            .map_or_else(|| real_home.join(".rustup"), PathBuf::from);
        let cargo_home =
            std::env::var_os("CARGO_HOME").map_or_else(|| real_home.join(".cargo"), PathBuf::from);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-waxo"));
        cmd.current_dir(cwd)
            .env("HOME", self.dir())
            .env("RUSTUP_HOME", rustup)
            .env("CARGO_HOME", cargo_home)
            // One target directory for every scaffolded crate: the SDK compiles once per run.
            .env(
                "CARGO_TARGET_DIR",
                waxo_test_support::target_dir().join("template-crates"),
            )
            .env_remove("WAXO_HOME")
            .env_remove("WAXO_KEYS_DIR")
            .env_remove("RUSTFLAGS")
            .arg("waxo")
            .args(args);
        cmd
    }

    /// Scaffolds `template` as crate `name`; returns its directory.
    fn scaffold(&self, name: &str, template: &str) -> PathBuf {
        let out = self
            .waxo(self.dir(), &["new", name, "--template", template, "--yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "new failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.dir().join(name)
    }
}

/// A running `cargo waxo run`, killed on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    url: Option<String>,
}

impl Running {
    /// Starts `cargo waxo run ARGS…` in `dir` and waits for its first "press Ctrl-C" line.
    fn start(dev: &Dev, dir: &Path, args: &[&str]) -> Self {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let mut child = dev
            .waxo(dir, &all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        // Only the reader threads may hold senders: when the process exits, `recv` ends.
        drop(tx);
        let mut running = Self {
            child,
            lines,
            url: None,
        };
        let mut seen = Vec::new();
        // Generous: the first build compiles the SDK for wasm32.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match running.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line
                        .strip_prefix("serving `")
                        .and_then(|l| l.split(" on ").nth(1))
                    {
                        running.url = Some(url.to_string());
                    }
                    let done = line.starts_with("press Ctrl-C");
                    seen.push(line);
                    if done {
                        return running;
                    }
                }
                Err(_) => {
                    let status = running.child.try_wait().ok().flatten();
                    panic!(
                        "`cargo waxo run` never became ready ({status:?}):\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        let url = self.url.as_deref().expect("no HTTP URL printed");
        url.trim_start_matches("http://").parse().unwrap()
    }

    /// Stops it the way Ctrl-C does, and waits.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "exit after Ctrl-C: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("`cargo waxo run` did not stop after SIGINT");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn http_hello_greets() {
    let dev = Dev::new();
    let dir = dev.scaffold("hello-svc", "http-hello");
    let app = Running::start(&dev, &dir, &["--http", "127.0.0.1:0"]);
    let (status, body) = http(app.addr(), "GET", "/world");
    assert_eq!(status, 200);
    assert_eq!(body, "Hello from hello-svc! You asked for /world\n");
    app.stop();
}

#[test]
fn kv_counter_counts_and_continues_after_a_restart() {
    let dev = Dev::new();
    let dir = dev.scaffold("counter", "kv-counter");
    let app = Running::start(&dev, &dir, &["--http", "127.0.0.1:0"]);
    let counts: Vec<String> = (0..3).map(|_| http(app.addr(), "GET", "/").1).collect();
    assert_eq!(counts, ["1", "2", "3"]);
    assert_eq!(http(app.addr(), "POST", "/").0, 405);
    app.stop();
    assert!(
        dir.join(".waxo/kv.redb").is_file(),
        "the count lives next to waxo.toml"
    );

    let app = Running::start(&dev, &dir, &["--http", "127.0.0.1:0"]);
    assert_eq!(http(app.addr(), "GET", "/").1, "4");
    app.stop();
}

#[test]
fn event_processor_stores_events_and_publishes_summaries_over_nats() {
    let nats = NatsServer::start();
    let dev = Dev::new();
    let dir = dev.scaffold("sensors", "event-processor");
    let config = std::fs::read_to_string(dir.join("waxo.toml"))
        .unwrap()
        .replace(
            "backend = \"inproc\"",
            &format!("backend = \"nats\"\nurl = \"{}\"", nats.url()),
        );
    std::fs::write(dir.join("waxo.toml"), config).unwrap();
    let app = Running::start(&dev, &dir, &[]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let summaries: Vec<String> = rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let mut summaries = client.subscribe("summary.t1").await.unwrap();
        client.flush().await.unwrap();
        for reading in ["21.5", "22.0"] {
            client.publish("sensors.t1", reading.into()).await.unwrap();
        }
        client.flush().await.unwrap();
        let mut got = Vec::new();
        use futures::StreamExt as _;
        while got.len() < 2 {
            let message = tokio::time::timeout(Duration::from_secs(30), summaries.next())
                .await
                .expect("no summary published")
                .unwrap();
            got.push(String::from_utf8_lossy(&message.payload).to_string());
        }
        got
    });
    assert_eq!(
        summaries,
        ["sensor=t1 count=1 last=21.5", "sensor=t1 count=2 last=22.0"]
    );
    app.stop();
}

#[test]
fn new_refuses_existing_directories_bad_names_and_applies_caps() {
    let dev = Dev::new();
    dev.scaffold("svc", "http-hello");
    let out = dev
        .waxo(dev.dir(), &["new", "svc", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = dev
        .waxo(dev.dir(), &["new", "Bad Name", "--yes"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid crate name"));
    // --cap replaces the template's capabilities.
    let out = dev
        .waxo(
            dev.dir(),
            &[
                "new",
                "capped",
                "--cap",
                "kv",
                "--cap",
                "acme:billing",
                "--yes",
            ],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(dev.dir().join("capped/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"capabilities = ["keyvalue", "acme:billing"]"#),
        "{manifest}"
    );
    // A local template directory works too.
    let local = dev.dir().join("my-template");
    std::fs::create_dir_all(local.join("src")).unwrap();
    std::fs::write(
        local.join("Cargo.toml"),
        "[package]\nname = \"{{project-name}}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n",
    )
    .unwrap();
    std::fs::write(local.join("src/lib.rs"), "//! {{project-name}}\n").unwrap();
    let out = dev
        .waxo(
            dev.dir(),
            &[
                "new",
                "from-local",
                "--template",
                local.to_str().unwrap(),
                "--yes",
            ],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = std::fs::read_to_string(dev.dir().join("from-local/src/lib.rs")).unwrap();
    assert_eq!(lib, "//! from-local\n");
}
