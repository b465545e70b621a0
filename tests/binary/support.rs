//! The process harness: the built `latchkey` binary as a child process, in
//! a clean environment, with its output captured and every wait bounded.
//!
//! A `Server` is `latchkey` serving on `127.0.0.1:0` (the port is read from
//! its "listening on" log line); `run` runs one admin command to completion.
//! Both kill their child when dropped, so a failing test never leaves a
//! process behind holding a data dir. What `tests/api` shares is in
//! `tests/common`, re-exported here.

pub use crate::common::*;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::ops::Deref;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a debug build on a loaded CI machine may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child may take to exit after a signal or a start-up failure.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one admin command may take, start to exit.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary with a clean environment: no inherited `LATCHKEY_*` or
/// `RUST_LOG`, no colour, and the working directory set to `cwd` so the
/// repository's `config.toml` is never picked up by accident.
pub fn latchkey(cwd: &Path) -> Command {
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
pub fn cheap_hashing(cmd: &mut Command) -> &mut Command {
    cmd.env("LATCHKEY_PASSWORD__SCRYPT_LOG_N", "4")
        .env("LATCHKEY_PASSWORD__SCRYPT_P", "1")
}

/// A temp dir holding the store in `data/`; the dir itself has no
/// `config.toml`, and serves as the child's working directory.
pub fn workspace() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    (tmp, data)
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Waits for the child to exit, failing the test if it takes longer than
    /// `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
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

/// Everything a child wrote to one pipe, read on a thread so the child
/// never blocks on a full pipe.
pub struct Captured {
    text: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

impl Captured {
    /// What has arrived so far.
    pub fn so_far(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Everything, once the pipe has closed (the child has exited). Bounded:
    /// a reader still going after the deadline fails the test.
    pub fn all(self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.reader.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the pipe stayed open after the child exited"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = Arc::clone(&self.text);
        self.reader.join().unwrap();
        text.lock().unwrap().clone()
    }
}

/// Reads `pipe` line by line on a thread. Lines also go to the returned
/// channel, for waiting on one; the receiver may be dropped at any time.
pub fn drain(pipe: impl Read + Send + 'static) -> (Receiver<String>, Captured) {
    let (tx, rx) = mpsc::channel();
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    (rx, Captured { text, reader })
}

/// A running server, everything it has written to stderr, and the shared
/// client for its address (reached by `Deref`).
pub struct Server {
    pub child: ChildGuard,
    stderr: Captured,
    api: Api,
}

impl Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    /// Starts latchkey on a free port with cheap hashing, the store in
    /// `data_dir`, and waits until it says where it is listening.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// As [`Server::start`], with extra environment variables (configuration
    /// as `LATCHKEY_SECTION__KEY`, or `RUST_LOG`).
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", data_dir, env)
    }

    /// As [`Server::start_with`], listening on `listen`.
    pub fn start_on(listen: &str, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let cwd = data_dir.parent().unwrap();
        let mut cmd = latchkey(cwd);
        cheap_hashing(&mut cmd)
            .envs(env.iter().copied())
            .arg("--listen")
            .arg(listen)
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
            stderr,
            api: Api::new(addr, client),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// What the server has logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.so_far()
    }

    /// SIGKILL: no shutdown hook, no final flush, no chance to clean up.
    pub fn kill_9(mut self) {
        self.child.0.kill().unwrap();
        let status = self.child.wait(EXIT_TIMEOUT);
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }

    /// Sends SIGTERM and waits for the process to exit; returns the exit
    /// status and the complete log.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait(EXIT_TIMEOUT);
        (status, self.stderr.all())
    }

    /// Stops the server politely, asserts exit 0 (so the store is flushed and
    /// the data dir free), and returns the complete log.
    pub fn stop(self) -> String {
        let (status, log) = self.terminate();
        assert!(status.success(), "{status:?}; stderr:\n{log}");
        log
    }

    /// Asserts `token` opens /api/resource as `username`: a 200 greeting
    /// them by name (a failure shows the server's log).
    pub async fn assert_greets(&self, token: &str, username: &str) {
        let response = self.resource(token).await;
        assert_eq!(response.status, 200, "stderr:\n{}", self.stderr());
        let body = response.json();
        assert_eq!(body["data"], format!("Hello, {username}!"), "{body}");
    }

    /// GET /api/resource with a Bearer token, whatever it answers.
    pub async fn resource(&self, token: &str) -> Resp {
        self.get_as("/api/resource", token).send().await
    }
}

