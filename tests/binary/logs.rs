//! The server log: every authentication attempt with its outcome, the
//! username as given and the client address; never a password, a token, a
//! code or an `Authorization` header.
//!
//! One session exercises every way a secret reaches the server, in opaque
//! and then jwt mode, with codes delivered by webhook (the one delivery mode
//! that must keep them out of the log). The captured stderr is then searched
//! for every secret the session used, at the default level and at debug.

use crate::support::{MADE_UP_TOKEN, Server, Webhook, log_line, workspace};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::path::Path;

const FIRST_PASSWORD: &str = "tangerine wallpaper lantern 41";
const SECOND_PASSWORD: &str = "saffron harbour violin 77";
const RESET_PASSWORD: &str = "quiet glacier pumpkin 93";
const WRONG_PASSWORD: &str = "wrong walrus umbrella 12";
const MADE_UP_CODE: &str = "MadeUpCodeNobodyWasEverSent0123456789abcdefg";
/// A passphrase typed into the username field: over 64 characters, so no
/// username, and logged only as a fingerprint.
const PASSPHRASE_AS_USERNAME: &str =
    "the quick brown fox jumps over the lazy dog while the cat sleeps 1979";
/// A password typed into the username field that would make a fine
/// username: no account has it, so it too is logged as a fingerprint.
const PASSWORD_AS_USERNAME: &str = "marmalade tuesday 58";

/// Every secret the session sent or received, each with what it is.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.0.push((what.to_owned(), value.to_owned()));
    }

    /// A Basic header for `user:password`, remembered with its parts.
    fn basic(&mut self, what: &str, user: &str, password: &str) -> String {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        let header = format!("Basic {encoded}");
        self.add(&format!("{what} (base64)"), &encoded);
        self.add(&format!("{what} (header)"), &header);
        header
    }

    /// A Bearer header for `token`, remembered.
    fn bearer(&mut self, what: &str, token: &str) -> String {
        let header = format!("Bearer {token}");
        self.add(&format!("{what} (header)"), &header);
        header
    }

    /// Fails naming every secret found in `log`, with the line it is on.
    fn assert_absent_from(&self, log: &str) {
        let leaks: Vec<String> = self
            .0
            .iter()
            .filter_map(|(what, value)| {
                let line = log.lines().find(|l| l.contains(value.as_str()))?;
                Some(format!("{what} appears in: {line}"))
            })
            .collect();
        assert!(
            leaks.is_empty(),
            "secrets in the log:\n{}",
            leaks.join("\n")
        );
    }
}

/// POST /api/tokens with `authorization` as the header; asserts 200 and
/// returns the token response.
async fn issued_with(server: &Server, authorization: &str) -> Value {
    server
        .post("/api/tokens")
        .authorization(authorization)
        .expect_json()
        .await
}

/// A string member of a JSON body.
fn text(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no `{key}` in {body}"))
        .to_owned()
}

