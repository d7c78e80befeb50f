//! Tests for `loader::load`: real provider libraries built from `tests/providers` and
//! `providers/http-client-cdylib`, and every way a file can fail to be a provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use waxosuit_proto::http::{HttpClientRequest, HttpResponse};
use waxosuit_proto::ops;
use waxosuit_provider_sdk::loader::{self, LoadError};
use waxosuit_provider_sdk::serde_json::{Value, json};
use waxosuit_provider_sdk::{Caller, Command, Provider, codes};

fn load_err(path: &Path, config: &Value) -> LoadError {
    match loader::load(path, config) {
        Ok(p) => panic!("`{}` loaded as `{}`", path.display(), p.capability_id()),
        Err(e) => e,
    }
}

fn echo(provider: &dyn Provider, text: &str) -> HttpResponse {
    let command = Command::new("acme:echo/Echo", &HttpResponse::text(200, text));
    let event = provider.call(&Caller::new("probe", "MPROBE"), &command);
    assert!(event.is_ok(), "{event:?}");
    event.payload_as().unwrap()
}

/// A copy of `src` in a new temporary directory, changed by `patch`.
fn patched_copy(src: &Path, patch: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(src).unwrap();
    patch(&mut bytes);
    let path = dir.path().join(src.file_name().unwrap());
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn echo_provider_echoes_and_a_panic_fails_only_that_call() {
    let path = common::echo_provider();
    let provider = loader::load(&path, &json!({ "max_payload_bytes": 64 })).unwrap();
    assert_eq!(provider.capability_id(), "acme:echo");
    assert_eq!(echo(&*provider, "hello"), HttpResponse::text(200, "hello"));

    let event = provider.call(
        &Caller::new("probe", "MPROBE"),
        &Command::without_payload("acme:echo/Panic"),
    );
    let error = event.error.expect("a panic is an error event");
    assert_eq!(error.code, codes::INTERNAL);
    assert_eq!(
        error.message,
        "provider `acme:echo` panicked: module `probe` asked acme:echo to panic"
    );

    // The host (this process) and the provider instance keep serving.
    assert_eq!(echo(&*provider, "again"), HttpResponse::text(200, "again"));

    // The configuration reached the provider.
    let big = Command::new("acme:echo/Echo", &HttpResponse::text(200, "x".repeat(100)));
    let event = provider.call(&Caller::new("probe", ""), &big);
    assert_eq!(event.error_code(), Some(codes::RESOURCE_EXHAUSTED));

    let event = provider.call(
        &Caller::new("probe", ""),
        &Command::without_payload("acme:echo/Nope"),
    );
    assert_eq!(event.error_code(), Some(codes::UNKNOWN_OPERATION));
}

#[test]
fn echo_provider_serves_threads_concurrently_and_instances_are_independent() {
    let path = common::echo_provider();
    let first: Arc<dyn Provider> = loader::load(&path, &Value::Null).unwrap();
    let second = loader::load(&path, &Value::Null).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let provider = Arc::clone(&first);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = format!("{t}-{i}");
                    assert_eq!(echo(&*provider, &text).body, text.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Dropping one instance leaves the library loaded for the other.
    drop(first);
    assert_eq!(echo(&*second, "still here").body, b"still here");
}

#[test]
fn a_failing_constructor_is_an_init_error_with_its_message() {
    let path = common::echo_provider();
    let err = load_err(&path, &json!({ "max_payload_bytes": "lots" }));
    assert!(
        matches!(&err, LoadError::Init { capability, .. } if capability == "acme:echo"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "provider `acme:echo` from `{}` failed to start: `max_payload_bytes` must be a \
             non-negative integer, not `\"lots\"`",
            path.display()
        )
    );
}

#[test]
fn wrong_abi_version_is_refused_before_anything_else_is_called() {
    // Every other function of this library aborts the process if called.
    let path = common::bad_abi("wrong_version");
    let err = load_err(&path, &Value::Null);
    assert!(
        matches!(
            err,
            LoadError::AbiMismatch {
                found: 7,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "`{}` speaks provider ABI 7, this host speaks 1; ",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_missing_symbol_is_named() {
    let path = common::bad_abi("missing_symbol");
    let err = load_err(&path, &Value::Null);
    assert!(
        matches!(
            err,
            LoadError::MissingSymbol {
                symbol: "waxo_provider_drop",
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "`{}` does not export `waxo_provider_drop`",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn a_capability_id_that_is_not_utf8_is_refused() {
    let path = common::bad_abi("bad_capability_id");
    let err = load_err(&path, &Value::Null);
    assert!(
        matches!(err, LoadError::InvalidCapabilityId { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "`{}` exports an invalid capability id: it is not UTF-8",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn files_that_are_not_libraries_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // Deterministic pseudo-random bytes (a linear congruential generator).
    let mut state: u32 = 0x2545_f491;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let cases: [(&str, &[u8]); 3] = [
        ("librandom.so", &random),
        ("libtext.so", b"this is a text file, not a library\n"),
        ("libempty.so", b""),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = load_err(&path, &Value::Null);
        assert!(
            matches!(err, LoadError::NotSharedLibrary { .. }),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "`{}` is not a provider library: it is not an ELF file",
                path.display()
            )),
            "{err}"
        );
    }
}

#[test]
fn a_library_for_another_architecture_is_refused_before_dlopen() {
    let (other_machine, other_name): (u16, &str) = if std::env::consts::ARCH == "aarch64" {
        (0x3e, "x86_64")
    } else {
        (0xb7, "aarch64")
    };
    let (_dir, path) = patched_copy(&common::echo_provider(), |bytes| {
        // e_machine, little-endian (the fixture is built for this little-endian host).
        bytes[18..20].copy_from_slice(&other_machine.to_le_bytes());
    });
    let err = load_err(&path, &Value::Null);
    assert!(
        matches!(err, LoadError::WrongArchitecture { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` is built for {other_name}, this host is {}; rebuild the provider for this \
             machine",
            path.display(),
            std::env::consts::ARCH
        )
    );
}

#[test]
fn a_truncated_library_is_refused_before_dlopen() {
    // Mapping a segment past the end of a truncated file would kill the host with SIGBUS.
    for keep in [4096, 200_000] {
        let (_dir, path) = patched_copy(&common::echo_provider(), |bytes| bytes.truncate(keep));
        let err = load_err(&path, &Value::Null);
        assert!(matches!(err, LoadError::NotSharedLibrary { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("`{}` is not a provider library: ", path.display())),
            "{message}"
        );
        assert!(message.contains("the file is truncated"), "{message}");
    }
}

#[test]
fn an_executable_is_a_dlopen_error() {
    // This test binary is a position-independent executable: an ELF "shared object" by its
    // header, which the dynamic loader refuses to open.
    let exe = std::env::current_exe().unwrap();
    let err = load_err(&exe, &Value::Null);
    assert!(matches!(err, LoadError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "cannot load provider library `{}`: ",
            exe.display()
        )),
        "{err}"
    );
}

#[test]
fn a_missing_file_or_a_directory_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libnothing.so");
    let err = load_err(&missing, &Value::Null);
    match &err {
        LoadError::Read { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot read provider library `{}`: ",
            missing.display()
        )),
        "{message}"
    );
    assert!(message.ends_with("entry in waxo.toml"), "{message}");

    let err = load_err(dir.path(), &Value::Null);
    assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
}

#[test]
fn http_client_shell_denies_hosts_off_its_allow_list() {
    let path = common::http_client_cdylib();
    let provider = loader::load(&path, &json!({ "allow": ["allowed.example"] })).unwrap();
    assert_eq!(provider.capability_id(), "waxosuit:http_client");
    let command = Command::new(
        ops::HTTP_CLIENT_REQUEST,
        &HttpClientRequest::get("http://127.0.0.1:9/secret"),
    );
    let event = provider.call(&Caller::new("curious", "MCURIOUS"), &command);
    let error = event.error.expect("denied");
    assert_eq!(error.code, codes::DENIED);
    assert!(error.message.contains("`127.0.0.1:9`"), "{}", error.message);
    assert!(
        error.message.contains("module `curious`"),
        "{}",
        error.message
    );
}

#[test]
fn http_client_shell_fetches_from_an_allowed_host() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the client closed before sending a request");
            request.extend_from_slice(&chunk[..n]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });

    let path = common::http_client_cdylib();
    let allow = format!("127.0.0.1:{port}");
    let provider = loader::load(&path, &json!({ "allow": [allow] })).unwrap();
    let command = Command::new(
        ops::HTTP_CLIENT_REQUEST,
        &HttpClientRequest::get(format!("http://127.0.0.1:{port}/greeting")),
    );
    let event = provider.call(&Caller::new("fetcher", ""), &command);
    assert!(event.is_ok(), "{event:?}");
    let response: HttpResponse = event.payload_as().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello");
    let request = server.join().unwrap();
    assert!(
        request.starts_with("GET /greeting HTTP/1.1\r\n"),
        "{request}"
    );
}

#[test]
fn http_client_shell_reports_bad_config() {
    let path = common::http_client_cdylib();
    let err = load_err(&path, &json!({ "alow": ["typo.example"] }));
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "provider `waxosuit:http_client` from `{}` failed to start: invalid http_client \
             config: unknown field `alow`",
            path.display()
        )),
        "{message}"
    );
}
