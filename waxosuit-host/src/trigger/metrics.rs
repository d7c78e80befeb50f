//! The Prometheus endpoint: `GET /metrics` answers the host's metrics in the text format.

use std::net::SocketAddr;
use std::sync::Arc;

use runtime_core::Host;
use waxosuit_http_server::{HttpServer, HttpServerConfig};
use waxosuit_proto::http::{HttpRequest, HttpResponse};

use crate::error::HostError;

/// Serves `host`'s metrics on `bind` (on the current tokio runtime).
pub async fn serve(host: Host, bind: SocketAddr) -> Result<HttpServer, HostError> {
    let handler = Arc::new(move |request: HttpRequest| {
        Ok(if request.path == "/metrics" {
            HttpResponse::text(200, host.metrics_text())
                .with_header("content-type", "text/plain; version=0.0.4")
        } else {
            HttpResponse::text(404, "metrics are at /metrics\n")
        })
    });
    let config = HttpServerConfig {
        bind,
        ..Default::default()
    };
    HttpServer::start(config, handler)
        .await
        .map_err(|source| HostError::Listen {
            what: "metrics",
            addr: bind,
            hint: "pass another `--metrics ADDR`",
            source,
        })
}
