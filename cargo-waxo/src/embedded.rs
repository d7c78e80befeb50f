//! The guest SDK and the project templates, embedded in the binary at build time (see
//! `build.rs`), and unpacked on demand.
//!
//! The SDK is not published to a registry, so `cargo waxo new` unpacks it into
//! `~/.waxo/sdk/<version>-<digest>/` and points the new crate's path dependency there. The
//! digest covers every embedded file, so a changed SDK never overwrites one in use.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The names of the embedded templates, sorted.
pub fn template_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = TEMPLATE_FILES
        .iter()
        .filter_map(|(path, _)| path.split_once('/').map(|(dir, _)| dir))
        .collect();
    names.dedup();
    names
}

/// The capabilities a template's `Cargo.toml` claims (for prompts and listings).
pub fn template_capabilities(template: &str) -> Vec<String> {
    let manifest = format!("{template}/Cargo.toml");
    TEMPLATE_FILES
        .iter()
        .find(|(path, _)| *path == manifest)
        .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("capabilities = "))
                .map(|list| {
                    list.trim_matches(|c| c == '[' || c == ']')
                        .split(',')
                        .map(|c| c.trim().trim_matches('"').to_string())
                        .filter(|c| !c.is_empty())
                        .collect()
                })
        })
        .unwrap_or_default()
}

/// Writes the embedded template `name` into `dir` (which must exist).
pub fn extract_template(name: &str, dir: &Path) -> anyhow::Result<()> {
    let prefix = format!("{name}/");
    let mut found = false;
    for (path, bytes) in TEMPLATE_FILES {
        if let Some(relative) = path.strip_prefix(&prefix) {
            write_file(&dir.join(relative), bytes)?;
            found = true;
        }
    }
    anyhow::ensure!(
        found,
        "there is no template `{name}`; available: {}",
        template_names().join(", ")
    );
    Ok(())
}

/// Unpacks the SDK under `waxo_home/sdk/` unless it is already there; returns its directory.
pub fn install_sdk(waxo_home: &Path) -> anyhow::Result<PathBuf> {
    let mut digest = Sha256::new();
    digest.update(SDK_WORKSPACE.as_bytes());
    for (path, bytes) in SDK_FILES {
        digest.update(path.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    }
    let digest = data_encoding::HEXLOWER.encode(&digest.finalize());
    let sdk_root = waxo_home.join("sdk");
    let dir = sdk_root.join(format!("{}-{}", env!("CARGO_PKG_VERSION"), &digest[..12]));
    if dir.join("Cargo.toml").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&sdk_root)
        .with_context(|| format!("cannot create `{}`", sdk_root.display()))?;
    // Unpack beside the final place and rename, so a crash never leaves a half SDK behind.
    let staging = tempfile::tempdir_in(&sdk_root)
        .with_context(|| format!("cannot create a directory in `{}`", sdk_root.display()))?;
    for (path, bytes) in SDK_FILES {
        write_file(&staging.path().join(path), bytes)?;
    }
    write_file(&staging.path().join("Cargo.toml"), SDK_WORKSPACE.as_bytes())?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        // Another `cargo waxo` unpacked the same SDK first: use theirs.
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.join("Cargo.toml").is_file() {
            return Err(e).with_context(|| format!("cannot unpack the SDK to `{}`", dir.display()));
        }
    }
    Ok(dir)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_templates_are_embedded_with_their_claims() {
        assert_eq!(
            template_names(),
            ["event-processor", "http-hello", "kv-counter"]
        );
        assert_eq!(
            template_capabilities("kv-counter"),
            ["http_server", "keyvalue", "logging"]
        );
    }

    #[test]
    fn the_sdk_unpacks_once_into_a_versioned_directory() {
        let home = tempfile::tempdir().unwrap();
        let dir = install_sdk(home.path()).unwrap();
        assert!(dir.join("guest-sdk/src/lib.rs").is_file());
        assert!(dir.join("proto/proto/waxosuit/v1/envelope.proto").is_file());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("members = [\"guest-sdk\", \"proto\"]"),
            "{manifest}"
        );
        assert!(manifest.contains("prost"), "{manifest}");
        assert_eq!(install_sdk(home.path()).unwrap(), dir);
    }
}
