//! `waxo.toml`: how an app's capabilities are wired at run time (backends, bind addresses,
//! allow-lists, limits, trust). Every section is optional; an absent file means embedded
//! defaults everywhere. Errors name the file, the line and the key, and say what is expected.

mod locate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[http]`: the HTTP server (`waxosuit:http_server`).
    #[serde(default)]
    pub http: HttpConfig,
    /// `[keyvalue]`: `waxosuit:keyvalue`.
    #[serde(default)]
    pub keyvalue: KeyValueConfig,
    /// `[messaging]`: `waxosuit:messaging`.
    #[serde(default)]
    pub messaging: MessagingConfig,
    /// `[http_client]`: `waxosuit:http_client`.
    #[serde(default)]
    pub http_client: HttpClientConfig,
    /// `[limits]`: per-guest resource limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[trust]`: which issuers may run here.
    #[serde(default)]
    pub trust: TrustConfig,
    /// `[metrics]`: Prometheus endpoint.
    pub metrics: Option<MetricsConfig>,
    /// `[[provider]]`: providers loaded from dynamic libraries.
    #[serde(default, rename = "provider")]
    pub providers: Vec<DynamicProvider>,
    /// The directory relative paths are resolved against (the file's own).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// Largest request body. Default 1 MiB.
    #[serde(default = "default_max_body", deserialize_with = "size")]
    pub max_body: u64,
    /// Put the guest's own error message in the body of a 500 when it answers with an error
    /// event (never the host's). Default `false`: clients see a generic message and the
    /// detail goes to the log.
    #[serde(default)]
    pub show_guest_errors: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            max_body: default_max_body(),
            show_guest_errors: false,
        }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> u64 {
    1 << 20
}

/// Key-value backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyValueBackend {
    /// A redb file under the app's `.waxo/` directory.
    #[default]
    Embedded,
    /// A Redis server.
    Redis,
}

/// `[keyvalue]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValueConfig {
    /// `embedded` (default) or `redis`.
    pub backend: Option<Spanned<KeyValueBackend>>,
    /// Embedded store file, relative to `waxo.toml`. Default `.waxo/kv.redb`.
    pub path: Option<PathBuf>,
    /// Redis URL, e.g. `redis://127.0.0.1:6379`.
    pub url: Option<String>,
}

/// Messaging backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessagingBackend {
    /// In-process pub/sub.
    #[default]
    Inproc,
    /// A NATS server.
    Nats,
}

/// `[messaging]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingConfig {
    /// `inproc` (default) or `nats`.
    pub backend: Option<Spanned<MessagingBackend>>,
    /// NATS URL, e.g. `nats://127.0.0.1:4222`.
    pub url: Option<String>,
    /// Subjects delivered to the guest.
    #[serde(default, rename = "subscribe")]
    pub subscriptions: Vec<Subscription>,
}

/// `[[messaging.subscribe]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Subject, with `*` and `>` wildcards.
    pub subject: String,
    /// Queue group: hosts in the same group share the subject's messages.
    pub queue_group: Option<String>,
}

/// `[http_client]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    /// Hosts guests may reach: `host`, `host:port` or `*.domain`.
    #[serde(default, deserialize_with = "allow_list")]
    pub allow: Vec<String>,
    /// Request timeout. Default `10s`.
    #[serde(default = "default_client_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Largest response body. Default 4 MiB.
    #[serde(default = "default_max_response", deserialize_with = "size")]
    pub max_response: u64,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            timeout: default_client_timeout(),
            max_response: default_max_response(),
        }
    }
}

fn default_client_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_max_response() -> u64 {
    4 << 20
}

/// `[limits]`; absent keys keep the runtime's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Linear memory per instance, e.g. `"64MiB"`.
    #[serde(default, deserialize_with = "opt_size")]
    pub memory: Option<u64>,
    /// Wall-clock deadline of one call, e.g. `"5s"`.
    #[serde(default, deserialize_with = "opt_duration")]
    pub call_timeout: Option<Duration>,
    /// Fuel (operators executed) per call.
    pub fuel: Option<u64>,
    /// Largest `Command`/`Event`, e.g. `"4MiB"`.
    #[serde(default, deserialize_with = "opt_size")]
    pub max_envelope: Option<u64>,
    /// Instances per module (calls in parallel).
    pub instances: Option<usize>,
    /// Largest module file accepted, e.g. `"64MiB"`.
    #[serde(default, deserialize_with = "opt_size")]
    pub max_module: Option<u64>,
}

