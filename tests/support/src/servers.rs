//! Real backends for tests: a `redis-server` or `nats-server` on a free loopback port.
//!
//! Each server runs in its own temporary directory with its output captured to a log file
//! there, so a server that fails to start is reported with what it printed. Tests may
//! [`kill`](RedisServer::kill) a server (SIGKILL, like a crash) and
//! [`restart`](RedisServer::restart) it on the same port to test how clients recover.
//! Dropping the value kills the server.
//!
//! ```no_run
//! use waxo_test_support::servers::RedisServer;
//!
//! let mut redis = RedisServer::start();
//! let url = redis.url(); // "redis://127.0.0.1:<port>/"
//! redis.kill();
//! redis.restart();
//! # let _ = url;
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to answer after being started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1: bind port 0, read the port the kernel chose, release it.
pub fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot find a free port on 127.0.0.1: {e}"),
    }
}

/// Finds `name` on `$PATH` (and in `/usr/sbin`, `/usr/bin`, where Debian installs servers).
fn find_binary(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{name} not found: run ./scripts/test (it installs the Debian packages) or apt-get \
         install {package}"
    );
}

/// The readiness probe of a server kind: sends `probe` and expects an answer starting with
/// `expect` (an empty `probe` only reads the greeting).
struct Probe {
    send: &'static [u8],
    expect: &'static [u8],
}

/// One server process in its temporary directory.
struct Server {
    /// Human name for messages (`redis-server`).
    name: &'static str,
    binary: PathBuf,
    /// Arguments given the port.
    args: fn(u16) -> Vec<String>,
    probe: Probe,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Server {
    fn start(
        name: &'static str,
        package: &'static str,
        args: fn(u16) -> Vec<String>,
        probe: Probe,
    ) -> Self {
        let binary = find_binary(name, package);
        let dir = match tempfile::Builder::new().prefix(name).tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary directory for {name}: {e}"),
        };
        let mut server = Self {
            name,
            binary,
            args,
            probe,
            port: free_port(),
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Spawns the process on `self.port` and waits until it answers the probe.
    fn spawn(&mut self) {
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            Ok(f) => f,
            Err(e) => panic!("cannot create the log file of {}: {e}", self.name),
        };
        let log_err = match log.try_clone() {
            Ok(f) => f,
            Err(e) => panic!("cannot duplicate the log file of {}: {e}", self.name),
        };
        let child = Command::new(&self.binary)
            .args((self.args)(self.port))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!("cannot start `{}`: {e}", self.binary.display()),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} exited ({status}) before answering on port {}; its output:\n{}",
                    self.name,
                    self.port,
                    self.log()
                );
            }
            if probe(self.port, &self.probe) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not answer on 127.0.0.1:{} within {READY_TIMEOUT:?}; its output:\n{}",
                    self.name,
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL on Unix: the server dies without any shutdown work.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a server on `port` answers `probe` right now.
fn probe(port: u16, probe: &Probe) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if !probe.send.is_empty() && stream.write_all(probe.send).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < probe.expect.len() {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(probe.expect)
}

/// A `redis-server` on a free loopback port, without persistence, killed on drop.
pub struct RedisServer(Server);

impl RedisServer {
    /// Starts `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no` in a temporary
    /// directory and waits until it answers `PING`.
    ///
    /// Panics when the binary is missing (saying how to install it) or the server does not
    /// answer within 10 s (with the server's output).
    pub fn start() -> Self {
        Self(Server::start(
            "redis-server",
            "redis-server",
            |port| {
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .iter()
                .map(ToString::to_string)
                .collect()
            },
            Probe {
                send: b"PING\r\n",
                expect: b"+PONG",
            },
        ))
    }

    /// The server's URL, `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.0.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// The server's temporary directory (its log is `server.log` there).
    pub fn dir(&self) -> &Path {
        self.0.dir.path()
    }

    /// Kills the server with SIGKILL (a crash); does nothing if it is not running.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts the server again on the same port (killing it first if it runs) and waits until
    /// it answers. Its data is gone: the server runs without persistence.
    pub fn restart(&mut self) {
        self.0.restart();
    }
}

/// A `nats-server` on a free loopback port, killed on drop.
pub struct NatsServer(Server);

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p P` in a temporary directory and waits until it
    /// greets clients with its `INFO` line.
    ///
    /// Panics when the binary is missing (saying how to install it) or the server does not
    /// answer within 10 s (with the server's output).
    pub fn start() -> Self {
        Self(Server::start(
            "nats-server",
            "nats-server",
            |port| {
                ["-a", "127.0.0.1", "-p", &port.to_string()]
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            },
            Probe {
                send: b"",
                expect: b"INFO ",
            },
        ))
    }

    /// The server's URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.0.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// The server's temporary directory (its log is `server.log` there).
    pub fn dir(&self) -> &Path {
        self.0.dir.path()
    }

    /// Kills the server with SIGKILL (a crash); does nothing if it is not running.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts the server again on the same port (killing it first if it runs) and waits until
    /// it answers.
    pub fn restart(&mut self) {
        self.0.restart();
    }
}

#[cfg(test)]
mod tests {
    //! Tests for the server helpers.

    use super::*;

    fn ping_redis(port: u16) -> bool {
        probe(
            port,
            &Probe {
                send: b"PING\r\n",
                expect: b"+PONG",
            },
        )
    }

    #[test]
    fn redis_starts_dies_and_restarts_on_the_same_port() {
        let mut redis = RedisServer::start();
        let port = redis.port();
        assert!(redis.url().contains(&port.to_string()));
        assert!(ping_redis(port));
        redis.kill();
        assert!(!ping_redis(port), "a killed server must not answer");
        redis.restart();
        assert_eq!(redis.port(), port);
        assert!(ping_redis(port));
    }

    #[test]
    fn nats_starts_dies_and_restarts_on_the_same_port() {
        let greeting = Probe {
            send: b"",
            expect: b"INFO ",
        };
        let mut nats = NatsServer::start();
        let port = nats.port();
        assert!(nats.url().starts_with("nats://127.0.0.1:"));
        assert!(probe(port, &greeting));
        nats.kill();
        assert!(!probe(port, &greeting));
        nats.restart();
        assert!(probe(port, &greeting));
    }

    #[test]
    fn dropping_a_server_kills_it() {
        let redis = RedisServer::start();
        let port = redis.port();
        drop(redis);
        assert!(!ping_redis(port));
    }
}
