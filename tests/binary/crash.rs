//! Crash tests: run the built `latchkey` binary as a child process, stop it
//! the hard way (SIGKILL) or the polite way (SIGTERM), start it again on the
//! same data dir, and check that every write it acknowledged is still there.
//!
//! sled buffers writes in memory until it is flushed, so a server that sent a
//! 2xx before flushing would lose the write to a SIGKILL; these tests catch
//! that. (They cannot simulate power loss; see "Durability guarantee" in the
//! README for what the fsync adds.) They also pin the start-up failures an
//! operator meets first: each is one line on stderr and a non-zero exit.
//!
//! Every killed data dir also goes through `latchkey check` before the
//! restart: a write that half-landed (a record without its index entry, an
//! index entry pointing nowhere) would pass the HTTP checks but fail there.

use crate::support::{
    PASSWORD, Server, assert_one_line_failure, cheap_hashing, check, latchkey, run_to_failure,
    start_failure, workspace,
};
use std::net::TcpListener;
use std::sync::Arc;

#[tokio::test]
async fn registered_user_survives_kill_9_right_after_201() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    server.register("alice", PASSWORD).await;
    server.kill_9();
    assert_eq!(check(&data), (1, 0), "users and tokens after the kill");

    let server = Server::start(&data);
    let response = server.try_issue_token("alice", PASSWORD).await;
    assert_eq!(response.status, 200, "stderr:\n{}", server.stderr());
}

#[tokio::test]
async fn issued_token_survives_kill_9() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    let token = server.register_and_issue_token("alice").await;
    server.kill_9();
    assert_eq!(check(&data), (1, 1), "users and tokens after the kill");

    let server = Server::start(&data);
    server.assert_greets(&token, "alice").await;
}

#[tokio::test]
async fn revoked_token_stays_revoked_after_kill_9() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    let token = server.register_and_issue_token("alice").await;
    let revoked = server.delete_as("/api/tokens", &token).send().await;
    assert_eq!(revoked.status, 204);
    server.kill_9();
    assert_eq!(check(&data), (1, 0), "users and tokens after the kill");

    let server = Server::start(&data);
    let response = server.resource(&token).await;
    assert_eq!(response.status, 401, "stderr:\n{}", server.stderr());
    let body = response.json();
    assert_eq!(body["error"], "invalid_token", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_registration_acknowledged_in_a_concurrent_burst_survives_kill_9() {
    const USERS: usize = 24;
    let (_tmp, data) = workspace();
    let server = Arc::new(Server::start(&data));
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..USERS {
        let server = Arc::clone(&server);
        burst.spawn(async move { server.register(&format!("user{n}"), PASSWORD).await });
    }
    while let Some(done) = burst.join_next().await {
        done.unwrap();
    }
    let Ok(server) = Arc::try_unwrap(server) else {
        panic!("a registration task still holds the server");
    };
    server.kill_9();
    assert_eq!(check(&data).0, USERS as u64, "users after the kill");

    let server = Server::start(&data);
    let token = server.token_for("user0", PASSWORD).await;
    let body = server
        .get_as("/api/users?per_page=100", &token)
        .expect_json()
        .await;
    assert_eq!(body["_meta"]["total_items"], USERS, "{body}");
    let mut names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut expected: Vec<String> = (0..USERS).map(|n| format!("user{n}")).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly_with_exit_0() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    let token = server.register_and_issue_token("alice").await;

    let (status, log) = server.terminate();
    assert!(status.success(), "{status:?}; stderr:\n{log}");
    assert!(log.contains("stopped; store flushed"), "{log}");
    assert_eq!(check(&data), (1, 1), "users and tokens after the stop");

    let server = Server::start(&data);
    assert_eq!(server.try_issue_token("alice", PASSWORD).await.status, 200);
    assert_eq!(server.resource(&token).await.status, 200);
}

#[tokio::test]
async fn second_server_on_same_data_dir_fails_with_one_line_error() {
    let (tmp, data) = workspace();
    let first = Server::start(&data);

    // Default (strong) scrypt on purpose: the store is opened before any
    // hashing, and strong parameters mean no weak-scrypt warning on stderr.
    let line = start_failure(tmp.path(), &data);
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(line.contains("another latchkey process"), "{line}");

    // The refused second open must not disturb the first server.
    first.get("/healthz").expect(200).await;
}

#[test]
fn port_in_use_fails_with_one_line_error() {
    let (tmp, data) = workspace();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();

    // Cheap scrypt keeps the test fast (a dummy hash is computed before the
    // bind); RUST_LOG=error hides the weak-scrypt warning that cheap
    // parameters rightly log, leaving only the failure itself.
    let mut cmd = latchkey(tmp.path());
    cheap_hashing(&mut cmd)
        .env("RUST_LOG", "error")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(&data);
    let (status, stderr) = run_to_failure(&mut cmd);
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains(&addr.to_string()), "{line}");
    drop(taken);
}

#[test]
fn bad_config_key_fails_naming_the_key() {
    let (tmp, data) = workspace();
    let config = tmp.path().join("typo.toml");
    std::fs::write(&config, "[tokens]\nttl_secs = 5\n").unwrap();

    let (status, stderr) = run_to_failure(
        latchkey(tmp.path())
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data),
    );
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains("ttl_secs"), "{line}");
    assert!(!data.exists(), "a bad config must not create the store");
}

#[test]
fn unreadable_data_dir_fails_with_one_line_error() {
    let (tmp, _) = workspace();
    let not_a_dir = tmp.path().join("data");
    std::fs::write(&not_a_dir, "a regular file, not a directory").unwrap();

    let line = start_failure(tmp.path(), &not_a_dir);
    assert!(line.contains(&not_a_dir.display().to_string()), "{line}");
}
