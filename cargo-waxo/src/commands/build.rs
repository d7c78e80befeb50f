//! `cargo waxo build`: build the current crate for `wasm32-unknown-unknown` through `$CARGO`,
//! find the module with `cargo_metadata`, and sign it with the claims of the crate's
//! `[package.metadata.waxosuit]` and the keys in `~/.waxo/keys/`.

use std::io::{BufRead as _, BufReader, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use cargo_metadata::{Message, Metadata, MetadataCommand, Package};
use wascap::cli::keys::KeysDir;
use wascap::cli::{crate_defaults, inspect, sign};
use wascap::keys::KeyKind;
use wascap::{Claims, SignOptions};

/// The target guests are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Which crate to build, and how: the cargo flags `build` and `run` share.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CargoArgs {
    /// Build with optimisations.
    #[arg(long)]
    pub release: bool,
    /// Path to the crate's Cargo.toml [default: found from the current directory].
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to build, in a workspace with several guests.
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub package: Option<String>,
    /// Directory for build artifacts [default: the workspace's target directory].
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
}

/// Arguments of `cargo waxo build`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The module is signed with the claims in the crate's \
    `[package.metadata.waxosuit]` (name, capabilities, tags) and `[package]` version, by the \
    account key `~/.waxo/keys/default_account.nk` for the module key \
    `~/.waxo/keys/<name>_module.nk` (both created on first use).\n\n\
    Examples:\n  cargo waxo build\n  cargo waxo build --release -p counter")]
pub struct Args {
    /// What to build.
    #[command(flatten)]
    pub cargo: CargoArgs,
    /// Where signing keys live.
    #[command(flatten)]
    pub keys: KeysDir,
}

/// A built and signed guest.
#[derive(Debug, Clone)]
pub struct Built {
    /// The package it came from.
    pub package: String,
    /// The directory of the package's Cargo.toml.
    pub crate_dir: PathBuf,
    /// The signed module.
    pub signed: PathBuf,
    /// The claims it carries.
    pub claims: Claims,
}

/// Runs `cargo waxo build`.
pub fn exec(args: &Args) -> anyhow::Result<i32> {
    let built = build_and_sign(&args.cargo, &args.keys)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    writeln!(out, "signed {}", built.signed.display())?;
    inspect::print_rows(
        &mut out,
        &inspect::claims_rows(&built.claims, wascap::time::now()),
    )?;
    Ok(crate::exit::OK)
}

/// Builds the selected crate for wasm32 and signs the module; the shared first half of
/// `build` and `run`.
pub fn build_and_sign(cargo: &CargoArgs, keys: &KeysDir) -> anyhow::Result<Built> {
    let metadata = read_metadata(cargo.manifest_path.as_deref())?;
    let package = select_package(&metadata, cargo.package.as_deref())?;
    ensure_wasm_target()?;
    let wasm = compile(cargo, package)?;
    let defaults = crate_defaults::defaults_of(package)?;
    let opts = SignOptions {
        name: defaults.name,
        caps: defaults.caps,
        tags: defaults.tags,
        ver: Some(defaults.ver),
        rev: defaults.rev,
        call_alias: defaults.call_alias,
        ..Default::default()
    };
    let store = keys.store()?;
    let issuer = sign::resolve_key(
        None,
        &store,
        sign::DEFAULT_ACCOUNT,
        KeyKind::Account,
        false,
        "--issuer",
    )?;
    let subject = sign::resolve_key(
        None,
        &store,
        &opts.name,
        KeyKind::Module,
        false,
        "--subject",
    )?;
    let signed = sign::default_output(&wasm);
    let claims = sign::sign_file(
        &wasm,
        &signed,
        &opts,
        &issuer,
        &subject,
        wascap::time::now(),
    )?;
    Ok(Built {
        package: package.name.to_string(),
        crate_dir: package
            .manifest_path
            .parent()
            .map(|p| p.as_std_path().to_path_buf())
            .unwrap_or_default(),
        signed,
        claims,
    })
}

fn read_metadata(manifest_path: Option<&Path>) -> anyhow::Result<Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.no_deps();
    if let Some(path) = manifest_path {
        cmd.manifest_path(path);
    }
    cmd.exec().map_err(|e| match manifest_path {
        None if !has_manifest_above() => anyhow::anyhow!(
            "no Cargo.toml in the current directory or above it: this is not a crate; create \
             a guest with `cargo waxo new NAME` or pass `--manifest-path`"
        ),
        _ => anyhow::anyhow!("cannot read the crate: {e}"),
    })
}

