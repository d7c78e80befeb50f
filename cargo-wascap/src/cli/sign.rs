//! `cargo wascap sign`: sign a module with claims.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::inspect::{claims_json, claims_rows, print_rows};
use super::keys::KeysDir;
use super::{CliError, OutputFormat, crate_defaults, print_json};
use crate::caps::{self, parse_capability};
use crate::keys::{KeyKind, KeySource, KeyStore};
use crate::{KeyPair, SignOptions, time};

/// The account key used when `--issuer` is not given.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Keys: without --issuer/--subject, the account key \
    `~/.waxo/keys/default_account.nk` and the module key `~/.waxo/keys/<name>_module.nk` are \
    used, and created on first use unless --disable-keygen. KEY is a seed (SA…/SM…), a file \
    holding one, or env:VAR.\n\n\
    Inside a crate, the name, version, capabilities and tags default to the crate's \
    `[package]` and `[package.metadata.waxosuit]`; flags override them.\n\n\
    Examples:\n  \
    cargo wascap sign echo.wasm --name echo --kv --logging\n  \
    cargo wascap sign echo.wasm -o signed.wasm --cap acme:billing --expires-in 90d\n  \
    WAXO_ISSUER_KEY=env:CI_ACCOUNT_SEED cargo wascap sign echo.wasm --name echo --disable-keygen")]
pub struct Args {
    /// The module to sign.
    pub input: PathBuf,
    /// Where to write the signed module [default: <stem>_s.wasm beside the input].
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Module name [default: from the crate, if in one].
    #[arg(long)]
    pub name: Option<String>,
    /// Capability the module may use: a short name (keyvalue, messaging, http_server,
    /// http_client, logging) or a full id (`waxosuit:keyvalue`, `vendor:name`). Repeatable.
    #[arg(long = "cap", value_name = "ID")]
    pub caps: Vec<String>,
    /// Same as --cap keyvalue.
    #[arg(long)]
    pub kv: bool,
    /// Same as --cap messaging.
    #[arg(long)]
    pub msg: bool,
    /// Same as --cap http_server.
    #[arg(long)]
    pub http_server: bool,
    /// Same as --cap http_client.
    #[arg(long)]
    pub http_client: bool,
    /// Same as --cap logging.
    #[arg(long)]
    pub logging: bool,
    /// A tag. Repeatable.
    #[arg(long = "tag", value_name = "T")]
    pub tags: Vec<String>,
    /// Version (semver) [default: the crate's version, if in one].
    #[arg(long, value_name = "SEMVER", value_parser = parse_semver)]
    pub ver: Option<String>,
    /// Revision number.
    #[arg(long, value_name = "N")]
    pub rev: Option<i32>,
    /// Call alias.
    #[arg(long, value_name = "A")]
    pub call_alias: Option<String>,
    /// Expire the claims after this long (30s, 10m, 2h, 90d) [default: never].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires_in: Option<Duration>,
    /// Make the claims valid only after this long [default: at once].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub not_before: Option<Duration>,
    /// Account key that signs (the issuer): seed, file or env:VAR.
    #[arg(
        long,
        env = "WAXO_ISSUER_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub issuer: Option<KeySource>,
    /// Module key (the subject): seed, file or env:VAR.
    #[arg(
        long,
        env = "WAXO_SUBJECT_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub subject: Option<KeySource>,
    /// Fail instead of generating missing keys.
    #[arg(long)]
    pub disable_keygen: bool,
    /// Crate to take defaults from [default: the crate containing the current directory].
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Where generated keys live.
    #[command(flatten)]
    pub keys_dir: KeysDir,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    time::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_semver(s: &str) -> Result<String, String> {
    cargo_metadata::semver::Version::parse(s)
        .map(|v| v.to_string())
        .map_err(|e| format!("`{s}` is not a semantic version (like 1.2.3): {e}"))
}

/// Runs `sign`.
pub fn exec(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    // Opened first, so an unreadable input fails before any key is created.
    let module = open_input(&args.input)?;
    let opts = sign_options(args)?;
    let store = args.keys_dir.store()?;
    let issuer = resolve_key(
        args.issuer.as_ref(),
        &store,
        DEFAULT_ACCOUNT,
        KeyKind::Account,
        args.disable_keygen,
        "--issuer",
    )?;
    let subject = resolve_key(
        args.subject.as_ref(),
        &store,
        &opts.name,
        KeyKind::Module,
        args.disable_keygen,
        "--subject",
    )?;
    let target = args
        .out
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    let now = time::now();
    let claims = sign_opened(module, &args.input, &target, &opts, &issuer, &subject, now)?;
    match args.output {
        OutputFormat::Json => {
            let mut value = claims_json(&claims, now);
            if let Some(map) = value.as_object_mut() {
                map.insert("input".into(), json!(args.input));
                map.insert("output".into(), json!(target));
            }
            print_json(out, &value)
        }
        OutputFormat::Text => {
            writeln!(
                out,
                "signed `{}` -> `{}`",
                args.input.display(),
                target.display()
            )?;
            print_rows(out, &claims_rows(&claims, now))
        }
    }
}

/// Merges flags over the crate's defaults.
fn sign_options(args: &Args) -> Result<SignOptions, CliError> {
    let mut caps = args
        .caps
        .iter()
        .map(|c| parse_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let shorthands = [
        (args.kv, caps::KEYVALUE),
        (args.msg, caps::MESSAGING),
        (args.http_server, caps::HTTP_SERVER),
        (args.http_client, caps::HTTP_CLIENT),
        (args.logging, caps::LOGGING),
    ];
    caps.extend(
        shorthands
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, id)| id.to_string()),
    );
    // Only consult the crate when a flag leaves something open: `cargo metadata` costs a
    // process spawn.
    let needs_crate = args.name.is_none() || args.ver.is_none() || caps.is_empty();
    let defaults = if needs_crate {
        crate_defaults::load(args.manifest_path.as_deref())?
    } else {
        None
    }
    .unwrap_or_default();
    if caps.is_empty() {
        caps = defaults.caps;
    }
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    let name = args
        .name
        .clone()
        .or_else(|| Some(defaults.name).filter(|n| !n.is_empty()))
        .ok_or_else(|| {
            CliError::Usage(
                "no module name: pass `--name NAME`, or run inside the module's crate (its \
                 `[package.metadata.waxosuit] name` or package name is used)"
                    .into(),
            )
        })?;
    let tags = if args.tags.is_empty() {
        defaults.tags
    } else {
        args.tags.clone()
    };
    Ok(SignOptions {
        name,
        caps,
        tags,
        ver: args
            .ver
            .clone()
            .or_else(|| Some(defaults.ver).filter(|v| !v.is_empty())),
        rev: args.rev.or(defaults.rev),
        call_alias: args.call_alias.clone().or(defaults.call_alias),
        expires_in: args.expires_in,
        not_before: args.not_before,
    })
}

