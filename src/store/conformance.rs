//! One behaviour suite that every backend passes, written against the seam
//! ([`Store`]) and never against a backend's own types.
//!
//! Each check is a generic `async fn` over a [`Backend`], the thing that
//! makes empty stores and restores backups for it. `suite!` turns every
//! check into a test per backend; a new backend implements `Backend` and
//! adds one `suite!` line at the bottom of this file.

use super::{Conflict, Rotation, Settings, Store, UserUpdate};
use crate::model::{
    CodeKind, CodeRecord, Email, Role, SecretDigest, SigningKey, TokenId, TokenKind, TokenRecord,
    User, UserId, Username,
};
use std::collections::HashSet;
use std::io::Read;

/// A store under test, with whatever keeps it alive (a temp dir, say).
/// Borrow the store from it (`subject.store()`): the subject must outlive
/// every use of the store.
pub(super) struct Subject {
    store: Store,
    _keep: Box<dyn Send>,
}

impl Subject {
    fn store(&self) -> &Store {
        &self.store
    }
}

/// What the suite needs from a backend.
pub(super) trait Backend {
    /// An empty store of its own.
    async fn fresh() -> Subject;
    /// A new store restored from `backup`, a snapshot's bytes.
    async fn restored(backup: Vec<u8>) -> Subject;
}

/// The embedded backend, in a temp dir.
pub(super) struct Sled;

impl Backend for Sled {
    async fn fresh() -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &Settings::default()).unwrap();
        Subject {
            store,
            _keep: Box::new(dir),
        }
    }

    async fn restored(backup: Vec<u8>) -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("restored");
        Store::restore(&backup[..], &target, &Settings::default()).unwrap();
        let store = open_when_released(|| Store::open(&target, &Settings::default()));
        Subject {
            store,
            _keep: Box::new(dir),
        }
    }
}

/// Opens with `open`, retrying while the store is `Locked`: sled's own I/O
/// threads can hold a directory's lock for a moment after the last handle
/// on it is dropped, so a reopen (or an open after a restore) may race them.
pub(super) fn open_when_released<T>(mut open: impl FnMut() -> super::StoreResult<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match open() {
            Ok(store) => return store,
            Err(super::StoreError::Locked) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the store did not open: {e}"),
        }
    }
}

/// A user record not yet stored.
pub(super) fn new_user(name: &str, email: Option<&str>) -> User {
    User {
        id: UserId(0),
        username: Username::parse(name).unwrap(),
        email: email.map(|e| Email::parse(e).unwrap()),
        password_hash: "$scrypt$unused".into(),
        created_at: 1_700_000_000,
        role: Role::User,
        disabled: false,
        confirmed: true,
    }
}

/// An update that replaces `expected` with `user` and does nothing else.
pub(super) fn replacing(expected: &User, user: &User) -> UserUpdate {
    UserUpdate {
        expected: expected.clone(),
        user: user.clone(),
        revoke_tokens_except: None,
        consume_code: None,
    }
}

async fn user(store: &Store, name: &str, email: Option<&str>) -> User {
    store
        .insert_user(new_user(name, email))
        .await
        .unwrap()
        .unwrap()
}

async fn admin(store: &Store, name: &str) -> User {
    let record = User {
        role: Role::Admin,
        ..new_user(name, None)
    };
    store.insert_user(record).await.unwrap().unwrap()
}

fn digest(seed: u8) -> SecretDigest {
    SecretDigest([seed; 32])
}

async fn token(
    store: &Store,
    user: &User,
    kind: TokenKind,
    seed: u8,
    expires_at: i64,
) -> TokenRecord {
    let record = TokenRecord {
        id: TokenId(0),
        kind,
        user_id: user.id,
        created_at: 1_700_000_000,
        expires_at,
    };
    store
        .insert_token(&digest(seed), record)
        .await
        .unwrap()
        .unwrap()
}

async fn code(
    store: &Store,
    user: &User,
    kind: CodeKind,
    seed: u8,
    expires_at: i64,
) -> SecretDigest {
    let record = CodeRecord {
        kind,
        user_id: user.id,
        created_at: i64::from(seed),
        expires_at,
    };
    store
        .insert_code(&digest(seed), &record, 3)
        .await
        .unwrap()
        .unwrap();
    digest(seed)
}

fn signing_key(kid: &str, created_at: i64) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        key_pair: vec![7; 32],
        created_at,
        superseded_at: None,
    }
}

