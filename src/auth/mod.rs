//! Use cases: register, authenticate, issue and revoke tokens, manage
//! accounts. Nothing here knows about HTTP; the `http` module maps these
//! results to responses.

mod accounts;
mod backup;
mod code_limit;
mod codes;
mod hash_pool;
pub(crate) mod jwt;
pub(crate) mod password;
mod presented;
pub mod secret;
pub mod settings;
mod throttle;
mod tokens;

pub use crate::store::Snapshot;
pub use accounts::{Actor, NewAccount, Page, Registration, UserPatch};
pub use presented::{PasswordCredentials, TokenShape};
pub use settings::Settings;
pub use tokens::{ActiveToken, Introspection, IssuedToken, TokenInfo};

use crate::delivery::Delivery;
use crate::metrics::Login;
use crate::model::{TokenId, TokenKind, TokenRecord, User, UserId, login_key};
use crate::store::{Conflict, Store, StoreError};
use password::{Hasher, Password, Verified};
use std::net::IpAddr;
use std::sync::Arc;
use throttle::Subject;

/// Why a use case failed. The HTTP layer maps each to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password, or no credentials: deliberately one case.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A presented token is unknown, expired or revoked.
    #[error("invalid token")]
    InvalidToken,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Authenticated, but the endpoint needs a role the caller lacks.
    #[error("this needs the admin role")]
    InsufficientScope,
    /// The account must be confirmed first.
    #[error("the account is not confirmed")]
    Unconfirmed,
    /// A change of password or email came without the account's current
    /// password, or with a wrong one.
    #[error("the current password is missing or wrong")]
    InvalidCurrentPassword,
    /// A confirmation or reset code is unknown, spent or expired.
    #[error("the code is invalid, used or expired")]
    InvalidCode,
    /// No such record (or not the caller's to see).
    #[error("{0}")]
    NotFound(&'static str),
    /// The change would leave no enabled admin.
    #[error("this would leave no enabled admin")]
    LastAdmin,
    /// The username is registered already.
    #[error("username is taken")]
    UsernameTaken,
    /// The email belongs to another account.
    #[error("email is taken")]
    EmailTaken,
    /// The request itself is wrong; the text says how.
    #[error("{0}")]
    InvalidRequest(String),
    /// Too many attempts: an account lockout or a client's bucket is empty.
    #[error("too many attempts")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u32,
    },
    /// The hash pool stayed full past the queue timeout.
    #[error("too many password checks in progress")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("{0}")]
    Internal(String),
}

/// Credentials as presented, before they are checked.
#[derive(Clone)]
pub enum Credentials {
    /// A username (or email) and password.
    Password {
        /// As typed; looked up ignoring case.
        username: String,
        /// As typed.
        password: String,
    },
    /// A bearer token, however it was sent.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    // Never print a secret, even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .finish_non_exhaustive(),
            Self::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Method {
    /// Username and password on this request.
    Password,
    /// An opaque token, with its stored record.
    Token {
        /// Its record.
        record: TokenRecord,
    },
    /// A signed access token of a session.
    Signed {
        /// The session (`sid`).
        session: TokenId,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's current record, shared with the store's user cache.
    pub user: Arc<User>,
    /// How they authenticated.
    pub method: Method,
}

impl Caller {
    /// The caller's id.
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// Whether the caller holds the admin role, as of this request.
    pub fn is_admin(&self) -> bool {
        self.user.role == crate::model::Role::Admin
    }

    /// The token (opaque) or session (signed) this request was made with:
    /// what "current" means when listing, revoking or changing a password.
    pub fn session(&self) -> Option<TokenId> {
        match &self.method {
            Method::Token { record } => Some(record.id),
            Method::Signed { session } => Some(*session),
            Method::Password => None,
        }
    }
}

/// What one credential check came to.
#[derive(Debug)]
pub struct Attempt {
    /// The caller, or why not.
    pub outcome: Result<Caller, AuthError>,
    /// Whether the attempt named an existing account (a password attempt
    /// only); for the log, never for an answer.
    pub named_an_account: bool,
}

impl Attempt {
    fn refused(error: AuthError, named_an_account: bool) -> Self {
        Self {
            outcome: Err(error),
            named_an_account,
        }
    }
}

/// The use cases, over one store and one hash pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth {
    store: Store,
    hasher: Hasher,
    delivery: Delivery,
    signer: jwt::Signer,
    throttle: Arc<throttle::Throttle>,
    code_limit: Arc<code_limit::CodeLimit>,
    /// Auth's own settings, shared by every clone.
    config: Arc<Settings>,
}

impl Auth {
    /// Builds the use cases; computes the dummy hash (one scrypt run).
    pub async fn new(store: Store, config: Settings) -> Result<Self, AuthError> {
        let hasher = Hasher::new(&config.password).await?;
        let delivery =
            Delivery::new(&config.delivery).map_err(|e| AuthError::Internal(e.to_string()))?;
        let signer = jwt::Signer::load(&store, &config.tokens).await?;
        Ok(Self {
            store,
            hasher,
            delivery,
            signer,
            throttle: Arc::new(throttle::Throttle::new(&config.throttle)),
            code_limit: Arc::new(code_limit::CodeLimit::new(
                std::time::Duration::from_secs(config.accounts.code_min_interval_seconds),
                config.throttle.max_tracked,
            )),
            config: Arc::new(config),
        })
    }