/// The opaque-token half of the session: registration, logins right and
/// wrong, each way of presenting a token, a password change, and a reset
/// by webhook-delivered code.
async fn opaque_session(server: &Server, webhook: &mut Webhook, secrets: &mut Secrets) {
    secrets.add("first password", FIRST_PASSWORD);
    let user = server
        .post("/api/users")
        .json(&json!({
            "username": "alice",
            "password": FIRST_PASSWORD,
            "email": "alice@example.com",
        }))
        .expect(201)
        .await
        .json();
    let id = user["id"].as_u64().unwrap();

    let login = secrets.basic("first login", "alice", FIRST_PASSWORD);
    let body = issued_with(server, &login).await;
    let token = text(&body, "token");
    secrets.add("opaque token", &token);

    secrets.add("wrong password", WRONG_PASSWORD);
    let wrong = secrets.basic("wrong login", "Alice", WRONG_PASSWORD);
    let refused = |header: &str| server.post("/api/tokens").authorization(header).expect(401);
    refused(&wrong).await;
    for (what, typed) in [
        ("passphrase typed as the username", PASSPHRASE_AS_USERNAME),
        ("password typed as the username", PASSWORD_AS_USERNAME),
    ] {
        secrets.add(what, typed);
        refused(&secrets.basic(what, typed, "alice")).await;
    }

    let body = server
        .post("/api/tokens")
        .json(&json!({ "username": "alice", "password": FIRST_PASSWORD }))
        .expect_json()
        .await;
    secrets.add("token from a JSON login", &text(&body, "token"));

    let bearer = secrets.bearer("opaque token", &token);
    let as_username = secrets.basic("token as Basic username", &token, "unused");
    let spaced = secrets.basic(
        "token with a leading space as Basic username",
        &format!(" {token}"),
        "unused",
    );
    for header in [&bearer, &as_username, &spaced] {
        let resource = server.get("/api/resource").authorization(header);
        resource.expect(200).await;
    }
    server
        .get("/api/tokens")
        .authorization(&bearer)
        .expect(200)
        .await;
    // A made-up token is a presented credential too.
    secrets.add("made-up token", MADE_UP_TOKEN);
    let made_up = secrets.bearer("made-up token", MADE_UP_TOKEN);
    let resource = server.get("/api/resource").authorization(&made_up);
    resource.expect(401).await;

    secrets.add("second password", SECOND_PASSWORD);
    server
        .patch(&format!("/api/users/{id}"))
        .authorization(&bearer)
        .json(&json!({ "password": SECOND_PASSWORD, "current_password": FIRST_PASSWORD }))
        .expect(200)
        .await;
    let login = secrets.basic("second login", "alice", SECOND_PASSWORD);
    let body = issued_with(server, &login).await;
    secrets.add("token after the change", &text(&body, "token"));

    server
        .post("/api/password-reset")
        .json(&json!({ "username_or_email": "alice@example.com" }))
        .expect(202)
        .await;
    secrets.add("made-up code", MADE_UP_CODE);
    let confirm = |code: &str| {
        server
            .post("/api/password-reset/confirm")
            .json(&json!({ "code": code, "password": RESET_PASSWORD }))
    };
    confirm(MADE_UP_CODE).expect(400).await;
    let message = webhook.next().await;
    assert_eq!(message["kind"], "password_reset", "{message}");
    assert_eq!(message["username"], "alice", "{message}");
    let code = text(&message, "code");
    secrets.add("reset code", &code);
    secrets.add("reset password", RESET_PASSWORD);
    confirm(&code).expect(204).await;
    let login = secrets.basic("login after the reset", "alice", RESET_PASSWORD);
    let body = issued_with(server, &login).await;
    secrets.add("token after the reset", &text(&body, "token"));
}

/// The jwt half: a signed access token and a refresh token, a refresh, and
/// both access tokens used.
async fn jwt_session(server: &Server, secrets: &mut Secrets) {
    let login = secrets.basic("jwt login", "alice", RESET_PASSWORD);
    let body = issued_with(server, &login).await;
    let access = text(&body, "token");
    assert_eq!(access.matches('.').count(), 2, "a JWS: {access}");
    let refresh = text(&body, "refresh_token");
    secrets.add("access token", &access);
    secrets.add("refresh token", &refresh);

    let refreshing = |presented: &str| {
        server
            .post("/api/tokens/refresh")
            .json(&json!({ "refresh_token": presented }))
    };
    let body = refreshing(&refresh).expect_json().await;
    let refreshed = text(&body, "token");
    secrets.add("refreshed access token", &refreshed);
    secrets.add("second refresh token", &text(&body, "refresh_token"));

    for (what, token) in [("access token", &access), ("refreshed", &refreshed)] {
        let bearer = secrets.bearer(what, token);
        let as_username = secrets.basic(&format!("{what} as Basic username"), token, "unused");
        for header in [&bearer, &as_username] {
            for path in ["/api/resource", "/api/tokens"] {
                server.get(path).authorization(header).expect(200).await;
            }
        }
    }

    // A spent refresh token presented again (taken as theft, and logged as
    // such) and a made-up one: both refused, neither logged.
    secrets.add("made-up refresh token", MADE_UP_TOKEN);
    for presented in [refresh.as_str(), MADE_UP_TOKEN] {
        refreshing(presented).expect(401).await;
    }
}