async fn name_taken_by_case_look_alike_or_email_is_refused_and_writes_nothing<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", Some("alice@example.com")).await;
    user(s, "paypal", None).await;
    let refused = [
        (new_user("ALICE", None), Conflict::UsernameTaken),
        // Cyrillic "раура" + Latin "l": the same skeleton as "paypal".
        (
            new_user("\u{440}\u{430}\u{443}\u{440}\u{430}l", None),
            Conflict::UsernameTaken,
        ),
        (
            new_user("bob", Some("Alice@Example.com")),
            Conflict::EmailTaken,
        ),
    ];
    for (record, conflict) in refused {
        assert_eq!(s.insert_user(record).await.unwrap(), Err(conflict));
    }
    assert_eq!(s.user_count().await.unwrap(), 2);
    assert!(s.user_by_login("bob").await.unwrap().is_none());
    let found = s.user_by_login("alice@example.com").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert!(
        s.username_taken(&Username::parse("Alice").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !s.username_taken(&Username::parse("carol").unwrap())
            .await
            .unwrap()
    );
}

async fn fifty_concurrent_registrations_of_one_name_give_exactly_one_success<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let attempts: Vec<_> = (0..50)
        .map(|i| {
            let s = s.clone();
            let email = format!("racer{i}@example.com");
            tokio::spawn(async move { s.insert_user(new_user("racer", Some(&email))).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || *o == Err(Conflict::UsernameTaken))
    );
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn users_get_distinct_ids_and_page_in_id_order<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        ids.push(user(s, name, None).await.id);
    }
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
    let page = |offset, limit| {
        let s = s.clone();
        async move {
            let users = s.users_page(offset, limit).await.unwrap();
            users
                .iter()
                .map(|u| u.username.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(0, 2).await, ["ann", "ben"]);
    assert_eq!(page(2, 10).await, ["cat", "dan", "eve"]);
    assert!(page(5, 10).await.is_empty());
    assert_eq!(
        s.user(ids[1]).await.unwrap().unwrap().username.as_str(),
        "ben"
    );
}

async fn a_token_is_found_by_digest_listed_and_revoked_once<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let bob = user(s, "bob", None).await;
    let first = token(s, &alice, TokenKind::Access, 1, i64::MAX).await;
    let second = token(s, &alice, TokenKind::Access, 2, 1_800_000_000).await;
    assert_ne!(first.id, second.id);
    assert_eq!(s.token(&digest(1)).await.unwrap(), Some(first.clone()));
    assert_eq!(
        s.token(&digest(2)).await.unwrap().unwrap().expires_at,
        1_800_000_000
    );
    let listed: Vec<_> = s.tokens_of(alice.id).await.unwrap();
    assert_eq!(listed, [(digest(1), first.clone()), (digest(2), second)]);
    assert!(
        !s.revoke_token_of(bob.id, first.id).await.unwrap(),
        "not bob's"
    );
    assert!(s.revoke_token_of(alice.id, first.id).await.unwrap());
    assert!(
        !s.revoke_token_of(alice.id, first.id).await.unwrap(),
        "gone"
    );
    assert!(s.token(&digest(1)).await.unwrap().is_none());
    assert_eq!(s.tokens_of(alice.id).await.unwrap().len(), 1);
}

async fn a_token_for_a_deleted_user_is_refused<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    s.delete_user(alice.id).await.unwrap().unwrap();
    let record = TokenRecord {
        id: TokenId(0),
        kind: TokenKind::Access,
        user_id: alice.id,
        created_at: 0,
        expires_at: i64::MAX,
    };
    assert_eq!(
        s.insert_token(&digest(1), record).await.unwrap(),
        Err(Conflict::Gone)
    );
    assert_eq!(s.delete_user(alice.id).await.unwrap(), Err(Conflict::Gone));
}

async fn revoking_all_tokens_keeps_only_the_one_asked_and_revokes_sessions<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let keep = token(s, &alice, TokenKind::Access, 1, i64::MAX).await;
    let refresh = token(s, &alice, TokenKind::Refresh, 2, i64::MAX).await;
    token(s, &alice, TokenKind::Access, 3, i64::MAX).await;
    assert_eq!(
        s.revoke_all_tokens(alice.id, Some(keep.id)).await.unwrap(),
        2
    );
    let left: Vec<_> = s.tokens_of(alice.id).await.unwrap();
    assert_eq!(left, [(digest(1), keep.clone())]);
    assert!(s.is_session_revoked(refresh.id).await.unwrap());
    assert!(!s.is_session_revoked(keep.id).await.unwrap());
    assert_eq!(s.revoke_all_tokens(alice.id, None).await.unwrap(), 1);
}