    /// Checks credentials and returns the caller. An unknown user, a wrong
    /// password and a disabled account fail identically, after the same
    /// amount of hashing. Password checks are throttled per account and per
    /// `client` address; token checks are not.
    ///
    /// The attempt also says whether a password attempt's name was an
    /// account's: the log shows a name no account has only as a fingerprint
    /// (it may be a mistyped password). That is for the log, never for an
    /// answer, which must not tell.
    pub async fn attempt(&self, credentials: Credentials, client: Option<IpAddr>) -> Attempt {
        match credentials {
            Credentials::Token(token) => Attempt {
                outcome: self.authenticate_token(&token).await,
                named_an_account: false,
            },
            Credentials::Password { username, password } => {
                let attempt = self.check_password(&username, &password, client).await;
                crate::metrics::login(match &attempt.outcome {
                    Ok(_) => Login::Success,
                    Err(AuthError::InvalidCredentials) => Login::Failure,
                    Err(AuthError::RateLimited { .. }) => Login::Throttled,
                    Err(AuthError::Busy) => Login::Busy,
                    Err(_) => Login::Error,
                });
                attempt
            }
        }
    }

    /// One password check, throttled per account and per client.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Attempt {
        let login = login_key(username);
        // Resolved first so the lockout counts per account: a locked-out
        // name must not be reachable through its email. Known and unknown
        // identifiers cost the same lookup here and one hash below.
        let user = match self.store.user_by_login(&login).await {
            Ok(user) => user,
            Err(e) => return Attempt::refused(e.into(), false),
        };
        let named_an_account = user.is_some();
        let subject = match &user {
            Some(user) => Subject::Account(user.id),
            None => Subject::Unknown(login),
        };
        // A locked-out account costs no hash and no bucket token.
        let attempt = match self.throttle.admit(subject) {
            Ok(attempt) => attempt,
            Err(e) => return Attempt::refused(e, named_an_account),
        };
        if let Err(e) = self.throttle.password_check_by_ip(client) {
            return Attempt::refused(e, named_an_account);
        }
        let outcome = self
            .authenticate_password(user, Password::presented(password))
            .await;
        match &outcome {
            Ok(_) => attempt.succeeded(),
            Err(AuthError::InvalidCredentials) => attempt.failed(),
            // Busy and the like say nothing about the password.
            Err(_) => drop(attempt),
        }
        Attempt {
            outcome,
            named_an_account,
        }
    }

    /// Takes one registration from the client's bucket.
    pub fn check_registration_rate(&self, client: Option<IpAddr>) -> Result<(), AuthError> {
        self.throttle.registration_by_ip(client)
    }

    /// Drops idle throttle state (called by the periodic sweep).
    pub fn shrink_throttle(&self) {
        self.throttle.shrink();
    }

