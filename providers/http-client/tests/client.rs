//! Tests for the HTTP client provider against a real HTTP server on loopback: allow-list,
//! timeouts, size caps and error mapping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use waxosuit_http_client::{AllowList, HttpClientConfig, HttpClientProvider};
use waxosuit_http_server::{HttpServer, HttpServerConfig};
use waxosuit_proto::http::{HttpClientRequest, HttpRequest, HttpResponse};
use waxosuit_proto::{codes, keyvalue, ops};
use waxosuit_provider_sdk::{Caller, Command, Provider};

struct Remote {
    runtime: tokio::runtime::Runtime,
    server: Option<HttpServer>,
}

impl Remote {
    /// A server answering `/slow` after 2 s, `/big` with 64 KiB, anything else with an echo.
    fn start() -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let handler = Arc::new(|req: HttpRequest| {
            Ok(match req.path.as_str() {
                "/slow" => {
                    std::thread::sleep(Duration::from_secs(2));
                    HttpResponse::text(200, "late")
                }
                "/big" => HttpResponse::new(200, vec![b'x'; 64 * 1024]),
                _ => HttpResponse::text(
                    200,
                    format!(
                        "{} {} auth={} body={}",
                        req.method,
                        req.path,
                        req.header("authorization").unwrap_or("-"),
                        String::from_utf8_lossy(&req.body)
                    ),
                ),
            })
        });
        let config = HttpServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_grace: Duration::from_millis(100),
            ..Default::default()
        };
        let server = runtime
            .block_on(HttpServer::start(config, handler))
            .unwrap();
        Self {
            runtime,
            server: Some(server),
        }
    }

    fn port(&self) -> u16 {
        self.server.as_ref().unwrap().local_addr().port()
    }

    fn provider(&self, allow: &[&str], timeout: Duration, max: usize) -> HttpClientProvider {
        let config = HttpClientConfig {
            allow: AllowList::new(allow).unwrap(),
            timeout,
            max_response_bytes: max,
        };
        HttpClientProvider::new(config, self.runtime.handle().clone())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

fn caller() -> Caller {
    Caller::new("probe", "MPROBE")
}

fn call(p: &HttpClientProvider, req: HttpClientRequest) -> waxosuit_proto::v1::Event {
    p.call(&caller(), &Command::new(ops::HTTP_CLIENT_REQUEST, &req))
}

#[test]
fn allowed_requests_carry_method_headers_and_body() {
    let remote = Remote::start();
    let p = remote.provider(&["127.0.0.1"], Duration::from_secs(5), 1 << 20);
    let mut req = HttpClientRequest::get(format!("http://127.0.0.1:{}/hello", remote.port()))
        .with_header("authorization", "Bearer t");
    req.method = "PUT".into();
    req.body = b"payload".to_vec();
    let event = call(&p, req);
    assert!(event.is_ok(), "{event:?}");
    let response: HttpResponse = event.payload_as().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        "PUT /hello auth=Bearer t body=payload"
    );
}

#[test]
fn hosts_off_the_allow_list_are_denied_before_any_connection() {
    let remote = Remote::start();
    let port = remote.port();
    let p = remote.provider(
        &[&format!("127.0.0.1:{}", port + 1)],
        Duration::from_secs(5),
        1024,
    );
    for url in [
        format!("http://localhost:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        "https://example.com/".to_string(),
    ] {
        let event = call(&p, HttpClientRequest::get(url.clone()));
        assert_eq!(event.error_code(), Some(codes::DENIED), "{url}: {event:?}");
        let message = &event.error.as_ref().unwrap().message;
        assert!(
            message.contains("allow-list") && message.contains("waxo.toml"),
            "{message}"
        );
    }
}

#[test]
fn timeouts_size_caps_and_refused_connections_are_distinct_errors() {
    let remote = Remote::start();
    let base = format!("http://127.0.0.1:{}", remote.port());
    let p = remote.provider(&["127.0.0.1"], Duration::from_millis(300), 1024);
    let event = call(&p, HttpClientRequest::get(format!("{base}/slow")));
    assert_eq!(
        event.error_code(),
        Some(codes::DEADLINE_EXCEEDED),
        "{event:?}"
    );
    let event = call(&p, HttpClientRequest::get(format!("{base}/big")));
    assert_eq!(
        event.error_code(),
        Some(codes::RESOURCE_EXHAUSTED),
        "{event:?}"
    );
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let event = call(
        &p,
        HttpClientRequest::get(format!("http://127.0.0.1:{closed_port}/")),
    );
    assert_eq!(event.error_code(), Some(codes::UNAVAILABLE), "{event:?}");
    // The provider still works afterwards.
    assert!(call(&p, HttpClientRequest::get(format!("{base}/ok"))).is_ok());
}

#[test]
fn malformed_requests_are_invalid_arguments() {
    let remote = Remote::start();
    let p = remote.provider(&["127.0.0.1"], Duration::from_secs(1), 1024);
    for url in ["not a url", "/relative", "ftp://127.0.0.1/x"] {
        let event = call(&p, HttpClientRequest::get(url));
        assert_eq!(
            event.error_code(),
            Some(codes::INVALID_ARGUMENT),
            "{url}: {event:?}"
        );
    }
    let wrong_payload = Command::new(ops::HTTP_CLIENT_REQUEST, &keyvalue::GetRequest::default());
    let event = p.call(&caller(), &wrong_payload);
    assert_eq!(event.error_code(), Some(codes::INVALID_ARGUMENT));
    let wrong_op = Command::new(ops::KV_GET, &HttpClientRequest::get("http://127.0.0.1/"));
    let event = p.call(&caller(), &wrong_op);
    assert_eq!(event.error_code(), Some(codes::UNKNOWN_OPERATION));
}
