//! Signed access tokens: JWS compact, Ed25519 (`alg: EdDSA`), via jwt-simple.
//!
//! The keys live in the store and are made on first start. The newest key
//! signs; a key replaced by `latchkey keys rotate` keeps verifying (and stays
//! in the JWKS) until every token it signed has expired. Verification accepts
//! only EdDSA with a known `kid` (so `alg: none`, HS* and algorithm confusion
//! fail), and checks `exp`, `nbf`, `iss` and `aud` with 60 s of clock skew,
//! and that `exp - iat` is at most `tokens.access_ttl_seconds` plus that skew.

use super::{AuthError, now};
use crate::auth::settings;
use crate::model::{SigningKey, TokenId, UnixTime, User};
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{
    Claims, Duration, Ed25519KeyPair, EdDSAKeyPairLike, EdDSAPublicKeyLike, HashSet, Token,
    VerificationOptions,
};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const SKEW_SECONDS: u64 = 60;

/// The claims latchkey adds to the registered ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The session (refresh chain) this token belongs to.
    pub sid: String,
    /// The user's role when the token was issued.
    pub role: String,
}

/// A verified access token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `sub`
    pub user_id: crate::model::UserId,
    /// `sid`
    pub session: TokenId,
    /// `exp`
    pub expires_at: UnixTime,
    /// `iat`
    pub issued_at: UnixTime,
    /// `jti`
    pub jti: String,
}

struct Loaded {
    record: SigningKey,
    pair: Ed25519KeyPair,
}

/// How many verified tokens to remember. An Ed25519 verification costs
/// about as much as the rest of a request; a client reuses its access token
/// for many requests, so the second and later checks skip the signature.
const VERIFIED_CACHE: usize = 4096;

