//! The HTTP trigger: each request becomes a `waxosuit:http_server/Handle` call on the live
//! guest, and each typed failure a protocol answer:
//!
//! | outcome | status |
//! |---|---|
//! | the guest's `HttpResponse` | as the guest says |
//! | guest answered an error event | 500; the guest's message in the body only with `[http] show_guest_errors = true` |
//! | every instance busy | 503 with `Retry-After` |
//! | deadline (fuel or wall clock) | 504 |
//! | request larger than the envelope limit | 413 |
//! | trap, ABI violation, host failure | 500, generic body |
//!
//! Bodies never carry host internals (paths, limits, trap details): those go to the log.

use runtime_core::{CallError, Direction, Host, LiveGuest, Outcome, Trigger};
use waxosuit_proto::http::{HttpRequest, HttpResponse};
use waxosuit_proto::ops;
use waxosuit_proto::v1::Command;

/// Seconds a client is asked to wait before retrying a busy guest.
const RETRY_AFTER_SECS: &str = "1";

/// Answers HTTP requests through a live guest.
pub struct HttpTrigger {
    guest: LiveGuest,
    host: Host,
    show_guest_errors: bool,
}

impl HttpTrigger {
    /// A trigger calling `guest`, counting answers in `host`'s metrics.
    pub fn new(guest: LiveGuest, host: Host, show_guest_errors: bool) -> Self {
        Self {
            guest,
            host,
            show_guest_errors,
        }
    }

    /// Handles one request (blocking: runs the guest).
    pub fn handle(&self, request: HttpRequest) -> HttpResponse {
        let pinned = self.guest.pin();
        let guest = pinned.guest();
        let (response, outcome) = self.answer(guest, &request);
        self.host
            .record_trigger(guest.name(), Trigger::Http, outcome);
        response
    }

    fn answer(
        &self,
        guest: &runtime_core::Guest,
        request: &HttpRequest,
    ) -> (HttpResponse, Outcome) {
        let command = Command::new(ops::HTTP_SERVER_HANDLE, request);
        let event = match guest.call(&command) {
            Ok(event) => event,
            Err(error) => return failure(&error, &request.method, &request.path),
        };
        if let Some(error) = &event.error {
            tracing::warn!(
                method = ?request.method,
                path = ?request.path,
                code = ?error.code,
                message = ?error.message,
                "the guest answered a request with an error"
            );
            let body = if self.show_guest_errors {
                format!("{}\n", error.message)
            } else {
                "internal server error: the guest failed; see the host log\n".to_string()
            };
            return (HttpResponse::text(500, body), Outcome::GuestError);
        }
        match event.payload_as::<HttpResponse>() {
            Ok(response) => (response, Outcome::Ok),
            Err(e) => {
                tracing::warn!(path = ?request.path, error = %e, "the guest's answer is not an HttpResponse");
                (generic_500(), Outcome::Failed)
            }
        }
    }
}

fn generic_500() -> HttpResponse {
    HttpResponse::text(
        500,
        "internal server error: the guest failed; see the host log\n",
    )
}

/// The answer for a call that failed.
fn failure(error: &CallError, method: &str, path: &str) -> (HttpResponse, Outcome) {
    tracing::warn!(method = ?method, path = ?path, %error, "a request's guest call failed");
    match error {
        CallError::Busy { .. } => (
            HttpResponse::text(
                503,
                "service unavailable: every instance is busy; retry shortly\n",
            )
            .with_header("retry-after", RETRY_AFTER_SECS),
            Outcome::Busy,
        ),
        CallError::DeadlineExceeded { .. } => (
            HttpResponse::text(504, "gateway timeout: the guest did not answer in time\n"),
            Outcome::Deadline,
        ),
        CallError::EnvelopeTooLarge {
            direction: Direction::Command,
            ..
        } => (
            HttpResponse::text(413, "payload too large\n"),
            Outcome::TooLarge,
        ),
        _ => (generic_500(), Outcome::Failed),
    }
}
