//! The `waxosuit:http_client` capability: outbound HTTP and HTTPS requests from guests, only
//! to hosts on an allow-list, with a timeout and a cap on the response size.
//!
//! Redirects are not followed (a redirect could leave the allow-list); the guest sees the 3xx
//! response and may request the new location, which is checked again.

mod allow;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Handle;
use waxosuit_proto::http::{Header, HttpClientRequest, HttpResponse};
use waxosuit_proto::{codes, ops};
use waxosuit_provider_sdk::{Caller, Command, Event, Provider};

pub use allow::AllowList;

/// The capability id this provider serves.
pub const CAPABILITY: &str = "waxosuit:http_client";

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// Hosts guests may reach (see [`AllowList`]). Empty allows nothing.
    pub allow: AllowList,
    /// Timeout for a whole request when the guest does not ask for a shorter one.
    pub timeout: Duration,
    /// Largest response body returned to a guest.
    pub max_response_bytes: usize,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            allow: AllowList::default(),
            timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
        }
    }
}

/// The `waxosuit:http_client` provider.
pub struct HttpClientProvider {
    config: HttpClientConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: Handle,
}

impl HttpClientProvider {
    /// A provider doing its I/O on `runtime`. Its `call` blocks the calling thread, which must
    /// not be a tokio worker (the host calls providers from blocking threads).
    pub fn new(config: HttpClientConfig, runtime: Handle) -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Self {
            config,
            client,
            runtime,
        }
    }

    fn request(&self, caller: &Caller, req: HttpClientRequest) -> Event {
        let uri: hyper::Uri = match req.url.parse() {
            Ok(uri) => uri,
            Err(e) => {
                return Event::error(
                    codes::INVALID_ARGUMENT,
                    format!("`{}` is not a valid URL: {e}", req.url),
                );
            }
        };
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Event::error(
                codes::INVALID_ARGUMENT,
                format!("`{}` is not an absolute http:// or https:// URL", req.url),
            );
        };
        if scheme != "http" && scheme != "https" {
            return Event::error(
                codes::INVALID_ARGUMENT,
                format!("scheme `{scheme}` is not supported; use http or https"),
            );
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        if !self.config.allow.allows(host, port) {
            tracing::warn!(module = %caller.module, %host, port, "http_client host denied");
            return Event::error(
                codes::DENIED,
                format!(
                    "module `{}` may not reach `{host}:{port}`: it is not on the http_client \
                     allow-list; add it to `[http_client] allow` in waxo.toml",
                    caller.module
                ),
            );
        }
        let method = if req.method.is_empty() {
            "GET"
        } else {
            req.method.as_str()
        };
        let mut builder = hyper::Request::builder().method(method).uri(uri);
        for Header { name, value } in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match builder.body(Full::new(Bytes::from(req.body))) {
            Ok(request) => request,
            Err(e) => {
                return Event::error(
                    codes::INVALID_ARGUMENT,
                    format!("invalid request to `{}`: {e}", req.url),
                );
            }
        };
        let timeout = match req.timeout_ms {
            0 => self.config.timeout,
            ms => Duration::from_millis(ms).min(self.config.timeout),
        };
        let max = self.config.max_response_bytes;
        let url = req.url;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                Event::error(
                    codes::UNAVAILABLE,
                    format!("request to `{url}` failed: {}", error_chain(&e)),
                )
            })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, max).collect().await.map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Event::error(
                        codes::RESOURCE_EXHAUSTED,
                        format!("the response from `{url}` is larger than the {max}-byte limit"),
                    )
                } else {
                    Event::error(
                        codes::UNAVAILABLE,
                        format!("reading the response from `{url}` failed: {e}"),
                    )
                }
            })?;
            Ok::<_, Event>(HttpResponse {
                status: u32::from(parts.status.as_u16()),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes())))
                    .collect(),
                body: body.to_bytes().to_vec(),
            })
        };
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, exchange).await })
        {
            Ok(Ok(response)) => Event::with_payload(&response),
            Ok(Err(event)) => event,
            Err(_) => Event::error(
                codes::DEADLINE_EXCEEDED,
                format!("request to `{url}` timed out after {timeout:?}"),
            ),
        }
    }
}

impl Provider for HttpClientProvider {
    fn capability_id(&self) -> &str {
        CAPABILITY
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        if command.op != ops::HTTP_CLIENT_REQUEST {
            return Event::error(
                codes::UNKNOWN_OPERATION,
                format!("`{}` is not an http_client operation", command.op),
            );
        }
        match command.payload_as::<HttpClientRequest>() {
            Ok(req) => self.request(caller, req),
            Err(e) => Event::error(codes::INVALID_ARGUMENT, e.to_string()),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