impl LimitsConfig {
    /// The runtime limits: the runtime's defaults, overridden by the keys present.
    pub fn to_limits(&self) -> runtime_core::Limits {
        let mut limits = runtime_core::Limits::default();
        if let Some(memory) = self.memory {
            limits.max_memory_bytes = memory;
        }
        if let Some(timeout) = self.call_timeout {
            limits.call_timeout = timeout;
        }
        if let Some(fuel) = self.fuel {
            limits.max_fuel_per_call = fuel;
        }
        if let Some(envelope) = self.max_envelope {
            limits.max_envelope_bytes = usize::try_from(envelope).unwrap_or(usize::MAX);
        }
        if let Some(module) = self.max_module {
            limits.max_module_bytes = usize::try_from(module).unwrap_or(usize::MAX);
        }
        if let Some(instances) = self.instances {
            limits.max_instances = instances;
        }
        limits
    }
}

/// `[trust]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Issuer account keys (`A…`) allowed to run here; empty trusts any valid signature.
    #[serde(default, deserialize_with = "account_keys")]
    pub issuers: Vec<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the Prometheus text endpoint (`/metrics`).
    pub bind: SocketAddr,
}

/// `[[provider]]`: a provider loaded from a C-ABI dynamic library.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicProvider {
    /// Library file, relative to `waxo.toml`.
    pub path: PathBuf,
    /// Provider-specific settings, handed to the provider as JSON.
    #[serde(default)]
    pub config: toml::Table,
}

/// Why `waxo.toml` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read `{}`; check the path given to `--config`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid `{}`: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        problem: Problem,
    },
}

/// One thing wrong in a `waxo.toml` text: where, which key, and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Problem {
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key, e.g. `http.bind`, when known.
    pub key: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl Problem {
    fn describe(&self) -> String {
        match (self.line, &self.key) {
            (Some(line), Some(key)) => format!("line {line}, `{key}`: {}", self.message),
            (Some(line), None) => format!("line {line}: {}", self.message),
            (None, Some(key)) => format!("`{key}`: {}", self.message),
            (None, None) => self.message.clone(),
        }
    }
}

impl Config {
    /// Reads `path`; relative paths inside are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|problem| ConfigError::Invalid {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// Embedded defaults everywhere, with relative paths under `base`.
    pub fn embedded(base: &Path) -> Self {
        let mut config = Self::default();
        config.resolve(base);
        config
    }

    /// Parses the text of a `waxo.toml` whose directory is `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, Problem> {
        let mut config = locate::deserialize::<Config>(text)?;
        if let Some(backend) = &config.keyvalue.backend
            && *backend.get_ref() == KeyValueBackend::Redis
            && config.keyvalue.url.is_none()
        {
            return Err(Problem {
                line: Some(locate::line_of(text, backend.span().start)),
                key: Some("keyvalue.url".into()),
                message: "`keyvalue.url` is required with `backend = \"redis\"` (for example \
                          `url = \"redis://127.0.0.1:6379\"`)"
                    .into(),
            });
        }
        if let Some(backend) = &config.messaging.backend
            && *backend.get_ref() == MessagingBackend::Nats
            && config.messaging.url.is_none()
        {
            return Err(Problem {
                line: Some(locate::line_of(text, backend.span().start)),
                key: Some("messaging.url".into()),
                message: "`messaging.url` is required with `backend = \"nats\"` (for example \
                          `url = \"nats://127.0.0.1:4222\"`)"
                    .into(),
            });
        }
        config.resolve(base);
        Ok(config)
    }

    /// Resolves relative paths against `base`, the directory of the file.
    fn resolve(&mut self, base: &Path) {
        self.base_dir = base.to_path_buf();
        self.keyvalue.path = Some(
            base.join(
                self.keyvalue
                    .path
                    .take()
                    .unwrap_or_else(|| PathBuf::from(".waxo/kv.redb")),
            ),
        );
        for provider in &mut self.providers {
            provider.path = base.join(&provider.path);
        }
    }

    /// The key-value backend in use.
    pub fn keyvalue_backend(&self) -> KeyValueBackend {
        self.keyvalue
            .backend
            .as_ref()
            .map_or_else(KeyValueBackend::default, |b| *b.get_ref())
    }

    /// The messaging backend in use.
    pub fn messaging_backend(&self) -> MessagingBackend {
        self.messaging
            .backend
            .as_ref()
            .map_or_else(MessagingBackend::default, |b| *b.get_ref())
    }
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(s) => s
            .parse::<bytesize::ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a size; use bytes (1048576) or units (\"512KiB\", \"4MiB\")"
                ))
            }),
    }
}

fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    size(d).map(Some)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration; use units like \"500ms\", \"10s\", \"2m\""
        ))
    })
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

fn allow_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let entries = Vec::<String>::deserialize(d)?;
    waxosuit_http_client::AllowList::new(&entries).map_err(serde::de::Error::custom)?;
    Ok(entries)
}

