//! `cargo wascap verify`: judge a module's claims, with an exit code for CI.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use super::{CliError, OutputFormat, print_json, read_module};
use crate::caps::parse_capability;
use crate::{VerifyOptions, caps, time};

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit status:\n  \
    0  valid\n  \
    1  the file cannot be read or is not WebAssembly\n  \
    2  usage error\n  \
    3  not signed\n  \
    4  bad signature or hash mismatch (tampered)\n  \
    5  expired\n  \
    6  not yet valid\n  \
    7  issuer not trusted\n  \
    8  a required capability is missing")]
pub struct Args {
    /// The module.
    pub file: PathBuf,
    /// Trust only this issuer (account public key `A…`). Repeatable; without it any issuer
    /// with a valid signature is accepted.
    #[arg(long = "issuer", value_name = "PUBKEY", value_parser = parse_account_key)]
    pub issuers: Vec<String>,
    /// Require this capability (short name or full id). Repeatable.
    #[arg(long = "require-cap", value_name = "ID", value_parser = parse_cap)]
    pub required_caps: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

fn parse_account_key(s: &str) -> Result<String, String> {
    match nkeys::KeyPair::from_public_key(s) {
        Ok(_) if s.starts_with('A') => Ok(s.to_string()),
        _ => Err(format!(
            "`{s}` is not an account public key (56 characters starting with `A`)"
        )),
    }
}

fn parse_cap(s: &str) -> Result<String, String> {
    parse_capability(s).map_err(|e| e.to_string())
}

/// Runs `verify`.
pub fn exec(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let module = read_module(&args.file)?;
    let opts = VerifyOptions {
        trusted_issuers: args.issuers.clone(),
        required_caps: args.required_caps.clone(),
    };
    let result = crate::verify(&module, &opts);
    if args.output == OutputFormat::Json {
        let value = match &result {
            Ok(v) => json!({
                "valid": true, "code": 0, "file": args.file,
                "name": v.claims.name(), "issuer": v.claims.issuer,
                "subject": v.claims.subject, "capabilities": v.claims.caps(),
                "expires_at": v.claims.expires,
            }),
            Err(e) => json!({
                "valid": false, "code": e.exit_code(), "file": args.file,
                "reason": e.to_string(),
            }),
        };
        print_json(out, &value)?;
    }
    let verified = result.map_err(|source| CliError::Verify {
        path: args.file.clone(),
        source,
    })?;
    if args.output == OutputFormat::Text {
        let claims = &verified.claims;
        let caps = claims
            .caps()
            .iter()
            .map(|c| caps::short_name(c).unwrap_or(c))
            .collect::<Vec<_>>();
        let expiry = claims.expires.map_or_else(
            || "never expires".to_string(),
            |t| format!("expires {}", time::relative(time::now(), t)),
        );
        writeln!(
            out,
            "ok: `{}` is `{}` ({}), signed by {}; capabilities: {}; {expiry}",
            args.file.display(),
            claims.name(),
            claims.subject,
            claims.issuer,
            if caps.is_empty() {
                "none".to_string()
            } else {
                caps.join(", ")
            },
        )?;
    }
    Ok(())
}
