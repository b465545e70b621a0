//! Configuration: built-in defaults, then `config.toml`, then `LATCHKEY_*`
//! environment variables, then command-line flags, each overriding the last.
//!
//! Every struct denies unknown fields, so a typo in the file is an error that
//! names the key instead of a setting silently ignored.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration. `config.toml` in the repository documents every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to serve on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory holding the sled store: the server's whole state.
    pub data_dir: PathBuf,
    /// Bearer tokens.
    pub tokens: TokensConfig,
    /// Password policy and hashing.
    pub password: PasswordConfig,
    /// Request limits.
    pub limits: LimitsConfig,
    /// The embedded store.
    pub storage: StorageConfig,
    /// Connection handling and browser-facing behaviour.
    pub http: HttpConfig,
    /// Brute-force limits.
    pub throttle: ThrottleConfig,
    /// Log output.
    pub log: LogConfig,
    /// Account lifecycle: confirmation and single-use codes.
    pub accounts: AccountsConfig,
    /// How confirmation and reset codes reach users.
    pub delivery: DeliveryConfig,
    /// HTTPS: the certificate and key to serve with.
    pub tls: TlsConfig,
    /// Prometheus metrics at `/metrics`.
    pub metrics: MetricsConfig,
}

/// `[tls]`: both paths set serves HTTPS, both empty plain HTTP. Relative
/// paths resolve against the working directory, as `data_dir` does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key: PathBuf,
}

impl TlsConfig {
    /// The certificate and key paths when HTTPS is on; `None` for plain HTTP.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        let set = |p: &PathBuf| !p.as_os_str().is_empty();
        (set(&self.cert) && set(&self.key)).then_some((self.cert.as_path(), self.key.as_path()))
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether `GET /metrics` serves Prometheus metrics; off, it is a 404.
    pub enabled: bool,
    /// Empty: `/metrics` is served on the main listener. An address such as
    /// `127.0.0.1:9100`: a separate listener that serves only `/metrics`, and
    /// the main listener answers 404 there.
    pub listen: String,
}

impl MetricsConfig {
    /// The separate listener's address, if one is configured.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            ConfigError::Invalid(
                "metrics.listen must be empty or an address such as 127.0.0.1:9100".to_owned(),
            )
        })
    }

    /// Whether `/metrics` is served on the main listener.
    pub fn on_main_listener(&self) -> bool {
        self.enabled && self.listen.trim().is_empty()
    }
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A client must send its request headers within this time.
    pub header_read_timeout_ms: u64,
    /// A client must send its request body within this time.
    pub body_read_timeout_ms: u64,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Origins allowed to call the API from a browser; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// Whether 401s carry a Basic challenge (browsers show a login popup for it).
    pub basic_challenge: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_connections: 1024,
            cors_allowed_origins: Vec::new(),
            basic_challenge: true,
        }
    }
}

/// `[throttle]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed password checks on one name before lockouts start.
    pub account_failures: u32,
    /// The longest lockout; they double from 1 s up to this.
    pub account_max_lockout_seconds: u64,
    /// Names tracked at most; the least recently used is dropped first.
    pub max_tracked: usize,
    /// Password checks per client IP per minute, after the burst.
    pub ip_per_minute: u32,
    /// Password checks a client IP may make at once.
    pub ip_burst: u32,
    /// Registrations per client IP per minute, after the burst.
    pub register_per_minute: u32,
    /// Registrations a client IP may make at once.
    pub register_burst: u32,
    /// Requests for a reset or confirmation code per client IP per minute,
    /// after the burst; over it, the answer is the same and nothing is sent.
    pub code_per_minute: u32,
    /// Code requests a client IP may make at once.
    pub code_burst: u32,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_failures: 5,
            account_max_lockout_seconds: 900,
            max_tracked: 100_000,
            ip_per_minute: 60,
            ip_burst: 20,
            register_per_minute: 30,
            register_burst: 60,
            code_per_minute: 5,
            code_burst: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`. The level comes from `RUST_LOG` (default `info`).
    pub format: LogFormat,
    /// Whether every request gets an access log line.
    pub access: bool,
    /// Lines the log may hold while its writer is behind; past this, lines
    /// are dropped (and counted) instead of holding up requests.
    pub queue_lines: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            access: true,
            queue_lines: 8192,
        }
    }
}

/// `[accounts]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// New self-registered accounts must confirm before using most endpoints.
    pub require_confirmation: bool,
    /// How long a confirmation or password-reset code works.
    pub code_ttl_seconds: u64,
    /// Fewest seconds between two codes of one kind for one account; a
    /// request sooner is answered as usual and sends nothing. 0: no limit.
    pub code_min_interval_seconds: u64,
    /// Codes of one kind an account may hold at once; a newer code drops
    /// the oldest beyond this.
    pub max_live_codes: usize,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            require_confirmation: false,
            code_ttl_seconds: 3600,
            code_min_interval_seconds: 60,
            max_live_codes: 3,
        }
    }
}