fn account_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let keys = Vec::<String>::deserialize(d)?;
    if let Some(bad) = keys
        .iter()
        .find(|k| !k.starts_with('A') || nkeys::KeyPair::from_public_key(k).is_err())
    {
        return Err(serde::de::Error::custom(format!(
            "`{bad}` is not an account public key (56 characters starting with `A`)"
        )));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/app")).map_err(|p| p.to_string())
    }

    #[test]
    fn empty_means_embedded_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.http.bind, default_bind());
        assert_eq!(c.keyvalue_backend(), KeyValueBackend::Embedded);
        assert_eq!(
            c.keyvalue.path.as_deref(),
            Some(Path::new("/app/.waxo/kv.redb"))
        );
        assert_eq!(c.messaging_backend(), MessagingBackend::Inproc);
        assert!(c.http_client.allow.is_empty());
        assert!(c.metrics.is_none());
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            r#"
            [http]
            bind = "0.0.0.0:3000"
            max_body = "64KiB"
            [keyvalue]
            backend = "redis"
            url = "redis://127.0.0.1:6379"
            [messaging]
            backend = "nats"
            url = "nats://127.0.0.1:4222"
            [[messaging.subscribe]]
            subject = "sensors.>"
            queue_group = "processors"
            [http_client]
            allow = ["api.example.com", "*.svc.local", "127.0.0.1:9000"]
            timeout = "2s"
            [limits]
            memory = "32MiB"
            call_timeout = "500ms"
            instances = 4
            [metrics]
            bind = "127.0.0.1:9100"
            [[provider]]
            path = "lib/libecho_provider.so"
            config = { greeting = "hi" }
            "#,
        )
        .unwrap();
        assert_eq!(c.http.max_body, 64 * 1024);
        assert_eq!(c.keyvalue_backend(), KeyValueBackend::Redis);
        assert_eq!(
            c.messaging.subscriptions[0].queue_group.as_deref(),
            Some("processors")
        );
        assert_eq!(c.http_client.timeout, Duration::from_secs(2));
        assert_eq!(c.limits.memory, Some(32 << 20));
        assert_eq!(c.limits.call_timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            c.providers[0].path,
            Path::new("/app/lib/libecho_provider.so")
        );
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let err = parse("[keyvalue]\nbackend = \"mongo\"\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("embedded"), "{err}");
        let err = parse("[http]\nbind = \"localhost\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = parse("[http]\nport = 80\n").unwrap_err();
        assert!(err.contains("port"), "{err}");
        let err = parse("\n\n[keyvalue]\nbackend = \"redis\"\n").unwrap_err();
        assert!(
            err.contains("line 4") && err.contains("keyvalue.url"),
            "{err}"
        );
        let err = parse("[http_client]\nallow = [\"a b\"]\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("allow-list"),
            "{err}"
        );
        let err = parse("[limits]\nmemory = \"lots\"\n").unwrap_err();
        assert!(err.contains("not a size"), "{err}");
        let err = parse("[trust]\nissuers = [\"MABC\"]\n").unwrap_err();
        assert!(err.contains("account public key"), "{err}");
    }

    #[test]
    fn problems_carry_the_dotted_key_and_the_line() {
        let problem =
            Config::parse("\n[limits]\ncall_timeout = \"soon\"\n", Path::new("/app")).unwrap_err();
        assert_eq!(problem.line, Some(3), "{problem:?}");
        assert_eq!(problem.key.as_deref(), Some("limits.call_timeout"));
        assert!(problem.message.contains("not a duration"), "{problem:?}");
        let problem = Config::parse(
            "[http]\nbind = \"127.0.0.1:1\"\nshow_guest_errors = 3\n",
            Path::new("/app"),
        )
        .unwrap_err();
        assert_eq!(problem.line, Some(3), "{problem:?}");
        assert_eq!(problem.key.as_deref(), Some("http.show_guest_errors"));
    }

    #[test]
    fn every_limit_is_a_key() {
        let c = parse(
            "[limits]\nmemory = \"8MiB\"\ncall_timeout = \"2s\"\nfuel = 1000\n\
             max_envelope = \"64KiB\"\ninstances = 3\nmax_module = \"1MiB\"\n",
        )
        .unwrap();
        let limits = c.limits.to_limits();
        assert_eq!(limits.max_memory_bytes, 8 << 20);
        assert_eq!(limits.call_timeout, Duration::from_secs(2));
        assert_eq!(limits.max_fuel_per_call, 1000);
        assert_eq!(limits.max_envelope_bytes, 64 << 10);
        assert_eq!(limits.max_instances, 3);
        assert_eq!(limits.max_module_bytes, 1 << 20);
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let err = Config::load(Path::new("/nonexistent/waxo.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("/nonexistent/waxo.toml"), "{err}");
    }
}
