//! Account use cases: register, read, list, change and delete users.
//!
//! Each takes an [`Actor`]: a caller over HTTP, whose rights depend on their
//! role, or the operator at the command line, who may do anything a
//! guard (the last admin, a taken name) allows.

use super::password::{Password, Verified};
use super::throttle::Subject;
use super::{Auth, AuthError, Caller, now, unexpected};
use crate::model::{CodeKind, Email, Role, User, UserId, Username};
use crate::store::{Conflict, UserUpdate};
use std::sync::Arc;

/// Who asks for a change.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// An authenticated HTTP caller.
    Caller(&'a Caller),
    /// The operator, working on the data dir from the command line.
    Operator,
}

impl Actor<'_> {
    fn is_admin(self) -> bool {
        match self {
            Self::Caller(c) => c.is_admin(),
            Self::Operator => true,
        }
    }

    fn is(self, id: UserId) -> bool {
        matches!(self, Self::Caller(c) if c.id() == id)
    }
}

/// A change to an account; `None` fields stay as they are.
#[derive(Default)]
pub struct UserPatch {
    /// `Some(None)` removes the email; `Some(Some(e))` sets it.
    pub email: Option<Option<Email>>,
    /// A new password, not yet policy-checked.
    pub password: Option<String>,
    /// Admin only.
    pub role: Option<Role>,
    /// Admin only; disabling revokes every token at once.
    pub disabled: Option<bool>,
    /// Admin only.
    pub confirmed: Option<bool>,
    /// The account's password as the caller typed it: needed to change its
    /// password or email, unless an admin changes another account.
    pub current_password: Option<String>,
}

impl std::fmt::Debug for UserPatch {
    // Never print a password, even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl UserPatch {
    fn needs_admin(&self) -> bool {
        self.role.is_some() || self.disabled.is_some() || self.confirmed.is_some()
    }

    /// A change of password or email: what a stolen token must not do.
    fn changes_credentials(&self) -> bool {
        self.password.is_some() || self.email.is_some()
    }
}

/// One page of users and the numbers needed to link the others.
#[derive(Debug)]
pub struct Page {
    /// The users on this page, in id order.
    pub items: Vec<User>,
    /// 1-based page number.
    pub page: u64,
    /// Page size after clamping.
    pub per_page: u64,
    /// Users in all.
    pub total_items: u64,
}

impl Page {
    /// Pages in all; 0 when there are no users.
    pub fn total_pages(&self) -> u64 {
        self.total_items.div_ceil(self.per_page)
    }
}

/// Largest page a client may ask for; larger requests are clamped.
pub const MAX_PER_PAGE: u64 = 100;

/// What a self-registration tells its caller.
#[derive(Debug)]
pub enum Registration {
    /// The account (confirmation not required).
    Created(User),
    /// Confirmation is required: the account was made and its code sent,
    /// or its email was taken; the caller is not told which.
    Pending,
}

/// A new account as the operator describes it.
#[derive(Debug)]
pub struct NewAccount {
    /// Its name.
    pub username: Username,
    /// Its password, not yet policy-checked.
    pub password: String,
    /// Its email.
    pub email: Option<Email>,
    /// `user` or `admin`.
    pub role: Role,
    /// Whether it starts confirmed.
    pub confirmed: bool,
}

