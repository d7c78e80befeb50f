//! `cargo wascap inspect`: show a module's claims.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::{CliError, OutputFormat, print_json, read_module};
use crate::{Claims, Inspection, caps, time};

/// Arguments of `inspect`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the claims could be read (even if they are \
    invalid: see `signature` and `module hash`, or use `cargo wascap verify`), 1 when the file \
    cannot be read or parsed, 3 when the module is not signed."
)]
pub struct Args {
    /// The module.
    pub file: PathBuf,
    /// Print only the raw JWT.
    #[arg(long, conflicts_with = "output")]
    pub jwt_only: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Runs `inspect`.
pub fn exec(args: &Args, out: &mut dyn Write) -> Result<(), CliError> {
    let module = read_module(&args.file)?;
    let report = crate::inspect(&module).map_err(|source| CliError::Verify {
        path: args.file.clone(),
        source,
    })?;
    if args.jwt_only {
        writeln!(out, "{}", report.jwt)?;
        return Ok(());
    }
    match args.output {
        OutputFormat::Json => print_json(out, &report_json(&report)),
        OutputFormat::Text => {
            writeln!(out, "{}", args.file.display())?;
            print_rows(out, &claims_rows(&report.claims, report.checked_at))?;
            let signature = if report.signature_valid {
                "valid".to_string()
            } else {
                "INVALID (the claims were altered, or not signed by their issuer)".to_string()
            };
            let hash = match (&report.malformed, report.hash_valid) {
                (_, true) => "valid (unchanged since signing)".to_string(),
                (Some(why), false) => format!("INVALID: modified after signing ({why})"),
                (None, false) => format!(
                    "INVALID: modified after signing (hash now {})",
                    report.computed_hash
                ),
            };
            print_rows(
                out,
                &[
                    ("section", report.section.to_string()),
                    ("signature", signature),
                    ("module hash", hash),
                ],
            )?;
            Ok(())
        }
    }
}

/// The claims as label/value rows, shared with `sign`'s summary.
pub fn claims_rows(claims: &Claims, now: u64) -> Vec<(&'static str, String)> {
    let meta = claims.metadata.clone().unwrap_or_default();
    let or_dash = |v: Option<String>| v.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
    let capabilities = if meta.caps.is_empty() {
        "none".to_string()
    } else {
        meta.caps
            .iter()
            .map(|c| format!("{} ({c})", caps::friendly_name(c)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let when = |t: u64| format!("{} ({})", time::relative(now, t), time::rfc3339(t));
    vec![
        ("name", or_dash(meta.name)),
        ("issuer", claims.issuer.clone()),
        ("subject", claims.subject.clone()),
        ("capabilities", capabilities),
        ("tags", or_dash(Some(meta.tags.join(", ")))),
        ("version", or_dash(meta.ver)),
        ("revision", or_dash(meta.rev.map(|r| r.to_string()))),
        ("call alias", or_dash(meta.call_alias)),
        ("issued", when(claims.issued_at)),
        (
            "expires",
            claims.expires.map_or_else(|| "never".into(), when),
        ),
        (
            "not before",
            claims.not_before.map_or_else(|| "immediately".into(), when),
        ),
        ("hash", meta.hash),
    ]
}

/// Prints aligned label/value rows.
pub fn print_rows(out: &mut dyn Write, rows: &[(&str, String)]) -> Result<(), CliError> {
    for (label, value) in rows {
        writeln!(out, "  {label:<13} {value}")?;
    }
    Ok(())
}

/// The claims as JSON, shared with `sign --output json`.
pub fn claims_json(claims: &Claims, now: u64) -> Value {
    let meta = claims.metadata.clone().unwrap_or_default();
    json!({
        "name": meta.name,
        "issuer": claims.issuer,
        "subject": claims.subject,
        "capabilities": meta.caps,
        "capability_names": meta.caps.iter().map(|c| caps::friendly_name(c)).collect::<Vec<_>>(),
        "tags": meta.tags,
        "ver": meta.ver,
        "rev": meta.rev,
        "call_alias": meta.call_alias,
        "issued_at": claims.issued_at,
        "expires": claims.expires.map_or_else(|| "never".into(), |t| time::relative(now, t)),
        "expires_at": claims.expires,
        "not_before": claims.not_before.map_or_else(|| "immediately".into(), |t| time::relative(now, t)),
        "not_before_at": claims.not_before,
        "hash": meta.hash,
        "jti": claims.id,
    })
}

fn report_json(report: &Inspection) -> Value {
    let mut value = claims_json(&report.claims, report.checked_at);
    if let Some(map) = value.as_object_mut() {
        map.insert("section".into(), json!(report.section.as_str()));
        map.insert("signature_valid".into(), json!(report.signature_valid));
        map.insert("hash_valid".into(), json!(report.hash_valid));
        map.insert("computed_hash".into(), json!(report.computed_hash));
        map.insert("expired".into(), json!(report.expired()));
        map.insert("not_yet_valid".into(), json!(report.not_yet_valid()));
    }
    value
}
