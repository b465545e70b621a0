//! The sled backend's own behaviour against a real sled directory.

use super::*;
use crate::model::{
    CodeKind, CodeRecord, Email, SecretDigest, TokenId, TokenKind, TokenRecord, User, UserId,
    Username,
};
use crate::store::conformance::{new_user, open_when_released, replacing};
use crate::store::{Rotation, UserUpdate};

/// Opens the store in `dir` again once sled has let go of it.
fn reopen(dir: &std::path::Path) -> Trees {
    open_when_released(|| Trees::open(dir, &Settings::default()))
}

fn open() -> (tempfile::TempDir, Trees) {
    let dir = tempfile::tempdir().unwrap();
    let store = Trees::open(dir.path(), &Settings::default()).unwrap();
    (dir, store)
}

/// A name as an earlier release may have stored it, skipping today's rules
/// (records decode without re-validation).
fn legacy_name(name: &str) -> Username {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).unwrap()
}

/// A user with a legacy name, stored.
fn legacy_user(store: &Trees, name: &str, email: Option<&str>) -> User {
    let user = User {
        username: legacy_name(name),
        ..new_user("placeholder", email)
    };
    store.insert_user(user).unwrap().unwrap()
}

/// A user stored, with its assigned id.
fn user(store: &Trees, name: &str, email: Option<&str>) -> User {
    store.insert_user(new_user(name, email)).unwrap().unwrap()
}

/// A live refresh token of `user` under `digest`; returns its session.
fn refresh(store: &Trees, user: &User, digest: &SecretDigest) -> TokenId {
    let record = TokenRecord {
        id: TokenId(0),
        kind: TokenKind::Refresh,
        user_id: user.id,
        created_at: 0,
        expires_at: i64::MAX,
    };
    store.insert_token(digest, record).unwrap().unwrap().id
}

fn token(store: &Trees, user: &User, seed: u8, expires_at: i64) -> (SecretDigest, TokenRecord) {
    let record = TokenRecord {
        id: TokenId(0),
        kind: TokenKind::Access,
        user_id: user.id,
        created_at: 1_700_000_000,
        expires_at,
    };
    let digest = SecretDigest([seed; 32]);
    let record = store.insert_token(&digest, record).unwrap().unwrap();
    (digest, record)
}

#[test]
fn taken_name_or_email_is_a_conflict_value_and_writes_nothing() {
    let (_dir, store) = open();
    let alice = user(&store, "Alice", Some("a@x.io"));
    assert_eq!(alice.id, UserId(1));
    let clash = store.insert_user(new_user("alice", None)).unwrap();
    assert_eq!(clash, Err(Conflict::UsernameTaken));
    let clash = store.insert_user(new_user("bob", Some("A@X.io"))).unwrap();
    assert_eq!(clash, Err(Conflict::EmailTaken));
    assert_eq!(store.user_count().unwrap(), 1);
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn deleting_a_user_removes_its_indexes_and_tokens() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", Some("a@x.io"));
    let (digest, _) = token(&store, &alice, 1, i64::MAX);
    token(&store, &alice, 2, i64::MAX);
    store.delete_user(alice.id).unwrap().unwrap();
    assert!(store.user_by_login("alice").unwrap().is_none());
    assert!(store.user_by_login("a@x.io").unwrap().is_none());
    assert!(store.token(&digest).unwrap().is_none());
    let report = store.check().unwrap();
    assert_eq!((report.users, report.tokens), (0, 0));
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(store.delete_user(alice.id).unwrap(), Err(Conflict::Gone));
}

#[test]
fn a_deleted_user_cannot_gain_a_token() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    store.delete_user(alice.id).unwrap().unwrap();
    let record = TokenRecord {
        id: TokenId(99),
        kind: TokenKind::Access,
        user_id: alice.id,
        created_at: 0,
        expires_at: i64::MAX,
    };
    let outcome = store.insert_token(&SecretDigest([9; 32]), record).unwrap();
    assert_eq!(outcome, Err(Conflict::Gone));
}