/// A key from its flag, else from the store (created unless keygen is disabled); `flag`
/// names the flag in the fix hint.
pub fn resolve_key(
    source: Option<&KeySource>,
    store: &KeyStore,
    name: &str,
    kind: KeyKind,
    disable_keygen: bool,
    flag: &str,
) -> Result<KeyPair, CliError> {
    if let Some(source) = source {
        return Ok(source.load(kind)?);
    }
    if disable_keygen {
        return store.get(name, kind)?.ok_or_else(|| {
            CliError::Usage(format!(
                "no {kind} key `{}` and --disable-keygen forbids creating one; pass `{flag} \
                 SEED|FILE|env:VAR`, or create it with `cargo wascap keys gen --type {kind} \
                 --name {name}`",
                store.path(name, kind).display()
            ))
        });
    }
    let (kp, created) = store.get_or_create(name, kind)?;
    if let Some(path) = created {
        eprintln!(
            "note: created {kind} key {} in `{}`",
            kp.public_key(),
            path.display()
        );
    }
    Ok(kp)
}

/// Signs the module in the file `input` into the file `target` (which may be `input`),
/// atomically; returns the claims written. A core module streams from one file to the other.
pub fn sign_file(
    input: &Path,
    target: &Path,
    opts: &SignOptions,
    issuer: &KeyPair,
    subject: &KeyPair,
    now: u64,
) -> Result<crate::Claims, CliError> {
    sign_opened(
        open_input(input)?,
        input,
        target,
        opts,
        issuer,
        subject,
        now,
    )
}

fn open_input(input: &Path) -> Result<std::fs::File, CliError> {
    std::fs::File::open(input).map_err(|source| CliError::Read {
        path: input.to_path_buf(),
        source,
    })
}

/// [`sign_file`] with the input already open.
fn sign_opened(
    module: std::fs::File,
    input: &Path,
    target: &Path,
    opts: &SignOptions,
    issuer: &KeyPair,
    subject: &KeyPair,
    now: u64,
) -> Result<crate::Claims, CliError> {
    let result = write_atomically(target, |file| {
        crate::sign_reader(
            BufReader::with_capacity(64 * 1024, module),
            opts,
            issuer,
            subject,
            now,
            BufWriter::new(file),
        )
    });
    match result {
        Err(CliError::Wascap(crate::Error::Read(source))) => Err(CliError::Read {
            path: input.to_path_buf(),
            source,
        }),
        other => other,
    }
}

/// `dir/echo.wasm` → `dir/echo_s.wasm`.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or_else(|| "module".into(), |s| s.to_string_lossy());
    input.with_file_name(format!("{stem}_s.wasm"))
}

/// Writes through a temporary file in the target's directory and renames it into place,
/// so a failure never leaves a half-written module (and signing in place is safe).
fn write_atomically<T>(
    target: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<T, crate::Error>,
) -> Result<T, CliError> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write_err = |source| CliError::Write {
        path: target.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    let value = write(tmp.as_file_mut())?;
    tmp.persist(target).map_err(|e| write_err(e.error))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_sits_beside_the_input() {
        assert_eq!(
            default_output(Path::new("a/b/echo.wasm")),
            Path::new("a/b/echo_s.wasm")
        );
        assert_eq!(default_output(Path::new("echo")), Path::new("echo_s.wasm"));
    }
}
