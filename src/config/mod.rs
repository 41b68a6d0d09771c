//! The service configuration: defaults from `config/default.toml` (compiled in), an optional TOML
//! file on top, environment variables over both. Validated once at start-up; every error names the
//! key and the environment variable that sets it.

mod env;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

pub use crate::notifications::OutboxConfig;

pub use env::EnvVars;

/// The defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// A configuration value that stops start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: `{key}` (environment variable {var}): {message}")]
pub struct ConfigError {
    /// The key as written in config/default.toml, e.g. `netease.app_key`.
    pub key: String,
    /// The environment variable that sets it, e.g. `IMBRIDGE_NETEASE_APP_KEY`.
    pub var: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        let path: Vec<&str> = key.split('.').collect();
        Self { key: key.to_owned(), var: env::var_name(&path), message: message.into() }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Bearer keys accepted on /v1; empty = no authentication (loopback only).
    pub api_keys: Vec<SecretString>,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    /// `None` = the embedded message store.
    pub mongodb_uri: Option<SecretString>,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// The provider this deployment talks to.
    pub provider: ProviderKind,
    pub netease: NeteaseSettings,
    pub tencent: TencentSettings,
    pub sandbox: SandboxConfig,
    pub callbacks: CallbackConfig,
    pub outbox: OutboxConfig,
    pub storage: StorageConfig,
    pub export: ExportConfig,
    pub backfill: crate::backfill::BackfillConfig,
    /// Which role pairs may be friends.
    pub chat_policy: crate::accounts::ChatPolicy,
    pub routing: RoutingConfig,
    pub console: ConsoleConfig,
}

/// The operator console (`/console`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    pub enabled: bool,
    pub session_ttl_secs: u64,
    pub secure_cookie: bool,
}

impl ConsoleConfig {
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }
}

/// Customer-service routing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    pub sweep_interval_ms: u64,
    pub retry_after_secs: u64,
    pub max_agents: usize,
}

impl RoutingConfig {
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
    }
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_secs)
    }
}

/// `GET /v1/messages/export`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// The longest range one export may cover, in days.
    pub max_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// How to reach NetEase. `base_url: None` means sandbox mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeteaseSettings {
    #[serde(deserialize_with = "empty_as_none")]
    pub base_url: Option<String>,
    pub app_key: String,
    pub app_secret: SecretString,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub rate_per_second: u32,
    pub rate_batch_per_minute: u32,
}

impl NeteaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn is_sandbox(&self) -> bool {
        self.base_url.is_none()
    }
}

/// Which IM provider: one per deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Netease,
    Tencent,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Netease => "netease",
            ProviderKind::Tencent => "tencent",
        }
    }
}

/// How to reach Tencent Cloud IM. `base_url: None` means sandbox mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentSettings {
    #[serde(deserialize_with = "empty_as_none")]
    pub base_url: Option<String>,
    pub sdkappid: u64,
    pub secret_key: SecretString,
    pub admin: String,
    pub callback_token: SecretString,
    pub usersig_ttl_secs: u64,
    pub connect_timeout_secs: u64,
    pub request_timeout_secs: u64,
    pub rate_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    pub app_key: String,
    pub app_secret: SecretString,
    /// Relative to `data_dir` unless absolute.
    pub state_file: PathBuf,
    pub tencent_sdkappid: u64,
    pub tencent_secret_key: SecretString,
    pub tencent_callback_token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackConfig {
    pub path: String,
    pub window_secs: u64,
    pub body_limit_bytes: usize,
    pub raw_retention_days: u32,
    /// Whether a message NetEase flagged as spam (`antispam: "true"`) counts as unread.
    pub antispam_counts_as_unread: bool,
    /// Group commit (one bulk write for every callback waiting at that moment) or one write per
    /// request (kept as a switch so the benchmark can measure the difference).
    pub group_commit: bool,
    pub batch_max: usize,
    pub batch_wait_us: u64,
    pub queue_capacity: usize,
    pub enqueue_timeout_ms: u64,
    pub batches_in_flight: usize,
}

impl CallbackConfig {
    pub fn ingest_mode(&self) -> crate::callbacks::IngestMode {
        use crate::callbacks::{batcher::BatchOptions, IngestMode};
        if !self.group_commit {
            return IngestMode::PerRequest;
        }
        IngestMode::GroupCommit(BatchOptions {
            max_batch: self.batch_max.max(1),
            max_wait: Duration::from_micros(self.batch_wait_us),
            queue_capacity: self.queue_capacity.max(1),
            enqueue_timeout: Duration::from_millis(self.enqueue_timeout_ms),
            in_flight: self.batches_in_flight.max(1),
        })
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
    pub fn raw_retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.raw_retention_days) * 24 * 3600)
    }
}

