//! Crash tests: run the built `latchkey` binary as a child process, stop it
//! the hard way (SIGKILL) or the polite way (SIGTERM), start it again on the
//! same data dir, and check that every write it acknowledged is still there.
//!
//! sled buffers writes in memory until it is flushed, so a server that sent a
//! 2xx before flushing would lose the write to a SIGKILL; these tests catch
//! that. (They cannot simulate power loss; see "Durability guarantee" in the
//! README for what the fsync adds.) They also pin the start-up failures an
//! operator meets first: each is one line on stderr and a non-zero exit.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a debug build on a loaded CI machine may take to start serving.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child may take to exit after a signal or a start-up failure.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const PASSWORD: &str = "correct horse battery staple";

/// The binary with a clean environment: no inherited `LATCHKEY_*` or
/// `RUST_LOG`, no colour, and the working directory set to `cwd` so the
/// repository's `config.toml` is never picked up by accident.
fn latchkey(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LATCHKEY_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Cheap scrypt, so a test spends its time on I/O rather than hashing.
fn cheap_hashing(cmd: &mut Command) -> &mut Command {
    cmd.env("LATCHKEY_PASSWORD__SCRYPT_LOG_N", "4")
        .env("LATCHKEY_PASSWORD__SCRYPT_P", "1")
}

/// A child process that is killed and reaped when dropped, so a failing
/// test never leaves a server behind holding a data dir.
struct ChildGuard(Child);

impl ChildGuard {
    /// Waits for the child to exit, failing the test if it takes longer than
    /// `timeout`.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "latchkey (pid {}) did not exit within {timeout:?}",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A running server, its address, and everything it has written to stderr.
struct Server {
    child: ChildGuard,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    client: reqwest::Client,
}

impl Server {
    /// Starts latchkey on a free port with cheap hashing, the store in
    /// `data_dir`, and waits until it says where it is listening.
    fn start(data_dir: &Path) -> Self {
        let cwd = data_dir.parent().unwrap();
        let mut cmd = latchkey(cwd);
        cheap_hashing(&mut cmd)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir);
        let mut child = ChildGuard(cmd.spawn().unwrap());
        let (lines, stderr) = drain(child.0.stderr.take().unwrap());
        let addr = wait_for_listening(&lines, &stderr, &mut child);
        // A fresh client per server, without pooling: a restarted server may
        // get the old port, and a stale pooled connection must not answer.
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self {
            child,
            addr,
            stderr,
            client,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL: no shutdown hook, no final flush, no chance to clean up.
    fn kill_9(mut self) {
        self.child.0.kill().unwrap();
        let status = self.child.wait(EXIT_TIMEOUT);
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }

    /// POST /api/users; asserts 201.
    async fn register(&self, username: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/users"))
            .json(&json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "registering {username}");
        response.json().await.unwrap()
    }

    /// POST /api/tokens with Basic credentials, returning the response.
    async fn log_in(&self, username: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/tokens"))
            .basic_auth(username, Some(PASSWORD))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the new token; asserts 200.
    async fn issue_token(&self, username: &str) -> String {
        let response = self.log_in(username).await;
        assert_eq!(response.status(), 200, "issuing a token to {username}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// GET /api/resource with a Bearer token.
    async fn resource(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/resource"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Reads the child's stderr on a thread, line by line, so the child never
/// blocks on a full pipe. Lines go to the channel (for waiting on one) and
/// to the shared string (for failure messages).
fn drain(pipe: impl Read + Send + 'static) -> (Receiver<String>, Arc<Mutex<String>>) {
    let (tx, rx) = mpsc::channel();
    let all = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&all);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push_str(&format!("{line}\n"));
            // The receiver may be gone once the server is up; keep draining.
            let _ = tx.send(line);
        }
    });
    (rx, all)
}

/// Waits for the `listening on http://ADDR` log line and returns ADDR.
fn wait_for_listening(
    lines: &Receiver<String>,
    stderr: &Mutex<String>,
    child: &mut ChildGuard,
) -> SocketAddr {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = listening_addr(&line) {
                    return addr;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "latchkey did not start listening within {START_TIMEOUT:?}; stderr:\n{}",
                stderr.lock().unwrap()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait(EXIT_TIMEOUT);
                panic!(
                    "latchkey exited before listening ({status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        }
    }
}

/// The address in a `listening on http://127.0.0.1:PORT` line. Takes only
/// the characters an IPv4 socket address can have, so colour codes or
/// trailing fields do not matter.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on http://")?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse().ok()
}

/// Runs a command that should fail at start-up; returns its exit status
/// and everything it wrote to stderr.
fn run_to_failure(cmd: &mut Command) -> (ExitStatus, String) {
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let (_, stderr) = drain(child.0.stderr.take().unwrap());
    let status = child.wait(EXIT_TIMEOUT);
    // The pipe closes with the process; give the reader a moment to finish.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&stderr) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = stderr.lock().unwrap().clone();
    (status, text)
}

/// A start-up failure as an operator should see it: a non-zero exit and one
/// `latchkey: ...` line, no panic, no backtrace.
fn assert_one_line_failure(status: ExitStatus, stderr: &str) -> String {
    assert!(!status.success(), "expected failure; stderr:\n{stderr}");
    assert_eq!(status.code(), Some(1), "{status:?}; stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line; stderr:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("latchkey: "), "{line}");
    assert!(!line.contains("panicked"), "{line}");
    assert!(!line.to_lowercase().contains("backtrace"), "{line}");
    line.to_owned()
}

/// A temp dir holding the store in `data/`; the dir itself has no
/// `config.toml`, and serves as the child's working directory.
fn workspace() -> (TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    (tmp, data)
}

#[tokio::test]
async fn registered_user_survives_kill_9_right_after_201() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    server.register("alice").await;
    server.kill_9();

    let server = Server::start(&data);
    let response = server.log_in("alice").await;
    assert_eq!(response.status(), 200, "stderr:\n{}", server.stderr());
}

#[tokio::test]
async fn issued_token_survives_kill_9() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    server.register("alice").await;
    let token = server.issue_token("alice").await;
    server.kill_9();

    let server = Server::start(&data);
    let response = server.resource(&token).await;
    assert_eq!(response.status(), 200, "stderr:\n{}", server.stderr());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], "Hello, alice!");
}

#[tokio::test]
async fn revoked_token_stays_revoked_after_kill_9() {
    let (_tmp, data) = workspace();
    let server = Server::start(&data);
    server.register("alice").await;
    let token = server.issue_token("alice").await;
    let revoked = server
        .client
        .delete(server.url("/api/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    server.kill_9();

    let server = Server::start(&data);
    let response = server.resource(&token).await;
    assert_eq!(response.status(), 401, "stderr:\n{}", server.stderr());
    let body: Value = response.json().await.unwrap();
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
        burst.spawn(async move { server.register(&format!("user{n}")).await });
    }
    while let Some(done) = burst.join_next().await {
        done.unwrap();
    }
    let Ok(server) = Arc::try_unwrap(server) else {
        panic!("a registration task still holds the server");
    };
    server.kill_9();

    let server = Server::start(&data);
    let token = server.issue_token("user0").await;
    let response = server
        .client
        .get(server.url("/api/users?per_page=100"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
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
    let mut server = Server::start(&data);
    server.register("alice").await;
    let token = server.issue_token("alice").await;

    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let status = server.child.wait(EXIT_TIMEOUT);
    assert!(status.success(), "{status:?}; stderr:\n{}", server.stderr());

    let server = Server::start(&data);
    assert_eq!(server.log_in("alice").await.status(), 200);
    assert_eq!(server.resource(&token).await.status(), 200);
}

#[tokio::test]
async fn second_server_on_same_data_dir_fails_with_one_line_error() {
    let (tmp, data) = workspace();
    let first = Server::start(&data);

    // Default (strong) scrypt on purpose: the store is opened before any
    // hashing, and strong parameters mean no weak-scrypt warning on stderr.
    let (status, stderr) = run_to_failure(
        latchkey(tmp.path())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data),
    );
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(line.contains("another latchkey process"), "{line}");

    // The refused second open must not disturb the first server.
    let health = first
        .client
        .get(first.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
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

    let (status, stderr) = run_to_failure(
        latchkey(tmp.path())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&not_a_dir),
    );
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains(&not_a_dir.display().to_string()), "{line}");
}
