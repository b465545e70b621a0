//! What the HTTP edge is configured with: the `[http]`, `[limits]` and
//! `[metrics]` sections, their defaults, and the checks serde cannot
//! express. The entry layer loads them; nothing here knows where they came
//! from.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Everything the routes and the accept loop read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    /// Connection handling and browser-facing behaviour.
    pub http: Http,
    /// Request limits.
    pub limits: Limits,
    /// Prometheus metrics at `/metrics`.
    pub metrics: Metrics,
    /// Whether the main listener serves HTTPS, so that answers tell
    /// browsers to keep to it (HSTS).
    pub https: bool,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
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
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_connections: 1024,
            cors_allowed_origins: Vec::new(),
            basic_challenge: true,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Http {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_connections == 0 {
            return Err("http.max_connections must be at least 1");
        }
        if self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return Err("http.header_read_timeout_ms and body_read_timeout_ms must be at least 1");
        }
        Ok(())
    }
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 65_536,
        }
    }
}

impl Limits {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_body_bytes == 0 {
            return Err("limits.max_body_bytes must be at least 1");
        }
        Ok(())
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Whether `GET /metrics` serves Prometheus metrics; off, it is a 404.
    pub enabled: bool,
    /// Empty: `/metrics` is served on the main listener. An address such as
    /// `127.0.0.1:9100`: a separate listener that serves only `/metrics`, and
    /// the main listener answers 404 there.
    pub listen: String,
}

impl Metrics {
    /// The separate listener's address, if one is configured.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, &'static str> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen
            .parse()
            .map(Some)
            .map_err(|_| "metrics.listen must be empty or an address such as 127.0.0.1:9100")
    }

    /// Whether `/metrics` is served on the main listener.
    pub fn on_main_listener(&self) -> bool {
        self.enabled && self.listen.trim().is_empty()
    }

    /// Checks what serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.listen_addr().map(drop)
    }
}