#[test]
fn email_change_moves_the_index_and_password_change_keeps_one_token() {
    let (_dir, store) = open();
    let mut alice = user(&store, "alice", Some("old@x.io"));
    let (keep, kept) = token(&store, &alice, 1, i64::MAX);
    let (drop, _) = token(&store, &alice, 2, i64::MAX);
    let expected = alice.clone();
    alice.email = Some(Email::parse("new@x.io").unwrap());
    let update = UserUpdate {
        expected,
        user: alice.clone(),
        revoke_tokens_except: Some(Some(kept.id)),
        consume_code: None,
    };
    store.update_user(&update).unwrap().unwrap();
    assert!(store.user_by_login("old@x.io").unwrap().is_none());
    assert_eq!(store.user_by_login("new@x.io").unwrap(), Some(alice));
    assert!(store.token(&keep).unwrap().is_some());
    assert!(store.token(&drop).unwrap().is_none());
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn a_cached_user_is_read_fresh_after_each_kind_of_write() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    // Each read below puts alice in the cache; each write must forget her.
    assert_eq!(store.user(alice.id).unwrap().as_deref(), Some(&alice));
    let disabled = User {
        disabled: true,
        role: crate::model::Role::Admin,
        ..alice.clone()
    };
    store
        .update_user(&replacing(&alice, &disabled))
        .unwrap()
        .unwrap();
    assert_eq!(store.user(alice.id).unwrap().as_deref(), Some(&disabled));

    let rehashed = store
        .replace_password_hash(alice.id, &disabled.password_hash, "$scrypt$new")
        .unwrap()
        .unwrap();
    assert_eq!(store.user(alice.id).unwrap().as_deref(), Some(&rehashed));

    store.delete_user(alice.id).unwrap().unwrap();
    assert_eq!(store.user(alice.id).unwrap().as_deref(), None);
    assert_eq!(store.user_by_login("alice").unwrap(), None);
}

#[test]
fn sweep_deletes_only_expired_tokens() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    let (old, _) = token(&store, &alice, 1, 100);
    let (live, _) = token(&store, &alice, 2, 300);
    assert_eq!(store.sweep_expired(200).unwrap(), 1);
    assert!(store.token(&old).unwrap().is_none());
    assert!(store.token(&live).unwrap().is_some());
    assert!(store.check().unwrap().is_ok());
}

/// Runs one of the store's async operations from a plain test.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn records_survive_reopening_after_durable() {
    let dir = tempfile::tempdir().unwrap();
    let alice = {
        let store = reopen(dir.path());
        let alice = user(&store, "alice", None);
        block_on(store.durable()).unwrap();
        alice
    };
    let store = reopen(dir.path());
    assert_eq!(store.user(alice.id).unwrap().as_deref(), Some(&alice));
    // Ids carry on from the last one across a reopen, with no gap.
    assert_eq!(user(&store, "bob", None).id, UserId(2));
}

#[test]
fn a_revocation_batch_revokes_each_token_once_and_answers_in_order() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    let bob = user(&store, "bob", None);
    let (d1, r1) = token(&store, &alice, 1, i64::MAX);
    let (d2, r2) = token(&store, &alice, 2, i64::MAX);
    let (d3, _) = token(&store, &bob, 3, i64::MAX);
    let answers: Vec<bool> = store
        .revoke_batch(&[
            (alice.id, r1.id),
            (alice.id, r1.id), // the same token again in one batch
            (bob.id, r2.id),   // someone else's token
            (alice.id, r2.id),
            (bob.id, TokenId(999)), // no such token
        ])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(answers, [true, false, false, true, false]);
    assert!(store.token(&d1).unwrap().is_none());
    assert!(store.token(&d2).unwrap().is_none());
    assert!(store.token(&d3).unwrap().is_some());
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.tokens, 1);
}