async fn rotating_a_refresh_token_keeps_the_session_and_reuse_revokes_it<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let session = token(s, &alice, TokenKind::Refresh, 1, i64::MAX).await.id;
    let Rotation::Rotated(next) = s
        .rotate_refresh(&digest(1), &digest(2), i64::MAX)
        .await
        .unwrap()
    else {
        panic!("a live refresh token rotates");
    };
    assert_eq!(next.id, session);
    assert_eq!(next.kind, TokenKind::Refresh);
    assert!(!s.is_session_revoked(session).await.unwrap());
    assert!(s.token(&digest(1)).await.unwrap().is_none(), "spent");

    let reuse = s
        .rotate_refresh(&digest(1), &digest(3), i64::MAX)
        .await
        .unwrap();
    assert!(matches!(reuse, Rotation::Reused(ref spent) if spent.session == session));
    assert!(s.is_session_revoked(session).await.unwrap());
    assert!(
        s.token(&digest(2)).await.unwrap().is_none(),
        "the successor dies too"
    );
    for unknown in [digest(2), digest(9)] {
        let refused = s
            .rotate_refresh(&unknown, &digest(4), i64::MAX)
            .await
            .unwrap();
        assert_eq!(refused, Rotation::Refused);
    }
    let access = token(s, &alice, TokenKind::Access, 5, i64::MAX).await;
    let not_refresh = s
        .rotate_refresh(&digest(5), &digest(6), i64::MAX)
        .await
        .unwrap();
    assert_eq!(not_refresh, Rotation::Refused);
    assert!(s.token(&digest(5)).await.unwrap() == Some(access));
}

async fn concurrent_rotations_of_one_refresh_token_give_one_successor<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    token(s, &alice, TokenKind::Refresh, 1, i64::MAX).await;
    let racers: Vec<_> = (10..30)
        .map(|seed| {
            let s = s.clone();
            tokio::spawn(async move { s.rotate_refresh(&digest(1), &digest(seed), i64::MAX).await })
        })
        .collect();
    let mut rotated = 0;
    for racer in racers {
        if let Rotation::Rotated(_) = racer.await.unwrap().unwrap() {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
}

async fn a_code_is_spent_once_under_concurrency_with_its_kind<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let resets: Vec<_> = [1, 2, 3, 4]
        .into_iter()
        .map(|seed| code(s, &alice, CodeKind::PasswordReset, seed, i64::MAX))
        .collect();
    let mut live = Vec::new();
    for reset in resets {
        live.push(reset.await);
    }
    let confirmation = code(s, &alice, CodeKind::Confirmation, 9, i64::MAX).await;
    assert!(
        s.code(&live[0]).await.unwrap().is_none(),
        "at most three: the oldest went"
    );
    let spend = live[2];
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            let mut changed = alice.clone();
            changed.password_hash = format!("$scrypt$racer{i}");
            let update = UserUpdate {
                consume_code: Some(spend),
                ..replacing(&alice, &changed)
            };
            tokio::spawn(async move { s.update_user(&update).await })
        })
        .collect();
    let mut spent = 0;
    for racer in racers {
        match racer.await.unwrap().unwrap() {
            Ok(()) => spent += 1,
            Err(Conflict::Gone | Conflict::Stale) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(spent, 1);
    for code in &live {
        assert!(
            s.code(code).await.unwrap().is_none(),
            "the whole kind is spent"
        );
    }
    assert!(
        s.code(&confirmation).await.unwrap().is_some(),
        "another kind stays"
    );
    let current = s.user(alice.id).await.unwrap().unwrap();
    let again = UserUpdate {
        consume_code: Some(spend),
        ..replacing(&current, &current)
    };
    assert_eq!(s.update_user(&again).await.unwrap(), Err(Conflict::Gone));
}

async fn an_update_from_a_stale_record_writes_nothing<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let mut renamed = alice.clone();
    renamed.email = Some(Email::parse("new@example.com").unwrap());
    s.update_user(&replacing(&alice, &renamed))
        .await
        .unwrap()
        .unwrap();
    let mut late = alice.clone();
    late.confirmed = false;
    assert_eq!(
        s.update_user(&replacing(&alice, &late)).await.unwrap(),
        Err(Conflict::Stale)
    );
    let stored = s.user(alice.id).await.unwrap().unwrap();
    assert_eq!(*stored, renamed);
    let found = s.user_by_login("new@example.com").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
}

