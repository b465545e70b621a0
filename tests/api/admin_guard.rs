//! The guard that keeps one enabled admin: the last one may not demote,
//! disable or delete themselves, a refused change changes nothing, and a
//! patch already in flight does not undo a demotion or a disable.

use crate::support::{
    ADMIN, ADMIN_EMAIL, INVALID_CREDENTIALS, PASSWORD, Resp, TestServer, path_of,
};
use serde_json::{Value, json};

/// Asserts a 409 `last_admin` that says why.
#[track_caller]
fn assert_last_admin(response: Resp) {
    let problem = response.assert_problem(409, "last_admin");
    assert!(
        !problem["detail"].as_str().unwrap().trim().is_empty(),
        "{problem}"
    );
}

#[tokio::test]
async fn the_only_admin_cannot_demote_disable_or_delete_themselves() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let token = app.admin_token().await;
    let me = app.me(&token).await;
    let path = path_of(&me);
    assert_last_admin(
        app.patch_as(&path, &token)
            .json(&json!({ "role": "user" }))
            .send()
            .await,
    );
    assert_last_admin(
        app.patch_as(&path, &token)
            .json(&json!({ "disabled": true }))
            .send()
            .await,
    );
    assert_last_admin(app.delete_as(&path, &token).send().await);
    // Nothing changed: still an enabled admin, the token still works.
    let after = app.me(&token).await;
    assert_eq!(after, me);
    app.get_as("/api/admin/resource", &token).expect(200).await;
}

#[tokio::test]
async fn a_refused_last_admin_change_changes_nothing_else_either() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let token = app.admin_token().await;
    let me = app.me(&token).await;
    assert_last_admin(
        app.patch_as(&path_of(&me), &token)
            .json(&json!({ "role": "user", "email": "other@example.com", "current_password": PASSWORD }))
            .send()
            .await,
    );
    let after = app.me(&token).await;
    assert_eq!(after["email"], ADMIN_EMAIL);
    assert_eq!(after["role"], "admin");
}

#[tokio::test]
async fn once_a_second_admin_exists_the_first_may_step_down() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let root_token = app.admin_token().await;
    let root = app.me(&root_token).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    app.set_role(&root_token, &path_of(&bob), "admin").await;
    let demoted = app.set_role(&root_token, &path_of(&root), "user").await;
    assert_eq!(demoted["role"], "user", "{demoted}");
    app.assert_admin_refused(&root_token).await;
    // Now bob is the last admin, and the guard protects him in turn.
    assert_last_admin(
        app.patch_as(&path_of(&bob), &bob_token)
            .json(&json!({ "role": "user" }))
            .send()
            .await,
    );
    assert_last_admin(app.delete_as(&path_of(&bob), &bob_token).send().await);
}

#[tokio::test]
async fn a_disabled_admin_does_not_count_toward_the_guard() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let root_token = app.admin_token().await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    app.set_role(&root_token, &path_of(&bob), "admin").await;
    app.patch_as(&path_of(&bob), &root_token)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;
    app.assert_token_refused(&bob_token).await;
    let root = app.user_named(&root_token, ADMIN).await;
    assert_last_admin(
        app.patch_as(&path_of(&root), &root_token)
            .json(&json!({ "role": "user" }))
            .send()
            .await,
    );
}

/// A PATCH of the account at `path` whose headers are sent but whose body
/// is held back by one byte: the server has authenticated the caller and
/// waits in the handler for the rest.
struct PatchInFlight {
    stream: tokio::net::TcpStream,
    last: u8,
}

impl PatchInFlight {
    /// `user`'s own PATCH of their email with `token`, all but its last byte
    /// sent.
    async fn own_email_change(app: &TestServer, user: &Value, token: &str) -> Self {
        let body = json!({ "email": "bob2@example.com" });
        Self::start(app, &path_of(user), token, &body).await
    }

    async fn start(app: &TestServer, path: &str, token: &str, body: &Value) -> Self {
        use tokio::io::AsyncWriteExt;
        let body = body.to_string().into_bytes();
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.addr,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let (&last, rest) = body.split_last().unwrap();
        stream.write_all(rest).await.unwrap();
        // Long enough for the server to authenticate and start on the body.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        Self { stream, last }
    }

    /// Sends the last byte and returns the raw response.
    async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&[self.last]).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.stream.read_to_end(&mut out),
        )
        .await
        .unwrap()
        .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[tokio::test]
async fn a_demotion_is_not_undone_by_the_users_own_patch_already_in_flight() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    let admin = app.admin_token().await;
    app.set_role(&admin, &path_of(&bob), "admin").await;

    let in_flight = PatchInFlight::own_email_change(&app, &bob, &bob_token).await;
    app.set_role(&admin, &path_of(&bob), "user").await;
    in_flight.finish().await;

    app.assert_admin_refused(&bob_token).await;
    let seen = app.user_named(&admin, "bob").await;
    assert_eq!(seen["role"], "user", "{seen}");
}

#[tokio::test]
async fn a_disable_is_not_undone_by_the_users_own_patch_already_in_flight() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let (bob, bob_token) = app.user_with_token("bob").await;
    let admin = app.admin_token().await;

    let in_flight = PatchInFlight::own_email_change(&app, &bob, &bob_token).await;
    app.patch_as(&path_of(&bob), &admin)
        .json(&json!({ "disabled": true }))
        .expect(200)
        .await;
    in_flight.finish().await;

    let seen = app.user_named(&admin, "bob").await;
    assert_eq!(seen["disabled"], true, "{seen}");
    app.try_issue_token("bob", PASSWORD)
        .await
        .refused(INVALID_CREDENTIALS);
}
