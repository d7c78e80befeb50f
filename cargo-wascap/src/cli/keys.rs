//! `cargo wascap keys`: generate signing keys.

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::{CliError, OutputFormat, print_json};
use crate::keys::{KEYS_DIR_ENV, KeyKind, KeyStore, write_seed};

/// `cargo wascap keys …`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a key pair: prints the public key, saves the seed to a file.
    #[command(after_help = "Examples:\n  \
        cargo wascap keys gen --type account            # ~/.waxo/keys/default_account.nk\n  \
        cargo wascap keys gen --type module --name echo # ~/.waxo/keys/echo_module.nk\n  \
        cargo wascap keys gen --type account --show-seed --output json  # for a CI secret")]
    Gen(GenArgs),
}

/// The kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// An account key (`A…`): signs modules as their issuer.
    Account,
    /// A module key (`M…`): identifies one module across versions (the subject).
    Module,
}

impl From<KeyType> for KeyKind {
    fn from(t: KeyType) -> Self {
        match t {
            KeyType::Account => KeyKind::Account,
            KeyType::Module => KeyKind::Module,
        }
    }
}

/// Arguments of `keys gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Kind of key.
    #[arg(long = "type", value_enum)]
    pub kind: KeyType,
    /// Name of the key in the key directory (`<name>_<type>.nk`).
    #[arg(long, default_value = "default", conflicts_with = "file")]
    pub name: String,
    /// Save the seed to this file instead of the key directory.
    #[arg(long = "seed-file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print the seed to stdout instead of saving it (treat the output as a secret).
    #[arg(long, conflicts_with = "file")]
    pub show_seed: bool,
    /// Where generated keys live.
    #[command(flatten)]
    pub keys_dir: KeysDir,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Runs `keys …`.
pub fn exec(cmd: Command, out: &mut dyn Write) -> Result<(), CliError> {
    let Command::Gen(args) = cmd;
    let kind = KeyKind::from(args.kind);
    let kp = kind.generate();
    let public = kp.public_key();
    let saved = if args.show_seed {
        None
    } else {
        let path = match &args.file {
            Some(file) => file.clone(),
            None => args.keys_dir.store()?.path(&args.name, kind),
        };
        write_seed(&path, &kp)?;
        Some(path)
    };
    let seed = if args.show_seed {
        Some(kp.seed().map_err(crate::Error::from)?)
    } else {
        None
    };
    match args.output {
        OutputFormat::Json => print_json(
            out,
            &json!({ "type": kind.to_string(), "public_key": public, "seed_file": saved, "seed": seed }),
        )?,
        OutputFormat::Text => {
            writeln!(out, "{public}")?;
            if let Some(seed) = seed {
                writeln!(out, "{seed}")?;
            }
            if let Some(path) = saved {
                eprintln!("saved the {kind} seed to `{}`", path.display());
            }
        }
    }
    Ok(())
}

/// The `--keys-dir` flag shared by commands that use stored keys.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeysDir {
    /// Directory of generated keys [default: ~/.waxo/keys].
    #[arg(long = "keys-dir", env = KEYS_DIR_ENV, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl KeysDir {
    /// The key store this flag names.
    pub fn store(&self) -> Result<KeyStore, CliError> {
        match &self.dir {
            Some(dir) => Ok(KeyStore::at(dir)),
            None => Ok(KeyStore::default_location()?),
        }
    }
}
