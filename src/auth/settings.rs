//! What the use cases are configured with: the `[tokens]`, `[password]`,
//! `[throttle]` and `[accounts]` sections, their defaults, and the checks
//! serde cannot express. The entry layer loads them; nothing here knows
//! where they came from.

use serde::{Deserialize, Serialize};

/// Everything [`super::Auth`] reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    /// Bearer tokens.
    pub tokens: Tokens,
    /// Password policy and hashing.
    pub password: Password,
    /// Brute-force limits.
    pub throttle: Throttle,
    /// Account lifecycle: confirmation and single-use codes.
    pub accounts: Accounts,
    /// How confirmation and reset codes reach users.
    pub delivery: crate::delivery::Settings,
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
pub struct Tokens {
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

impl Default for Tokens {
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

impl Tokens {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.ttl_seconds == 0 {
            return Err("tokens.ttl_seconds must be at least 1");
        }
        if self.access_ttl_seconds == 0 || self.refresh_ttl_seconds == 0 {
            return Err("tokens.access_ttl_seconds and refresh_ttl_seconds must be at least 1");
        }
        if self.sweep_interval_seconds == 0 {
            return Err("tokens.sweep_interval_seconds must be at least 1");
        }
        Ok(())
    }
}

/// `[password]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Password {
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

impl Default for Password {
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

impl Password {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_length == 0 || self.min_length > self.max_length {
            return Err("password.min_length must be at least 1 and at most password.max_length");
        }
        if scrypt::Params::new(self.scrypt_log_n, self.scrypt_r, self.scrypt_p).is_err() {
            return Err(
                "password.scrypt_log_n, scrypt_r and scrypt_p are not valid scrypt parameters",
            );
        }
        if self.hash_nice > 19 {
            return Err("password.hash_nice must be between 0 and 19");
        }
        Ok(())
    }

    /// Whether the scrypt parameters fall below OWASP ASVS's table
    /// (r=8 with ln≥17 at p=1, ln≥16 at p=2, ln≥15 at p≥3).
    pub fn scrypt_is_weak(&self) -> bool {
        let min_log_n = match self.scrypt_p {
            0 | 1 => 17,
            2 => 16,
            _ => 15,
        };
        self.scrypt_r < 8 || self.scrypt_log_n < min_log_n
    }
}

/// `[throttle]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttle {
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
    /// Deprecated: the old place of `[http] trusted_proxies`. Still accepted
    /// so that existing files load; the entry layer moves it to http at
    /// start-up, and nothing in auth reads it.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Throttle {
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

/// `[accounts]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
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

impl Default for Accounts {
    fn default() -> Self {
        Self {
            require_confirmation: false,
            code_ttl_seconds: 3600,
            code_min_interval_seconds: 60,
            max_live_codes: 3,
        }
    }
}

impl Accounts {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.code_ttl_seconds == 0 {
            return Err("accounts.code_ttl_seconds must be at least 1");
        }
        if self.max_live_codes == 0 {
            return Err("accounts.max_live_codes must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scrypt_parameters_are_not_weak() {
        Password::default().validate().unwrap();
        assert!(!Password::default().scrypt_is_weak());
    }

    #[test]
    fn weak_scrypt_parameters_are_flagged() {
        let mut p = Password {
            scrypt_log_n: 14,
            ..Password::default()
        };
        assert!(p.scrypt_is_weak());
        p.scrypt_log_n = 17;
        p.scrypt_p = 1;
        assert!(!p.scrypt_is_weak());
    }
}
