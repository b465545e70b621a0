//! Backups with the built binary: one taken over HTTP while registrations,
//! token issues and revocations keep landing, restored with `latchkey
//! restore` into a fresh dir; the command-line backup of a stopped server;
//! and what `backup` and `restore` refuse.

use crate::support::{PASSWORD, Server, check, run, workspace};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::task::JoinSet;

/// Throttles far above the load, so every request is a real write.
const LOAD_ENV: &[(&str, &str)] = &[
    ("LATCHKEY_THROTTLE__IP_BURST", "100000"),
    ("LATCHKEY_THROTTLE__IP_PER_MINUTE", "100000"),
    ("LATCHKEY_THROTTLE__REGISTER_BURST", "100000"),
    ("LATCHKEY_THROTTLE__REGISTER_PER_MINUTE", "100000"),
];

/// Seeds the admin `root` (password [`PASSWORD`]) into a stopped data dir.
fn add_root(data: &Path) {
    run(data, &["user", "add", "root", "--admin"], Some(PASSWORD)).ok();
}

/// The usernames `latchkey user list --json` shows for a stopped data dir.
fn usernames(data: &Path) -> BTreeSet<String> {
    let listed = run(data, &["user", "list", "--json"], None).json();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

/// Registers, issues tokens and revokes every other one until `stop`;
/// records each registration's name the moment its 201 arrived.
async fn write_until(
    server: Arc<Server>,
    writer: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let name = format!("w{writer}-{n}");
        let response = server
            .client
            .post(server.url("/api/users"))
            .json(&json!({ "username": name, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "registering {name}");
        acked.lock().unwrap().push((name.clone(), Instant::now()));
        let token = server.token_for(&name, PASSWORD).await;
        if n.is_multiple_of(2) {
            let revoked = server
                .client
                .delete(server.url("/api/tokens"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(revoked.status(), 204, "revoking a token of {name}");
        }
    }
}

/// POST /api/admin/backup as the admin; asserts 200 and returns the body.
async fn take_backup(server: &Server, admin: &str) -> bytes::Bytes {
    let response = server
        .client
        .post(server.url("/api/admin/backup"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_write_load_restores_every_user_acknowledged_before_it() {
    const WRITERS: usize = 4;
    let (tmp, data) = workspace();
    add_root(&data);
    let server = Arc::new(Server::start_with(&data, LOAD_ENV));
    let admin = server.token_for("root", PASSWORD).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = JoinSet::new();
    for writer in 0..WRITERS {
        writers.spawn(write_until(
            Arc::clone(&server),
            writer,
            Arc::clone(&stop),
            Arc::clone(&acked),
        ));
    }
    // Let the store grow and every writer get going before the backup.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "the writers made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let began = Instant::now();
    let backup = take_backup(&server, &admin).await;
    let ended = Instant::now();
    // More cuts through the same load: each must restore and pass the
    // integrity walk, which a transaction half in a backup would fail.
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push(take_backup(&server, &admin).await);
    }
    // Writes acknowledged since the first backup began, for the failure
    // message (writers pause only while a backup copies the trees).
    let during = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at >= began)
        .count();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let before: BTreeSet<String> = acked
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(name, _)| name.clone())
        .collect();
    let after = acked.iter().filter(|(_, at)| *at > ended).count();
    assert!(
        after > 0,
        "no write landed after the backup: not under load"
    );

    let file = tmp.path().join("load.bak");
    std::fs::write(&file, &backup).unwrap();
    let restored = tmp.path().join("restored");
    let out = run(&restored, &["restore", file.to_str().unwrap()], None);
    let out = out.ok();
    assert!(out.contains("users: "), "{out}");

    for (i, bytes) in more.iter().enumerate() {
        let file = tmp.path().join(format!("more-{i}.bak"));
        std::fs::write(&file, bytes).unwrap();
        let dir = tmp.path().join(format!("more-{i}"));
        run(&dir, &["restore", file.to_str().unwrap()], None).ok();
    }

    let present = usernames(&restored);
    let missing: Vec<&String> = before.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "{} of {} users acknowledged before the backup are missing ({} acknowledged while it ran): {missing:?}",
        missing.len(),
        before.len(),
        during
    );
    assert!(present.contains("root"));
    let (users, _tokens) = check(&restored);
    assert_eq!(users, present.len() as u64);

    // The restored store serves: a user from before the backup logs in.
    let restored_server = Server::start(&restored);
    let someone = before.iter().next().unwrap();
    let response = restored_server.try_issue_token(someone, PASSWORD).await;
    assert_eq!(
        response.status, 200,
        "{someone} logs in on the restored store"
    );
}

#[tokio::test]
async fn the_backup_command_copies_a_stopped_store_with_its_users_and_live_tokens() {
    let (tmp, data) = workspace();
    add_root(&data);
    let server = Server::start(&data);
    let token = server.register_and_issue_token("alice").await;
    server.stop();

    let file = tmp.path().join("nightly.bak");
    let out = run(&data, &["backup", file.to_str().unwrap()], None);
    assert!(out.ok().contains("backup written to"), "{}", out.stdout);
    let restored = tmp.path().join("restored");
    let out = run(
        &restored,
        &["--json", "restore", file.to_str().unwrap()],
        None,
    )
    .json();
    assert_eq!(
        (out["users"].as_u64(), out["tokens"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(out["problems"], json!([]), "{out}");

    let server = Server::start(&restored);
    // The token issued before the backup.
    server.assert_greets(&token, "alice").await;
}

#[tokio::test]
async fn the_backup_command_on_a_running_servers_dir_points_at_the_endpoint() {
    let (tmp, data) = workspace();
    let _server = Server::start(&data);
    let file = tmp.path().join("x.bak");
    let line = run(&data, &["backup", file.to_str().unwrap()], None).one_line_failure();
    assert!(line.contains("POST /api/admin/backup"), "{line}");
    assert!(!file.exists(), "no backup file on failure");
}

/// A data dir holding only root, and an offline backup of it.
fn backed_up_root() -> (TempDir, PathBuf, PathBuf) {
    let (tmp, data) = workspace();
    add_root(&data);
    let file = tmp.path().join("b.bak");
    run(&data, &["backup", file.to_str().unwrap()], None).ok();
    (tmp, data, file)
}

#[tokio::test]
async fn restore_refuses_a_data_dir_that_is_not_empty() {
    let (_tmp, data, file) = backed_up_root();
    let line = run(&data, &["restore", file.to_str().unwrap()], None).one_line_failure();
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(usernames(&data), BTreeSet::from(["root".to_owned()]));
}

#[tokio::test]
async fn restore_refuses_a_corrupted_or_truncated_backup_and_leaves_no_store_behind() {
    let (tmp, _data, file) = backed_up_root();
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    let middle = good.len() / 2;
    flipped[middle] ^= 0x01;
    let cases = [
        ("corrupted", flipped),
        ("truncated", good[..good.len() - 10].to_vec()),
    ];
    let before: BTreeSet<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for (what, bytes) in cases {
        let bad = tmp.path().join(format!("{what}.bak"));
        std::fs::write(&bad, bytes).unwrap();
        let restored = tmp.path().join("restored");
        let line = run(&restored, &["restore", bad.to_str().unwrap()], None).one_line_failure();
        assert!(line.contains(what), "{line}");
        assert!(line.contains("nothing was restored"), "{line}");
        assert!(!restored.exists(), "{what}: a restored dir was left behind");
        std::fs::remove_file(&bad).unwrap();
        let now: BTreeSet<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(now, before, "{what}: a temporary dir was left behind");
    }
}