#[test]
fn a_resolved_revocation_survives_a_reopen_and_the_writer_lets_the_store_close() {
    let dir = tempfile::tempdir().unwrap();
    let digest = {
        let store = reopen(dir.path());
        let alice = user(&store, "alice", None);
        let (digest, record) = token(&store, &alice, 1, i64::MAX);
        let revoked = block_on(store.revoke_token_of(alice.id, record.id)).unwrap();
        assert!(revoked);
        digest
    };
    // The reopen proves the writer thread keeps no store alive.
    let store = reopen(dir.path());
    assert!(store.token(&digest).unwrap().is_none());
}

#[test]
fn a_second_open_of_the_same_directory_fails() {
    let (dir, _store) = open();
    assert!(matches!(
        Trees::open(dir.path(), &Settings::default()),
        Err(StoreError::Locked)
    ));
}

#[test]
fn rotating_a_refresh_token_keeps_the_session_and_reuse_revokes_it() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    let (first, second, third) = (
        SecretDigest([1; 32]),
        SecretDigest([2; 32]),
        SecretDigest([3; 32]),
    );
    let session = refresh(&store, &alice, &first);
    let Rotation::Rotated(next) = store.rotate_refresh(&first, &second, i64::MAX).unwrap() else {
        panic!("a live refresh token rotates");
    };
    assert_eq!(next.id, session);
    assert!(!store.is_session_revoked(session));
    assert!(store.check().unwrap().is_ok());

    let reuse = store.rotate_refresh(&first, &third, i64::MAX).unwrap();
    assert!(matches!(reuse, Rotation::Reused(ref s) if s.session == session));
    assert!(store.is_session_revoked(session));
    assert!(store.token(&second).unwrap().is_none());
    assert_eq!(
        store.rotate_refresh(&second, &third, i64::MAX).unwrap(),
        Rotation::Refused
    );
}

#[test]
fn revoked_sessions_are_remembered_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let session = {
        let store = reopen(dir.path());
        let alice = user(&store, "alice", None);
        let digest = SecretDigest([7; 32]);
        let session = refresh(&store, &alice, &digest);
        store.revoke_token(&digest).unwrap();
        assert!(store.is_session_revoked(session));
        store.flush_blocking().unwrap();
        session
    };
    let store = reopen(dir.path());
    assert!(store.is_session_revoked(session));
    // Forgotten once every access token of the session must have expired.
    store
        .sweep_sessions(crate::model::unix_now() + 10_000, 960)
        .unwrap();
    assert!(!store.is_session_revoked(session));
}

#[test]
fn an_update_computed_from_a_stale_record_writes_nothing() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    let mut admin = alice.clone();
    admin.role = crate::model::Role::Admin;
    store
        .update_user(&replacing(&alice, &admin))
        .unwrap()
        .unwrap();
    let mut renamed = alice.clone();
    renamed.email = Some(Email::parse("a@x.io").unwrap());
    assert_eq!(
        store.update_user(&replacing(&alice, &renamed)).unwrap(),
        Err(Conflict::Stale)
    );
    assert_eq!(store.user(admin.id).unwrap().as_deref(), Some(&admin));
}

/// A tree's name and its key/value pairs, in key order.
type TreeContents = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// Every tree's entries, by tree name: what a backup must carry over.
fn contents(store: &Trees) -> Vec<TreeContents> {
    let db = &store.inner.db;
    let mut names = db.tree_names();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let tree = db.open_tree(&name).unwrap();
            let entries = tree
                .iter()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            (name.to_vec(), entries)
        })
        .collect()
}

fn backup_bytes(store: &Trees) -> Vec<u8> {
    let mut snapshot = store.snapshot().unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut snapshot, &mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, snapshot.len());
    bytes
}

