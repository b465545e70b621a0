//! Token use cases: issue, list, revoke, sweep.

use super::{Actor, Auth, AuthError, Caller, Method, now, token};
use crate::model::{TokenId, TokenRecord, UnixTime, UserId};
use crate::store::Conflict;

/// A token just issued: the secret is shown to the client this once.
pub struct IssuedToken {
    /// `lk_...`
    pub secret: String,
    /// Its stored record.
    pub record: TokenRecord,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// A live token's metadata, as listed to its owner.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// Its public id.
    pub id: TokenId,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// Whether it is the token this request was made with.
    pub current: bool,
}

impl Auth {
    /// Issues a token to a caller who proved a password on this request;
    /// a token never buys a new token.
    pub async fn issue_token(&self, caller: &Caller) -> Result<IssuedToken, AuthError> {
        if !matches!(caller.method, Method::Password) {
            return Err(AuthError::InvalidCredentials);
        }
        let minted = token::generate()?;
        let created_at = now();
        let ttl = i64::try_from(self.config.tokens.ttl_seconds).unwrap_or(i64::MAX);
        let record = TokenRecord {
            id: TokenId(0), // assigned by the store
            user_id: caller.id(),
            created_at,
            expires_at: created_at.saturating_add(ttl),
        };
        let record = match self.store.insert_token(&minted.digest, record)? {
            Ok(record) => record,
            Err(Conflict::Gone) => return Err(AuthError::InvalidCredentials),
            Err(other) => {
                return Err(AuthError::Internal(format!(
                    "unexpected conflict issuing a token: {other:?}"
                )));
            }
        };
        self.store.durable().await?;
        tracing::info!(user_id = %caller.id(), token_id = record.id.0, "token issued");
        Ok(IssuedToken {
            secret: minted.secret,
            record,
        })
    }

    /// The caller's live tokens, oldest first.
    pub fn list_tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>, AuthError> {
        let current = caller.token_digest();
        let now = now();
        Ok(self
            .store
            .tokens_of(caller.id())?
            .into_iter()
            .filter(|(_, r)| r.expires_at > now)
            .map(|(digest, r)| TokenInfo {
                id: r.id,
                created_at: r.created_at,
                expires_at: r.expires_at,
                current: Some(digest) == current,
            })
            .collect())
    }

    /// Revokes the token this request was made with.
    pub async fn revoke_current(&self, caller: &Caller) -> Result<(), AuthError> {
        let digest = caller.token_digest().ok_or_else(|| {
            AuthError::InvalidRequest(
                "this revokes the token the request is made with; send that token".into(),
            )
        })?;
        self.store.revoke_token(&digest)?;
        self.store.durable().await?;
        tracing::info!(user_id = %caller.id(), "token revoked");
        Ok(())
    }

    /// Revokes one of the caller's tokens by id; someone else's token is
    /// indistinguishable from a missing one.
    pub async fn revoke_token(&self, caller: &Caller, id: TokenId) -> Result<(), AuthError> {
        if !self.store.revoke_token_of(caller.id(), id)? {
            return Err(AuthError::NotFound("no such token"));
        }
        self.store.durable().await?;
        tracing::info!(user_id = %caller.id(), token_id = id.0, "token revoked");
        Ok(())
    }

    /// Revokes every token of the caller except the one this request used
    /// ("log out everywhere else"). Returns how many.
    pub async fn revoke_other_tokens(&self, caller: &Caller) -> Result<usize, AuthError> {
        let n = self
            .store
            .revoke_all_tokens(caller.id(), caller.token_digest())?;
        self.store.durable().await?;
        tracing::info!(user_id = %caller.id(), revoked = n, "other tokens revoked");
        Ok(n)
    }

    /// Revokes every token of a user: one's own, or anyone's as an admin.
    pub async fn revoke_all_tokens(
        &self,
        actor: Actor<'_>,
        id: UserId,
    ) -> Result<usize, AuthError> {
        self.target(actor, id)?;
        let n = self.store.revoke_all_tokens(id, None)?;
        self.store.durable().await?;
        tracing::info!(user_id = %id, revoked = n, "all tokens revoked");
        Ok(n)
    }

    /// Deletes expired tokens. Expired tokens are refused whether or not
    /// this has run; it only reclaims space.
    pub fn sweep_expired(&self) -> Result<usize, AuthError> {
        let now = now();
        Ok(self.store.sweep_expired(now)? + self.store.sweep_expired_codes(now)?)
    }
}
