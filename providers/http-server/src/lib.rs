//! The `waxosuit:http_server` capability: a hyper HTTP/1.1 server that turns each request
//! into an `HttpRequest` for a guest and its `HttpResponse` back into HTTP.
//!
//! The server knows nothing about wasm: it calls a [`Handler`], which the host implements by
//! dispatching `waxosuit:http_server/Handle` to a guest. Guest calls block, so each request's
//! handler runs on tokio's blocking pool; concurrency is bounded by the host's instance pool,
//! not by this server.
//!
//! Limits: bodies larger than [`HttpServerConfig::max_body_bytes`] are refused with 413
//! before the guest sees them. Shutdown is graceful: [`HttpServer::shutdown`] stops accepting
//! connections and waits (up to a grace period) for requests in flight.

mod convert;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use waxosuit_proto::http::{HttpRequest, HttpResponse};

/// Answers requests; implemented by the host on top of a guest.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request. Blocking is fine: this runs on a blocking thread. An `Err` becomes
    /// a 500 whose body does not reveal the message (it is logged instead).
    fn handle(&self, request: HttpRequest) -> Result<HttpResponse, String>;
}

impl<F> Handler for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, String> + Send + Sync + 'static,
{
    fn handle(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        self(request)
    }
}

/// How the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// Address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1 << 20,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process holds the address.
    #[error(
        "address {addr} is already in use; stop whatever listens there or choose another address"
    )]
    AddrInUse {
        /// The address.
        addr: SocketAddr,
    },
    /// Binding failed for another reason.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server.
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `config.bind` and starts serving `handler` on the current tokio runtime.
    pub async fn start(config: HttpServerConfig, handler: Arc<dyn Handler>) -> Result<Self, Error> {
        let listener = TcpListener::bind(config.bind).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                Error::AddrInUse { addr: config.bind }
            } else {
                Error::Bind {
                    addr: config.bind,
                    source,
                }
            }
        })?;
        let local_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.bind,
            source,
        })?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, config, handler, stopped));
        tracing::info!(%local_addr, "http server listening");
        Ok(Self {
            local_addr,
            stop,
            task,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for requests in flight (up to the grace period).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve(
    listener: TcpListener,
    config: HttpServerConfig,
    handler: Arc<dyn Handler>,
    mut stopped: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Running out of file descriptors and the like: keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        let max_body = config.max_body_bytes;
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Infallible>(respond(request, handler, max_body).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?config.shutdown_grace,
            "requests still in flight after the grace period; closing them"
        );
    }
}

async fn respond(
    request: hyper::Request<Incoming>,
    handler: Arc<dyn Handler>,
    max_body: usize,
) -> hyper::Response<Full<Bytes>> {
    let request = match convert::request_from_hyper(request, max_body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let method = request.method.clone();
    let path = request.path.clone();
    let outcome = tokio::task::spawn_blocking(move || handler.handle(request)).await;
    match outcome {
        Ok(Ok(response)) => convert::response_to_hyper(response),
        Ok(Err(message)) => {
            tracing::warn!(%method, %path, error = %message, "guest failed to handle a request");
            convert::plain(
                500,
                "internal server error: the guest failed; see the host log\n",
            )
        }
        Err(e) => {
            tracing::error!(%method, %path, error = %e, "request handler panicked");
            convert::plain(500, "internal server error\n")
        }
    }
}
