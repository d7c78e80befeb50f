//! `cargo waxo new`: scaffold a guest crate from a template.
//!
//! Templates are cargo-generate templates. The built-in ones are embedded in the binary; a
//! local template directory works too. The new crate depends on the guest SDK by path, in
//! the copy `cargo waxo` unpacks under `~/.waxo/sdk/`, so it builds offline and anywhere.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use wascap::caps;

use crate::embedded;

/// The template used when none is chosen.
pub const DEFAULT_TEMPLATE: &str = "http-hello";

/// Arguments of `cargo waxo new`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Templates:\n  \
    http-hello       answers every HTTP request with a greeting\n  \
    kv-counter       counts GET / in the key-value store (persistent across restarts)\n  \
    event-processor  stores sensor readings from messaging in key-value, publishes summaries\n\n\
    Without --yes and on a terminal, missing choices are asked for; otherwise the defaults \
    apply (template http-hello, the template's capabilities).\n\n\
    Examples:\n  \
    cargo waxo new my-svc\n  \
    cargo waxo new counter --template kv-counter --yes\n  \
    cargo waxo new my-svc --template ../my-templates/api --cap keyvalue --cap http_server --yes")]
pub struct Args {
    /// Name of the crate, and of the directory created for it.
    pub name: String,
    /// Built-in template name, or the path of a cargo-generate template directory.
    #[arg(long, short)]
    pub template: Option<String>,
    /// Capability to claim instead of the template's: a short name (keyvalue, messaging,
    /// http_server, http_client, logging) or a full id. Repeatable.
    #[arg(long = "cap", value_name = "ID")]
    pub caps: Vec<String>,
    /// Do not prompt; use the flags and the defaults.
    #[arg(long, short)]
    pub yes: bool,
}

/// Runs `cargo waxo new`.
pub fn exec(args: &Args) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let created = scaffold(args, &cwd, interactive(args))?;
    println!(
        "created `{}` from template `{}` (capabilities: {})",
        created.dir.display(),
        created.template,
        if created.caps.is_empty() {
            "none".to_string()
        } else {
            created.caps.join(", ")
        }
    );
    println!("next:\n  cd {}\n  cargo waxo run", args.name);
    Ok(crate::exit::OK)
}

/// What [`scaffold`] made.
#[derive(Debug, Clone)]
pub struct Created {
    /// The new crate's directory.
    pub dir: PathBuf,
    /// The template it came from.
    pub template: String,
    /// The capabilities it claims (short names where known).
    pub caps: Vec<String>,
}

