//! User records, their name and email indexes, and the counters kept
//! beside them.

use super::codes::{CodeKeys, remove_codes, spend_code};
use super::counters::{ADMIN_COUNT, LAST_USER_ID, USER_COUNT, bump};
use super::keys::UserTokenKey;
use super::skeletons::{self, SKELETONS_THROUGH};
use super::tokens::{TokenTrees, remove_tokens};
use super::{Conflict, StoreResult, Trees, codec, flatten, keys};
use crate::model::{SecretDigest, User, UserId, Username, unix_now};
use crate::store::UserUpdate;
use sled::Transactional;
use sled::transaction::abort;
use std::sync::Arc;

/// How the active-admin count changes when `old` becomes `new`.
fn admin_delta(old: Option<&User>, new: Option<&User>) -> i64 {
    let active = |u: Option<&User>| i64::from(u.is_some_and(User::is_active_admin));
    active(new) - active(old)
}

impl Trees {
    /// Stores a new user under the next id (whatever `user.id` says) with
    /// its name, skeleton and email index entries, or reports which of them
    /// is taken (a look-alike name counts as taken).
    /// Exactly one of many concurrent registrations of one name succeeds:
    /// the check, the id and the write are one transaction. Ids count up
    /// from 1 and are never reused.
    pub fn insert_user(&self, user: User) -> StoreResult<Result<User, Conflict>> {
        let i = &*self.inner;
        let name_key = user.username.key();
        let skeleton = user.username.skeleton();
        let email_key = user.email.as_ref().map(|e| e.key());
        let _gate = self.writing();
        let outcome = (
            &i.users,
            &i.user_id_by_name,
            &i.user_id_by_skeleton,
            &i.user_id_by_email,
            &i.counters,
        )
            .transaction(|(users, by_name, by_skeleton, by_email, counters)| {
                if by_name.get(name_key.as_bytes())?.is_some() {
                    return abort(Ok(Conflict::UsernameTaken));
                }
                if let Some(ids) = by_skeleton.get(skeleton.as_bytes())? {
                    // An entry whose users are all gone (deleted by a release
                    // that kept no such index) blocks nothing.
                    for other in skeletons::ids(&ids) {
                        if users.get(keys::user(other))?.is_some() {
                            return abort(Ok(Conflict::UsernameTaken));
                        }
                    }
                }
                let user = User {
                    id: UserId(bump(counters, LAST_USER_ID, 1)?),
                    ..user.clone()
                };
                let id = keys::user(user.id);
                by_skeleton.insert(skeleton.as_bytes(), &id)?;
                // Only while the index covers every earlier id, or the next
                // open would skip a rebuild that it needs.
                let through = counters.get(SKELETONS_THROUGH)?;
                if through.as_deref() == Some(&(user.id.0 - 1).to_be_bytes()[..]) {
                    counters.insert(SKELETONS_THROUGH, &id)?;
                }
                if let Some(key) = &email_key {
                    if by_email.get(key.as_bytes())?.is_some() {
                        return abort(Ok(Conflict::EmailTaken));
                    }
                    by_email.insert(key.as_bytes(), &id)?;
                }
                by_name.insert(name_key.as_bytes(), &id)?;
                users.insert(&id, codec::encode(&user)?)?;
                bump(counters, USER_COUNT, 1)?;
                bump(counters, ADMIN_COUNT, admin_delta(None, Some(&user)))?;
                Ok(user)
            });
        flatten(outcome)
    }

    /// One user by id: from the cache when it holds it (see `user_cache`).
    pub fn user(&self, id: UserId) -> StoreResult<Option<Arc<User>>> {
        let cache = &self.inner.user_cache;
        if let Some(user) = cache.get(id) {
            return Ok(Some(user));
        }
        let writes = cache.writes();
        let user = super::read::<User>(&self.inner.users, &keys::user(id))?.map(Arc::new);
        if let Some(user) = &user {
            cache.keep(user, writes);
        }
        Ok(user)
    }

    /// The user a login identifier names (`key` is its
    /// [`crate::model::login_key`]): with an `@` it is an email, without one
    /// a username, so no username can stand in for another account's email.
    /// Only names stored by earlier releases can hold an `@`; an identifier
    /// with one falls back to them when no account has it as its email, so
    /// they can still log in (`latchkey check` reports the clashes).
    pub fn user_by_login(&self, key: &str) -> StoreResult<Option<User>> {
        let i = &*self.inner;
        let id = if key.contains('@') {
            match i.user_id_by_email.get(key.as_bytes())? {
                Some(id) => Some(id),
                None => i.user_id_by_name.get(key.as_bytes())?,
            }
        } else {
            i.user_id_by_name.get(key.as_bytes())?
        };
        match id {
            // A copy of its own: logins are rare, and their callers own it.
            Some(id) => Ok(self
                .user(UserId(keys::read_u64(&id, "user id index")?))?
                .map(Arc::unwrap_or_clone)),
            None => Ok(None),
        }
    }

