//! Configuration, the entry layer's: the file's shape, put together from
//! the sections each layer owns (`auth::settings`, `http::settings`, `tls`,
//! `logging`, `delivery`), and each layer's part handed out. Each section's
//! type keeps its defaults and its checks beside it; `load` reads defaults,
//! the file, the environment and the flags.
//!
//! Every struct denies unknown fields, so a typo in the file is an error that
//! names the key instead of a setting silently ignored.

mod load;

pub use load::{ConfigError, ConfigFile, Overrides};

use crate::{auth, delivery, http, logging, tls};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

// The names callers (tests, tools) know two of the file's values by.
pub use crate::auth::settings::TokenFormat;
pub use crate::delivery::Mode as DeliveryMode;

/// The whole configuration. `config.toml` in the repository documents every key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to serve on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory holding the sled store: the server's whole state.
    pub data_dir: PathBuf,
    /// Bearer tokens.
    pub tokens: auth::settings::Tokens,
    /// Password policy and hashing.
    pub password: auth::settings::Password,
    /// Request limits.
    pub limits: http::settings::Limits,
    /// The embedded store.
    pub storage: crate::store::Settings,
    /// Connection handling and browser-facing behaviour.
    pub http: http::settings::Http,
    /// Brute-force limits.
    pub throttle: auth::settings::Throttle,
    /// Log output.
    pub log: logging::Settings,
    /// Account lifecycle: confirmation and single-use codes.
    pub accounts: auth::settings::Accounts,
    /// How confirmation and reset codes reach users.
    pub delivery: delivery::Settings,
    /// HTTPS: the certificate and key to serve with.
    pub tls: tls::Settings,
    /// Prometheus metrics at `/metrics`.
    pub metrics: http::settings::Metrics,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            tokens: Default::default(),
            password: Default::default(),
            limits: Default::default(),
            storage: Default::default(),
            http: Default::default(),
            throttle: Default::default(),
            log: Default::default(),
            accounts: Default::default(),
            delivery: Default::default(),
            tls: Default::default(),
            metrics: Default::default(),
        }
    }
}

impl Config {
    /// Checks each section, then that the sections agree.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let sections = [
            self.password.validate(),
            self.tokens.validate(),
            self.log.validate(),
            self.limits.validate(),
            self.http.validate(),
            self.accounts.validate(),
            self.delivery.validate(),
            self.tls.validate(),
            self.metrics.validate(),
        ];
        if let Some(message) = sections.into_iter().find_map(Result::err) {
            return Err(ConfigError::Invalid(message.to_owned()));
        }
        self.trusted_proxies()?;
        Ok(())
    }

    /// What the use cases are configured with.
    pub fn auth_settings(&self) -> auth::Settings {
        auth::Settings {
            tokens: self.tokens.clone(),
            password: self.password.clone(),
            throttle: self.throttle.clone(),
            accounts: self.accounts.clone(),
            delivery: self.delivery.clone(),
        }
    }

    /// What the HTTP edge is configured with, `trusted_proxies` taken from
    /// wherever it was set.
    pub fn http_settings(&self) -> Result<http::Settings, ConfigError> {
        let mut http = self.http.clone();
        http.trusted_proxies = self.trusted_proxies()?.to_vec();
        Ok(http::Settings {
            http,
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
            https: self.tls.files().is_some(),
        })
    }

    /// `[http] trusted_proxies`, or the same list at its old place,
    /// `[throttle] trusted_proxies`. An empty list counts as unset, since
    /// that is the default. Two different lists are an error: either could
    /// be the one the operator meant, and guessing wrong lets clients
    /// choose their own address.
    fn trusted_proxies(&self) -> Result<&[IpNet], ConfigError> {
        let (new, old) = (&self.http.trusted_proxies, &self.throttle.trusted_proxies);
        if old.is_empty() {
            return Ok(new);
        }
        let sorted = |list: &[IpNet]| {
            let mut list = list.to_vec();
            list.sort_unstable();
            list.dedup();
            list
        };
        if new.is_empty() || sorted(new) == sorted(old) {
            return Ok(old);
        }
        Err(ConfigError::Invalid(
            "http.trusted_proxies and throttle.trusted_proxies (its deprecated old place) \
             are both set, to different lists; keep only http.trusted_proxies"
                .to_owned(),
        ))
    }

    /// Logs a warning for each deprecated key in use. Separate from `load`,
    /// which runs before the log is set up.
    pub fn warn_deprecated(&self) {
        if !self.throttle.trusted_proxies.is_empty() {
            tracing::warn!(
                "config key throttle.trusted_proxies is deprecated: move it to http.trusted_proxies ([http] in the file, LATCHKEY_HTTP__TRUSTED_PROXIES in the environment)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Toml};
    use std::path::Path;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.tokens.ttl_seconds, 3600);
        assert_eq!(c.password.scrypt_log_n, 15);
        assert!(!c.password.scrypt_is_weak());
        c.validate().unwrap();
    }

    #[test]
    fn shipped_config_file_parses_to_the_defaults() {
        let shipped = include_str!("../../config.toml");
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
        c.tls = tls::Settings {
            key: "key.pem".into(),
            ..tls::Settings::default()
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

    fn parse(toml: &str) -> Config {
        Figment::from(Toml::string(toml)).extract().unwrap()
    }

    fn trusted(config: &Config) -> Vec<String> {
        let settings = config.http_settings().unwrap();
        settings
            .http
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn trusted_proxies_are_read_from_the_http_section() {
        let c = parse("[http]\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
        c.validate().unwrap();
        assert_eq!(trusted(&c), ["10.0.0.0/8"]);
    }

    #[test]
    fn trusted_proxies_in_the_throttle_section_still_reach_http() {
        let c = parse("[throttle]\ntrusted_proxies = [\"10.0.0.0/8\"]\n");
        c.validate().unwrap();
        assert_eq!(trusted(&c), ["10.0.0.0/8"]);
    }

    #[test]
    fn the_same_trusted_proxies_in_both_sections_are_accepted() {
        let c = parse(
            "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1/32\"]\n\
             [throttle]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n",
        );
        c.validate().unwrap();
        assert_eq!(trusted(&c).len(), 2);
    }

    #[test]
    fn different_trusted_proxies_in_both_sections_are_an_error_naming_both() {
        let c = parse(
            "[http]\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             [throttle]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        );
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("http.trusted_proxies"), "{err}");
        assert!(err.contains("throttle.trusted_proxies"), "{err}");
        assert!(c.http_settings().is_err());
    }
}
