//! Tests for the crate graph the book's architecture page draws: the developer CLI reaches
//! backends only through the host crate, and the host crate (what a container runs) links no
//! build tooling. Read from `cargo tree`, so a new dependency edge fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;

/// The packages `package` links (normal dependencies, to `depth` levels), with features
/// resolved as when building that package alone — what its binary really contains.
fn linked(package: &str, depth: Option<u32>) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec![
        "tree".to_string(),
        "-p".into(),
        package.into(),
        "-e".into(),
        "normal".into(),
        "--prefix".into(),
        "none".into(),
        "--format".into(),
        "{p}".into(),
    ];
    if let Some(depth) = depth {
        args.extend(["--depth".into(), depth.to_string()]);
    }
    let out = Command::new(cargo)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_string)
        .collect()
}

const BUILD_TOOLING: &[&str] = &[
    "cargo-generate",
    "cargo_metadata",
    "dialoguer",
    "indicatif",
    "toml_edit",
    "notify",
];

const BACKENDS: &[&str] = &[
    "waxosuit-keyvalue",
    "waxosuit-messaging",
    "waxosuit-http-server",
    "waxosuit-http-client",
    "redis",
    "async-nats",
    "redb",
];

#[test]
fn the_host_crate_links_no_build_tooling() {
    let linked = linked("waxosuit-host", None);
    let found: Vec<&&str> = BUILD_TOOLING
        .iter()
        .filter(|t| linked.contains(**t))
        .collect();
    assert!(found.is_empty(), "waxosuit-host links {found:?}");
    assert!(linked.contains("runtime-core") && linked.contains("redis"));
}

#[test]
fn the_cli_depends_on_no_backend_directly() {
    let direct = linked("cargo-waxo", Some(1));
    let found: Vec<&&str> = BACKENDS
        .iter()
        .filter(|b| direct.iter().any(|d| d == **b))
        .collect();
    assert!(found.is_empty(), "cargo-waxo depends directly on {found:?}");
    assert!(direct.iter().any(|d| d == "waxosuit-host"));
}

#[test]
fn the_cli_source_imports_no_backend_module() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cargo-waxo/src");
    let mut offenders = Vec::new();
    let mut dirs = vec![src];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for backend in BACKENDS {
                let module = backend.replace('-', "_");
                if text.contains(&format!("{module}::")) {
                    offenders.push(format!("{} uses {module}", path.display()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
