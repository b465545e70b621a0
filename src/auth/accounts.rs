//! Account use cases: register, read, list, change and delete users.

use super::password::Password;
use super::{Auth, AuthError, Caller, now};
use crate::model::{Email, Role, User, UserId, Username};
use crate::store::{Conflict, UserUpdate};

/// A change to an account; `None` fields stay as they are.
#[derive(Debug, Default)]
pub struct UserPatch {
    /// `Some(None)` removes the email; `Some(Some(e))` sets it.
    pub email: Option<Option<Email>>,
    /// A new password, not yet policy-checked.
    pub password: Option<String>,
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

impl Auth {
    /// Registers a user: checks the password policy, hashes off the
    /// executor, then writes the user and its indexes in one transaction.
    pub async fn register(
        &self,
        username: Username,
        password: &str,
        email: Option<Email>,
    ) -> Result<User, AuthError> {
        let password = Password::new_checked(password, &self.config.password)?;
        // Cheap pre-check so a taken name costs no hash; the transaction
        // below is what actually guarantees uniqueness.
        if self.store.username_taken(&username.key())? {
            return Err(AuthError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let user = User {
            id: UserId(self.store.next_id()?),
            username,
            email,
            password_hash,
            created_at: now(),
            role: Role::User,
            disabled: false,
            confirmed: true,
        };
        match self.store.insert_user(&user)? {
            Ok(()) => {}
            Err(Conflict::EmailTaken) => return Err(AuthError::EmailTaken),
            Err(_) => return Err(AuthError::UsernameTaken),
        }
        self.store.durable().await?;
        tracing::info!(user_id = %user.id, username = user.username.as_str(), "user registered");
        Ok(user)
    }

    /// One user by id.
    pub fn user(&self, id: UserId) -> Result<User, AuthError> {
        self.store
            .user(id)?
            .ok_or(AuthError::NotFound("no such user"))
    }

    /// A page of users. `page` is 1-based; `per_page` is clamped to
    /// [`MAX_PER_PAGE`]. Both must be at least 1.
    pub fn list_users(&self, page: u64, per_page: u64) -> Result<Page, AuthError> {
        if page == 0 || per_page == 0 {
            return Err(AuthError::InvalidRequest(
                "page and per_page must be at least 1".into(),
            ));
        }
        let per_page = per_page.min(MAX_PER_PAGE);
        let offset = (page - 1).saturating_mul(per_page);
        let limit = usize::try_from(per_page).unwrap_or(usize::MAX);
        Ok(Page {
            items: self.store.users_page(offset, limit)?,
            page,
            per_page,
            total_items: self.store.user_count()?,
        })
    }

    /// Changes the caller's own email and/or password. A new password
    /// revokes every token except the one used for this request.
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: UserId,
        patch: UserPatch,
    ) -> Result<User, AuthError> {
        self.check_self(caller, id)?;
        let mut user = caller.user.clone();
        if let Some(email) = patch.email {
            user.email = email;
        }
        let mut revoke_tokens_except = None;
        if let Some(raw) = patch.password {
            let password = Password::new_checked(&raw, &self.config.password)?;
            user.password_hash = self.hasher.hash(password).await?;
            revoke_tokens_except = Some(caller.token_digest());
        }
        let update = UserUpdate {
            user,
            revoke_tokens_except,
            consume_code: None,
        };
        match self.store.update_user(&update)? {
            Ok(()) => {}
            Err(Conflict::EmailTaken) => return Err(AuthError::EmailTaken),
            Err(_) => return Err(AuthError::NotFound("no such user")),
        }
        self.store.durable().await?;
        tracing::info!(user_id = %id, "user updated");
        Ok(update.user)
    }

    /// Deletes the caller's own account and every token it holds.
    pub async fn delete_user(&self, caller: &Caller, id: UserId) -> Result<(), AuthError> {
        self.check_self(caller, id)?;
        match self.store.delete_user(id)? {
            Ok(()) => {}
            Err(Conflict::LastAdmin) => return Err(AuthError::LastAdmin),
            Err(_) => return Err(AuthError::NotFound("no such user")),
        }
        self.store.durable().await?;
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// Only the account's owner may change it: 404 if it does not exist,
    /// 403 if it is someone else's.
    fn check_self(&self, caller: &Caller, id: UserId) -> Result<(), AuthError> {
        if caller.id() == id {
            return Ok(());
        }
        match self.store.user(id)? {
            Some(_) => Err(AuthError::Forbidden("you may only change your own account")),
            None => Err(AuthError::NotFound("no such user")),
        }
    }
}