#[test]
fn a_restored_backup_holds_every_tree_byte_for_byte_and_its_revoked_sessions() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", Some("a@x.io"));
    token(&store, &alice, 1, i64::MAX);
    let refresh = TokenRecord {
        id: TokenId(0),
        kind: TokenKind::Refresh,
        user_id: alice.id,
        created_at: 1_700_000_000,
        expires_at: i64::MAX,
    };
    let session = store
        .insert_token(&SecretDigest([2; 32]), refresh)
        .unwrap()
        .unwrap()
        .id;
    store.revoke_token(&SecretDigest([2; 32])).unwrap();
    let bytes = backup_bytes(&store);
    assert!(bytes.starts_with(b"LATCHKEY-BACKUP"));

    let into = tempfile::tempdir().unwrap();
    let target = into.path().join("restored");
    let restored = Trees::restore(&bytes[..], &target, &Settings::default()).unwrap();
    assert_eq!((restored.users, restored.tokens), (1, 1));
    let copy = reopen(&target);
    assert_eq!(contents(&copy), contents(&store));
    assert!(copy.is_session_revoked(session));
    let names: Vec<_> = std::fs::read_dir(into.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing but the restored dir: {names:?}");
}

#[test]
fn a_damaged_or_truncated_backup_is_refused_and_leaves_nothing_behind() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    token(&store, &alice, 1, i64::MAX);
    let bytes = backup_bytes(&store);
    let into = tempfile::tempdir().unwrap();
    let target = into.path().join("restored");
    let mut damaged = Vec::new();
    for at in [
        0,
        16,
        40,
        bytes.len() / 2,
        bytes.len() - 40,
        bytes.len() - 1,
    ] {
        let mut copy = bytes.clone();
        copy[at] ^= 0x5a;
        damaged.push((format!("byte {at} flipped"), copy));
    }
    for len in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        damaged.push((format!("cut at {len}"), bytes[..len].to_vec()));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    damaged.push(("a byte appended".into(), longer));
    for (what, copy) in damaged {
        let refused = Trees::restore(&copy[..], &target, &Settings::default());
        assert!(
            matches!(refused, Err(BackupError::Invalid(_))),
            "{what}: {refused:?}"
        );
        let left: Vec<_> = std::fs::read_dir(into.path()).unwrap().collect();
        assert!(left.is_empty(), "{what}: left behind {left:?}");
    }
}

