//! Tests for the HTTP trigger's typed answers: a busy pool is 503 with `Retry-After`, a
//! deadline 504, a guest error event 500 (its message only when configured), an oversized
//! request 413 — each counted in `waxosuit_trigger_responses_total` — and the trigger calling
//! whatever guest its live handle holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use waxo_test_support::http::{get, request};
use waxo_test_support::providers::echo_provider;
use waxo_test_support::{guest_wasm, sign_with};
use waxosuit_host::app::{App, AppOptions};
use waxosuit_host::config::Config;

/// The probe, claiming HTTP and the `acme:echo` test provider (its slow `Sleep`), served with
/// `extra` appended to a waxo.toml that loads that provider.
fn serve(dir: &Path, extra: &str) -> (tokio::runtime::Runtime, App) {
    let signed = sign_with(
        &std::fs::read(guest_wasm("probe")).unwrap(),
        &["http_server", "acme:echo"],
    );
    let module = dir.join("probe_s.wasm");
    std::fs::write(&module, &signed.bytes).unwrap();
    let config = format!(
        "[[provider]]\npath = \"{}\"\n{extra}",
        echo_provider().display()
    );
    let opts = AppOptions {
        module,
        config: Config::parse(&config, dir).unwrap(),
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        metrics: None,
        allow_unsigned: false,
        trust: Vec::new(),
        cache_dir: Some(dir.join("cache")),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(App::start(opts, rt.handle().clone())).unwrap();
    (rt, app)
}

/// The value of `waxosuit_trigger_responses_total` for `outcome` (0 when absent).
fn responses(app: &App, outcome: &str) -> u64 {
    let needle = format!("trigger=\"http\",outcome=\"{outcome}\"}} ");
    app.host()
        .metrics_text()
        .lines()
        .find(|l| l.starts_with("waxosuit_trigger_responses_total{") && l.contains(&needle))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse().unwrap())
}

/// Waits until the guest has made `n` host calls to `acme:echo` (a slow call is running).
fn wait_for_echo_calls(app: &App, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let calls = app
            .host()
            .metrics_text()
            .lines()
            .find(|l| {
                l.starts_with("waxosuit_host_calls_total{")
                    && l.contains("capability=\"acme:echo\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |v| v.parse::<u64>().unwrap());
        if calls >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the slow call never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_busy_pool_answers_503_with_retry_after_and_a_late_call_504() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(
        dir.path(),
        "[limits]\ninstances = 1\ncall_timeout = \"1s\"\n",
    );
    let addr = app.http_addr().unwrap();
    // Holds the only instance for longer than the deadline.
    let slow = std::thread::spawn(move || get(addr, "/sleep/2500"));
    wait_for_echo_calls(&app, 1);

    let busy = get(addr, "/");
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert!(!busy.body.contains("instances"), "no host detail: {busy:?}");

    let late = slow.join().unwrap();
    assert_eq!(late.status, 504, "{late:?}");
    assert!(!late.body.contains("probe"), "no host detail: {late:?}");
    assert_eq!(responses(&app, "busy"), 1);
    assert_eq!(responses(&app, "deadline"), 1);

    // The host keeps serving.
    let fine = get(addr, "/");
    assert_eq!((fine.status, fine.body.as_str()), (200, "hello from probe"));
    assert_eq!(responses(&app, "ok"), 1);
}

#[test]
fn a_guest_that_never_returns_gets_504() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(dir.path(), "[limits]\nfuel = 20000000\n");
    let answer = get(app.http_addr().unwrap(), "/loop");
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(responses(&app, "deadline"), 1);
}

#[test]
fn a_guest_error_is_500_and_its_message_is_shown_only_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(dir.path(), "");
    let hidden = get(app.http_addr().unwrap(), "/fail");
    assert_eq!(hidden.status, 500);
    assert!(!hidden.body.contains("on purpose"), "{hidden:?}");
    assert_eq!(responses(&app, "guest_error"), 1);

    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(dir.path(), "[http]\nshow_guest_errors = true\n");
    let shown = get(app.http_addr().unwrap(), "/fail");
    assert_eq!(shown.status, 500);
    assert!(shown.body.contains("probe fails on purpose"), "{shown:?}");
}

#[test]
fn a_request_over_the_envelope_limit_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(dir.path(), "[limits]\nmax_envelope = \"4KiB\"\n");
    let answer = request(app.http_addr().unwrap(), "POST", "/", &[b'x'; 16 * 1024]);
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(responses(&app, "too_large"), 1);
}

#[test]
fn the_trigger_calls_whatever_guest_the_live_handle_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (_rt, app) = serve(dir.path(), "");
    let addr = app.http_addr().unwrap();
    assert_eq!(get(addr, "/").body, "hello from probe");
    // A second version: the same code under other claims.
    let other = sign_with(
        &std::fs::read(guest_wasm("probe")).unwrap(),
        &["http_server"],
    );
    let next = app.host().load(&other.bytes).unwrap();
    let old = app.guest().swap(next);
    assert_eq!(old.name(), "test");
    // The new version has no `acme:echo` claim: the same path now gets a denial, proving the
    // listener routes to the swapped-in guest without reopening.
    let answer = get(addr, "/sleep/1");
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(get(addr, "/").body, "hello from probe");
}