    /// Whether a user holds this name or one that looks like it (email not
    /// consulted). A hint only: the insert's transaction decides.
    pub fn username_taken(&self, name: &Username) -> StoreResult<bool> {
        let i = &*self.inner;
        if i.user_id_by_name.contains_key(name.key().as_bytes())? {
            return Ok(true);
        }
        match i.user_id_by_skeleton.get(name.skeleton().as_bytes())? {
            Some(ids) => {
                for id in skeletons::ids(&ids) {
                    if i.users.contains_key(keys::user(id))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// How many users exist, read from the counter kept beside them.
    pub fn user_count(&self) -> StoreResult<u64> {
        self.counter(USER_COUNT)
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

    /// How many enabled admins exist.
    pub fn admin_count(&self) -> StoreResult<u64> {
        self.counter(ADMIN_COUNT)
    }

    /// Replaces a user's record, moving its email index entry if the email
    /// changed, revoking tokens and spending a code if asked, all in one
    /// transaction. Refuses (`Conflict::LastAdmin`) to leave a store that
    /// had an enabled admin without one.
    pub fn update_user(&self, update: &UserUpdate) -> StoreResult<Result<(), Conflict>> {
        let _writes = self.token_writes();
        let i = &*self.inner;
        let user = &update.user;
        let id = keys::user(user.id);
        let value = codec::encode(user)?;
        let new_email = user.email.as_ref().map(|e| e.key());
        let now = unix_now();
        let revoke: Vec<(UserTokenKey, SecretDigest)> = match update.revoke_tokens_except {
            Some(keep) => self.token_keys_of(user.id, keep)?,
            None => Vec::new(),
        };
        let codes_held = match update.consume_code {
            Some(_) => self.code_keys_of(user.id)?,
            None => Vec::new(),
        };
        let _gate = self.writing();
        let outcome = (
            &i.users,
            &i.user_id_by_email,
            &i.counters,
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
            &i.code_by_digest,
            &i.codes_by_user,
            &i.revoked_session_at,
        )
            .transaction(
                |(
                    users,
                    by_email,
                    counters,
                    by_digest,
                    by_user,
                    by_expiry,
                    codes,
                    user_codes,
                    revoked,
                )| {
                    let Some(old) = users.get(id)? else {
                        return abort(Ok(Conflict::Gone));
                    };
                    let old: User = codec::decode(&old)?;
                    if old != update.expected {
                        return abort(Ok(Conflict::Stale));
                    }
                    if let Some(code) = &update.consume_code {
                        let spent = CodeKeys::of(user.id, code);
                        spend_code(codes, user_codes, spent, &codes_held)?;
                    }
                    let admins = bump(counters, ADMIN_COUNT, admin_delta(Some(&old), Some(user)))?;
                    if admins == 0 && old.is_active_admin() {
                        return abort(Ok(Conflict::LastAdmin));
                    }
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
                    let trees = TokenTrees {
                        by_digest,
                        by_user,
                        by_expiry,
                        revoked: Some(revoked),
                    };
                    remove_tokens(&trees, &revoke, now)
                },
            );
        i.user_cache.forget(user.id);
        Ok(flatten(outcome)?.map(|sessions| {
            self.mark_revoked(&sessions, now);
            crate::metrics::tokens_revoked(revoke.len());
        }))
    }

    /// Deletes a user, its index entries, tokens and codes in one
    /// transaction. `Conflict::Gone` if there was no such user,
    /// `Conflict::LastAdmin` if it is the last enabled admin.
    pub fn delete_user(&self, id: UserId) -> StoreResult<Result<(), Conflict>> {
        let _writes = self.token_writes();
        let i = &*self.inner;
        let key = keys::user(id);
        let tokens = self.token_keys_of(id, None)?;
        let user_codes = self.code_keys_of(id)?;
        let now = unix_now();
        let _gate = self.writing();
        let outcome = (
            &i.users,
            &i.user_id_by_name,
            &i.user_id_by_skeleton,
            &i.user_id_by_email,
            &i.counters,
            &i.token_by_digest,
            &i.tokens_by_user,
            &i.token_digest_by_expiry,
            &i.code_by_digest,
            &i.codes_by_user,
        )
            .transaction(
                |(
                    users,
                    by_name,
                    by_skeleton,
                    by_email,
                    counters,
                    by_digest,
                    by_user,
                    by_expiry,
                    codes,
                    codes_by_user,
                )| {
                    let Some(old) = users.remove(&key)? else {
                        return abort(Ok(Conflict::Gone));
                    };
                    let old: User = codec::decode(&old)?;
                    let admins = bump(counters, ADMIN_COUNT, admin_delta(Some(&old), None))?;
                    if admins == 0 && old.is_active_admin() {
                        return abort(Ok(Conflict::LastAdmin));
                    }
                    by_name.remove(old.username.key().as_bytes())?;
                    let skeleton = old.username.skeleton();
                    if let Some(ids) = by_skeleton.get(skeleton.as_bytes())? {
                        let rest = skeletons::without(&ids, id);
                        if rest.is_empty() {
                            by_skeleton.remove(skeleton.as_bytes())?;
                        } else {
                            by_skeleton.insert(skeleton.as_bytes(), rest)?;
                        }
                    }
                    if let Some(email) = &old.email {
                        by_email.remove(email.key().as_bytes())?;
                    }
                    bump(counters, USER_COUNT, -1)?;
                    let trees = TokenTrees {
                        by_digest,
                        by_user,
                        by_expiry,
                        revoked: None,
                    };
                    remove_tokens(&trees, &tokens, now)?;
                    remove_codes(codes, codes_by_user, &user_codes)?;
                    Ok(())
                },
            );
        i.user_cache.forget(id);
        let outcome = flatten(outcome)?;
        if outcome.is_ok() {
            crate::metrics::tokens_revoked(tokens.len());
        }
        Ok(outcome)
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
        let key = keys::user(id);
        let _gate = self.writing();
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
        self.inner.user_cache.forget(id);
        Ok(flatten(outcome)?.unwrap_or(None))
    }
}