/// How codes are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Write the code to the server log (local development).
    Log,
    /// POST it as JSON to `url`.
    Webhook,
}

/// `[delivery]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// `log` or `webhook`.
    pub mode: DeliveryMode,
    /// Where webhook mode POSTs; required in that mode.
    pub url: String,
    /// Attempts before a webhook delivery is given up (with backoff between).
    pub max_attempts: u32,
    /// Timeout of one webhook attempt.
    pub timeout_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            mode: DeliveryMode::Log,
            url: String::new(),
            max_attempts: 5,
            timeout_ms: 5000,
        }
    }
}

/// What `POST /api/tokens` issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// Opaque bearer tokens, checked against the store.
    Opaque,
    /// Signed access tokens (JWS, Ed25519) plus opaque refresh tokens.
    Jwt,
}

/// `[tokens]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// `opaque` or `jwt`; both kinds are accepted whatever this says.
    pub format: TokenFormat,
    /// How long an opaque token lives.
    pub ttl_seconds: u64,
    /// How often expired tokens are deleted from the store.
    pub sweep_interval_seconds: u64,
    /// How long a signed access token lives (jwt mode).
    pub access_ttl_seconds: u64,
    /// How long a refresh token lives (jwt mode).
    pub refresh_ttl_seconds: u64,
    /// The `iss` of signed tokens.
    pub issuer: String,
    /// The `aud` of signed tokens.
    pub audience: String,
}

/// `[password]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Fewest characters a new password may have.
    pub min_length: usize,
    /// Most characters a password may have; longer ones are refused, never truncated.
    pub max_length: usize,
    /// scrypt cost: log2 of N.
    pub scrypt_log_n: u8,
    /// scrypt block size.
    pub scrypt_r: u32,
    /// scrypt parallelism.
    pub scrypt_p: u32,
    /// Hashes that may run at once; 0 means one per CPU.
    pub max_concurrent_hashes: usize,
    /// How long a request may wait for a hashing slot before a 503.
    pub queue_timeout_ms: u64,
    /// How many nice steps below the server the hash threads run (0–19), so
    /// a login storm yields the CPU to token checks.
    pub hash_nice: u8,
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted.
    pub max_body_bytes: u64,
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// sled's page cache, in MiB.
    pub cache_capacity_mb: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            tokens: TokensConfig::default(),
            password: PasswordConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
            http: HttpConfig::default(),
            throttle: ThrottleConfig::default(),
            log: LogConfig::default(),
            accounts: AccountsConfig::default(),
            delivery: DeliveryConfig::default(),
            tls: TlsConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            format: TokenFormat::Opaque,
            ttl_seconds: 3600,
            sweep_interval_seconds: 60,
            access_ttl_seconds: 900,
            refresh_ttl_seconds: 2_592_000,
            issuer: "latchkey".into(),
            audience: "latchkey".into(),
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 1024,
            scrypt_log_n: 15,
            scrypt_r: 8,
            scrypt_p: 3,
            max_concurrent_hashes: 0,
            queue_timeout_ms: 10_000,
            hash_nice: 19,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 65_536,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            cache_capacity_mb: 64,
        }
    }
}

/// Where the configuration file comes from.
#[derive(Debug, Clone)]
pub enum ConfigFile {
    /// `./config.toml`, used if it exists.
    Default,
    /// A path the user named; it must exist.
    Named(PathBuf),
}