fn interactive(args: &Args) -> bool {
    !args.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Creates crate `args.name` in `parent`.
pub fn scaffold(args: &Args, parent: &Path, interactive: bool) -> anyhow::Result<Created> {
    validate_name(&args.name)?;
    let dir = parent.join(&args.name);
    if dir.exists() {
        bail!(
            "`{}` already exists; choose another name or remove it first",
            dir.display()
        );
    }
    let template = match &args.template {
        Some(t) => t.clone(),
        None if interactive => prompt_template()?,
        None => DEFAULT_TEMPLATE.to_string(),
    };
    let mut caps = args
        .caps
        .iter()
        .map(|c| caps::parse_capability(c).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if caps.is_empty() && interactive {
        caps = prompt_caps(&embedded::template_capabilities(&template))?;
    }

    let home = waxo_home()?;
    let sdk = embedded::install_sdk(&home)?;
    // Embedded templates are unpacked to a scratch directory first: cargo-generate reads
    // templates from disk.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let template_dir = if embedded::template_names().contains(&template.as_str()) {
        embedded::extract_template(&template, scratch.path())?;
        scratch.path().to_path_buf()
    } else {
        let path = PathBuf::from(&template);
        if !path.join("Cargo.toml").is_file() {
            bail!(
                "`{template}` is neither a built-in template ({}) nor a template directory \
                 with a Cargo.toml",
                embedded::template_names().join(", ")
            );
        }
        path
    };
    ensure_author_variable();
    let generated = cargo_generate::generate(cargo_generate::GenerateArgs {
        template_path: cargo_generate::TemplatePath {
            path: Some(template_dir.to_string_lossy().into_owned()),
            ..Default::default()
        },
        name: Some(args.name.clone()),
        force: true,
        silent: true,
        vcs: Some(cargo_generate::Vcs::None),
        define: vec![format!("waxo_sdk={}", sdk.display())],
        destination: Some(parent.to_path_buf()),
        no_workspace: true,
        no_fmt: true,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("cannot generate `{}` from `{template}`: {e:#}", args.name))?;
    if !caps.is_empty() {
        set_capabilities(&generated.join("Cargo.toml"), &caps)?;
    }
    let claimed = read_capabilities(&generated.join("Cargo.toml"))?;
    Ok(Created {
        dir: generated,
        template,
        caps: claimed,
    })
}

/// cargo-generate insists on an author name (for its `authors` variable) even for templates
/// that never use it, and fails without one; CI machines and containers often have no `$USER`.
fn ensure_author_variable() {
    const SOURCES: [&str; 6] = [
        "CARGO_NAME",
        "GIT_AUTHOR_NAME",
        "GIT_COMMITTER_NAME",
        "USER",
        "USERNAME",
        "NAME",
    ];
    if SOURCES.iter().all(|v| std::env::var_os(v).is_none()) {
        // SAFETY: `cargo waxo new` runs on the main thread before starting any other, so no
        // thread can read the environment while it changes.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("CARGO_NAME", "waxosuit developer");
        }
    }
}

/// `$WAXO_HOME`, or `~/.waxo`.
pub fn waxo_home() -> anyhow::Result<PathBuf> {
    if let Some(home) = std::env::var_os("WAXO_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".waxo"))
        .context("cannot find the home directory; set HOME or WAXO_HOME")
}

fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "`{name}` is not a valid crate name: use lowercase letters, digits, `-` and `_`, \
             starting with a letter (e.g. `my-svc`)"
        );
    }
    Ok(())
}

fn prompt_template() -> anyhow::Result<String> {
    let names = embedded::template_names();
    let default = names
        .iter()
        .position(|n| *n == DEFAULT_TEMPLATE)
        .unwrap_or(0);
    let choice = dialoguer::Select::new()
        .with_prompt("Template")
        .items(&names)
        .default(default)
        .interact()
        .context("cannot read the template choice")?;
    Ok(names[choice].to_string())
}

fn prompt_caps(defaults: &[String]) -> anyhow::Result<Vec<String>> {
    let all = caps::SHORT_NAMES;
    let checked: Vec<bool> = all
        .iter()
        .map(|c| defaults.iter().any(|d| d == c))
        .collect();
    let chosen = dialoguer::MultiSelect::new()
        .with_prompt("Capabilities (space to toggle, enter to confirm)")
        .items(all)
        .defaults(&checked)
        .interact()
        .context("cannot read the capability choice")?;
    chosen
        .into_iter()
        .map(|i| caps::parse_capability(all[i]).map_err(anyhow::Error::from))
        .collect()
}

/// Replaces `[package.metadata.waxosuit] capabilities` in a manifest, keeping its layout.
fn set_capabilities(manifest: &Path, caps: &[String]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read `{}`", manifest.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", manifest.display()))?;
    let short: toml_edit::Array = caps
        .iter()
        .map(|c| caps::short_name(c).unwrap_or(c))
        .collect();
    doc["package"]["metadata"]["waxosuit"]["capabilities"] = toml_edit::value(short);
    std::fs::write(manifest, doc.to_string())
        .with_context(|| format!("cannot write `{}`", manifest.display()))
}

fn read_capabilities(manifest: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read `{}`", manifest.display()))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", manifest.display()))?;
    // `get`, not indexing: a template may have no `[package.metadata.waxosuit]` at all.
    Ok(doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("waxosuit"))
        .and_then(|w| w.get("capabilities"))
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
