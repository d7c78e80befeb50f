//! `cargo waxo call`: load a module into a host, send it one command, print the event.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::ValueEnum;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use waxosuit_host::config::Config;
use waxosuit_host::load::{HostOptions, load};
use waxosuit_proto::ops;
use waxosuit_proto::prost_types::Any;
use waxosuit_proto::v1::{Command, Event};

/// Arguments of `cargo waxo call`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Providers: none are bound yet except logging (the guest's `log` import, which needs the \
`waxosuit:logging` claim). A `host_call` to any other capability answers an `unavailable` \
error event.

Payloads: for the known operations (e.g. `waxosuit:http_server/Handle`, \
`waxosuit:core/Health`, `waxosuit:messaging/Deliver`) `--data` is the JSON form of the \
operation's request message. For other operations, give the payload type in the JSON with \
\"@type\", e.g. '{\"@type\": \"type.googleapis.com/waxosuit.keyvalue.v1.IncrRequest\", \
\"key\": \"hits\"}'; without `--data` the command has no payload.

Exit codes: 0 the guest answered with a success event; 3 it answered with an error event; \
1 the module could not be loaded or the call failed; 2 usage error.")]
pub struct Args {
    /// The module to load (a `.wasm` file, signed unless `--allow-unsigned`).
    #[arg(value_name = "MODULE")]
    pub module: PathBuf,

    /// The operation, e.g. `waxosuit:http_server/Handle`.
    #[arg(long, value_name = "OP")]
    pub op: String,

    /// The payload as JSON, or `@FILE` to read the JSON from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub data: Option<String>,

    /// Accept an unsigned module (development only; it gets no capabilities).
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Accept only modules signed by this account public key (`A…`); repeatable.
    #[arg(long = "trust", value_name = "KEY")]
    pub trust: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// How `call` prints the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A status line and the payload as pretty JSON.
    Human,
    /// One JSON object: `{"ok", "error", "payload"}`.
    Json,
}

/// The request message of each known operation.
const REQUEST_TYPES: &[(&str, &str)] = &[
    (ops::HTTP_SERVER_HANDLE, "waxosuit.http.v1.HttpRequest"),
    (ops::MSG_DELIVER, "waxosuit.messaging.v1.Message"),
    (ops::CORE_HEALTH, "waxosuit.core.v1.HealthRequest"),
    (ops::KV_GET, "waxosuit.keyvalue.v1.GetRequest"),
    (ops::KV_SET, "waxosuit.keyvalue.v1.SetRequest"),
    (ops::KV_DELETE, "waxosuit.keyvalue.v1.DeleteRequest"),
    (ops::KV_EXISTS, "waxosuit.keyvalue.v1.ExistsRequest"),
    (ops::KV_INCR, "waxosuit.keyvalue.v1.IncrRequest"),
    (ops::KV_LIST_KEYS, "waxosuit.keyvalue.v1.ListKeysRequest"),
    (ops::MSG_PUBLISH, "waxosuit.messaging.v1.PublishRequest"),
    (ops::MSG_REQUEST, "waxosuit.messaging.v1.RequestRequest"),
    (
        ops::HTTP_CLIENT_REQUEST,
        "waxosuit.http.v1.HttpClientRequest",
    ),
];

const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

fn pool() -> anyhow::Result<DescriptorPool> {
    DescriptorPool::decode(waxosuit_proto::FILE_DESCRIPTOR_SET)
        .context("cannot read the embedded protobuf descriptors (a bug in cargo-waxo)")
}

fn message(pool: &DescriptorPool, name: &str) -> anyhow::Result<MessageDescriptor> {
    pool.get_message_by_name(name)
        .with_context(|| format!("message type `{name}` is not known to cargo-waxo"))
}

/// Builds the command for `op` from the `--data` JSON (already read from a file if `@FILE`).
pub fn build_command(op: &str, data: Option<&str>) -> anyhow::Result<Command> {
    let pool = pool()?;
    let known = REQUEST_TYPES
        .iter()
        .find(|(o, _)| *o == op)
        .map(|(_, t)| *t);
    let payload = match (known, data) {
        (Some(type_name), data) => {
            let desc = message(&pool, type_name)?;
            let msg = match data {
                Some(json) => from_json(desc, json)
                    .with_context(|| format!("`--data` is not a valid `{type_name}` for `{op}`"))?,
                None => DynamicMessage::new(desc),
            };
            Some(Any {
                type_url: format!("{TYPE_URL_PREFIX}{type_name}"),
                value: msg.encode_to_vec(),
            })
        }
        (None, None) => None,
        (None, Some(json)) => {
            let value: serde_json::Value =
                serde_json::from_str(json).context("`--data` is not valid JSON")?;
            let Some(type_url) = value.get("@type").and_then(|t| t.as_str()) else {
                bail!(
                    "`{op}` is not a known operation, so `--data` must name its payload type with \"@type\", e.g. {{\"@type\": \"type.googleapis.com/waxosuit.keyvalue.v1.IncrRequest\", \"key\": \"hits\"}}"
                );
            };
            let type_name = type_url.rsplit('/').next().unwrap_or(type_url);
            let desc = message(&pool, type_name)?;
            let mut fields = value.clone();
            if let Some(obj) = fields.as_object_mut() {
                obj.remove("@type");
            }
            let msg = from_json(desc, &fields.to_string())
                .with_context(|| format!("`--data` is not a valid `{type_name}`"))?;
            Some(Any {
                type_url: format!("{TYPE_URL_PREFIX}{type_name}"),
                value: msg.encode_to_vec(),
            })
        }
    };
    Ok(Command {
        op: op.to_string(),
        payload,
    })
}

fn from_json(desc: MessageDescriptor, json: &str) -> anyhow::Result<DynamicMessage> {
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(desc, &mut de)?;
    de.end()?;
    Ok(msg)
}

/// The event as JSON: `{"ok": bool, "error": {"code", "message"} | null,
/// "payload": {"@type": …, fields…} | null}`. A payload of a type cargo-waxo does not know is
/// shown as `{"@type": …, "bytes": <length>}`.
pub fn event_json(event: &Event) -> anyhow::Result<serde_json::Value> {
    let pool = pool()?;
    let error = event
        .error
        .as_ref()
        .map(|e| serde_json::json!({ "code": e.code, "message": e.message }));
    let payload = match &event.payload {
        None => serde_json::Value::Null,
        Some(any) => {
            let type_name = any.type_url.rsplit('/').next().unwrap_or(&any.type_url);
            let decoded = pool
                .get_message_by_name(type_name)
                .and_then(|desc| DynamicMessage::decode(desc, any.value.as_slice()).ok());
            match decoded {
                Some(msg) => {
                    let mut v = serde_json::to_value(&msg)
                        .context("cannot render the event payload as JSON")?;
                    let mut out = serde_json::Map::new();
                    out.insert("@type".into(), any.type_url.clone().into());
                    if let Some(obj) = v.as_object_mut() {
                        out.append(obj);
                    }
                    serde_json::Value::Object(out)
                }
                None => serde_json::json!({ "@type": any.type_url, "bytes": any.value.len() }),
            }
        }
    };
    Ok(serde_json::json!({
        "ok": event.error.is_none(),
        "error": error,
        "payload": payload,
    }))
}

/// Runs `cargo waxo call`; returns the exit code.
pub fn exec(args: &Args) -> anyhow::Result<i32> {
    let data = match args.data.as_deref() {
        Some(d) if d.starts_with('@') => {
            let path = &d[1..];
            Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the `--data` file `{path}`"))?,
            )
        }
        Some(d) => Some(d.to_string()),
        None => None,
    };
    let command = build_command(&args.op, data.as_deref())?;
    // The same loading as `cargo waxo run`, minus providers: a one-shot call must not touch
    // backends. Limits and trust still come from a waxo.toml in the current directory.
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let beside = cwd.join("waxo.toml");
    let config = if beside.is_file() {
        Config::load(&beside)?
    } else {
        Config::embedded(&cwd)
    };
    let opts = HostOptions {
        module: args.module.clone(),
        config,
        allow_unsigned: args.allow_unsigned,
        trust: args.trust.clone(),
        cache_dir: super::new::waxo_home().ok().map(|home| home.join("cache")),
        bind_providers: false,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let loaded = load(&opts, runtime.handle())?;
    let guest = loaded.guest;
    let event = guest
        .call(&command)
        .with_context(|| format!("calling `{}` with `{}` failed", guest.name(), args.op))?;
    let json = event_json(&event)?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    match args.output {
        Output::Json => writeln!(out, "{json}")?,
        Output::Human => {
            match &event.error {
                None => writeln!(out, "ok")?,
                Some(e) => writeln!(out, "error {}: {}", e.code, e.message)?,
            }
            if let Some(payload) = json.get("payload").filter(|p| !p.is_null()) {
                writeln!(out, "{}", serde_json::to_string_pretty(payload)?)?;
            }
        }
    }
    Ok(if event.error.is_none() {
        crate::exit::OK
    } else {
        crate::exit::ERROR_EVENT
    })
}