/// How long a request waits on a database that is down or locked before it is answered 503
/// (MongoDB's equivalents are options of `mongodb_uri`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub sql_acquire_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
}

impl StorageConfig {
    pub fn sql_acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.sql_acquire_timeout_ms)
    }
    pub fn sqlite_busy_timeout(&self) -> Duration {
        Duration::from_millis(self.sqlite_busy_timeout_ms)
    }
}

/// The top level as written; turned into [`Config`] by [`RawConfig::validate`].
/// Not `deny_unknown_fields`: unrelated `IMBRIDGE_*` variables (e.g. the tests'
/// `IMBRIDGE_TEST_MYSQL_URL`) land here as unknown top-level keys. Sections do deny unknown keys,
/// so a misspelt `IMBRIDGE_NETEASE_APPKEY` stops start-up instead of being ignored.
#[derive(Deserialize)]
struct RawConfig {
    listen: String,
    api_keys: SecretString,
    data_dir: PathBuf,
    database_url: SecretString,
    mongodb_uri: SecretString,
    http: HttpConfig,
    log: LogConfig,
    provider: ProviderKind,
    netease: NeteaseSettings,
    tencent: TencentSettings,
    sandbox: SandboxConfig,
    callbacks: CallbackConfig,
    outbox: OutboxConfig,
    storage: StorageConfig,
    export: ExportConfig,
    backfill: crate::backfill::BackfillConfig,
    chat_policy: String,
    routing: RoutingConfig,
    console: ConsoleConfig,
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// The shortest API key accepted: a bearer key is a password that never has to be typed.
pub const MIN_API_KEY_LEN: usize = 16;

impl Config {
    /// Defaults, then `file` (if any), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, EnvVars::from_process())
    }

    /// Defaults, then `file` (if any), then `env`. Tests pass their own variables here.
    pub fn from_sources(file: Option<&Path>, env: EnvVars) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError {
                    key: "--config".into(),
                    var: "-".into(),
                    message: format!("{} is not a readable file", file.display()),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        let raw: RawConfig = figment.merge(env).extract_lossy().map_err(from_figment)?;
        raw.validate()
    }

    /// The compiled-in defaults (a valid configuration: sandbox mode on 127.0.0.1:8080).
    pub fn defaults() -> Self {
        Self::from_sources(None, EnvVars::new([])).expect("config/default.toml is valid")
    }

    /// Where the sandbox NetEase simulator keeps its state (the Tencent simulator keeps it in memory).
    pub fn sandbox_state_path(&self) -> PathBuf {
        self.data_dir.join(&self.sandbox.state_file)
    }

    /// Whether the configured provider is simulated in-process (no base URL set for it).
    pub fn is_sandbox(&self) -> bool {
        match self.provider {
            ProviderKind::Netease => self.netease.base_url.is_none(),
            ProviderKind::Tencent => self.tencent.base_url.is_none(),
        }
    }

