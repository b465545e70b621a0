//! Token use cases: issue, refresh, list, revoke, introspect, sweep.
//!
//! In `opaque` mode a token is a random secret whose digest the store keeps.
//! In `jwt` mode a login opens a session: a signed access token (checked
//! without the store) and an opaque refresh token (rotated on every use).
//! Either way the token's public id is what clients list and revoke; for a
//! session it is the session id, carried as `sid` by its access tokens.

use super::{Actor, Auth, AuthError, Caller, TokenShape, jwt, now, secret, unexpected};
use crate::auth::settings::TokenFormat;
use crate::metrics::Issued;
use crate::model::{TokenId, TokenKind, TokenRecord, UnixTime, UserId};
use crate::store::{Conflict, Rotation};

/// A token just issued: the secrets are shown to the client this once.
pub struct IssuedToken {
    /// The bearer token: `lk_...` (opaque) or a JWS (jwt).
    pub token: String,
    /// When the bearer token expires.
    pub expires_at: UnixTime,
    /// When the bearer token was issued (a JWT's `iat`).
    pub issued_at: UnixTime,
    /// The token's id (opaque) or the session's (jwt).
    pub id: TokenId,
    /// jwt mode: the refresh token and its expiry.
    pub refresh: Option<(String, UnixTime)>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A live token's or session's metadata, as listed to its owner.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Its public id.
    pub id: TokenId,
    /// When it was issued (a session: when it was last refreshed).
    pub created_at: UnixTime,
    /// When it stops working (a session: when its refresh token expires).
    pub expires_at: UnixTime,
    /// Whether it is the token or session this request was made with.
    pub current: bool,
}

/// RFC 7662's answer about a token.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Introspection {
    /// Whether the token would be accepted now.
    pub active: bool,
    /// What an active token says; an inactive one says nothing more.
    #[serde(flatten)]
    pub token: Option<ActiveToken>,
}

/// What introspection tells of an active token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActiveToken {
    /// The user's id.
    pub sub: String,
    /// The user's name.
    pub username: String,
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    /// Expiry, Unix seconds.
    pub exp: UnixTime,
    /// Issue time, Unix seconds.
    pub iat: UnixTime,
    /// The token's or session's id.
    pub sid: String,
    /// The user's current role.
    pub role: &'static str,
    /// `iss` (signed tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `jti` (signed tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl From<ActiveToken> for Introspection {
    fn from(token: ActiveToken) -> Self {
        Self {
            active: true,
            token: Some(token),
        }
    }
}