/// Runs both halves on one data dir with `rust_log` (or the default level)
/// and returns the whole log and the secrets used.
async fn logged_session(data: &Path, rust_log: Option<&str>) -> (String, Secrets) {
    let mut webhook = Webhook::start().await;
    let url = webhook.url.clone();
    let mut env = vec![
        ("LATCHKEY_DELIVERY__MODE", "webhook"),
        ("LATCHKEY_DELIVERY__URL", url.as_str()),
    ];
    if let Some(level) = rust_log {
        env.push(("RUST_LOG", level));
    }
    let mut secrets = Secrets::default();

    let server = Server::start_with(data, &env);
    opaque_session(&server, &mut webhook, &mut secrets).await;
    let mut log = server.stop();

    env.push(("LATCHKEY_TOKENS__FORMAT", "jwt"));
    let server = Server::start_with(data, &env);
    jwt_session(&server, &mut secrets).await;
    log.push_str(&server.stop());
    (log, secrets)
}

/// The log keeps what an operator needs: each attempt, its outcome, the
/// name as typed and where it came from.
fn assert_attempts_are_logged(log: &str) {
    let failed = log_line(log, &["authentication failed", "Alice"]);
    assert!(failed.contains("127.0.0.1"), "{failed}");
    let succeeded = log_line(log, &["authentication succeeded", "alice"]);
    assert!(succeeded.contains("127.0.0.1"), "{succeeded}");
    assert!(succeeded.contains("password"), "{succeeded}");
    let bad_token = log_line(log, &["authentication failed", "token"]);
    assert!(bad_token.contains("127.0.0.1"), "{bad_token}");
    // A name no account could have is logged as a fingerprint, labelled.
    let fingerprinted = log_line(log, &["authentication failed", "username_sha256_prefix"]);
    assert!(fingerprinted.contains("127.0.0.1"), "{fingerprinted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_the_default_level() {
    let (_tmp, data) = workspace();
    let (log, secrets) = logged_session(&data, None).await;
    secrets.assert_absent_from(&log);
    assert_attempts_are_logged(&log);
    assert!(
        !log.contains(" DEBUG "),
        "info is the default level:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_debug_level() {
    let (_tmp, data) = workspace();
    let (log, secrets) = logged_session(&data, Some("debug")).await;
    assert!(
        log.contains(" DEBUG "),
        "RUST_LOG=debug took effect:\n{log}"
    );
    secrets.assert_absent_from(&log);
    assert_attempts_are_logged(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_changing_another_accounts_password_is_logged_without_it() {
    use crate::support::{PASSWORD, run};
    let (_tmp, data) = workspace();
    run(&data, &["user", "add", "root", "--admin"], Some(PASSWORD)).ok();
    let server = Server::start(&data);
    let bob = server.register("bob", PASSWORD).await;
    let bob_id = bob["id"].as_u64().unwrap();
    let admin = server.token_for("root", PASSWORD).await;
    server
        .patch_as(&format!("/api/users/{bob_id}"), &admin)
        .json(&json!({ "password": SECOND_PASSWORD }))
        .expect(200)
        .await;
    let log = server.stop();
    let line = log_line(&log, &["admin changes another account's credentials"]);
    assert!(line.contains("actor_id=1"), "{line}");
    assert!(line.contains(&format!("target_id={bob_id}")), "{line}");
    assert!(
        !log.contains(SECOND_PASSWORD),
        "the new password is in the log"
    );
}