impl Auth {
    /// Self-registration: an ordinary account, unconfirmed (and sent a
    /// confirmation code) when `accounts.require_confirmation` is on.
    ///
    /// With confirmation on, the caller learns only that the registration
    /// was [`Registration::Pending`], whether the account was made or its
    /// email belongs to someone else: who owns an address is for the code's
    /// recipient to learn, not the registrant. A taken username is still
    /// `UsernameTaken` (names are public). With confirmation off the new
    /// user is returned, and a taken email is `EmailTaken`.
    pub async fn register(
        &self,
        username: Username,
        password: String,
        email: Option<Email>,
    ) -> Result<Registration, AuthError> {
        let confirm = self.config.accounts.require_confirmation;
        let created = self
            .create_user(NewAccount {
                username,
                password,
                email,
                role: Role::User,
                confirmed: !confirm,
            })
            .await;
        if !confirm {
            return created.map(Registration::Created);
        }
        match created {
            Ok(user) => {
                self.send_code(&user, CodeKind::Confirmation).await?;
                Ok(Registration::Pending)
            }
            Err(AuthError::EmailTaken) => {
                // The hash is spent already (the transaction refused the
                // email); wait for the two flushes a new account's record
                // and code would have cost, so timing tells little apart.
                self.store.durable().await?;
                self.store.durable().await?;
                tracing::info!("registration with a taken email answered as pending");
                Ok(Registration::Pending)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates an account: checks the password policy, hashes off the
    /// executor, then writes the user and its indexes in one transaction.
    pub async fn create_user(&self, account: NewAccount) -> Result<User, AuthError> {
        let password =
            Password::new_checked(&account.password, &self.config.password, &account.username)?;
        // Cheap pre-check so a taken name costs no hash; the transaction
        // below is what actually guarantees uniqueness.
        if self.store.username_taken(&account.username).await? {
            return Err(AuthError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let user = User {
            id: UserId(0), // assigned by the store
            username: account.username,
            email: account.email,
            password_hash,
            created_at: now(),
            role: account.role,
            disabled: false,
            confirmed: account.confirmed,
        };
        let user = match self.store.insert_user(user).await? {
            Ok(user) => user,
            Err(Conflict::EmailTaken) => return Err(AuthError::EmailTaken),
            Err(Conflict::UsernameTaken) => return Err(AuthError::UsernameTaken),
            Err(other @ (Conflict::Gone | Conflict::LastAdmin | Conflict::Stale)) => {
                return Err(unexpected("adding a user", other));
            }
        };
        tracing::info!(user_id = %user.id, username = user.username.as_str(), role = user.role.as_str(), "user created");
        Ok(user)
    }

    /// One user by id.
    pub async fn user(&self, id: UserId) -> Result<User, AuthError> {
        self.store
            .user(id)
            .await?
            .map(Arc::unwrap_or_clone)
            .ok_or(AuthError::NotFound("no such user"))
    }

    /// One user by name (or email), ignoring case.
    pub async fn find_user(&self, name: &str) -> Result<User, AuthError> {
        self.store
            .user_by_login(&crate::model::login_key(name))
            .await?
            .ok_or(AuthError::NotFound("no such user"))
    }

    /// Every user, in id order (the command line's listing).
    pub async fn all_users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.store.users_page(0, usize::MAX).await?)
    }

    /// A page of users. `page` is 1-based; `per_page` is clamped to
    /// [`MAX_PER_PAGE`]. Both must be at least 1.
    pub async fn list_users(&self, page: u64, per_page: u64) -> Result<Page, AuthError> {
        if page == 0 || per_page == 0 {
            return Err(AuthError::InvalidRequest(
                "page and per_page must be at least 1".into(),
            ));
        }
        let per_page = per_page.min(MAX_PER_PAGE);
        let offset = (page - 1).saturating_mul(per_page);
        let limit = usize::try_from(per_page).unwrap_or(usize::MAX);
        Ok(Page {
            items: self.store.users_page(offset, limit).await?,
            page,
            per_page,
            total_items: self.store.user_count().await?,
        })
    }

    /// Changes an account. Users may change their own email and password;
    /// admins may change anything on any account. A new password revokes
    /// every token but the one this request used; disabling revokes all.
    pub async fn update_user(
        &self,
        actor: Actor<'_>,
        id: UserId,
        patch: UserPatch,
    ) -> Result<User, AuthError> {
        let user = self.target(actor, id).await?;
        if patch.needs_admin() && !actor.is_admin() {
            return Err(AuthError::Forbidden(
                "only an admin may change role, disabled or confirmed",
            ));
        }
        if patch.changes_credentials() {
            match actor {
                Actor::Caller(c) if c.id() == id => {
                    self.prove_current_password(&user, patch.current_password.as_deref())
                        .await?;
                }
                // `target` let only an admin this far.
                Actor::Caller(c) => tracing::info!(
                    actor_id = %c.id(),
                    target_id = %id,
                    password = patch.password.is_some(),
                    email = patch.email.is_some(),
                    "admin changes another account's credentials"
                ),
                Actor::Operator => {}
            }
        }
        let mut revoke_tokens_except = None;
        let mut password_hash = None;
        if let Some(raw) = &patch.password {
            let password = Password::new_checked(raw, &self.config.password, &user.username)?;
            password_hash = Some(self.hasher.hash(password).await?);
            let current = match actor {
                Actor::Caller(c) if c.id() == id => c.session(),
                _ => None,
            };
            revoke_tokens_except = Some(current);
        }
        if patch.disabled == Some(true) {
            revoke_tokens_except = Some(None);
        }
        let change = |u: &mut User| {
            if let Some(email) = &patch.email {
                u.email.clone_from(email);
            }
            if let Some(role) = patch.role {
                u.role = role;
            }
            if let Some(confirmed) = patch.confirmed {
                u.confirmed = confirmed;
            }
            if let Some(hash) = &password_hash {
                u.password_hash.clone_from(hash);
            }
            if let Some(disabled) = patch.disabled {
                u.disabled = disabled;
            }
        };
        self.modify(user, change, revoke_tokens_except, None).await
    }

    /// Checks `presented` against the account's own password on the hash
    /// pool. A missing or wrong one counts into the account's lockout like a
    /// wrong login password, so a stolen token cannot guess it freely.
    async fn prove_current_password(
        &self,
        user: &User,
        presented: Option<&str>,
    ) -> Result<(), AuthError> {
        let attempt = self.throttle.admit(Subject::Account(user.id))?;
        let Some(presented) = presented else {
            attempt.failed();
            return Err(AuthError::InvalidCurrentPassword);
        };
        let stored = Some(user.password_hash.clone());
        match self
            .hasher
            .verify(Password::presented(presented), stored)
            .await?
        {
            Verified::Yes { .. } => {
                attempt.succeeded();
                Ok(())
            }
            Verified::No => {
                attempt.failed();
                Err(AuthError::InvalidCurrentPassword)
            }
        }
    }

    /// Applies `change` to `base` and stores the result, revoking tokens and
    /// spending a code as asked, then waits until it is durable. If the
    /// stored record changed since `base` was read (an admin's demotion
    /// landing while the user's own PATCH was in flight), the change is
    /// re-applied to the fresh record, so neither write is lost.
    pub(super) async fn modify(
        &self,
        mut base: User,
        change: impl Fn(&mut User),
        revoke_tokens_except: Option<Option<crate::model::TokenId>>,
        consume_code: Option<crate::model::SecretDigest>,
    ) -> Result<User, AuthError> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let mut user = base.clone();
            change(&mut user);
            let update = UserUpdate {
                expected: base,
                user,
                revoke_tokens_except,
                consume_code,
            };
            match self.store.update_user(&update).await? {
                Ok(()) => {
                    let user = update.user;
                    tracing::info!(user_id = %user.id, role = user.role.as_str(), disabled = user.disabled, confirmed = user.confirmed, "user updated");
                    return Ok(user);
                }
                Err(Conflict::Stale) => {
                    base = self
                        .store
                        .user(update.expected.id)
                        .await?
                        .map(Arc::unwrap_or_clone)
                        .ok_or(AuthError::NotFound("no such user"))?;
                }
                Err(Conflict::EmailTaken) => return Err(AuthError::EmailTaken),
                Err(Conflict::LastAdmin) => return Err(AuthError::LastAdmin),
                Err(Conflict::Gone) if consume_code.is_some() => {
                    return Err(AuthError::InvalidCode);
                }
                Err(Conflict::Gone) => return Err(AuthError::NotFound("no such user")),
                Err(other @ Conflict::UsernameTaken) => {
                    return Err(unexpected("updating a user", other));
                }
            }
        }
        Err(AuthError::Internal(format!(
            "user changed {ATTEMPTS} times while being updated"
        )))
    }

    /// Deletes an account with every token it holds: one's own, or any as
    /// an admin.
    pub async fn delete_user(&self, actor: Actor<'_>, id: UserId) -> Result<(), AuthError> {
        self.target(actor, id).await?;
        match self.store.delete_user(id).await? {
            Ok(()) => {}
            Err(Conflict::LastAdmin) => return Err(AuthError::LastAdmin),
            Err(Conflict::Gone) => return Err(AuthError::NotFound("no such user")),
            Err(other @ (Conflict::UsernameTaken | Conflict::EmailTaken | Conflict::Stale)) => {
                return Err(unexpected("deleting a user", other));
            }
        }
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// The account `actor` wants to act on: 404 if it does not exist, 403
    /// if it is someone else's and the actor is not an admin.
    pub(super) async fn target(&self, actor: Actor<'_>, id: UserId) -> Result<User, AuthError> {
        if let Actor::Caller(c) = actor
            && c.id() == id
        {
            return Ok(User::clone(&c.user));
        }
        let user = self.user(id).await?;
        if actor.is(id) || actor.is_admin() {
            Ok(user)
        } else {
            Err(AuthError::Forbidden(
                "only an admin may act on another account",
            ))
        }
    }
}