/// The signing keys and the rules for using them. Cheap to clone.
#[derive(Clone)]
pub struct Signer {
    keys: Arc<RwLock<Vec<Loaded>>>,
    /// SHA-256 of a token that verified → its claims. Only the signature and
    /// claim checks are skipped on a hit: expiry is checked again, and
    /// revocation and the user's state are the caller's to check every time.
    verified: Arc<Mutex<LruCache<[u8; 32], Verified>>>,
    issuer: String,
    audience: String,
    access_ttl: u64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

fn internal(e: impl std::fmt::Display) -> AuthError {
    AuthError::Internal(format!("signing keys: {e}"))
}

/// Makes a new key and stores it as the current one, superseding the
/// previous current key. Returns its `kid`.
pub async fn rotate(store: &Store) -> Result<String, AuthError> {
    let pair = Ed25519KeyPair::generate();
    let kid = URL_SAFE_NO_PAD.encode(super::secret::random_bytes::<12>()?);
    let record = SigningKey {
        kid: kid.clone(),
        key_pair: pair.to_bytes(),
        created_at: now(),
        superseded_at: None,
    };
    store.add_signing_key(&record).await?;
    Ok(kid)
}

impl Signer {
    /// Loads the keys, making the first one if the store has none.
    pub async fn load(store: &Store, config: &settings::Tokens) -> Result<Self, AuthError> {
        if store.signing_keys().await?.is_empty() {
            let kid = rotate(store).await?;
            tracing::info!(kid, "made the first signing key");
        }
        let mut keys = Vec::new();
        for record in store.signing_keys().await? {
            let pair = Ed25519KeyPair::from_bytes(&record.key_pair)
                .map_err(internal)?
                .with_key_id(&record.kid);
            keys.push(Loaded { record, pair });
        }
        // The current key (never superseded) first: it signs. created_at is in
        // whole seconds, so it alone cannot order keys made in one second.
        keys.sort_by_key(|k| {
            (
                k.record.superseded_at.is_some(),
                std::cmp::Reverse(k.record.superseded_at),
                std::cmp::Reverse(k.record.created_at),
            )
        });
        Ok(Self {
            keys: Arc::new(RwLock::new(keys)),
            verified: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(VERIFIED_CACHE).unwrap_or(NonZeroUsize::MIN),
            ))),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl: config.access_ttl_seconds,
        })
    }

    /// Whether a key still verifies: current, or replaced less than an
    /// access lifetime (plus skew) ago.
    fn usable(&self, key: &SigningKey, at: UnixTime) -> bool {
        let grace = i64::try_from(self.access_ttl + SKEW_SECONDS).unwrap_or(i64::MAX);
        key.superseded_at
            .is_none_or(|when| when.saturating_add(grace) > at)
    }

    /// Signs an access token for `user` in `session`; returns it, its `iat`
    /// and its expiry.
    pub fn sign(
        &self,
        user: &User,
        session: TokenId,
    ) -> Result<(String, UnixTime, UnixTime), AuthError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let key = keys.first().ok_or_else(|| internal("no signing key"))?;
        let custom = SessionClaims {
            sid: session.0.to_string(),
            role: user.role.as_str().to_owned(),
        };
        let jti = URL_SAFE_NO_PAD.encode(super::secret::random_bytes::<16>()?);
        let claims = Claims::with_custom_claims(custom, Duration::from_secs(self.access_ttl))
            .with_issuer(&self.issuer)
            .with_audience(&self.audience)
            .with_subject(user.id)
            .with_jwt_id(jti);
        let secs = |t: Option<jwt_simple::prelude::UnixTimeStamp>| {
            t.map_or(0, |t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
        };
        let (issued_at, expires_at) = (secs(claims.issued_at), secs(claims.expires_at));
        let token = key.pair.sign(claims).map_err(internal)?;
        Ok((token, issued_at, expires_at))
    }

    /// Verifies a presented access token's signature and claims. Revocation
    /// and the user's current state are the caller's to check.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let skew = i64::try_from(SKEW_SECONDS).unwrap_or(0);
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&fingerprint)
            .cloned();
        if let Some(verified) = remembered {
            return if verified.expires_at.saturating_add(skew) >= now() {
                Ok(verified)
            } else {
                Err(AuthError::InvalidToken)
            };
        }
        let verified = self.verify_signature(token)?;
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(fingerprint, verified.clone());
        Ok(verified)
    }

    fn verify_signature(&self, token: &str) -> Result<Verified, AuthError> {
        let metadata = Token::decode_metadata(token).map_err(|_| AuthError::InvalidToken)?;
        if metadata.algorithm() != "EdDSA" {
            return Err(AuthError::InvalidToken);
        }
        let kid = metadata.key_id().ok_or(AuthError::InvalidToken)?;
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let at = now();
        let key = keys
            .iter()
            .find(|k| k.record.kid == kid && self.usable(&k.record, at))
            .ok_or(AuthError::InvalidToken)?;
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([self.issuer.clone()])),
            allowed_audiences: Some(HashSet::from([self.audience.clone()])),
            time_tolerance: Some(Duration::from_secs(SKEW_SECONDS)),
            ..VerificationOptions::default()
        };
        let claims = key
            .pair
            .public_key()
            .verify_token::<SessionClaims>(token, Some(options))
            .map_err(|_| AuthError::InvalidToken)?;
        let seconds = |t: Option<jwt_simple::prelude::UnixTimeStamp>| {
            t.and_then(|t| i64::try_from(t.as_secs()).ok())
        };
        // Every token latchkey signs has an expiry and an issue time; one
        // without either is not ours.
        let expires_at = seconds(claims.expires_at).ok_or(AuthError::InvalidToken)?;
        let issued_at = seconds(claims.issued_at).ok_or(AuthError::InvalidToken)?;
        // A valid signature is not enough: whoever holds the key (a leaked
        // backup, say) could sign a token good for years. None may outlive
        // the configured lifetime; `iat` cannot be moved into the future to
        // make room, since jwt-simple refuses a token issued beyond the skew.
        let longest = i64::try_from(self.access_ttl + SKEW_SECONDS).unwrap_or(i64::MAX);
        if expires_at.saturating_sub(issued_at) > longest {
            return Err(AuthError::InvalidToken);
        }
        Ok(Verified {
            user_id: claims
                .subject
                .as_deref()
                .and_then(|s| s.parse().ok())
                .map(crate::model::UserId)
                .ok_or(AuthError::InvalidToken)?,
            session: claims
                .custom
                .sid
                .parse()
                .map(TokenId)
                .map_err(|_| AuthError::InvalidToken)?,
            expires_at,
            issued_at,
            jti: claims.jwt_id.unwrap_or_default(),
        })
    }

    /// The public keys that still verify, as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let at = now();
        let jwks: Vec<serde_json::Value> = keys
            .iter()
            .filter(|k| self.usable(&k.record, at))
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": k.record.kid,
                    "x": URL_SAFE_NO_PAD.encode(k.pair.public_key().to_bytes()),
                })
            })
            .collect();
        serde_json::json!({ "keys": jwks })
    }
}