    /// Whether the server may listen on `addr` with this configuration: without API keys, only on
    /// loopback (an unauthenticated API that creates accounts must not be reachable from outside).
    pub fn check_listen_addr(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if self.api_keys.is_empty() && !addr.ip().is_loopback() {
            return Err(ConfigError::new(
                "api_keys",
                format!("refusing to listen on {addr} without API keys; set api_keys or listen on a loopback address"),
            ));
        }
        Ok(())
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self.listen.trim().parse().map_err(|_| {
            ConfigError::new("listen", format!("`{}` is not a socket address like 127.0.0.1:8080", self.listen))
        })?;

        let api_keys = parse_api_keys(self.api_keys.expose_secret())?;

        let database_url = self.database_url.expose_secret().trim();
        if !["sqlite:", "mysql:", "mariadb:"].iter().any(|s| database_url.starts_with(s)) {
            return Err(ConfigError::new("database_url", "expected a sqlite://, mysql:// or mariadb:// URL"));
        }
        let database_url = SecretString::from(database_url.to_owned());

        let mongodb_uri = match self.mongodb_uri.expose_secret().trim() {
            "" => None,
            uri if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") => {
                Some(SecretString::from(uri.to_owned()))
            }
            _ => return Err(ConfigError::new("mongodb_uri", "expected a mongodb:// or mongodb+srv:// URI")),
        };

        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("data_dir", "must not be empty"));
        }

        positive("http.request_timeout_secs", self.http.request_timeout_secs)?;
        positive("http.body_limit_bytes", self.http.body_limit_bytes as u64)?;
        if self.log.filter.parse::<tracing_subscriber::EnvFilter>().is_err() {
            return Err(ConfigError::new("log.filter", format!("`{}` is not a tracing filter", self.log.filter)));
        }

        let mut netease = self.netease;
        netease.app_key = netease.app_key.trim().to_owned();
        if let Some(url) = &netease.base_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(ConfigError::new("netease.base_url", format!("`{url}` is not an http(s) URL"))),
            }
            if netease.app_key.is_empty() {
                return Err(ConfigError::new("netease.app_key", "required when netease.base_url is set"));
            }
            if netease.app_secret.expose_secret().trim().is_empty() {
                return Err(ConfigError::new("netease.app_secret", "required when netease.base_url is set"));
            }
        }
        positive("netease.connect_timeout_secs", netease.connect_timeout_secs)?;
        positive("netease.request_timeout_secs", netease.request_timeout_secs)?;
        positive("netease.rate_per_second", netease.rate_per_second.into())?;
        positive("netease.rate_batch_per_minute", netease.rate_batch_per_minute.into())?;

        if self.sandbox.app_key.trim().is_empty() {
            return Err(ConfigError::new("sandbox.app_key", "must not be empty"));
        }
        if self.sandbox.app_secret.expose_secret().trim().is_empty() {
            return Err(ConfigError::new("sandbox.app_secret", "must not be empty"));
        }

        let mut tencent = self.tencent;
        tencent.admin = tencent.admin.trim().to_owned();
        if let Some(url) = &tencent.base_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(ConfigError::new("tencent.base_url", format!("`{url}` is not an http(s) URL"))),
            }
            if tencent.sdkappid == 0 {
                return Err(ConfigError::new("tencent.sdkappid", "required when tencent.base_url is set"));
            }
            for (key, value) in
                [("tencent.secret_key", &tencent.secret_key), ("tencent.callback_token", &tencent.callback_token)]
            {
                if value.expose_secret().trim().is_empty() {
                    return Err(ConfigError::new(key, "required when tencent.base_url is set"));
                }
            }
        }
        if tencent.admin.is_empty() {
            return Err(ConfigError::new("tencent.admin", "must not be empty"));
        }
        positive("tencent.usersig_ttl_secs", tencent.usersig_ttl_secs)?;
        positive("tencent.connect_timeout_secs", tencent.connect_timeout_secs)?;
        positive("tencent.request_timeout_secs", tencent.request_timeout_secs)?;
        positive("tencent.rate_per_second", tencent.rate_per_second.into())?;

        let mut callbacks = self.callbacks;
        if callbacks.path.trim().is_empty() {
            callbacks.path = format!("/callbacks/{}", self.provider.as_str());
        }
        let path = &callbacks.path;
        if !path.starts_with('/') || path.starts_with("/v1/") || path == "/v1" || path.contains(char::is_whitespace) {
            return Err(ConfigError::new("callbacks.path", format!("`{path}` must be an absolute path outside /v1")));
        }
        positive("callbacks.window_secs", callbacks.window_secs)?;
        positive("callbacks.body_limit_bytes", callbacks.body_limit_bytes as u64)?;
        positive("storage.sql_acquire_timeout_ms", self.storage.sql_acquire_timeout_ms)?;
        positive("export.max_days", u64::from(self.export.max_days))?;

        // The notifications feature owns its section's rules; its messages start with the key.
        self.outbox.validate().map_err(|message| {
            let key = message.split_whitespace().next().unwrap_or("outbox").to_owned();
            ConfigError::new(&key, message)
        })?;
        self.backfill.validate().map_err(|message| {
            let key = message.split_whitespace().next().unwrap_or("backfill").to_owned();
            ConfigError::new(&key, message)
        })?;

        let chat_policy =
            crate::accounts::ChatPolicy::parse(&self.chat_policy).map_err(|m| ConfigError::new("chat_policy", m))?;
        positive("routing.sweep_interval_ms", self.routing.sweep_interval_ms)?;
        positive("routing.retry_after_secs", self.routing.retry_after_secs)?;
        positive("routing.max_agents", self.routing.max_agents as u64)?;
        positive("console.session_ttl_secs", self.console.session_ttl_secs)?;
        if self.console.enabled && api_keys.is_empty() {
            // Operators log in with an API key: without one the console would be open to anyone.
            return Err(ConfigError::new("console.enabled", "the console needs api_keys (operators log in with one)"));
        }

        Ok(Config {
            listen,
            api_keys,
            data_dir: self.data_dir,
            database_url,
            mongodb_uri,
            http: self.http,
            log: self.log,
            provider: self.provider,
            netease,
            tencent,
            sandbox: self.sandbox,
            callbacks,
            outbox: self.outbox,
            storage: self.storage,
            export: self.export,
            backfill: self.backfill,
            chat_policy,
            routing: self.routing,
            console: self.console,
        })
    }
}

