//! Reliability: the built binary under a crash loop, a full disk, an unusable
//! data dir, and two minutes of steady load.
//!
//! The crash loop is randomised: the seed is printed (`--nocapture`) and can
//! be replayed with `RELIABILITY_SEED=N`. Every acknowledged (2xx) write is
//! recorded; a write whose answer was lost to the kill may or may not have
//! landed, and the check after the restart decides which, then insists that
//! it landed whole or not at all.
//!
//! The disk-full and read-only tests mount a tmpfs, so they need root; they
//! skip with a message without it, except under `CI=true`, where they must run.

use crate::support::{PASSWORD, Server, check, start_failure};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;

/// Cheap enough for thousands of requests: throttles far above the load.
const LOAD_ENV: &[(&str, &str)] = &[
    ("LATCHKEY_THROTTLE__IP_BURST", "100000"),
    ("LATCHKEY_THROTTLE__IP_PER_MINUTE", "100000"),
    ("LATCHKEY_THROTTLE__REGISTER_BURST", "100000"),
    ("LATCHKEY_THROTTLE__REGISTER_PER_MINUTE", "100000"),
    ("LATCHKEY_THROTTLE__ACCOUNT_FAILURES", "1000"),
];

/// xorshift64: reproducible from its printed seed, no dependency.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("reliability: seed {seed} (replay with RELIABILITY_SEED={seed})");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A child generator for one task, so tasks do not share state.
    fn fork(&mut self) -> Self {
        Self(self.next() | 1)
    }
}

/// How a request ended: a status and body, or no answer at all.
enum Answer {
    Got(StatusCode, Value),
    Lost,
}

async fn send(request: RequestBuilder) -> Answer {
    let Ok(response) = request.send().await else {
        return Answer::Lost;
    };
    let status = response.status();
    let Ok(bytes) = response.bytes().await else {
        return Answer::Lost;
    };
    Answer::Got(
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    /// Acknowledged issued, never revoked: must work.
    Valid,
    /// Acknowledged revoked (or its user deleted, or its password changed):
    /// must be refused.
    Revoked,
}

#[derive(Debug, Clone)]
struct Token {
    secret: String,
    state: TokenState,
}

/// A write sent whose answer was lost to the kill.
#[derive(Debug, Clone)]
enum InFlight {
    Register,
    Delete,
    ChangePassword { new: String, used: usize },
    Revoke { token: usize },
    Issue,
}

#[derive(Debug, Clone)]
struct Account {
    name: String,
    id: Option<u64>,
    password: String,
    /// Acknowledged deleted, or found absent after its registration was lost.
    gone: bool,
    tokens: Vec<Token>,
    /// Tokens a lost issue may have left in the store, which nobody holds:
    /// they count in `latchkey check` until a password change or a delete
    /// revokes them.
    unknown_tokens: u64,
    in_flight: Option<InFlight>,
}

impl Account {
    fn valid_tokens(&self) -> impl Iterator<Item = usize> + '_ {
        self.tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TokenState::Valid)
            .map(|(i, _)| i)
    }

    /// The (least, most) users and tokens `latchkey check` may count for
    /// this account right after a kill.
    fn bounds(&self) -> ((u64, u64), (u64, u64)) {
        let valid = self.valid_tokens().count() as u64;
        let most = valid + self.unknown_tokens;
        match &self.in_flight {
            _ if self.gone => ((0, 0), (0, 0)),
            None => ((1, 1), (valid, most)),
            Some(InFlight::Register) => ((0, 1), (0, 0)),
            Some(InFlight::Delete) => ((0, 1), (0, most)),
            Some(InFlight::ChangePassword { .. }) => ((1, 1), (1, most)),
            Some(InFlight::Revoke { .. }) => ((1, 1), (valid - 1, most)),
            Some(InFlight::Issue) => ((1, 1), (valid, most + 1)),
        }
    }
}

/// One client task's share of the load: its own accounts, so no two tasks
/// race on one user and each has at most one write in flight at the kill.
struct Driver {
    client: Client,
    base: String,
    task: usize,
    round: usize,
    made: usize,
    rng: Rng,
    accounts: Vec<Account>,
}