fn has_manifest_above() -> bool {
    std::env::current_dir().is_ok_and(|cwd| cwd.ancestors().any(|d| d.join("Cargo.toml").is_file()))
}

fn is_guest(package: &Package) -> bool {
    package
        .targets
        .iter()
        .any(|t| t.crate_types.iter().any(|c| c.to_string() == "cdylib"))
}

fn select_package<'m>(metadata: &'m Metadata, name: Option<&str>) -> anyhow::Result<&'m Package> {
    let package = if let Some(name) = name {
        metadata
            .workspace_packages()
            .into_iter()
            .find(|p| p.name.as_str() == name)
            .with_context(|| format!("there is no package `{name}` in this workspace"))?
    } else if let Some(root) = metadata.root_package() {
        root
    } else {
        let guests: Vec<_> = metadata
            .workspace_packages()
            .into_iter()
            .filter(|p| is_guest(p))
            .collect();
        match guests.as_slice() {
            [one] => *one,
            [] => bail!("no guest crate (a `cdylib`) in this workspace"),
            many => bail!(
                "this workspace has several guests ({}); choose one with `-p NAME`",
                many.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    };
    if !is_guest(package) {
        bail!(
            "package `{}` is not a guest: its library must be a cdylib; add \
             `[lib] crate-type = [\"cdylib\"]` to `{}`",
            package.name,
            package.manifest_path
        );
    }
    Ok(package)
}

/// Fails with the fix when the wasm32 standard library is not installed.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .context("cannot run `rustc`; is Rust installed (https://rustup.rs)?")?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let installed =
        output.status.success() && std::fs::read_dir(&libdir).is_ok_and(|mut d| d.next().is_some());
    if !installed {
        bail!(
            "the `{WASM_TARGET}` target is not installed, so guests cannot be built; \
             install it with `rustup target add {WASM_TARGET}`"
        );
    }
    Ok(())
}

/// Runs `cargo build` for wasm32 with a progress display; returns the module's path.
fn compile(args: &CargoArgs, package: &Package) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--target",
        WASM_TARGET,
        "--message-format=json-render-diagnostics",
    ])
    .arg("--manifest-path")
    .arg(package.manifest_path.as_std_path())
    .args(["-p", package.name.as_str()]);
    if args.release {
        cmd.arg("--release");
    }
    if let Some(dir) = &args.target_dir {
        cmd.arg("--target-dir").arg(dir);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let progress = indicatif::ProgressBar::new_spinner();
    if !std::io::stderr().is_terminal() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress.enable_steady_tick(Duration::from_millis(100));
    progress.set_message(format!("building {} for {WASM_TARGET}", package.name));
    // Cargo's stderr (progress lines and rendered diagnostics) is read on a thread and kept,
    // so the spinner can show what is compiling and diagnostics are printed once, intact.
    let stderr = child.stderr.take();
    let spinner = progress.clone();
    let diagnostics = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for line in stderr
            .map(BufReader::new)
            .into_iter()
            .flat_map(|r| r.lines())
        {
            let Ok(line) = line else { break };
            let trimmed = line.trim_start();
            if let Some(what) = trimmed.strip_prefix("Compiling ") {
                spinner.set_message(format!("compiling {what}"));
            }
            kept.push(line);
        }
        kept
    });
    let mut wasm = None;
    let stdout = child.stdout.take().context("cannot read cargo's output")?;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        if let Ok(Message::CompilerArtifact(artifact)) = message
            && artifact.package_id == package.id
            && let Some(file) = artifact
                .filenames
                .iter()
                .find(|f| f.extension() == Some("wasm"))
        {
            wasm = Some(file.as_std_path().to_path_buf());
        }
    }
    let status = child.wait().context("cargo did not finish")?;
    progress.finish_and_clear();
    let stderr = diagnostics.join().unwrap_or_default();
    let noise = [
        "Compiling ",
        "Finished ",
        "Locking ",
        "Updating ",
        "Downloading ",
        "Downloaded ",
        "Blocking ",
        "Adding ",
        "Fresh ",
        "Checking ",
        "Running ",
    ];
    for line in &stderr {
        if !status.success() || !noise.iter().any(|n| line.trim_start().starts_with(n)) {
            eprintln!("{line}");
        }
    }
    if !status.success() {
        bail!(
            "cargo build failed for `{}` (see the errors above)",
            package.name
        );
    }
    wasm.with_context(|| {
        format!(
            "cargo built `{}` but produced no .wasm file; is its library a cdylib?",
            package.name
        )
    })
}