    /// Checks a bearer token of either kind, whatever `tokens.format` says,
    /// so tokens issued before a mode switch keep working.
    async fn authenticate_token(&self, token: &str) -> Result<Caller, AuthError> {
        match TokenShape::of(token) {
            Some(TokenShape::Opaque) => self.authenticate_opaque(token).await,
            Some(TokenShape::Signed) => self.signed_caller(token).await.map(|(caller, _)| caller),
            None => Err(AuthError::InvalidToken),
        }
    }

    /// A signed token's caller and claims: signature and claims valid, its
    /// session not revoked, its user present and enabled.
    async fn signed_caller(&self, token: &str) -> Result<(Caller, jwt::Verified), AuthError> {
        let verified = self.signer.verify(token)?;
        if self.store.is_session_revoked(verified.session).await? {
            return Err(AuthError::InvalidToken);
        }
        // latchkey's own endpoints go by the user's current record, so a role
        // change or a disable counts at once, whatever the token's claims say.
        let user = self.token_holder(verified.user_id).await?;
        let caller = Caller {
            user,
            method: Method::Signed {
                session: verified.session,
            },
        };
        Ok((caller, verified))
    }

    /// The user a token speaks for, or `InvalidToken`: a token whose user is
    /// gone or disabled is dead, even if a cleanup has not caught up with it.
    pub(super) async fn token_holder(&self, id: UserId) -> Result<Arc<User>, AuthError> {
        let user = self.store.user(id).await?;
        user.filter(|u| !u.disabled).ok_or(AuthError::InvalidToken)
    }

    async fn authenticate_opaque(&self, token: &str) -> Result<Caller, AuthError> {
        let digest = secret::parse(token).ok_or(AuthError::InvalidToken)?;
        let record = self.store.token(&digest).await?;
        // A refresh token is never a credential; only the refresh endpoint
        // takes it.
        let record = record
            .filter(|r| r.kind == TokenKind::Access && r.expires_at > now())
            .ok_or(AuthError::InvalidToken)?;
        let user = self.token_holder(record.user_id).await?;
        Ok(Caller {
            user,
            method: Method::Token { record },
        })
    }

    async fn authenticate_password(
        &self,
        user: Option<User>,
        password: Password,
    ) -> Result<Caller, AuthError> {
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let verified = self.hasher.verify(password.clone(), stored).await?;
        match (verified, user) {
            // A disabled account fails exactly like a wrong password, after
            // the same hashing, so the response does not tell them apart.
            (Verified::Yes { rehash }, Some(user)) if !user.disabled => {
                let user = if rehash {
                    self.rehash(user, password).await?
                } else {
                    user
                };
                Ok(Caller {
                    user: Arc::new(user),
                    method: Method::Password,
                })
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Replaces a hash made with old parameters, unless the password changed
    /// meanwhile (then the newer hash wins).
    async fn rehash(&self, user: User, password: Password) -> Result<User, AuthError> {
        let new_hash = self.hasher.hash(password).await?;
        match self
            .store
            .replace_password_hash(user.id, &user.password_hash, &new_hash)
            .await?
        {
            Some(updated) => {
                tracing::info!(user_id = %user.id, "password rehashed at current parameters");
                Ok(updated)
            }
            None => Ok(user),
        }
    }

    /// Refuses an unconfirmed caller when confirmation is required. Endpoints
    /// an unconfirmed account may use (its tokens, `/api/me`, asking for a
    /// new code) skip this.
    pub fn require_confirmed(&self, caller: &Caller) -> Result<(), AuthError> {
        if self.config.accounts.require_confirmation && !caller.user.confirmed {
            return Err(AuthError::Unconfirmed);
        }
        Ok(())
    }

    /// Refuses a caller without the admin role.
    pub fn require_admin(&self, caller: &Caller) -> Result<(), AuthError> {
        if caller.is_admin() {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope)
        }
    }

    /// The store, for maintenance outside requests (the sweep).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store's size and user count, for a metrics scrape.
    pub async fn store_stats(&self) -> Result<crate::store::StoreStats, AuthError> {
        Ok(self.store.stats().await?)
    }
}

pub use crate::model::unix_now as now;

/// A refusal the store should never give for this write: a bug, reported
/// as an internal error rather than mapped to a wrong answer.
fn unexpected(what: &str, conflict: Conflict) -> AuthError {
    AuthError::Internal(format!("unexpected conflict {what}: {conflict:?}"))
}