impl Driver {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs writes until the server stops answering (the kill) or
    /// `deadline`; `Err` on any answer that is not the expected 2xx.
    async fn run(&mut self, deadline: Instant) -> Result<(), String> {
        while Instant::now() < deadline {
            if !self.step().await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One write; `Ok(false)` once an answer was lost.
    async fn step(&mut self) -> Result<bool, String> {
        let live: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| !self.accounts[i].gone)
            .collect();
        if live.len() < 3 || (live.len() < 8 && self.rng.below(4) == 0) {
            return self.register().await;
        }
        let a = live[self.rng.below(live.len() as u64) as usize];
        let valid: Vec<usize> = self.accounts[a].valid_tokens().collect();
        let Some(&token) = valid.get(self.rng.below(valid.len().max(1) as u64) as usize) else {
            return self.issue(a).await;
        };
        match self.rng.below(100) {
            _ if live.len() >= 8 => self.delete(a, token).await,
            0..35 if valid.len() < 4 => self.issue(a).await,
            0..60 => self.revoke(a, token).await,
            60..85 => self.change_password(a, token).await,
            _ => self.delete(a, token).await,
        }
    }

    fn expect(
        &self,
        what: &str,
        want: u16,
        status: StatusCode,
        body: &Value,
    ) -> Result<(), String> {
        if status.as_u16() == want {
            Ok(())
        } else {
            Err(format!(
                "task {}: {what}: expected {want}, got {status}: {body}",
                self.task
            ))
        }
    }

    async fn register(&mut self) -> Result<bool, String> {
        self.made += 1;
        let name = format!("t{}r{}n{}", self.task, self.round, self.made);
        let password = format!("first secret of {name}");
        let request = self
            .client
            .post(self.url("/api/users"))
            .json(&json!({ "username": name, "password": password }));
        let mut account = Account {
            name,
            id: None,
            password,
            gone: false,
            tokens: Vec::new(),
            unknown_tokens: 0,
            in_flight: Some(InFlight::Register),
        };
        let answer = send(request).await;
        let Answer::Got(status, body) = answer else {
            self.accounts.push(account);
            return Ok(false);
        };
        self.expect(&format!("register {}", account.name), 201, status, &body)?;
        account.id = body["id"].as_u64();
        account.in_flight = None;
        self.accounts.push(account);
        Ok(true)
    }

    async fn issue(&mut self, a: usize) -> Result<bool, String> {
        let account = &self.accounts[a];
        let request = self
            .client
            .post(self.url("/api/tokens"))
            .basic_auth(&account.name, Some(&account.password));
        let Answer::Got(status, body) = send(request).await else {
            self.accounts[a].in_flight = Some(InFlight::Issue);
            return Ok(false);
        };
        self.expect(
            &format!("issue to {}", self.accounts[a].name),
            200,
            status,
            &body,
        )?;
        let secret = body["token"].as_str().unwrap_or_default().to_owned();
        self.accounts[a].tokens.push(Token {
            secret,
            state: TokenState::Valid,
        });
        Ok(true)
    }

    async fn revoke(&mut self, a: usize, token: usize) -> Result<bool, String> {
        let request = self
            .client
            .delete(self.url("/api/tokens"))
            .bearer_auth(&self.accounts[a].tokens[token].secret);
        let Answer::Got(status, body) = send(request).await else {
            self.accounts[a].in_flight = Some(InFlight::Revoke { token });
            return Ok(false);
        };
        self.expect(
            &format!("revoke of {}", self.accounts[a].name),
            204,
            status,
            &body,
        )?;
        self.accounts[a].tokens[token].state = TokenState::Revoked;
        Ok(true)
    }

    async fn change_password(&mut self, a: usize, used: usize) -> Result<bool, String> {
        self.made += 1;
        let account = &self.accounts[a];
        // `made` starts over every round: without the round, a change in a
        // later round could pick the password an earlier one set, and a lost
        // change would then look applied and not applied at once.
        let new = format!(
            "secret number {} of {} in round {}",
            self.made, account.name, self.round
        );
        let request = self
            .client
            .patch(self.url(&format!("/api/users/{}", account.id.unwrap_or(0))))
            .bearer_auth(&account.tokens[used].secret)
            .json(&json!({ "password": new, "current_password": account.password }));
        let Answer::Got(status, body) = send(request).await else {
            self.accounts[a].in_flight = Some(InFlight::ChangePassword { new, used });
            return Ok(false);
        };
        self.expect(&format!("password of {}", account.name), 200, status, &body)?;
        apply_password_change(&mut self.accounts[a], new, used);
        Ok(true)
    }

    async fn delete(&mut self, a: usize, token: usize) -> Result<bool, String> {
        let account = &self.accounts[a];
        let request = self
            .client
            .delete(self.url(&format!("/api/users/{}", account.id.unwrap_or(0))))
            .bearer_auth(&account.tokens[token].secret);
        let Answer::Got(status, body) = send(request).await else {
            self.accounts[a].in_flight = Some(InFlight::Delete);
            return Ok(false);
        };
        self.expect(&format!("delete of {}", account.name), 204, status, &body)?;
        apply_delete(&mut self.accounts[a]);
        Ok(true)
    }
}

/// A new password revokes every token but the one the change was made with.
fn apply_password_change(account: &mut Account, new: String, used: usize) {
    account.password = new;
    account.unknown_tokens = 0;
    for (i, t) in account.tokens.iter_mut().enumerate() {
        if i != used {
            t.state = TokenState::Revoked;
        }
    }
}

fn apply_delete(account: &mut Account) {
    account.gone = true;
    account.unknown_tokens = 0;
    for t in &mut account.tokens {
        t.state = TokenState::Revoked;
    }
}

/// Whether `password` is `name`'s current password, by a read that writes
/// nothing (Basic on /api/me; a login would issue a token).
async fn password_works(server: &Server, name: &str, password: &str) -> bool {
    account_behind(server, name, password).await.is_some()
}

/// The account as `GET /api/me` shows it when `password` is `name`'s
/// current password (200); `None` when it is refused (401).
async fn account_behind(server: &Server, name: &str, password: &str) -> Option<Value> {
    let response = server.get("/api/me").basic(name, password).send().await;
    match response.status.as_u16() {
        200 => Some(response.json()),
        401 => None,
        other => panic!(
            "GET /api/me as {name}: {other}; stderr:\n{}",
            server.stderr()
        ),
    }
}

async fn token_works(server: &Server, name: &str, secret: &str) -> bool {
    let response = server.resource(secret).await;
    match response.status.as_u16() {
        200 => {
            let body = response.json();
            assert_eq!(body["data"], format!("Hello, {name}!"), "{body}");
            true
        }
        401 => false,
        other => panic!("token of {name}: {other}; stderr:\n{}", server.stderr()),
    }
}

/// After a restart: decides every lost write (applied whole or not at all),
/// then checks every acknowledged one.
async fn verify(server: &Server, account: &mut Account) {
    let name = account.name.clone();
    let fail = |what: String| -> ! { panic!("{name}: {what}; stderr:\n{}", server.stderr()) };
    match account.in_flight.take() {
        None => {}
        Some(InFlight::Register) => match account_behind(server, &name, &account.password).await {
            Some(me) => account.id = me["id"].as_u64(),
            None => account.gone = true,
        },
        Some(InFlight::Delete) => {
            let applied = !password_works(server, &name, &account.password).await;
            if applied {
                apply_delete(account);
            }
        }
        Some(InFlight::ChangePassword { new, used }) => {
            let old_works = password_works(server, &name, &account.password).await;
            let new_works = password_works(server, &name, &new).await;
            match (old_works, new_works) {
                (true, false) => {}
                (false, true) => {
                    // Applied: then the other tokens must be revoked with it.
                    apply_password_change(account, new, used);
                }
                both => fail(format!(
                    "lost password change left old/new working: {both:?}"
                )),
            }
        }
        Some(InFlight::Revoke { token }) => {
            let applied = !token_works(server, &name, &account.tokens[token].secret).await;
            if applied {
                account.tokens[token].state = TokenState::Revoked;
            }
        }
        // A token may have been issued that nobody knows: harmless, but it
        // counts in `check` from now on.
        Some(InFlight::Issue) => account.unknown_tokens += 1,
    }
    let works = password_works(server, &name, &account.password).await;
    if works == account.gone {
        fail(format!(
            "acknowledged {} but log-in works: {works}",
            if account.gone { "deleted" } else { "live" }
        ));
    }
    for token in &account.tokens {
        let works = token_works(server, &name, &token.secret).await;
        if works != (token.state == TokenState::Valid) {
            fail(format!("token {:?} but it works: {works}", token.state));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_twenty_random_kill_9s_under_mixed_load() {
    const KILLS: usize = 20;
    const TASKS: usize = 4;
    let started = Instant::now();
    let mut rng = Rng::seeded();
    let (_tmp, data) = crate::support::workspace();
    let mut shares: Vec<Vec<Account>> = vec![Vec::new(); TASKS];
    let mut server = Server::start_with(&data, LOAD_ENV);
    // Accounts checked gone after a kill, then dropped from the model.
    let mut acknowledged = 0usize;
    for round in 0..KILLS {
        let mut load = JoinSet::new();
        for (task, accounts) in shares.drain(..).enumerate() {
            let mut driver = Driver {
                client: server.client.clone(),
                base: server.url(""),
                task,
                round,
                made: 0,
                rng: rng.fork(),
                accounts,
            };
            // Bounded even if the kill never lands.
            let deadline = Instant::now() + Duration::from_secs(20);
            load.spawn(async move {
                let outcome = driver.run(deadline).await;
                (driver.task, driver.accounts, outcome)
            });
        }
        let after = Duration::from_millis(100 + rng.below(1400));
        tokio::time::sleep(after).await;
        let log = server.stderr();
        server.kill_9();

        let mut results: Vec<_> = load.join_all().await;
        results.sort_by_key(|(task, _, _)| *task);
        for (_, accounts, outcome) in results {
            if let Err(e) = outcome {
                panic!("round {round}: {e}; stderr:\n{log}");
            }
            shares.push(accounts);
        }

        let (mut users, mut tokens) = ((0, 0), (0, 0));
        for account in shares.iter().flatten() {
            let (u, t) = account.bounds();
            users = (users.0 + u.0, users.1 + u.1);
            tokens = (tokens.0 + t.0, tokens.1 + t.1);
        }
        let counted = check(&data);
        assert!(
            (users.0..=users.1).contains(&counted.0) && (tokens.0..=tokens.1).contains(&counted.1),
            "round {round}: check counted {counted:?}, expected users in {users:?}, tokens in {tokens:?}"
        );

        server = Server::start_with(&data, LOAD_ENV);
        for account in shares.iter_mut().flatten() {
            verify(&server, account).await;
        }
        acknowledged += shares.iter().flatten().filter(|a| a.gone).count();
        // A gone account has now been checked gone after a kill; keep the
        // model (and the next round's checks) bounded.
        for share in &mut shares {
            share.retain(|a| !a.gone);
        }
        eprintln!(
            "reliability: round {round}: killed after {after:?}; check {counted:?}; {} accounts verified",
            shares.iter().flatten().count()
        );
    }
    server.stop();
    let live = shares.iter().flatten().filter(|a| !a.gone).count() as u64;
    let valid: usize = shares
        .iter()
        .flatten()
        .map(|a| a.valid_tokens().count())
        .sum();
    let counted = check(&data);
    assert_eq!(counted.0, live, "users after the last clean stop");
    // Lost issues may have left tokens nobody knows of; never fewer.
    assert!(counted.1 >= valid as u64, "tokens {counted:?} < {valid}");
    eprintln!(
        "reliability: crash loop: {KILLS} kills; {acknowledged} accounts checked gone; {live} live, {valid} valid tokens at the end; {:?}",
        started.elapsed()
    );
}

/// A tmpfs mounted for the test; unmounted (lazily, so a busy file cannot
/// keep it) when dropped, even when the test fails.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs with `options` on `dir`, or says why the test is
    /// skipped and returns `None`. Under `CI=true` a skip is a failure.
    fn tmpfs(dir: &Path, options: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self(dir.to_owned())),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                let ci = std::env::var("CI").is_ok_and(|v| v == "true");
                assert!(!ci, "CI=true, but mounting a tmpfs failed: {why}");
                eprintln!("SKIPPED: this test mounts a tmpfs and needs root ({why})");
                None
            }
        }
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills `dir`'s file system with `name` until a write fails, then frees
/// `leave` bytes of it again.
fn fill_leaving(dir: &Path, name: &str, leave: u64) {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..1024 {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(leave)).unwrap();
}

/// POST /api/users for `name`; the status and the response.
async fn try_register(server: &Server, name: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/api/users"))
        .json(&json!({ "username": name, "password": "a fine long password" }))
        .send()
        .await
        .unwrap()
}

/// A server whose store sits on an 8 MiB tmpfs that is full but for
/// `spare`, a 2 MiB file to delete later; `reader` and a token of theirs
/// exist. Registers users until one is refused, asserts that refusal is a
/// 503 `unavailable` problem with Retry-After, and returns the server, the
/// token, and every user acknowledged with 201.
async fn full_disk(small: &Path) -> (Server, PathBuf, String, Vec<String>) {
    let spare = small.join("spare");
    std::fs::write(&spare, vec![0u8; 2 * 1024 * 1024]).unwrap();
    let data = small.join("data");
    let server = Server::start_with(&data, LOAD_ENV);
    let token = server.register_and_issue_token("reader").await;
    fill_leaving(small, "pad", 256 * 1024);

    let mut created = vec!["reader".to_owned()];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut refused = None;
    for n in 0..20_000 {
        assert!(Instant::now() < deadline, "no write failed within 60 s");
        let name = format!("filler{n:05}-{}", "x".repeat(40));
        let response = try_register(&server, &name).await;
        if response.status() == 201 {
            created.push(name);
        } else {
            refused = Some(response);
            break;
        }
    }
    let response = refused.expect("20 000 registrations fitted in 256 KiB");
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    eprintln!(
        "reliability: disk full after {} users: {status} {body}; Retry-After {:?}",
        created.len(),
        headers.get("retry-after")
    );
    assert_eq!(status, 503, "{body}; stderr:\n{}", server.stderr());
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{headers:?}"
    );
    (server, spare, token, created)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_answers_503_keeps_reads_working_and_loses_no_acknowledged_user() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    let Some(_mount) = Mount::tmpfs(&small, "size=8m") else {
        return;
    };
    let (mut server, spare, token, mut created) = full_disk(&small).await;
    let data = small.join("data");

    // While full: more writes are refused the same way, reads go on.
    for n in 0..3 {
        let name = format!("while-full{n}");
        let response = try_register(&server, &name).await;
        match response.status().as_u16() {
            201 => created.push(name),
            503 => {}
            other => panic!("write while full: {other}; stderr:\n{}", server.stderr()),
        }
    }
    assert_eq!(server.resource(&token).await.status, 200);
    let list = server.get_as("/api/users", &token).send().await;
    assert_eq!(list.status, 200, "stderr:\n{}", server.stderr());
    let health = server.client.get(server.url("/healthz")).send().await;
    assert_eq!(health.unwrap().status(), 200);
    assert!(
        server.child.0.try_wait().unwrap().is_none() && !server.stderr().contains("panicked"),
        "the server died or panicked; stderr:\n{}",
        server.stderr()
    );

    // Space comes back; a restart must find every acknowledged user and
    // take writes again.
    std::fs::remove_file(&spare).unwrap();
    let (status, log) = server.terminate();
    assert!(!log.contains("panicked"), "{status:?}; stderr:\n{log}");
    eprintln!("reliability: disk full: SIGTERM after space was freed: {status:?}");

    let server = Server::start_with(&data, LOAD_ENV);
    let token = server.token_for("reader", PASSWORD).await;
    let mut names = BTreeSet::new();
    for page in 1..=1000 {
        let body = server
            .get_as(&format!("/api/users?per_page=100&page={page}"), &token)
            .expect_json()
            .await;
        let items = body["items"].as_array().unwrap();
        names.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        if body["_links"]["next"].is_null() {
            break;
        }
    }
    let missing: Vec<&String> = created.iter().filter(|n| !names.contains(*n)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(try_register(&server, "after-restart").await.status(), 201);
    server.stop();
    assert!(check(&data).0 > created.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limitation: sled 0.34 keeps its first ENOSPC error until the database is reopened, so writes recover only after a restart"]
async fn writes_succeed_again_without_a_restart_once_space_is_freed() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    let Some(_mount) = Mount::tmpfs(&small, "size=8m") else {
        return;
    };
    let (server, spare, _token, _created) = full_disk(&small).await;
    std::fs::remove_file(&spare).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    for n in 0.. {
        let response = try_register(&server, &format!("after-space{n}")).await;
        let status = response.status();
        if status == 201 {
            break;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "writes still fail 15 s after space was freed: {status} {body}; stderr:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    server.stop();
}

#[test]
fn data_dir_on_a_read_only_mount_fails_with_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let read_only = tmp.path().join("ro");
    let Some(_mount) = Mount::tmpfs(&read_only, "ro,size=1m") else {
        return;
    };
    let data = read_only.join("data");
    let line = start_failure(tmp.path(), &data);
    assert!(line.contains(&data.display().to_string()), "{line}");
}

#[test]
fn existing_store_remounted_read_only_fails_with_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mounted = tmp.path().join("disk");
    let Some(mount) = Mount::tmpfs(&mounted, "size=8m") else {
        return;
    };
    let data = mounted.join("data");
    Server::start(&data).stop();
    mount.remount("ro");
    let line = start_failure(tmp.path(), &data);
    assert!(line.contains(&data.display().to_string()), "{line}");
}

#[test]
fn data_dir_under_a_regular_file_fails_with_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "not a directory").unwrap();
    let data = file.join("deeper").join("data");
    let line = start_failure(tmp.path(), &data);
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(file.is_file(), "the file must be left alone");
}

/// VmRSS in KiB and the number of open file descriptors of `pid`.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

#[derive(Default)]
struct SoakTally {
    requests: u64,
    server_errors: u64,
    errors: Vec<String>,
}

impl SoakTally {
    /// Sends one request; the body if the status is `want`, else records why.
    async fn call(&mut self, what: &str, want: u16, request: RequestBuilder) -> Option<Value> {
        self.requests += 1;
        match send(request).await {
            Answer::Lost => self.errors.push(format!("{what}: no answer")),
            Answer::Got(status, body) => {
                if status.is_server_error() {
                    self.server_errors += 1;
                }
                if status.as_u16() == want {
                    return Some(body);
                }
                self.errors.push(format!("{what}: {status} {body}"));
            }
        }
        None
    }
}

struct SoakUser {
    name: String,
    id: u64,
    tokens: Vec<String>,
}

/// One soak client: registers, logs in, uses and revokes tokens, and deletes
/// its oldest user past 12, so the store stays bounded; one request per
/// 50 ms at most. Deletes what it made before it returns.
async fn soak_client(
    client: Client,
    base: String,
    task: usize,
    phase: usize,
    until: Instant,
) -> SoakTally {
    const PASSWORD: &str = "soak password, long enough";
    let mut tally = SoakTally::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((task as u64 + 1) << 32) ^ phase as u64);
    let mut users: Vec<SoakUser> = Vec::new();
    let mut made = 0;
    let url = |p: &str| format!("{base}{p}");
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let stopping = Instant::now() >= until;
        if stopping && users.is_empty() {
            break;
        }
        if !stopping && (users.len() < 4 || rng.below(10) == 0) {
            made += 1;
            let name = format!("soak{task}p{phase}n{made}");
            let request = client
                .post(url("/api/users"))
                .json(&json!({ "username": name, "password": PASSWORD }));
            if let Some(body) = tally.call("register", 201, request).await {
                let id = body["id"].as_u64().unwrap_or(0);
                users.push(SoakUser {
                    name,
                    id,
                    tokens: Vec::new(),
                });
            }
            continue;
        }
        let shrink = stopping || users.len() > 12;
        let u = if shrink {
            0
        } else {
            rng.below(users.len() as u64) as usize
        };
        let user = &mut users[u];
        let op = rng.below(4);
        if user.tokens.is_empty() || (op == 0 && user.tokens.len() < 3) {
            let request = client
                .post(url("/api/tokens"))
                .basic_auth(&user.name, Some(PASSWORD));
            if let Some(body) = tally.call("log in", 200, request).await {
                user.tokens
                    .push(body["token"].as_str().unwrap_or_default().to_owned());
            }
        } else if shrink {
            let token = user.tokens.last().unwrap();
            let request = client
                .delete(url(&format!("/api/users/{}", user.id)))
                .bearer_auth(token);
            tally.call("delete user", 204, request).await;
            users.remove(0);
        } else if op == 1 {
            let token = user.tokens.pop().unwrap();
            let request = client.delete(url("/api/tokens")).bearer_auth(&token);
            tally.call("revoke", 204, request).await;
        } else {
            let token = user.tokens.last().unwrap();
            let request = client.get(url("/api/resource")).bearer_auth(token);
            tally.call("use token", 200, request).await;
        }
        // Bounded even if the server stops answering.
        if Instant::now() > until + Duration::from_secs(30) {
            tally.errors.push("could not clean up within 30 s".into());
            break;
        }
    }
    tally
}