/// Settings given as command-line flags, the highest layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist or cannot be read.
    #[error("config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key is unknown, or a value has the wrong type.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers defaults, the file, `LATCHKEY_*` environment variables and
    /// flags, then checks the values make sense together.
    pub fn load(file: &ConfigFile, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            ConfigFile::Default => {
                figment = figment.merge(Toml::file(Path::new("config.toml")));
            }
            ConfigFile::Named(path) => {
                if let Err(source) = std::fs::metadata(path) {
                    return Err(ConfigError::File {
                        path: path.clone(),
                        source,
                    });
                }
                figment = figment.merge(Toml::file_exact(path));
            }
        }
        let config: Config = figment
            .merge(Env::prefixed("LATCHKEY_").split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError::Invalid(one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.password;
        let fail = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if p.min_length == 0 || p.min_length > p.max_length {
            return fail("password.min_length must be at least 1 and at most password.max_length");
        }
        if scrypt::Params::new(p.scrypt_log_n, p.scrypt_r, p.scrypt_p).is_err() {
            return fail(
                "password.scrypt_log_n, scrypt_r and scrypt_p are not valid scrypt parameters",
            );
        }
        if p.hash_nice > 19 {
            return fail("password.hash_nice must be between 0 and 19");
        }
        if self.tokens.ttl_seconds == 0 {
            return fail("tokens.ttl_seconds must be at least 1");
        }
        if self.tokens.access_ttl_seconds == 0 || self.tokens.refresh_ttl_seconds == 0 {
            return fail("tokens.access_ttl_seconds and refresh_ttl_seconds must be at least 1");
        }
        if self.tokens.sweep_interval_seconds == 0 {
            return fail("tokens.sweep_interval_seconds must be at least 1");
        }
        if self.log.queue_lines < 16 {
            return fail("log.queue_lines must be at least 16");
        }
        if self.limits.max_body_bytes == 0 {
            return fail("limits.max_body_bytes must be at least 1");
        }
        if self.http.max_connections == 0 {
            return fail("http.max_connections must be at least 1");
        }
        if self.http.header_read_timeout_ms == 0 || self.http.body_read_timeout_ms == 0 {
            return fail("http.header_read_timeout_ms and body_read_timeout_ms must be at least 1");
        }
        if self.accounts.code_ttl_seconds == 0 {
            return fail("accounts.code_ttl_seconds must be at least 1");
        }
        if self.accounts.max_live_codes == 0 {
            return fail("accounts.max_live_codes must be at least 1");
        }
        if self.delivery.mode == DeliveryMode::Webhook
            && !(self.delivery.url.starts_with("http://")
                || self.delivery.url.starts_with("https://"))
        {
            return fail("delivery.url must be an http:// or https:// URL in webhook mode");
        }
        if self.delivery.max_attempts == 0 {
            return fail("delivery.max_attempts must be at least 1");
        }
        match (
            self.tls.cert.as_os_str().is_empty(),
            self.tls.key.as_os_str().is_empty(),
        ) {
            (false, true) => {
                return fail("tls.key is missing: set both tls.cert and tls.key, or neither");
            }
            (true, false) => {
                return fail("tls.cert is missing: set both tls.cert and tls.key, or neither");
            }
            _ => {}
        }
        self.metrics.listen_addr()?;
        Ok(())
    }

    /// Whether the scrypt parameters fall below OWASP ASVS's table
    /// (r=8 with ln≥17 at p=1, ln≥16 at p=2, ln≥15 at p≥3).
    pub fn scrypt_is_weak(&self) -> bool {
        let p = &self.password;
        let min_log_n = match p.scrypt_p {
            0 | 1 => 17,
            2 => 16,
            _ => 15,
        };
        p.scrypt_r < 8 || p.scrypt_log_n < min_log_n
    }
}

/// figment's errors can span lines; the command line promises one.
fn one_line(e: &figment::Error) -> String {
    e.to_string().replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.tokens.ttl_seconds, 3600);
        assert_eq!(c.password.scrypt_log_n, 15);
        assert!(!c.scrypt_is_weak());
        c.validate().unwrap();
    }

    #[test]
    fn shipped_config_file_parses_to_the_defaults() {
        let shipped = include_str!("../config.toml");
        let parsed: Config = Figment::from(Toml::string(shipped)).extract().unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Figment::from(Toml::string("[tokens]\nttl_secs = 5\n"))
            .extract::<Config>()
            .unwrap_err();
        assert!(err.to_string().contains("ttl_secs"), "{err}");
    }

    #[test]
    fn tls_needs_both_files_or_neither() {
        let mut c = Config::default();
        assert_eq!(c.tls.files(), None);
        c.tls.cert = "cert.pem".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("tls.key is missing"), "{err}");
        c.tls = TlsConfig {
            key: "key.pem".into(),
            ..TlsConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("tls.cert is missing"), "{err}");
        c.tls.cert = "cert.pem".into();
        c.validate().unwrap();
        assert_eq!(
            c.tls.files(),
            Some((Path::new("cert.pem"), Path::new("key.pem")))
        );
    }

    #[test]
    fn metrics_listen_is_empty_or_an_address() {
        let mut c = Config::default();
        assert_eq!(c.metrics.listen_addr().unwrap(), None);
        c.metrics.listen = "127.0.0.1:9100".into();
        assert_eq!(
            c.metrics.listen_addr().unwrap(),
            Some(SocketAddr::from(([127, 0, 0, 1], 9100)))
        );
        c.metrics.listen = "localhost".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("metrics.listen"), "{err}");
    }

    #[test]
    fn weak_scrypt_parameters_are_flagged() {
        let mut c = Config::default();
        c.password.scrypt_log_n = 14;
        assert!(c.scrypt_is_weak());
        c.password.scrypt_log_n = 17;
        c.password.scrypt_p = 1;
        assert!(!c.scrypt_is_weak());
    }
}
