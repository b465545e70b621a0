//! Passwords: the policy a new one must meet, and scrypt on a bounded pool.
//!
//! scrypt is deliberately slow and memory-hard, so it never runs on the async
//! executor: each hash takes a slot from a semaphore sized by
//! `max_concurrent_hashes` and runs on one of as many hash threads of lower
//! priority (see `hash_pool`). A request that waits
//! for a slot longer than `queue_timeout_ms` is refused with `Busy` rather than
//! queueing without bound.

use super::AuthError;
use super::hash_pool::HashPool;
use crate::auth::settings;
use crate::model::Username;
use scrypt::password_hash::phc::PasswordHash;
use scrypt::password_hash::{CustomizedPasswordHasher, PasswordVerifier};
use scrypt::{Params, Scrypt};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

/// The bundled list of common passwords (see the file's header for its
/// source), built into a set on first use.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let list = include_str!("common-passwords.txt");
    let body = list.split_once("\n\n").map_or(list, |(_header, body)| body);
    body.lines().collect()
});

/// A password as the user typed it, NFC-normalized. Its `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// A password presented at login: normalized so that a precomposed and a
    /// decomposed spelling of one password match, but not policy-checked
    /// (the policy applies when a password is set, not when it is used).
    pub fn presented(raw: &str) -> Self {
        Self(raw.nfc().collect())
    }

    /// A new password for `username`, checked against the policy (NIST SP
    /// 800-63B: length, no control characters, not the username, not a
    /// common password; no composition rules). Normalized per RFC 8265's
    /// OpaqueString profile (NFC) before anything is counted or compared.
    pub fn new_checked(
        raw: &str,
        policy: &settings::Password,
        username: &Username,
    ) -> Result<Self, AuthError> {
        let password = Self::presented(raw);
        if password.has_control() {
            return Err(AuthError::InvalidRequest(
                "password must not contain control characters".into(),
            ));
        }
        let chars = password.0.chars().count();
        if chars < policy.min_length {
            return Err(AuthError::InvalidRequest(format!(
                "password must be at least {} characters",
                policy.min_length
            )));
        }
        if chars > policy.max_length {
            return Err(AuthError::InvalidRequest(format!(
                "password must be at most {} characters",
                policy.max_length
            )));
        }
        let folded = password.0.to_lowercase();
        if folded == username.key() {
            return Err(AuthError::InvalidRequest(
                "password must not be the username".into(),
            ));
        }
        if COMMON.contains(folded.as_str()) {
            return Err(AuthError::InvalidRequest(
                "password is one of the 10,000 most common passwords; choose another".into(),
            ));
        }
        Ok(password)
    }

    /// Whether it holds a control character, which no new password may.
    fn has_control(&self) -> bool {
        self.0.chars().any(char::is_control)
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no such user: the dummy hash never matches).
    No,
    /// Right password; `rehash` says the stored hash uses other parameters.
    Yes {
        /// The stored hash should be replaced with one at today's parameters.
        rehash: bool,
    },
}

