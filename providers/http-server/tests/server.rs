//! Tests for the HTTP server: request/response mapping, limits, failures and graceful
//! shutdown, over real TCP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use waxosuit_http_server::{Error, Handler, HttpServer, HttpServerConfig};
use waxosuit_proto::http::{HttpRequest, HttpResponse};

fn config(max_body_bytes: usize) -> HttpServerConfig {
    HttpServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_body_bytes,
        shutdown_grace: Duration::from_secs(5),
    }
}

/// Answers with a description of the request, or misbehaves on request.
fn echo() -> Arc<dyn Handler> {
    Arc::new(|req: HttpRequest| match req.path.as_str() {
        "/fail" => Err("the guest trapped".to_string()),
        "/bad-status" => Ok(HttpResponse::new(1000, "x")),
        "/bad-header" => Ok(HttpResponse::text(200, "ok").with_header("bad header", "x")),
        _ => Ok(HttpResponse::text(
            201,
            format!(
                "{} {} q={} x-test={} body={}",
                req.method,
                req.path,
                req.query,
                req.header("x-test").unwrap_or("-"),
                String::from_utf8_lossy(&req.body)
            ),
        )
        .with_header("x-reply", "yes")),
    })
}

/// Sends a raw HTTP/1.1 request and returns (status, headers+body text).
async fn send(addr: SocketAddr, raw: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_method_path_query_headers_and_body_both_ways() {
    let server = HttpServer::start(config(1024), echo()).await.unwrap();
    let raw = "POST /items/7?sort=asc&x=1 HTTP/1.1\r\nhost: x\r\nx-test: hi\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
    let (status, text) = send(server.local_addr(), raw).await;
    assert_eq!(status, 201);
    assert!(
        text.contains("POST /items/7 q=sort=asc&x=1 x-test=hi body=hello"),
        "{text}"
    );
    assert!(text.to_ascii_lowercase().contains("x-reply: yes"), "{text}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_the_guest_never_sees_them() {
    let server = HttpServer::start(config(8), echo()).await.unwrap();
    let raw =
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 9\r\nconnection: close\r\n\r\n123456789";
    let (status, text) = send(server.local_addr(), raw).await;
    assert_eq!(status, 413, "{text}");
    // Chunked bodies are counted as they arrive.
    let raw = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n";
    let (status, _) = send(server.local_addr(), raw).await;
    assert_eq!(status, 413);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_failures_are_500s_and_the_server_keeps_serving() {
    let server = HttpServer::start(config(1024), echo()).await.unwrap();
    let addr = server.local_addr();
    let (status, text) = send(addr, &get("/fail")).await;
    assert_eq!(status, 500);
    assert!(!text.contains("trapped"), "internal details leaked: {text}");
    assert_eq!(send(addr, &get("/bad-status")).await.0, 500);
    let (status, text) = send(addr, &get("/bad-header")).await;
    assert_eq!(
        status, 200,
        "an invalid header is dropped, not fatal: {text}"
    );
    assert_eq!(send(addr, &get("/ok")).await.0, 201);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_all_answered() {
    let server = HttpServer::start(config(1024), echo()).await.unwrap();
    let addr = server.local_addr();
    let tasks: Vec<_> = (0..32)
        .map(|i| tokio::spawn(async move { send(addr, &get(&format!("/n/{i}"))).await }))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, text) = task.await.unwrap();
        assert_eq!(status, 201);
        assert!(text.contains(&format!("GET /n/{i} ")), "{text}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error() {
    let server = HttpServer::start(config(1024), echo()).await.unwrap();
    let taken = HttpServerConfig {
        bind: server.local_addr(),
        ..config(1024)
    };
    let err = HttpServer::start(taken, echo()).await.err().unwrap();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err}");
    assert!(err.to_string().contains("already in use"), "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight_then_stops_listening() {
    // The handler says when the request has reached it, so shutdown starts with the
    // request in flight however slow the machine is.
    let (reached, arrived) = std::sync::mpsc::channel::<()>();
    let reached = std::sync::Mutex::new(reached);
    let handler: Arc<dyn Handler> = Arc::new(move |_req: HttpRequest| {
        let _ = reached.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(500));
        Ok(HttpResponse::text(200, "slow done"))
    });
    let server = HttpServer::start(config(1024), handler).await.unwrap();
    let addr = server.local_addr();
    let slow = tokio::spawn(async move { send(addr, &get("/slow")).await });
    tokio::task::spawn_blocking(move || arrived.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the request never reached the handler");
    server.shutdown().await;
    let (status, text) = slow.await.unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("slow done"));
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}
