//! Embeds the guest SDK sources and the project templates into `cargo-waxo`, so that
//! `cargo install` gives a binary that scaffolds and builds guests anywhere, offline.
//!
//! Writes `$OUT_DIR/embedded.rs` with two file tables (`SDK_FILES`, `TEMPLATE_FILES`) whose
//! contents are `include_bytes!` of the repository files, and `SDK_WORKSPACE`: the manifest
//! of a small workspace around `guest-sdk/` and `proto/`, derived from the repository's root
//! `Cargo.toml` so their `workspace = true` keys resolve exactly as they do here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Workspace dependencies the SDK crates inherit.
const SDK_DEPENDENCIES: [&str; 5] = ["prost", "prost-types", "prost-build", "protox", "thiserror"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .unwrap_or(Path::new(".."))
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());

    let mut sdk = Vec::new();
    for (dir, include) in [
        ("guest-sdk", &["Cargo.toml", "src"][..]),
        ("proto", &["Cargo.toml", "build.rs", "src", "proto"][..]),
    ] {
        for entry in include {
            collect(&root, &root.join(dir).join(entry), &mut sdk);
        }
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let mut templates = Vec::new();
    collect(
        &root.join("templates"),
        &root.join("templates"),
        &mut templates,
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("templates").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );

    let mut code = String::new();
    table(&mut code, "SDK_FILES", &sdk);
    table(&mut code, "TEMPLATE_FILES", &templates);
    let workspace = sdk_workspace(&root.join("Cargo.toml"));
    let _ = writeln!(
        code,
        "pub(crate) const SDK_WORKSPACE: &str = {workspace:?};"
    );
    if let Err(e) = std::fs::write(out.join("embedded.rs"), code) {
        println!("cargo:warning=cannot write embedded.rs: {e}");
        std::process::exit(1);
    }
}

/// Every file under `path` (or `path` itself), skipping build output, as (relative, absolute).
fn collect(base: &Path, path: &Path, files: &mut Vec<(String, PathBuf)>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if matches!(name, "target" | ".waxo" | "Cargo.lock") {
        return;
    }
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            collect(base, &entry, files);
        }
    } else if path.is_file() {
        let relative = path.strip_prefix(base).unwrap_or(path);
        files.push((
            relative.to_string_lossy().replace('\\', "/"),
            path.to_path_buf(),
        ));
    }
}

fn table(code: &mut String, name: &str, files: &[(String, PathBuf)]) {
    let _ = writeln!(code, "pub(crate) static {name}: &[(&str, &[u8])] = &[");
    for (relative, absolute) in files {
        let _ = writeln!(
            code,
            "    ({relative:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    let _ = writeln!(code, "];");
}

/// The SDK's own workspace manifest: the root's package defaults, lints and the few
/// dependencies the SDK crates inherit.
fn sdk_workspace(root_manifest: &Path) -> String {
    let text = std::fs::read_to_string(root_manifest).unwrap_or_default();
    let root: toml::Table = text.parse().unwrap_or_default();
    let workspace = root.get("workspace").and_then(|w| w.as_table());
    let get = |key: &str| {
        workspace
            .and_then(|w| w.get(key))
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default()
    };
    let mut dependencies = toml::Table::new();
    let all = get("dependencies");
    for dep in SDK_DEPENDENCIES {
        if let Some(spec) = all.get(dep) {
            dependencies.insert(dep.to_string(), spec.clone());
        }
    }
    let mut proto = toml::Table::new();
    proto.insert("path".into(), "proto".into());
    dependencies.insert("waxosuit-proto".into(), proto.into());
    let mut ws = toml::Table::new();
    ws.insert("resolver".into(), "3".into());
    ws.insert(
        "members".into(),
        toml::Value::Array(vec!["guest-sdk".into(), "proto".into()]),
    );
    ws.insert("package".into(), get("package").into());
    ws.insert("dependencies".into(), dependencies.into());
    ws.insert("lints".into(), get("lints").into());
    let mut manifest = toml::Table::new();
    manifest.insert("workspace".into(), ws.into());
    format!(
        "# The Waxosuit guest SDK, unpacked by `cargo waxo`. Do not edit: it is replaced when\n\
         # cargo-waxo is upgraded.\n{}",
        toml::to_string(&manifest).unwrap_or_default()
    )
}
