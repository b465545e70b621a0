//! An integrity walk: every record decodes, every index entry points at a
//! live record, and every record is reachable from its indexes.

use super::counters::USER_COUNT;
use super::{StoreResult, Trees, codec, keys, skeletons};
use crate::model::{SecretDigest, TokenRecord, User, UserId};
use std::collections::HashSet;

/// What the walk found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Users stored.
    pub users: u64,
    /// Tokens stored (live or expired but not yet swept).
    pub tokens: u64,
    /// One line per inconsistency; empty when the store is sound.
    pub problems: Vec<String>,
    /// One line per thing worth an operator's look that is not damage: the
    /// store works as it is (names from earlier releases that clash).
    pub findings: Vec<String>,
}

impl CheckReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Trees {
    /// Walks every tree. Meant for a quiescent store (the command line, tests);
    /// on a live one, writes racing the walk can show as false problems.
    pub fn check(&self) -> StoreResult<CheckReport> {
        let i = &*self.inner;
        let mut report = CheckReport::default();
        let mut findings = Vec::new();
        let mut problem = |p: String| report.problems.push(p);
        // Before its first open by this release a store has no skeleton
        // index (a restore checks one such); opening builds it.
        let skeletons_current = self.skeletons_current()?;

        // Ids only, in a set: the walk must stay linear on a million users.
        let mut users = HashSet::new();
        for entry in i.users.iter() {
            let (key, value) = entry?;
            let user = match codec::decode::<User>(&value) {
                Ok(user) if keys::parse_user(&key) == Some(user.id) => user,
                Ok(user) => {
                    problem(format!("user {} stored under a foreign key", user.id));
                    continue;
                }
                Err(e) => {
                    problem(format!("user record {key:?} does not decode: {e}"));
                    continue;
                }
            };
            let by_name = i.user_id_by_name.get(user.username.key().as_bytes())?;
            if by_name.as_deref() != Some(&keys::user(user.id)[..]) {
                problem(format!("user {} is missing from user_id_by_name", user.id));
            }
            // A name that is another account's email: logins by that
            // identifier reach the email's owner, not this name's.
            let name_as_email = i.user_id_by_email.get(user.username.key().as_bytes())?;
            if let Some(other) = name_as_email.as_deref().and_then(keys::parse_user)
                && other != user.id
            {
                findings.push(format!(
                    "username of user {} is the email of user {other}; logins with it reach user {other}",
                    user.id
                ));
            }
            if skeletons_current {
                let ids = i
                    .user_id_by_skeleton
                    .get(user.username.skeleton().as_bytes())?;
                if !ids.is_some_and(|ids| skeletons::ids(&ids).any(|id| id == user.id)) {
                    problem(format!(
                        "user {} is missing from user_id_by_skeleton",
                        user.id
                    ));
                }
            }
            if let Some(email) = &user.email {
                let by_email = i.user_id_by_email.get(email.key().as_bytes())?;
                if by_email.as_deref() != Some(&keys::user(user.id)[..]) {
                    problem(format!("user {} is missing from user_id_by_email", user.id));
                }
            }
            users.insert(user.id);
        }
        for (tree, name) in [
            (&i.user_id_by_name, "user_id_by_name"),
            (&i.user_id_by_email, "user_id_by_email"),
        ] {
            for entry in tree.iter() {
                let (key, id) = entry?;
                let live = keys::parse_user(&id).map(|id| users.contains(&id));
                if live != Some(true) {
                    problem(format!("{name} entry {key:?} points at no user"));
                }
            }
        }
        if skeletons_current {
            for entry in i.user_id_by_skeleton.iter() {
                let (key, value) = entry?;
                let ids: Vec<UserId> = skeletons::ids(&value).collect();
                if ids.is_empty()
                    || value.len() % 8 != 0
                    || ids.iter().any(|id| !users.contains(id))
                {
                    problem(format!(
                        "user_id_by_skeleton entry {key:?} points at no user"
                    ));
                } else if let [first, rest @ ..] = ids.as_slice()
                    && !rest.is_empty()
                {
                    let others: Vec<String> = rest.iter().map(ToString::to_string).collect();
                    findings.push(format!(
                        "users {first} and {} have look-alike names (one confusable skeleton); both keep working, but no new name may look like them",
                        others.join(", ")
                    ));
                }
            }
        }
        report.findings = findings;
        let counted = match i.counters.get(USER_COUNT)? {
            Some(v) => keys::read_u64(&v, "user count")?,
            None => 0,
        };
        report.users = users.len() as u64;
        if counted != report.users {
            report.problems.push(format!(
                "user counter says {counted}, {} users stored",
                report.users
            ));
        }
        report.tokens = self.check_tokens(&users, &mut report.problems)?;
        Ok(report)
    }

    fn check_tokens(
        &self,
        users: &HashSet<UserId>,
        problems: &mut Vec<String>,
    ) -> StoreResult<u64> {
        let i = &*self.inner;
        let mut tokens = 0;
        for entry in i.token_by_digest.iter() {
            let (digest, value) = entry?;
            tokens += 1;
            let record = match codec::decode::<TokenRecord>(&value) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("token record does not decode: {e}"));
                    continue;
                }
            };
            if !users.contains(&record.user_id) {
                problems.push(format!("token {} belongs to no user", record.id.0));
            }
            let user_key = keys::user_token(record.user_id, record.id);
            if i.tokens_by_user.get(user_key)?.as_deref() != Some(&digest[..]) {
                problems.push(format!(
                    "token {} is missing from tokens_by_user",
                    record.id.0
                ));
            }
            let Ok(digest) = <[u8; 32]>::try_from(digest.as_ref()) else {
                problems.push(format!("token {} has a malformed digest key", record.id.0));
                continue;
            };
            let expiry = keys::expiry(record.expires_at, &SecretDigest(digest));
            if !i.token_digest_by_expiry.contains_key(expiry)? {
                problems.push(format!(
                    "token {} is missing from token_digest_by_expiry",
                    record.id.0
                ));
            }
        }
        for entry in i.tokens_by_user.iter() {
            let (_, digest) = entry?;
            if !i.token_by_digest.contains_key(&digest)? {
                problems.push("tokens_by_user entry points at no token".into());
            }
        }
        for entry in i.token_digest_by_expiry.iter() {
            let (key, _) = entry?;
            if !i
                .token_by_digest
                .contains_key(key.get(8..).unwrap_or_default())?
            {
                problems.push("token_digest_by_expiry entry points at no token".into());
            }
        }
        Ok(tokens)
    }
}
