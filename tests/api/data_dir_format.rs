//! A data dir written by the release before the storage seam (see
//! `tests/fixtures/data-dir-fe1dcbc/README.md`) opens unchanged: every
//! record, index and revoked session is read as that release left it.

use crate::common::PASSWORD;
use crate::support::{TestServer, jwt_mode};
use latchkey::model::{TokenId, TokenKind, UserId};
use latchkey::store::{Settings, Store};
use std::path::Path;

/// A copy of the fixture in a temp dir of its own: opening a store writes.
fn fixture_copy() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data-dir-fe1dcbc");
    let dir = tempfile::tempdir().unwrap();
    for file in ["conf", "db"] {
        std::fs::copy(from.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_store_written_by_the_last_release_opens_with_every_record() {
    let dir = fixture_copy();
    let store = Store::open(dir.path(), &Settings::default()).unwrap();

    let report = store.check().await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(
        (report.users, report.tokens),
        (2, 1),
        "bob's token went with his session"
    );
    assert_eq!(store.user_count().await.unwrap(), 2);

    let alice = store
        .user_by_login("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((alice.id, alice.username.as_str()), (UserId(1), "alice"));
    assert!(alice.password_hash.starts_with("$scrypt$ln=10,"));
    let bob = store.user_by_login("bob").await.unwrap().unwrap();
    assert_eq!(bob.id, UserId(2));

    let refresh =
        latchkey::auth::secret::parse("lk_97ZcoZEAJKmXpmgsvjLnUicmVTAZUsg9KcIbi-_u6po").unwrap();
    let record = store.token(&refresh).await.unwrap().unwrap();
    assert_eq!(
        (record.user_id, record.id, record.kind),
        (alice.id, TokenId(1), TokenKind::Refresh)
    );
    assert!(!store.is_session_revoked(TokenId(1)).await.unwrap());
    assert!(
        store.is_session_revoked(TokenId(2)).await.unwrap(),
        "bob's session stays revoked"
    );
    assert!(store.tokens_of(bob.id).await.unwrap().is_empty());

    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "v6YwxpBQnElojBp1");
    assert_eq!(keys[0].superseded_at, None);
}

#[tokio::test]
async fn a_server_on_the_last_releases_data_dir_signs_in_its_users_and_carries_on_its_ids() {
    let app = TestServer::spawn_in(fixture_copy(), jwt_mode).await;
    let alice = app.me_basic("alice", PASSWORD).await;
    assert_eq!(alice["id"], 1);
    let token = app.token_for("bob", PASSWORD).await;
    assert_eq!(app.me(&token).await["username"], "bob");
    let carol = app.register("carol", PASSWORD).await;
    assert_eq!(carol["id"], 3, "ids carry on from the stored counter");
}
