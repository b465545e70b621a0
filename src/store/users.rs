//! User records and their name and email indexes.

use super::tokens::remove_tokens;
use super::{Conflict, Store, StoreResult, USER_COUNT, codec, flatten, read_u64};
use crate::model::{TokenDigest, User, UserId};
use sled::Transactional;
use sled::transaction::abort;

/// A change to an existing user, applied in one transaction.
#[derive(Debug)]
pub struct UserUpdate {
    /// The record as it should be stored.
    pub user: User,
    /// Revoke every token of the user except this one (a password change).
    /// `None` leaves tokens alone.
    pub revoke_tokens_except: Option<Option<TokenDigest>>,
}

impl Store {
    /// Stores a new user and its name and email index entries, or reports
    /// which of them is taken. Exactly one of many concurrent registrations
    /// of one name succeeds: the check and the write are one transaction.
    pub fn insert_user(&self, user: &User) -> StoreResult<Result<(), Conflict>> {
        let i = &*self.inner;
        let value = codec::encode(user)?;
        let name_key = user.username.key();
        let email_key = user.email.as_ref().map(|e| e.key());
        let id = user.id.to_key();
        let outcome = (
            &i.users,
            &i.user_id_by_name,
            &i.user_id_by_email,
            &i.counters,
        )
            .transaction(|(users, by_name, by_email, counters)| {
                if by_name.get(name_key.as_bytes())?.is_some() {
                    return abort(Ok(Conflict::UsernameTaken));
                }
                if let Some(key) = &email_key {
                    if by_email.get(key.as_bytes())?.is_some() {
                        return abort(Ok(Conflict::EmailTaken));
                    }
                    by_email.insert(key.as_bytes(), &id)?;
                }
                by_name.insert(name_key.as_bytes(), &id)?;
                users.insert(&id, value.as_slice())?;
                let count = match counters.get(USER_COUNT)? {
                    Some(v) => read_u64(&v, "user count")?,
                    None => 0,
                };
                counters.insert(USER_COUNT, &(count + 1).to_be_bytes())?;
                Ok(())
            });
        flatten(outcome)
    }

    /// One user by id.
    pub fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner
            .users
            .get(id.to_key())?
            .map(|v| codec::decode(&v))
            .transpose()
            .map_err(Into::into)
    }

    /// The user whose lowercased name, or failing that lowercased email,
    /// equals `key` (see [`crate::model::login_key`]).
    pub fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        let i = &*self.inner;
        let id = match i.user_id_by_name.get(key.as_bytes())? {
            Some(id) => Some(id),
            None => i.user_id_by_email.get(key.as_bytes())?,
        };
        match id {
            Some(id) => self.user(UserId(read_u64(&id, "user id index")?)),
            None => Ok(None),
        }
    }

    /// Whether a user holds this lowercased username (email not consulted).
    pub fn username_taken(&self, key: &str) -> StoreResult<bool> {
        Ok(self.inner.user_id_by_name.contains_key(key.as_bytes())?)
    }

    /// How many users exist, read from the counter kept beside them.
    pub fn user_count(&self) -> StoreResult<u64> {
        match self.inner.counters.get(USER_COUNT)? {
            Some(v) => read_u64(&v, "user count"),
            None => Ok(0),
        }
    }

    /// Users in id order, skipping `offset` and returning at most `limit`.
    pub fn users_page(&self, offset: u64, limit: usize) -> StoreResult<Vec<User>> {
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        self.inner
            .users
            .iter()
            .values()
            .skip(skip)
            .take(limit)
            .map(|v| Ok(codec::decode(&v?)?))
            .collect()
    }

    /// Replaces a user's record, moving its email index entry if the email
    /// changed and revoking tokens if asked, all in one transaction.
    pub fn update_user(&self, update: &UserUpdate) -> StoreResult<Result<(), Conflict>> {
        let i = &*self.inner;
        let user = &update.user;
        let id = user.id.to_key();
        let value = codec::encode(user)?;
        let new_email = user.email.as_ref().map(|e| e.key());
        let revoke = match update.revoke_tokens_except {
            Some(keep) => self.token_keys_of(user.id, keep)?,
            None => Vec::new(),
        };
        let outcome = (
            &i.users,
            &i.user_id_by_email,
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
        )
            .transaction(|(users, by_email, by_digest, by_user, by_expiry)| {
                let Some(old) = users.get(id)? else {
                    return abort(Ok(Conflict::Gone));
                };
                let old: User = codec::decode(&old)?;
                let old_email = old.email.as_ref().map(|e| e.key());
                if old_email != new_email {
                    if let Some(key) = &new_email {
                        if by_email.get(key.as_bytes())?.is_some() {
                            return abort(Ok(Conflict::EmailTaken));
                        }
                        by_email.insert(key.as_bytes(), &id)?;
                    }
                    if let Some(key) = &old_email {
                        by_email.remove(key.as_bytes())?;
                    }
                }
                users.insert(&id, value.as_slice())?;
                remove_tokens(by_digest, by_user, by_expiry, &revoke)?;
                Ok(())
            });
        flatten(outcome)
    }

    /// Deletes a user, its index entries and all its tokens in one
    /// transaction. Returns false if there was no such user.
    pub fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let i = &*self.inner;
        let key = id.to_key();
        let tokens = self.token_keys_of(id, None)?;
        let outcome = (
            &i.users,
            &i.user_id_by_name,
            &i.user_id_by_email,
            &i.counters,
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
        )
            .transaction(
                |(users, by_name, by_email, counters, by_digest, by_user, by_expiry)| {
                    let Some(old) = users.remove(&key)? else {
                        return abort(Ok(Conflict::Gone));
                    };
                    let old: User = codec::decode(&old)?;
                    by_name.remove(old.username.key().as_bytes())?;
                    if let Some(email) = &old.email {
                        by_email.remove(email.key().as_bytes())?;
                    }
                    let count = match counters.get(USER_COUNT)? {
                        Some(v) => read_u64(&v, "user count")?,
                        None => 0,
                    };
                    counters.insert(USER_COUNT, &count.saturating_sub(1).to_be_bytes())?;
                    remove_tokens(by_digest, by_user, by_expiry, &tokens)?;
                    Ok(())
                },
            );
        // A token issued between the scan above and the transaction would
        // survive it; issuing checks the user exists inside its own
        // transaction, so after this commit no new one can appear. Sweep up.
        match flatten(outcome)? {
            Ok(()) => {
                self.revoke_all_tokens(id, None)?;
                Ok(true)
            }
            Err(_) => Ok(false),
        }
    }

    /// Swaps the password hash if it is still `old`: a login's rehash must
    /// not undo a password change that landed meanwhile. Returns the updated
    /// user, or `None` if the user is gone or the hash changed.
    pub fn replace_password_hash(
        &self,
        id: UserId,
        old: &str,
        new: &str,
    ) -> StoreResult<Option<User>> {
        let key = id.to_key();
        let outcome = self.inner.users.transaction(|users| {
            let Some(current) = users.get(key)? else {
                return Ok(None);
            };
            let mut user: User = codec::decode(&current)?;
            if user.password_hash != old {
                return Ok(None);
            }
            user.password_hash = new.to_owned();
            users.insert(&key, codec::encode(&user)?)?;
            Ok(Some(user))
        });
        Ok(flatten(outcome)?.unwrap_or(None))
    }
}