#[test]
fn restore_refuses_a_dir_that_is_not_empty() {
    let (_dir, store) = open();
    let bytes = backup_bytes(&store);
    let into = tempfile::tempdir().unwrap();
    std::fs::write(into.path().join("keep.txt"), "mine").unwrap();
    let refused = Trees::restore(&bytes[..], into.path(), &Settings::default());
    assert!(
        matches!(refused, Err(BackupError::NotEmpty(_))),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read_to_string(into.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn backups_taken_while_threads_write_are_consistent_cuts() {
    let (_dir, store) = open();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3u8)
        .map(|w| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let someone = user(&store, &format!("w{w}-{n}"), None);
                    // Distinct digests: a digest names one token.
                    let issue = |k: u8| {
                        let mut digest = [k; 32];
                        digest[..4].copy_from_slice(&n.to_be_bytes());
                        digest[4] = w;
                        let record = TokenRecord {
                            id: TokenId(0),
                            kind: TokenKind::Access,
                            user_id: someone.id,
                            created_at: 1_700_000_000,
                            expires_at: i64::MAX,
                        };
                        let digest = SecretDigest(digest);
                        store.insert_token(&digest, record).unwrap().unwrap();
                        digest
                    };
                    store.revoke_token(&issue(1)).unwrap();
                    issue(2);
                    if n.is_multiple_of(3) {
                        store.delete_user(someone.id).unwrap().unwrap();
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for round in 0..4 {
        std::thread::sleep(std::time::Duration::from_millis(30));
        let bytes = backup_bytes(&store);
        let into = tempfile::tempdir().unwrap();
        let target = into.path().join("restored");
        // `restore` runs the integrity walk and refuses a store that fails it.
        let restored = Trees::restore(&bytes[..], &target, &Settings::default())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(restored.users > 0, "round {round}: {restored:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn bulk_seeded_users_and_tokens_pass_check_and_continue_the_id_sequences() {
    let (_dir, store) = open();
    let first = user(&store, "first", None);
    let seeds = (0..25u8).map(|n| seed::SeedUser {
        user: new_user(
            &format!("seeded{n}"),
            (n % 2 == 0).then_some(format!("s{n}@y.io")).as_deref(),
        ),
        tokens: vec![(SecretDigest([n; 32]), 1_800_000_000)],
    });
    let report = store.seed_bulk(seeds, 10).unwrap();
    assert_eq!((report.users, report.tokens), (25, 25));
    assert_eq!(store.user_count().unwrap(), 26);
    let check = store.check().unwrap();
    assert!(check.is_ok(), "{:?}", check.problems);
    assert_eq!((check.users, check.tokens), (26, 25));
    let record = store.token(&SecretDigest([3; 32])).unwrap().unwrap();
    assert_eq!(
        store
            .user(record.user_id)
            .unwrap()
            .unwrap()
            .username
            .as_str(),
        "seeded3"
    );
    // Ids go on after the seeded ones, and seeded names stay taken.
    assert_eq!(user(&store, "after", None).id, UserId(first.id.0 + 26));
    let (_, next) = token(&store, &first, 200, 1_800_000_000);
    assert_eq!(next.id, TokenId(26));
    let clash = store.insert_user(new_user("SEEDED7", None)).unwrap();
    assert_eq!(clash, Err(Conflict::UsernameTaken));
}

#[test]
fn bulk_seeding_a_taken_name_or_email_is_refused_and_names_and_emails_do_not_collide() {
    let (_dir, store) = open();
    user(&store, "alice", Some("alice@example.com"));
    let seed_of = |name: &str, email: Option<&str>| seed::SeedUser {
        user: new_user(name, email),
        tokens: Vec::new(),
    };
    let refused = |seeds: Vec<seed::SeedUser>| {
        let outcome = store.seed_bulk(seeds, 10);
        assert!(
            matches!(outcome, Err(StoreError::Corrupt(_))),
            "{:?}",
            outcome.map(|r| r.users)
        );
    };
    refused(vec![seed_of("Alice", None)]);
    refused(vec![seed_of("bob", None), seed_of("BOB", None)]);
    refused(vec![seed_of("carol", Some("ALICE@example.com"))]);
    refused(vec![
        seed_of("dave", Some("d@example.com")),
        seed_of("erin", Some("D@example.com")),
    ]);
    // A legacy name may start with '@' and look like an email, even one in
    // the same batch: names and emails are separate keys.
    let legacy = |name: &str| seed::SeedUser {
        user: User {
            username: legacy_name(name),
            ..new_user("placeholder", None)
        },
        tokens: Vec::new(),
    };
    let report = store
        .seed_bulk(
            vec![
                legacy("@alice"),
                legacy("@g@example.com"),
                seed_of("grace", Some("g@example.com")),
            ],
            10,
        )
        .unwrap();
    assert_eq!(report.users, 3);
}

/// Stores a code of `kind` for `user`, issued at `created_at`, keeping at
/// most three of its kind; returns its digest.
fn code(store: &Trees, user: &User, kind: CodeKind, seed: u8, created_at: i64) -> SecretDigest {
    let digest = SecretDigest([seed; 32]);
    let record = CodeRecord {
        kind,
        user_id: user.id,
        created_at,
        expires_at: i64::MAX,
    };
    store.insert_code(&digest, &record, 3).unwrap().unwrap();
    digest
}

#[test]
fn a_user_keeps_three_codes_of_a_kind_and_spending_one_spends_its_kind() {
    let (_dir, store) = open();
    let alice = user(&store, "alice", None);
    let resets: Vec<SecretDigest> = (1..=4)
        .map(|n| code(&store, &alice, CodeKind::PasswordReset, n, i64::from(n)))
        .collect();
    let confirmation = code(&store, &alice, CodeKind::Confirmation, 9, 5);
    assert!(store.code(&resets[0]).unwrap().is_none(), "the oldest went");
    for live in &resets[1..] {
        assert!(store.code(live).unwrap().is_some());
    }
    let update = UserUpdate {
        consume_code: Some(resets[2]),
        ..replacing(&alice, &alice)
    };
    store.update_user(&update).unwrap().unwrap();
    for spent in &resets {
        assert!(store.code(spent).unwrap().is_none());
    }
    assert!(
        store.code(&confirmation).unwrap().is_some(),
        "another kind stays"
    );
    assert_eq!(store.code_keys_of(alice.id).unwrap().len(), 1);
}

#[test]
fn an_identifier_with_an_at_sign_is_an_email_and_check_reports_a_name_that_is_another_accounts_email()
 {
    let (_dir, store) = open();
    let alice = user(&store, "alice", Some("alice@example.com"));
    // Written by an earlier release, which allowed '@' in names.
    let impostor = legacy_user(&store, "alice@example.com", None);
    let legacy = legacy_user(&store, "bob@old.example", None);
    let found = |login: &str| store.user_by_login(login).unwrap().map(|u| u.id);
    assert_eq!(found("alice@example.com"), Some(alice.id));
    assert_eq!(found("alice"), Some(alice.id));
    // A legacy name with '@' that is nobody's email still logs in.
    assert_eq!(found("bob@old.example"), Some(legacy.id));
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(
        report.findings[0].contains(&format!("user {}", impostor.id)),
        "{:?}",
        report.findings
    );
}

#[test]
fn a_look_alike_name_is_taken_until_the_name_it_resembles_is_deleted() {
    let (_dir, store) = open();
    let paypal = user(&store, "paypal", None);
    let cyrillic = new_user("\u{440}\u{430}\u{443}\u{440}\u{430}l", None);
    assert_eq!(
        store.insert_user(cyrillic.clone()).unwrap(),
        Err(Conflict::UsernameTaken)
    );
    assert_eq!(store.user_count().unwrap(), 1);
    store.delete_user(paypal.id).unwrap().unwrap();
    store.insert_user(cyrillic).unwrap().unwrap();
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn a_store_without_the_skeleton_index_gets_one_at_open_and_keeps_look_alikes_working() {
    let dir = tempfile::tempdir().unwrap();
    let (paypal, lookalike) = {
        let store = reopen(dir.path());
        let paypal = user(&store, "paypal", None);
        let other = user(&store, "placeholder", None);
        // As an earlier release would have left it: a look-alike name that
        // nothing refused, and no skeleton index or marker.
        let lookalike = User {
            username: Username::parse("\u{440}\u{430}\u{443}\u{440}\u{430}l").unwrap(),
            ..other
        };
        let i = &*store.inner;
        i.users
            .insert(keys::user(lookalike.id), codec::encode(&lookalike).unwrap())
            .unwrap();
        i.user_id_by_name.remove(b"placeholder").unwrap();
        i.user_id_by_name
            .insert(
                lookalike.username.key().as_bytes(),
                &keys::user(lookalike.id),
            )
            .unwrap();
        i.user_id_by_skeleton.clear().unwrap();
        i.counters.remove(skeletons::SKELETONS_THROUGH).unwrap();
        // A check before the index exists (a restore of an old backup)
        // reports no missing entries.
        let report = store.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        store.flush_blocking().unwrap();
        (paypal, lookalike)
    };
    let store = reopen(dir.path());
    let found = |login: &str| store.user_by_login(login).unwrap().map(|u| u.id);
    assert_eq!(found("paypal"), Some(paypal.id));
    assert_eq!(found(&lookalike.username.key()), Some(lookalike.id));
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert!(
        report.findings[0].contains("look-alike"),
        "{:?}",
        report.findings
    );
    // A third look-alike is refused; unrelated names are not.
    assert_eq!(
        store.insert_user(new_user("p\u{430}ypal", None)).unwrap(),
        Err(Conflict::UsernameTaken)
    );
    user(&store, "bob", None);
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
