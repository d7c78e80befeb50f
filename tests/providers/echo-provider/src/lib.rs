//! `acme:echo`: an example Waxosuit capability provider, loaded by the host from a dynamic
//! library. `acme:echo/Echo` answers with the command's own payload; `acme:echo/Panic` panics,
//! to show that a panicking provider fails one call and the host keeps serving;
//! `acme:echo/Sleep` (payload: decimal milliseconds, at most 60000) answers after that long,
//! to give tests a slow call that completes.

use waxosuit_provider_sdk::serde_json::Value;
use waxosuit_provider_sdk::{Caller, Command, Event, Provider, codes, export_provider};

/// The capability id this provider serves; guests need it in their claims.
pub const CAPABILITY: &str = "acme:echo";

/// Echoes payloads back, up to a configured size.
pub struct EchoProvider {
    max_payload_bytes: usize,
}

impl EchoProvider {
    /// Reads the `config` table of the provider's `[[provider]]` entry in waxo.toml, given as
    /// JSON (an object, or `null` when the host passes none): `{ max_payload_bytes = N }`,
    /// default 1 MiB.
    pub fn from_config(config: &Value) -> Result<Self, String> {
        if !(config.is_null() || config.is_object()) {
            return Err(format!("the config must be a table, not `{config}`"));
        }
        let max_payload_bytes = match config.get("max_payload_bytes") {
            None => 1 << 20,
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    format!("`max_payload_bytes` must be a non-negative integer, not `{value}`")
                })?,
        };
        Ok(Self { max_payload_bytes })
    }
}

impl Provider for EchoProvider {
    fn capability_id(&self) -> &str {
        CAPABILITY
    }

    fn call(&self, caller: &Caller, command: &Command) -> Event {
        match command.op.as_str() {
            "acme:echo/Echo" => {
                let size = command.payload.as_ref().map_or(0, |p| p.value.len());
                if size > self.max_payload_bytes {
                    return Event::error(
                        codes::RESOURCE_EXHAUSTED,
                        format!(
                            "the payload has {size} bytes, more than the {}-byte limit",
                            self.max_payload_bytes
                        ),
                    );
                }
                Event {
                    error: None,
                    payload: command.payload.clone(),
                }
            }
            "acme:echo/Sleep" => {
                let millis = command
                    .payload
                    .as_ref()
                    .and_then(|p| std::str::from_utf8(&p.value).ok())
                    .and_then(|text| text.parse::<u64>().ok())
                    .filter(|ms| *ms <= 60_000);
                match millis {
                    Some(ms) => {
                        std::thread::sleep(std::time::Duration::from_millis(ms));
                        Event::ok()
                    }
                    None => Event::error(
                        codes::INVALID_ARGUMENT,
                        "`acme:echo/Sleep` takes decimal milliseconds, at most 60000",
                    ),
                }
            }
            "acme:echo/Panic" => panic!("module `{}` asked acme:echo to panic", caller.module),
            other => Event::error(
                codes::UNKNOWN_OPERATION,
                format!("`{other}` is not an {CAPABILITY} operation"),
            ),
        }
    }
}

// The C symbols the host loads: `export_provider!(type, capability id, constructor)`.
export_provider!(EchoProvider, CAPABILITY, EchoProvider::from_config);
