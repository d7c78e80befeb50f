//! Mapping between hyper's types and the `waxosuit.http.v1` messages.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use waxosuit_proto::http::{Header, HttpRequest, HttpResponse};

/// Reads a request, body included, refusing bodies over `max_body` with a 413 response.
pub(crate) async fn request_from_hyper(
    request: hyper::Request<Incoming>,
    max_body: usize,
) -> Result<HttpRequest, hyper::Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let too_large = || {
        plain(
            413,
            &format!("request body is larger than the {max_body}-byte limit\n"),
        )
    };
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(too_large());
    }
    let body = match Limited::new(body, max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(_) => return Err(plain(400, "cannot read the request body\n")),
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_string(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        })
        .collect();
    Ok(HttpRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        body: body.to_vec(),
    })
}

/// Turns a guest's response into HTTP; a status outside 100..=599 becomes a 500, and headers
/// that are not valid HTTP are dropped (and logged) rather than failing the response.
pub(crate) fn response_to_hyper(response: HttpResponse) -> hyper::Response<Full<Bytes>> {
    let Some(status) = u16::try_from(response.status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .and_then(|s| hyper::StatusCode::from_u16(s).ok())
    else {
        tracing::warn!(
            status = response.status,
            "guest returned an invalid HTTP status"
        );
        return plain(
            500,
            "internal server error: the guest returned an invalid status\n",
        );
    };
    let mut out = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() = status;
    for header in response.headers {
        match (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_str(&header.value),
        ) {
            (Ok(name), Ok(value)) => {
                out.headers_mut().append(name, value);
            }
            _ => tracing::warn!(name = %header.name, "guest returned an invalid header; dropped"),
        }
    }
    out
}

/// A plain-text response.
pub(crate) fn plain(status: u16, body: &str) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *out.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    out.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    out
}