async fn a_password_change_keeps_one_token_and_moves_nothing_else<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let keep = token(s, &alice, TokenKind::Access, 1, i64::MAX).await;
    token(s, &alice, TokenKind::Access, 2, i64::MAX).await;
    let mut changed = alice.clone();
    changed.password_hash = "$scrypt$new".into();
    let update = UserUpdate {
        revoke_tokens_except: Some(Some(keep.id)),
        ..replacing(&alice, &changed)
    };
    s.update_user(&update).await.unwrap().unwrap();
    let left: Vec<_> = s.tokens_of(alice.id).await.unwrap();
    assert_eq!(left, [(digest(1), keep)]);
    let stale = s.replace_password_hash(alice.id, "$scrypt$unused", "$scrypt$rehash");
    assert_eq!(stale.await.unwrap(), None, "the hash changed meanwhile");
    let rehashed = s
        .replace_password_hash(alice.id, "$scrypt$new", "$scrypt$rehash")
        .await;
    assert_eq!(rehashed.unwrap().unwrap().password_hash, "$scrypt$rehash");
}

async fn the_last_enabled_admin_cannot_be_deleted_demoted_or_disabled<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let root = admin(s, "root").await;
    assert_eq!(s.admin_count().await.unwrap(), 1);
    let demoted = User {
        role: Role::User,
        ..root.clone()
    };
    let disabled = User {
        disabled: true,
        ..root.clone()
    };
    for change in [demoted, disabled] {
        assert_eq!(
            s.update_user(&replacing(&root, &change)).await.unwrap(),
            Err(Conflict::LastAdmin)
        );
    }
    assert_eq!(
        s.delete_user(root.id).await.unwrap(),
        Err(Conflict::LastAdmin)
    );
    let other = admin(s, "other").await;
    assert_eq!(s.admin_count().await.unwrap(), 2);
    s.delete_user(root.id).await.unwrap().unwrap();
    assert_eq!(s.admin_count().await.unwrap(), 1);
    assert_eq!(
        s.delete_user(other.id).await.unwrap(),
        Err(Conflict::LastAdmin)
    );
}

async fn deleting_a_user_frees_its_name_and_email_and_drops_its_tokens_and_codes<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", Some("alice@example.com")).await;
    token(s, &alice, TokenKind::Access, 1, i64::MAX).await;
    let refresh = token(s, &alice, TokenKind::Refresh, 2, i64::MAX).await;
    let reset = code(s, &alice, CodeKind::PasswordReset, 3, i64::MAX).await;
    s.delete_user(alice.id).await.unwrap().unwrap();
    assert!(s.user(alice.id).await.unwrap().is_none());
    assert!(s.token(&digest(1)).await.unwrap().is_none());
    assert!(s.token(&digest(2)).await.unwrap().is_none());
    assert!(s.code(&reset).await.unwrap().is_none());
    assert_eq!(
        s.rotate_refresh(&digest(2), &digest(4), i64::MAX)
            .await
            .unwrap(),
        Rotation::Refused
    );
    assert!(s.tokens_of(alice.id).await.unwrap().is_empty());
    assert_eq!(s.user_count().await.unwrap(), 0);
    let again = user(s, "alice", Some("alice@example.com")).await;
    assert_ne!(again.id, alice.id, "an id is never handed out twice");
    let record = TokenRecord {
        id: TokenId(0),
        ..refresh
    };
    assert_eq!(
        s.insert_token(&digest(2), record).await.unwrap(),
        Err(Conflict::Gone)
    );
}

async fn sweeps_delete_only_what_has_expired<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let now = 1_800_000_000;
    token(s, &alice, TokenKind::Access, 1, now - 1).await;
    token(s, &alice, TokenKind::Access, 2, now).await;
    let live = token(s, &alice, TokenKind::Access, 3, now + 1).await;
    code(s, &alice, CodeKind::PasswordReset, 4, now - 1).await;
    let live_code = code(s, &alice, CodeKind::Confirmation, 5, now + 60).await;
    assert_eq!(
        s.sweep_expired_tokens(now).await.unwrap(),
        2,
        "dead at its expiry second"
    );
    assert_eq!(s.sweep_expired_codes(now).await.unwrap(), 1);
    let left: Vec<_> = s.tokens_of(alice.id).await.unwrap();
    assert_eq!(left, [(digest(3), live)]);
    assert!(s.code(&live_code).await.unwrap().is_some());
    assert_eq!(s.sweep_expired_tokens(now).await.unwrap(), 0);
}