/// Waits for the `listening on http(s)://ADDR` log line and returns ADDR.
fn wait_for_listening(
    lines: &Receiver<String>,
    stderr: &Captured,
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
                stderr.so_far()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait(EXIT_TIMEOUT);
                panic!(
                    "latchkey exited before listening ({status:?}); stderr:\n{}",
                    stderr.so_far()
                );
            }
        }
    }
}

/// The lines of `log` that contain every one of `needles`.
pub fn log_lines<'a>(log: &'a str, needles: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .collect()
}

/// The first line of `log` that contains every one of `needles`; fails
/// showing the whole log when there is none.
#[track_caller]
pub fn log_line<'a>(log: &'a str, needles: &[&str]) -> &'a str {
    match log_lines(log, needles).first() {
        Some(line) => line,
        None => panic!("no line with {needles:?} in:\n{log}"),
    }
}

/// The address in a `listening on http(s)://127.0.0.1:PORT` line. Takes only
/// the characters an IPv4 socket address can have, so colour codes or
/// trailing fields do not matter.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("listening on http")?;
    let rest = rest.strip_prefix("s").unwrap_or(rest).strip_prefix("://")?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    addr.parse().ok()
}

/// Runs a command that should fail at start-up; returns its exit status
/// and everything it wrote to stderr.
pub fn run_to_failure(cmd: &mut Command) -> (ExitStatus, String) {
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let (_, stderr) = drain(child.0.stderr.take().unwrap());
    let status = child.wait(EXIT_TIMEOUT);
    (status, stderr.all())
}

/// Starts latchkey on a free port over `data_dir` (working directory
/// `cwd`, default hashing), which must fail at start-up as
/// [`assert_one_line_failure`] says; returns that one line.
pub fn start_failure(cwd: &Path, data_dir: &Path) -> String {
    let (status, stderr) = run_to_failure(
        latchkey(cwd)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir),
    );
    assert_one_line_failure(status, &stderr)
}

/// A start-up failure as an operator should see it: a non-zero exit and one
/// `latchkey: ...` line, no panic, no backtrace.
pub fn assert_one_line_failure(status: ExitStatus, stderr: &str) -> String {
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

/// One finished admin command.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "{:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: not JSON:\n{out}"))
    }

    /// Asserts a failure as the operator should see it: exit 1, no panic,
    /// and the message as exactly one `latchkey: ...` line on stderr (log
    /// lines may precede it); returns that line.
    pub fn one_line_failure(&self) -> String {
        let all = format!(
            "{:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        );
        assert_eq!(self.status.code(), Some(1), "{all}");
        assert!(!self.stderr.contains("panicked"), "{all}");
        assert!(!self.stderr.to_lowercase().contains("backtrace"), "{all}");
        let messages: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("latchkey: "))
            .collect();
        assert_eq!(messages.len(), 1, "expected one message line; {all}");
        messages[0].to_owned()
    }
}

/// Runs `latchkey --data-dir DATA ARGS...` to completion with cheap hashing,
/// in DATA's parent as working directory, feeding it `stdin` (or nothing:
/// stdin is then closed, never a terminal).
pub fn run(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let cwd = data_dir.parent().unwrap();
    let mut cmd = latchkey(cwd);
    cheap_hashing(&mut cmd)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = ChildGuard(cmd.spawn().unwrap());
    let (_, stdout) = drain(child.0.stdout.take().unwrap());
    let (_, stderr) = drain(child.0.stderr.take().unwrap());
    if let Some(text) = stdin {
        let mut pipe = child.0.stdin.take().unwrap();
        // The command may exit without reading (a held data dir); a broken
        // pipe then is expected, not a failure.
        let _ = pipe.write_all(text.as_bytes());
    }
    let status = child.wait(COMMAND_TIMEOUT);
    Run {
        status,
        stdout: stdout.all(),
        stderr: stderr.all(),
    }
}

/// `latchkey check` on a stopped server's data dir: asserts exit 0 and
/// returns the `users: N` and `tokens: N` it printed.
pub fn check(data_dir: &Path) -> (u64, u64) {
    let run = run(data_dir, &["check"], None);
    let out = run.ok();
    let count = |label: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no `{label}` line in:\n{out}"))
            .trim()
            .parse()
            .unwrap()
    };
    (count("users:"), count("tokens:"))
}
