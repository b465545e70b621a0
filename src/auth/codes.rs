//! Single-use codes: account confirmation and password reset.
//!
//! A code is 32 random bytes, base64url; only its digest is stored. It works
//! once, until `accounts.code_ttl_seconds` after issue, or until
//! `accounts.max_live_codes` newer codes of its kind have been issued; using
//! one spends every code of its kind.
//!
//! Issuing is limited twice over: per account (`code_limit`) and per client
//! IP (`throttle`). A request over either limit is answered exactly like one
//! that sends a code, so neither says anything about the account.

use super::accounts::Actor;
use super::password::Password;
use super::{Auth, AuthError, Caller, now, secret, unexpected};
use crate::delivery::Message;
use crate::model::{CodeKind, CodeRecord, SecretDigest, User, login_key, rfc3339};
use crate::store::Conflict;
use std::net::IpAddr;

impl Auth {
    /// Issues a code of `kind` to `user`, stores its digest, and hands the
    /// code to delivery (which never blocks on the network). Sends nothing,
    /// and still succeeds, if `user` was sent a code of `kind` less than
    /// `accounts.code_min_interval_seconds` ago.
    pub(super) async fn send_code(&self, user: &User, kind: CodeKind) -> Result<(), AuthError> {
        let Some(admitted) = self.code_limit.admit(user.id, kind) else {
            tracing::info!(user_id = %user.id, kind = kind.as_str(), "code not sent: one was sent less than accounts.code_min_interval_seconds ago");
            return Ok(());
        };
        let (code, digest) = secret::generate_code()?;
        let created_at = now();
        let ttl = i64::try_from(self.config.accounts.code_ttl_seconds).unwrap_or(i64::MAX);
        let record = CodeRecord {
            kind,
            user_id: user.id,
            created_at,
            expires_at: created_at.saturating_add(ttl),
        };
        let expires_at = record.expires_at;
        let keep = self.config.accounts.max_live_codes;
        match self.store.insert_code(&digest, &record, keep).await? {
            Ok(()) => {}
            Err(Conflict::Gone) => return Err(AuthError::NotFound("no such user")),
            Err(
                other @ (Conflict::UsernameTaken
                | Conflict::EmailTaken
                | Conflict::LastAdmin
                | Conflict::Stale),
            ) => return Err(unexpected("storing a code", other)),
        }
        admitted.issued();
        self.delivery.send(Message {
            kind,
            user_id: user.id,
            username: user.username.as_str().to_owned(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            code,
            expires_at: rfc3339(expires_at),
        });
        Ok(())
    }

    /// Sends the caller a new confirmation code, unless `client` or the
    /// account is over its limit: then it sends nothing and succeeds alike.
    pub async fn request_confirmation(
        &self,
        caller: &Caller,
        id: crate::model::UserId,
        client: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        if caller.id() != id {
            self.target(Actor::Caller(caller), id).await?;
            return Err(AuthError::Forbidden(
                "only the account's owner may ask for its confirmation code",
            ));
        }
        if caller.user.confirmed {
            return Err(AuthError::InvalidRequest(
                "this account is confirmed already".into(),
            ));
        }
        if self.throttle.code_request_by_ip(client).is_err() {
            tracing::info!(user_id = %caller.id(), "confirmation code not sent: the client's code-request bucket is empty");
            return Ok(());
        }
        self.send_code(&caller.user, CodeKind::Confirmation).await
    }

    /// Confirms the account a confirmation code was issued to.
    pub async fn confirm(&self, code: &str) -> Result<(), AuthError> {
        let (digest, user) = self.redeemable(code, CodeKind::Confirmation).await?;
        self.modify(user, |u| u.confirmed = true, None, Some(digest))
            .await?;
        Ok(())
    }

    /// Starts a password reset. Always succeeds from the caller's view: the
    /// lookup, the write and the delivery happen in the background, so
    /// neither the answer nor its timing says whether the account exists.
    /// The client's code-request bucket is checked first, before any
    /// lookup; over it, or over the account's limit, nothing is sent.
    pub fn request_password_reset(&self, username_or_email: String, client: Option<IpAddr>) {
        if self.throttle.code_request_by_ip(client).is_err() {
            tracing::info!("password reset not started: the client's code-request bucket is empty");
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let user = match this
                .store
                .user_by_login(&login_key(&username_or_email))
                .await
            {
                Ok(Some(user)) if !user.disabled => user,
                Ok(_) => return,
                Err(e) => {
                    tracing::error!(error = %e, "password reset lookup failed");
                    return;
                }
            };
            if let Err(e) = this.send_code(&user, CodeKind::PasswordReset).await {
                tracing::error!(error = %e, user_id = %user.id, "password reset code not issued");
            }
        });
    }

    /// Sets a new password with a reset code, revoking every token.
    pub async fn reset_password(&self, code: &str, password: &str) -> Result<(), AuthError> {
        let (digest, user) = self.redeemable(code, CodeKind::PasswordReset).await?;
        let password = Password::new_checked(password, &self.config.password, &user.username)?;
        let hash = self.hasher.hash(password).await?;
        let change = |u: &mut User| u.password_hash.clone_from(&hash);
        self.modify(user, change, Some(None), Some(digest)).await?;
        Ok(())
    }

    /// The digest and user of a live code of `kind`, or `InvalidCode`. The
    /// code is spent later, in the same transaction as its effect.
    async fn redeemable(
        &self,
        code: &str,
        kind: CodeKind,
    ) -> Result<(SecretDigest, User), AuthError> {
        let digest = secret::parse_code(code).ok_or(AuthError::InvalidCode)?;
        let record = self
            .store
            .code(&digest)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        if record.kind != kind || record.expires_at <= now() {
            return Err(AuthError::InvalidCode);
        }
        let user = self
            .store
            .user(record.user_id)
            .await?
            .map(std::sync::Arc::unwrap_or_clone)
            .ok_or(AuthError::InvalidCode)?;
        Ok((digest, user))
    }
}