/// Runs `clients` soak clients until `until`; sums their tallies.
async fn soak_phase(
    server: &Server,
    clients: usize,
    phase: usize,
    until: Instant,
    total: &mut SoakTally,
) {
    let mut load = JoinSet::new();
    for task in 0..clients {
        load.spawn(soak_client(
            server.client.clone(),
            server.url(""),
            task,
            phase,
            until,
        ));
    }
    for tally in load.join_all().await {
        total.requests += tally.requests;
        total.server_errors += tally.server_errors;
        total.errors.extend(tally.errors);
    }
}

/// Waits up to 10 s for the server's fd count to settle at or below `at_most`.
async fn settled_fds(pid: u32, at_most: usize) -> (u64, usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (rss, fds) = rss_and_fds(pid);
        if fds <= at_most || Instant::now() >= deadline {
            return (rss, fds);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// Two minutes: `.ci/run` runs it on its own after the suite, and a plain
// `cargo test` leaves it out. The warm-up is 40 s because RSS settles
// slowly: after a 20 s warm-up it still grew 4.1% over the next 100 s, and
// about 1.5% more over the 200 s after those, a curve that flattens where a
// leak would climb on. After 40 s it grows about 2% over the 80 s measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "two-minute soak; run with: cargo test --test binary -- --ignored two_minutes"]
async fn two_minutes_of_mixed_load_leak_no_memory_or_file_descriptors_and_answer_no_5xx() {
    const CLIENTS: usize = 3;
    const WARM_UP: Duration = Duration::from_secs(40);
    const MEASURED: Duration = Duration::from_secs(80);
    let (_tmp, data) = crate::support::workspace();
    let server = Server::start_with(&data, LOAD_ENV);
    let pid = server.pid();
    let mut total = SoakTally::default();

    soak_phase(&server, CLIENTS, 0, Instant::now() + WARM_UP, &mut total).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_start, fds_start) = rss_and_fds(pid);
    let warm_requests = total.requests;

    soak_phase(&server, CLIENTS, 1, Instant::now() + MEASURED, &mut total).await;
    let (rss_end, fds_end) = settled_fds(pid, fds_start).await;

    let growth = (rss_end as f64 - rss_start as f64) / rss_start as f64 * 100.0;
    eprintln!(
        "reliability: soak: {} requests ({warm_requests} in warm-up), {} 5xx, {} other errors; \
         VmRSS {rss_start} kB -> {rss_end} kB ({growth:+.2}%); fds {fds_start} -> {fds_end}",
        total.requests,
        total.server_errors,
        total.errors.len()
    );
    let log = server.stderr();
    assert_eq!(total.server_errors, 0, "{:?}; stderr:\n{log}", total.errors);
    assert!(
        total.errors.is_empty(),
        "{:?}",
        &total.errors[..total.errors.len().min(20)]
    );
    assert!(
        growth < 5.0,
        "VmRSS grew {growth:.2}%: {rss_start} kB -> {rss_end} kB"
    );
    assert!(fds_end <= fds_start + 4, "fds {fds_start} -> {fds_end}");
    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
    check(&data);
}