fn seconds(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

impl Auth {
    /// Issues a token to a caller who proved a password on this request:
    /// one authenticated with [`super::PasswordCredentials`], which is where
    /// "a token never buys a new token" is decided.
    pub async fn issue_token(&self, caller: &Caller) -> Result<IssuedToken, AuthError> {
        let tokens = &self.config.tokens;
        let (kind, ttl) = match tokens.format {
            TokenFormat::Opaque => (TokenKind::Access, tokens.ttl_seconds),
            TokenFormat::Jwt => (TokenKind::Refresh, tokens.refresh_ttl_seconds),
        };
        let minted = secret::generate()?;
        let created_at = now();
        let record = TokenRecord {
            id: TokenId(0), // assigned by the store
            kind,
            user_id: caller.id(),
            created_at,
            expires_at: created_at.saturating_add(seconds(ttl)),
        };
        let record = match self.store.insert_token(&minted.digest, record).await? {
            Ok(record) => record,
            Err(Conflict::Gone) => return Err(AuthError::InvalidCredentials),
            Err(
                other @ (Conflict::UsernameTaken
                | Conflict::EmailTaken
                | Conflict::LastAdmin
                | Conflict::Stale),
            ) => return Err(unexpected("issuing a token", other)),
        };
        tracing::info!(user_id = %caller.id(), token_id = record.id.0, kind = ?kind, "token issued");
        crate::metrics::token_issued(match kind {
            TokenKind::Access => Issued::Opaque,
            TokenKind::Refresh => Issued::Jwt,
        });
        match kind {
            TokenKind::Access => Ok(IssuedToken {
                token: minted.secret,
                expires_at: record.expires_at,
                issued_at: created_at,
                id: record.id,
                refresh: None,
            }),
            TokenKind::Refresh => {
                let (access, issued_at, expires_at) = self.signer.sign(&caller.user, record.id)?;
                Ok(IssuedToken {
                    token: access,
                    expires_at,
                    issued_at,
                    id: record.id,
                    refresh: Some((minted.secret, record.expires_at)),
                })
            }
        }
    }

    /// Trades a refresh token for a new access token and a new refresh
    /// token; the old one is spent. A spent one presented again is taken as
    /// theft: its whole session is revoked and the answer is `InvalidToken`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedToken, AuthError> {
        let old = secret::parse(refresh_token).ok_or(AuthError::InvalidToken)?;
        let minted = secret::generate()?;
        let expires_at = now().saturating_add(seconds(self.config.tokens.refresh_ttl_seconds));
        let rotation = self
            .store
            .rotate_refresh(&old, &minted.digest, expires_at)
            .await?;
        let record = match rotation {
            Rotation::Rotated(record) => record,
            Rotation::Reused(spent) => {
                tracing::warn!(
                    user_id = %spent.user_id,
                    session = spent.session.0,
                    "spent refresh token presented again: session revoked as stolen"
                );
                return Err(AuthError::InvalidToken);
            }
            Rotation::Refused => return Err(AuthError::InvalidToken),
        };
        let user = self.token_holder(record.user_id).await?;
        let (access, issued_at, access_expires_at) = self.signer.sign(&user, record.id)?;
        tracing::info!(user_id = %user.id, session = record.id.0, "session refreshed");
        crate::metrics::token_issued(Issued::Refresh);
        Ok(IssuedToken {
            token: access,
            expires_at: access_expires_at,
            issued_at,
            id: record.id,
            refresh: Some((minted.secret, record.expires_at)),
        })
    }

    /// The caller's live tokens and sessions, oldest first.
    pub async fn list_tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>, AuthError> {
        let current = caller.session();
        let now = now();
        Ok(self
            .store
            .tokens_of(caller.id())
            .await?
            .into_iter()
            .filter(|(_, r)| r.expires_at > now)
            .map(|(_, r)| TokenInfo {
                id: r.id,
                created_at: r.created_at,
                expires_at: r.expires_at,
                current: Some(r.id) == current,
            })
            .collect())
    }

    /// Revokes the token (or session) this request was made with.
    pub async fn revoke_current(&self, caller: &Caller) -> Result<(), AuthError> {
        let id = caller.session().ok_or_else(|| {
            AuthError::InvalidRequest(
                "this revokes the token the request is made with; send that token".into(),
            )
        })?;
        let user = caller.id();
        // Durable once it resolves: the revocation writer flushes its batch.
        self.store.revoke_token_of(user, id).await?;
        tracing::info!(user_id = %caller.id(), token_id = id.0, "token revoked");
        Ok(())
    }

    /// Revokes one of the caller's tokens or sessions by id; someone else's
    /// is indistinguishable from a missing one.
    pub async fn revoke_token(&self, caller: &Caller, id: TokenId) -> Result<(), AuthError> {
        let user = caller.id();
        if !self.store.revoke_token_of(user, id).await? {
            return Err(AuthError::NotFound("no such token"));
        }
        tracing::info!(user_id = %caller.id(), token_id = id.0, "token revoked");
        Ok(())
    }

    /// Revokes every token of the caller except the one this request used
    /// ("log out everywhere else"). Returns how many.
    pub async fn revoke_other_tokens(&self, caller: &Caller) -> Result<usize, AuthError> {
        let n = self
            .store
            .revoke_all_tokens(caller.id(), caller.session())
            .await?;
        tracing::info!(user_id = %caller.id(), revoked = n, "other tokens revoked");
        Ok(n)
    }

    /// Revokes every token of a user: one's own, or anyone's as an admin.
    pub async fn revoke_all_tokens(
        &self,
        actor: Actor<'_>,
        id: UserId,
    ) -> Result<usize, AuthError> {
        self.target(actor, id).await?;
        let n = self.store.revoke_all_tokens(id, None).await?;
        tracing::info!(user_id = %id, revoked = n, "all tokens revoked");
        Ok(n)
    }

    /// RFC 7662: whether `presented` would be accepted now, and about whom.
    pub async fn introspect(&self, presented: &str) -> Result<Introspection, AuthError> {
        let inactive = Introspection::default();
        if TokenShape::of(presented) == Some(TokenShape::Opaque) {
            let Some(digest) = secret::parse(presented) else {
                return Ok(inactive);
            };
            let Some(record) = self.store.token(&digest).await? else {
                return Ok(inactive);
            };
            let user = self.store.user(record.user_id).await?;
            let Some(user) = user.filter(|u| !u.disabled) else {
                return Ok(inactive);
            };
            if record.expires_at <= now() {
                return Ok(inactive);
            }
            return Ok(ActiveToken {
                sub: user.id.to_string(),
                username: user.username.as_str().to_owned(),
                token_type: match record.kind {
                    TokenKind::Access => "access_token",
                    TokenKind::Refresh => "refresh_token",
                },
                exp: record.expires_at,
                iat: record.created_at,
                sid: record.id.0.to_string(),
                role: user.role.as_str(),
                iss: None,
                jti: None,
            }
            .into());
        }
        match self.signed_caller(presented).await {
            Ok((caller, verified)) => Ok(ActiveToken {
                sub: caller.user.id.to_string(),
                username: caller.user.username.as_str().to_owned(),
                token_type: "access_token",
                exp: verified.expires_at,
                iat: verified.issued_at,
                sid: verified.session.0.to_string(),
                role: caller.user.role.as_str(),
                iss: Some(self.config.tokens.issuer.clone()),
                jti: Some(verified.jti),
            }
            .into()),
            Err(AuthError::InvalidToken) => Ok(inactive),
            Err(e) => Err(e),
        }
    }

    /// The public signing keys, as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.signer.jwks()
    }

    /// Deletes expired tokens, codes, spent refresh tokens and revoked
    /// sessions whose access tokens have all expired. Expired things are
    /// refused whether or not this has run; it only reclaims space.
    pub async fn sweep_expired(&self) -> Result<usize, AuthError> {
        let now = now();
        let horizon = seconds(self.config.tokens.access_ttl_seconds + jwt::SKEW_SECONDS);
        let tokens = self.store.sweep_expired_tokens(now).await?;
        crate::metrics::tokens_expired(tokens);
        Ok(tokens
            + self.store.sweep_expired_codes(now).await?
            + self.store.sweep_sessions(now, horizon).await?)
    }
}