async fn a_revoked_session_is_remembered_until_the_sweep_horizon<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", None).await;
    let session = token(s, &alice, TokenKind::Refresh, 1, i64::MAX).await.id;
    s.revoke_token_of(alice.id, session).await.unwrap();
    assert!(s.is_session_revoked(session).await.unwrap());
    let now = crate::model::unix_now();
    s.sweep_sessions(now, 3600).await.unwrap();
    assert!(
        s.is_session_revoked(session).await.unwrap(),
        "within the horizon"
    );
    s.sweep_sessions(now + 3601, 3600).await.unwrap();
    assert!(!s.is_session_revoked(session).await.unwrap(), "past it");
}

async fn a_new_signing_key_supersedes_the_current_one<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    assert!(s.signing_keys().await.unwrap().is_empty());
    s.add_signing_key(&signing_key("one", 100)).await.unwrap();
    s.add_signing_key(&signing_key("two", 200)).await.unwrap();
    let mut keys = s.signing_keys().await.unwrap();
    keys.sort_by_key(|k| k.created_at);
    let seen: Vec<_> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.superseded_at))
        .collect();
    assert_eq!(seen, [("one", Some(200)), ("two", None)]);
}

async fn a_restored_backup_holds_every_record_and_revoked_session<B: Backend>() {
    let fresh = B::fresh().await;
    let s = fresh.store();
    let alice = user(s, "alice", Some("alice@example.com")).await;
    let root = admin(s, "root").await;
    let access = token(s, &alice, TokenKind::Access, 1, i64::MAX).await;
    let revoked = token(s, &root, TokenKind::Refresh, 2, i64::MAX).await;
    s.revoke_token_of(root.id, revoked.id).await.unwrap();
    let reset = code(s, &alice, CodeKind::PasswordReset, 3, i64::MAX).await;
    s.add_signing_key(&signing_key("kid", 100)).await.unwrap();
    let mut backup = Vec::new();
    s.snapshot()
        .await
        .unwrap()
        .read_to_end(&mut backup)
        .unwrap();

    let restored = B::restored(backup).await;
    let r = restored.store();
    assert_eq!(r.user_count().await.unwrap(), 2);
    assert_eq!(r.admin_count().await.unwrap(), 1);
    assert_eq!(
        r.user_by_login("alice@example.com").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(r.token(&digest(1)).await.unwrap(), Some(access));
    assert!(r.is_session_revoked(revoked.id).await.unwrap());
    assert!(r.code(&reset).await.unwrap().is_some());
    assert_eq!(r.signing_keys().await.unwrap(), [signing_key("kid", 100)]);
    assert_eq!(
        r.insert_user(new_user("alice", None)).await.unwrap(),
        Err(Conflict::UsernameTaken)
    );
    let next = user(r, "carol", None).await;
    assert!(next.id != alice.id && next.id != root.id, "ids carry on");
}

/// One `#[tokio::test]` per check, for the backend `$backend`.
macro_rules! suite {
    ($module:ident: $backend:ty) => {
        mod $module {
            suite!(@tests $backend;
                name_taken_by_case_look_alike_or_email_is_refused_and_writes_nothing,
                fifty_concurrent_registrations_of_one_name_give_exactly_one_success,
                users_get_distinct_ids_and_page_in_id_order,
                a_token_is_found_by_digest_listed_and_revoked_once,
                a_token_for_a_deleted_user_is_refused,
                revoking_all_tokens_keeps_only_the_one_asked_and_revokes_sessions,
                rotating_a_refresh_token_keeps_the_session_and_reuse_revokes_it,
                concurrent_rotations_of_one_refresh_token_give_one_successor,
                a_code_is_spent_once_under_concurrency_with_its_kind,
                an_update_from_a_stale_record_writes_nothing,
                a_password_change_keeps_one_token_and_moves_nothing_else,
                the_last_enabled_admin_cannot_be_deleted_demoted_or_disabled,
                deleting_a_user_frees_its_name_and_email_and_drops_its_tokens_and_codes,
                sweeps_delete_only_what_has_expired,
                a_revoked_session_is_remembered_until_the_sweep_horizon,
                a_new_signing_key_supersedes_the_current_one,
                a_restored_backup_holds_every_record_and_revoked_session,
            );
        }
    };
    (@tests $backend:ty; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                super::$check::<$backend>().await;
            }
        )*
    };
}

suite!(sled: super::Sled);
