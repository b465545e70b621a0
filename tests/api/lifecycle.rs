//! The server as a process: liveness, a graceful restart over the same data
//! dir, and the sweep of expired tokens.

use crate::support::{PASSWORD, TestServer, USERNAME_TAKEN, id_of, secret};
use latchkey::model::UserId;
use std::time::Duration;

#[tokio::test]
async fn healthz_answers_200_without_credentials() {
    let app = TestServer::spawn().await;
    for healthz in [app.get("/healthz"), app.get_as("/healthz", "lk_no_token")] {
        healthz.expect(200).await;
    }
}

#[tokio::test]
async fn a_registered_user_survives_a_graceful_restart() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let token = secret(&app.issue_token("alice", PASSWORD).await);
    let dir = app.shutdown().await;

    let app = TestServer::spawn_in(dir, |_| {}).await;
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me, alice);
    app.issue_token("alice", PASSWORD).await;
    app.assert_token_accepted(&token).await;
    app.post("/api/users")
        .json(&serde_json::json!({ "username": "ALICE", "password": PASSWORD }))
        .refused(USERNAME_TAKEN)
        .await;
    // New ids do not reuse old ones.
    let bob = app.register("bob", PASSWORD).await;
    assert!(id_of(&bob) > id_of(&alice));
}

#[tokio::test]
async fn expired_tokens_are_swept_from_the_store() {
    let app = TestServer::spawn_with(one_second_tokens_swept_every_second).await;
    let alice = app.register("alice", PASSWORD).await;
    app.issue_token("alice", PASSWORD).await;
    app.issue_token("alice", PASSWORD).await;
    // Expired within a second; swept within another.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let dir = app.shutdown().await;

    let cfg = latchkey::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let store = latchkey::open_store(&cfg).unwrap();
    let left = store.tokens_of(UserId(id_of(&alice))).await.unwrap();
    assert!(left.is_empty(), "{} expired tokens not swept", left.len());
}

/// The stored hash of `name`, read from a stopped server's data dir.
async fn stored_hash(dir: &tempfile::TempDir, name: &str) -> String {
    let store = latchkey::store::Store::open(dir.path(), &Default::default()).unwrap();
    store
        .user_by_login(&latchkey::model::login_key(name))
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

/// Asserts alice's stored hash was made with scrypt cost `2^log_n`.
async fn assert_alice_hashed_at(dir: &tempfile::TempDir, log_n: u8) {
    let hash = stored_hash(dir, "alice").await;
    assert!(hash.starts_with(&format!("$scrypt$ln={log_n},")), "{hash}");
}

#[tokio::test]
async fn a_hash_made_with_old_parameters_is_rehashed_at_the_next_login() {
    let costlier = |cfg: &mut latchkey::config::Config| cfg.password.scrypt_log_n = 5;
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let dir = app.shutdown().await;
    assert_alice_hashed_at(&dir, 4).await;

    let app = TestServer::spawn_in(dir, costlier).await;
    app.me_basic("alice", PASSWORD).await;
    let dir = app.shutdown().await;
    assert_alice_hashed_at(&dir, 5).await;

    // The new hash still verifies the same password.
    let app = TestServer::spawn_in(dir, costlier).await;
    app.me_basic("alice", PASSWORD).await;
}

#[tokio::test]
async fn readyz_answers_200_once_the_store_is_open() {
    let app = TestServer::spawn().await;
    let ready = app.get("/readyz").expect_json().await;
    assert_eq!(ready["status"], "ready");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_clients_own_id_is_kept() {
    let app = TestServer::spawn().await;
    let first = app.get("/healthz").send().await;
    let second = app.get("/nope").send().await;
    let (a, b) = (
        first.header("x-request-id").unwrap().to_owned(),
        second.header("x-request-id").unwrap().to_owned(),
    );
    assert!(!a.is_empty() && a != b, "{a} {b}");

    let kept = app
        .get("/healthz")
        .header("x-request-id", "trace-42.abc")
        .send()
        .await;
    assert_eq!(kept.header("x-request-id"), Some("trace-42.abc"));

    let too_long = "x".repeat(65);
    let replaced = app
        .get("/healthz")
        .header("x-request-id", &too_long)
        .send()
        .await;
    let id = replaced.header("x-request-id").unwrap();
    assert_ne!(id, too_long);
    assert!(id.len() <= 64);
}

/// Tokens that live a second, and a sweep every second.
fn one_second_tokens_swept_every_second(cfg: &mut latchkey::config::Config) {
    cfg.tokens.ttl_seconds = 1;
    cfg.tokens.sweep_interval_seconds = 1;
}