fn parse_api_keys(list: &str) -> Result<Vec<SecretString>, ConfigError> {
    let mut keys = Vec::new();
    for (i, key) in list.split(',').map(str::trim).filter(|k| !k.is_empty()).enumerate() {
        if key.chars().count() < MIN_API_KEY_LEN {
            return Err(ConfigError::new(
                "api_keys",
                format!("key #{} is shorter than {MIN_API_KEY_LEN} characters", i + 1),
            ));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new("api_keys", format!("key #{} contains whitespace", i + 1)));
        }
        keys.push(SecretString::from(key.to_owned()));
    }
    Ok(keys)
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(key, "must be greater than 0"));
    }
    Ok(())
}

/// figment's error, re-phrased to name the key and its variable. figment reports the key path of
/// the value that failed; a missing or unknown key is reported on its parent plus the key's name.
fn from_figment(err: figment::Error) -> ConfigError {
    use figment::error::Kind;
    // figment reports an unknown key with its own name as the last path element, a missing one
    // on its parent.
    let mut path = err.path.clone();
    if let Kind::MissingField(field) = &err.kind {
        path.push(field.to_string());
    }
    let key = if path.is_empty() { "(top level)".to_owned() } else { path.join(".") };
    let message = match &err.kind {
        Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
        kind => kind.to_string(),
    };
    ConfigError { var: env::var_name(&path), key, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(None, EnvVars::new(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))))
    }

    #[test]
    fn defaults_are_valid_and_in_sandbox_mode() {
        let config = Config::defaults();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert!(config.api_keys.is_empty());
        assert!(config.netease.is_sandbox());
        assert!(config.mongodb_uri.is_none());
        assert_eq!(config.database_url.expose_secret(), "sqlite://data/imbridge.db");
        assert_eq!(config.callbacks.path, "/callbacks/netease");
        assert_eq!(config.provider, ProviderKind::Netease);
    }

    #[test]
    fn tencent_is_chosen_by_configuration_and_needs_its_keys() {
        let sandbox = with(&[("IMBRIDGE_PROVIDER", "tencent")]).unwrap();
        assert_eq!(sandbox.provider, ProviderKind::Tencent);
        assert!(sandbox.is_sandbox());
        assert_eq!(sandbox.callbacks.path, "/callbacks/tencent");
        let err =
            with(&[("IMBRIDGE_PROVIDER", "tencent"), ("IMBRIDGE_TENCENT_BASE_URL", "https://console.tim.qq.com")])
                .unwrap_err();
        assert_eq!(err.var, "IMBRIDGE_TENCENT_SDKAPPID");
        let err = with(&[
            ("IMBRIDGE_PROVIDER", "tencent"),
            ("IMBRIDGE_TENCENT_BASE_URL", "https://console.tim.qq.com"),
            ("IMBRIDGE_TENCENT_SDKAPPID", "1400000001"),
            ("IMBRIDGE_TENCENT_SECRET_KEY", "k"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "IMBRIDGE_TENCENT_CALLBACK_TOKEN");
        assert_eq!(with(&[("IMBRIDGE_PROVIDER", "wechat")]).unwrap_err().var, "IMBRIDGE_PROVIDER");
    }

    #[test]
    fn environment_overrides_defaults() {
        let config = with(&[
            ("IMBRIDGE_LISTEN", "127.0.0.1:9999"),
            ("IMBRIDGE_API_KEYS", "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb"),
            ("IMBRIDGE_NETEASE_BASE_URL", "https://api.netease.im/nimserver"),
            ("IMBRIDGE_NETEASE_APP_KEY", "key"),
            ("IMBRIDGE_NETEASE_APP_SECRET", "123456"),
            ("IMBRIDGE_NETEASE_REQUEST_TIMEOUT_SECS", "7"),
            ("IMBRIDGE_LOG_FORMAT", "json"),
            ("IMBRIDGE_MONGODB_URI", "mongodb://127.0.0.1:27017/x"),
            ("IMBRIDGE_TEST_MYSQL_URL", "mysql://ignored"),
            ("IMBRIDGE_STORAGE_SQL_ACQUIRE_TIMEOUT_MS", "1500"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.api_keys.len(), 2);
        assert_eq!(config.netease.base_url.as_deref(), Some("https://api.netease.im/nimserver"));
        assert_eq!(config.netease.app_secret.expose_secret(), "123456", "digits stay a string");
        assert_eq!(config.netease.request_timeout(), Duration::from_secs(7));
        assert_eq!(config.log.format, LogFormat::Json);
        assert!(config.mongodb_uri.is_some());
        assert_eq!(config.storage.sql_acquire_timeout(), Duration::from_millis(1500));
    }

    #[test]
    fn empty_values_mean_unset() {
        let config = with(&[("IMBRIDGE_NETEASE_BASE_URL", ""), ("IMBRIDGE_MONGODB_URI", " ")]).unwrap();
        assert!(config.netease.is_sandbox());
        assert!(config.mongodb_uri.is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("IMBRIDGE_LISTEN", "nowhere")], "IMBRIDGE_LISTEN"),
            (&[("IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS", "soon")], "IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS"),
            (&[("IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS", "0")], "IMBRIDGE_HTTP_REQUEST_TIMEOUT_SECS"),
            (&[("IMBRIDGE_LOG_FORMAT", "xml")], "IMBRIDGE_LOG_FORMAT"),
            (&[("IMBRIDGE_NETEASE_APPKEY", "x")], "IMBRIDGE_NETEASE_APPKEY"),
            (&[("IMBRIDGE_NETEASE_BASE_URL", "ftp://x")], "IMBRIDGE_NETEASE_BASE_URL"),
            (&[("IMBRIDGE_NETEASE_BASE_URL", "https://x.example/nimserver")], "IMBRIDGE_NETEASE_APP_KEY"),
            (
                &[("IMBRIDGE_NETEASE_BASE_URL", "https://x.example/nimserver"), ("IMBRIDGE_NETEASE_APP_KEY", "k")],
                "IMBRIDGE_NETEASE_APP_SECRET",
            ),
            (&[("IMBRIDGE_API_KEYS", "short")], "IMBRIDGE_API_KEYS"),
            (&[("IMBRIDGE_DATABASE_URL", "postgres://x")], "IMBRIDGE_DATABASE_URL"),
            (&[("IMBRIDGE_MONGODB_URI", "http://x")], "IMBRIDGE_MONGODB_URI"),
            (&[("IMBRIDGE_CALLBACKS_PATH", "/v1/callbacks")], "IMBRIDGE_CALLBACKS_PATH"),
            (&[("IMBRIDGE_STORAGE_SQL_ACQUIRE_TIMEOUT_MS", "0")], "IMBRIDGE_STORAGE_SQL_ACQUIRE_TIMEOUT_MS"),
            (&[("IMBRIDGE_CHAT_POLICY", "buyer-admin")], "IMBRIDGE_CHAT_POLICY"),
            (&[("IMBRIDGE_ROUTING_SWEEP_INTERVAL_MS", "0")], "IMBRIDGE_ROUTING_SWEEP_INTERVAL_MS"),
            (&[("IMBRIDGE_CONSOLE_ENABLED", "true")], "IMBRIDGE_CONSOLE_ENABLED"),
            (&[("IMBRIDGE_CONSOLE_SESSION_TTL_SECS", "0")], "IMBRIDGE_CONSOLE_SESSION_TTL_SECS"),
        ];
        for (vars, var) in cases {
            let err = with(vars).expect_err(var);
            assert_eq!(&err.var, var, "{err}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let config = with(&[
            ("IMBRIDGE_API_KEYS", "key-1234567890-abcdef"),
            ("IMBRIDGE_NETEASE_APP_SECRET", "very-secret-app-secret"),
            ("IMBRIDGE_DATABASE_URL", "mysql://u:db-password@127.0.0.1/x"),
        ])
        .unwrap();
        let shown = format!("{config:?}");
        for secret in ["key-1234567890-abcdef", "very-secret-app-secret", "db-password"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        let err = with(&[("IMBRIDGE_API_KEYS", "key-1234567890-abcdef,tiny")]).unwrap_err();
        assert!(!err.to_string().contains("key-1234567890"), "{err}");
    }

    #[test]
    fn non_loopback_listen_needs_api_keys() {
        let open = Config::defaults();
        assert!(open.check_listen_addr("127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(open.check_listen_addr("[::1]:1".parse().unwrap()).is_ok());
        let err = open.check_listen_addr("0.0.0.0:8080".parse().unwrap()).unwrap_err();
        assert_eq!(err.var, "IMBRIDGE_API_KEYS");
        let keyed = with(&[("IMBRIDGE_API_KEYS", "aaaaaaaaaaaaaaaa")]).unwrap();
        assert!(keyed.check_listen_addr("0.0.0.0:8080".parse().unwrap()).is_ok());
    }
}
