//! Claims defaults from the crate being signed: `[package]` and
//! `[package.metadata.waxosuit]`, read with `cargo metadata`.

use std::path::{Path, PathBuf};

use cargo_metadata::{MetadataCommand, Package};
use serde::Deserialize;

use super::CliError;
use crate::caps::parse_capability;

/// What a crate says about the module it builds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CrateDefaults {
    /// Module name: `[package.metadata.waxosuit] name`, else the package name.
    pub name: String,
    /// The package version.
    pub ver: String,
    /// Capability ids.
    pub caps: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Revision.
    pub rev: Option<i32>,
    /// Call alias.
    pub call_alias: Option<String>,
}

/// `[package.metadata.waxosuit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct WaxosuitMetadata {
    name: Option<String>,
    #[serde(default, alias = "caps")]
    capabilities: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    rev: Option<i32>,
    #[serde(alias = "call_alias")]
    call_alias: Option<String>,
}

/// Reads the crate at `manifest_path`, or the one containing the current directory. Without
/// an explicit manifest, "not in a crate" is not an error: there are simply no defaults.
pub fn load(manifest_path: Option<&Path>) -> Result<Option<CrateDefaults>, CliError> {
    let explicit = manifest_path.is_some();
    let manifest = match manifest_path {
        Some(path) => path.to_path_buf(),
        None => match find_manifest() {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let metadata = match MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
    {
        Ok(metadata) => metadata,
        Err(e) if explicit => {
            return Err(CliError::Usage(format!(
                "cannot read crate `{}`: {}",
                manifest.display(),
                e.to_string().to_lowercase()
            )));
        }
        Err(_) => return Ok(None),
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let package = metadata.root_package().or_else(|| {
        // A virtual workspace: the member whose directory holds the current directory.
        metadata.packages.iter().find(|p| {
            p.manifest_path
                .parent()
                .is_some_and(|dir| cwd.starts_with(dir.as_std_path()))
        })
    });
    package.map(defaults_of).transpose()
}

/// The claims defaults a package's manifest gives.
pub fn defaults_of(package: &Package) -> Result<CrateDefaults, CliError> {
    let bad = |e: String| {
        CliError::Usage(format!(
            "invalid `[package.metadata.waxosuit]` in `{}`: {e}",
            package.manifest_path
        ))
    };
    let meta: WaxosuitMetadata = match package.metadata.get("waxosuit") {
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| bad(e.to_string()))?,
        None => WaxosuitMetadata::default(),
    };
    let caps = meta
        .capabilities
        .iter()
        .map(|c| parse_capability(c).map_err(|e| bad(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(CrateDefaults {
        name: meta.name.unwrap_or_else(|| package.name.to_string()),
        ver: package.version.to_string(),
        caps,
        tags: meta.tags,
        rev: meta.rev,
        call_alias: meta.call_alias,
    })
}

/// The nearest `Cargo.toml` at or above the current directory.
fn find_manifest() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|path| path.is_file())
}