/// The bounded scrypt pool.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    slots: Arc<Semaphore>,
    pool: HashPool,
    queue_timeout: Duration,
    /// A hash of a random password at the configured parameters. Unknown
    /// users are verified against it, so their login costs what a real one
    /// does and timing does not reveal which names exist.
    dummy: Arc<str>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// Builds the pool and its dummy hash. Computing the dummy hash costs one
    /// scrypt run, so this is async and runs it off the executor.
    pub async fn new(config: &settings::Password) -> Result<Self, AuthError> {
        let params = Params::new(config.scrypt_log_n, config.scrypt_r, config.scrypt_p)
            .map_err(|e| AuthError::Internal(format!("scrypt parameters: {e}")))?;
        let slots = match config.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        crate::metrics::hash_pool_size(slots);
        let pool = HashPool::start(slots, config.hash_nice)
            .map_err(|e| AuthError::Internal(format!("starting the hash threads: {e}")))?;
        let mut hasher = Self {
            params,
            slots: Arc::new(Semaphore::new(slots)),
            pool,
            queue_timeout: Duration::from_millis(config.queue_timeout_ms),
            dummy: Arc::from(""),
        };
        let random = super::secret::random_bytes::<32>()?;
        let dummy = hasher.hash(Password(base64_url(&random))).await?;
        hasher.dummy = Arc::from(dummy);
        Ok(hasher)
    }

    /// Hashes a new password into a PHC string at the configured parameters.
    pub async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let params = self.params;
        let salt = super::secret::random_bytes::<16>()?;
        self.run(move || {
            Scrypt::new_with_params(params)
                .hash_password_customized(password.bytes(), &salt, None, None, params)
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Internal(format!("scrypt hash: {e}")))
        })
        .await
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no such user, so both paths cost one scrypt run.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<Verified, AuthError> {
        // scrypt keys PBKDF2-HMAC-SHA256 with the password, and HMAC pads a
        // key shorter than its block with zero bytes: `pass` and `pass\0`
        // hash alike. No password set under the policy holds a control
        // character, so one that does is wrong as given; it is checked
        // against the dummy hash, costing what any other check costs.
        let real = stored.is_some() && !password.has_control();
        let stored = stored
            .filter(|_| real)
            .unwrap_or_else(|| self.dummy.to_string());
        let configured = self.params;
        self.run(move || {
            let Ok(hash) = PasswordHash::new(&stored) else {
                // A stored hash that does not parse is corruption, but the
                // caller must not learn anything from it: treat as mismatch.
                tracing::error!("stored password hash does not parse");
                return Ok(Verified::No);
            };
            let matches = Scrypt::default()
                .verify_password(password.bytes(), &hash)
                .is_ok();
            if !(matches && real) {
                return Ok(Verified::No);
            }
            let rehash = Params::try_from(&hash).map_or(true, |p| {
                (p.log_n(), p.r(), p.p()) != (configured.log_n(), configured.r(), configured.p())
            });
            Ok(Verified::Yes { rehash })
        })
        .await
    }

    /// Runs `work` on a hash thread once a slot is free, or gives up
    /// with `Busy` after the queue timeout.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        // Dropped however the wait ends, a cancelled request included.
        let queued = crate::metrics::hash_queued();
        let slot =
            tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
                .await
                .map_err(|_| AuthError::Busy)?
                .map_err(|_| AuthError::Internal("hash pool closed".into()))?;
        drop(queued);
        let in_use = crate::metrics::hash_in_use();
        self.pool
            .run(move || {
                let result = work();
                drop(slot);
                drop(in_use);
                result
            })
            .await
            .ok_or_else(|| AuthError::Internal("hash task failed".into()))?
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> settings::Password {
        settings::Password {
            scrypt_log_n: 4,
            scrypt_r: 8,
            scrypt_p: 1,
            max_concurrent_hashes: 1,
            ..settings::Password::default()
        }
    }

    #[tokio::test]
    async fn hash_verifies_and_wrong_password_does_not() {
        let hasher = Hasher::new(&cheap()).await.unwrap();
        let stored = hasher
            .hash(Password::presented("correct horse"))
            .await
            .unwrap();
        assert!(stored.starts_with("$scrypt$ln=4,r=8,p=1$"), "{stored}");
        let ok = hasher
            .verify(Password::presented("correct horse"), Some(stored.clone()))
            .await
            .unwrap();
        assert_eq!(ok, Verified::Yes { rehash: false });
        let bad = hasher
            .verify(Password::presented("wrong horse"), Some(stored))
            .await
            .unwrap();
        assert_eq!(bad, Verified::No);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = Hasher::new(&cheap()).await.unwrap();
        let v = hasher.verify(Password::presented(""), None).await.unwrap();
        assert_eq!(v, Verified::No);
    }

    #[tokio::test]
    async fn hash_at_other_parameters_asks_for_rehash() {
        let old = Hasher::new(&cheap()).await.unwrap();
        let stored = old.hash(Password::presented("pass word")).await.unwrap();
        let new = Hasher::new(&settings::Password {
            scrypt_log_n: 5,
            ..cheap()
        })
        .await
        .unwrap();
        let v = new
            .verify(Password::presented("pass word"), Some(stored))
            .await
            .unwrap();
        assert_eq!(v, Verified::Yes { rehash: true });
    }

    #[tokio::test]
    async fn a_password_with_trailing_nuls_does_not_verify_against_the_one_without() {
        let hasher = Hasher::new(&cheap()).await.unwrap();
        let stored = hasher.hash(Password::presented("pass word")).await.unwrap();
        for presented in ["pass word\0", "pass word\0\0", "pass word\u{1}"] {
            let v = hasher
                .verify(Password::presented(presented), Some(stored.clone()))
                .await
                .unwrap();
            assert_eq!(v, Verified::No, "{presented:?}");
        }
    }

    #[test]
    fn decomposed_and_precomposed_passwords_are_equal() {
        assert_eq!(
            Password::presented("cafe\u{301}").bytes(),
            Password::presented("caf\u{e9}").bytes()
        );
    }

    fn alice() -> Username {
        Username::parse("Alice").unwrap()
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        let policy = settings::Password::default();
        assert!(Password::new_checked("ééééééé", &policy, &alice()).is_err());
        assert!(Password::new_checked("éééééééé", &policy, &alice()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_ignoring_case() {
        let policy = settings::Password::default();
        assert_eq!(COMMON.len(), 10_000);
        for common in ["password", "PassWord1", "12345678", "qwertyuiop"] {
            assert!(
                Password::new_checked(common, &policy, &alice()).is_err(),
                "{common}"
            );
        }
    }

    #[test]
    fn username_and_control_characters_are_refused_but_spaces_and_emoji_are_not() {
        let policy = settings::Password::default();
        let bob = Username::parse("bobbybobby").unwrap();
        assert!(Password::new_checked("BobbyBobby", &policy, &bob).is_err());
        assert!(Password::new_checked("tab\there ok", &policy, &bob).is_err());
        assert!(Password::new_checked("correct horse 🐎 電池", &policy, &bob).is_ok());
    }
}
