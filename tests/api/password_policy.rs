//! The password policy (NIST SP 800-63B: length, not the username, not a
//! common password, no control characters; no composition rules) and
//! Unicode normalization, at registration and on a password change.

use crate::support::{INVALID_REQUEST, PASSWORD, TestServer, path_of};
use serde_json::json;

/// Passwords the policy refuses for `username`, each with a word the
/// `detail` must contain to say why.
fn refused_for(username: &str) -> Vec<(String, &'static str)> {
    vec![
        ("short".to_owned(), "at least 8 characters"),
        ("\u{e9}t\u{e9} 24".to_owned(), "at least 8 characters"),
        (username.to_owned(), "username"),
        (username.to_uppercase(), "username"),
        ("Password1".to_owned(), "common"),
        ("qwertyuiop".to_owned(), "common"),
        ("QWERTYuiop".to_owned(), "common"),
        ("correct\u{7}horse battery".to_owned(), "control"),
        ("correct horse\nbattery".to_owned(), "control"),
    ]
}

/// Passwords with spaces, emoji and CJK are as good as any.
const UNUSUAL_BUT_FINE: [&str; 3] = [
    "correct horse \u{1f40e} \u{96fb}\u{6c60}",
    "\u{96fb}\u{6c60}\u{99ac}\u{91d8}\u{6b63}\u{3057}\u{3044}\u{99ac}",
    "  leading and trailing spaces  ",
];

#[tokio::test]
async fn a_password_typed_precomposed_or_decomposed_is_the_same_password() {
    let app = TestServer::spawn().await;
    let precomposed = "caf\u{e9} au lait!";
    let decomposed = "cafe\u{301} au lait!";
    app.register("alice", precomposed).await;
    app.issue_token("alice", decomposed).await;
    app.register("bob", decomposed).await;
    app.issue_token("bob", precomposed).await;
    app.post("/api/tokens")
        .json(&json!({ "username": "bob", "password": precomposed }))
        .expect(200)
        .await;
}

#[tokio::test]
async fn weak_passwords_are_refused_at_registration_saying_why() {
    let app = TestServer::spawn().await;
    let username = "sesquipedalian";
    for (password, why) in refused_for(username) {
        let problem = app
            .post("/api/users")
            .json(&json!({ "username": username, "password": password }))
            .refused(INVALID_REQUEST)
            .await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{password:?}: {detail:?}");
    }
    // None of them made the account.
    app.register(username, PASSWORD).await;
}

#[tokio::test]
async fn spaces_emoji_and_cjk_are_fine_in_a_password() {
    let app = TestServer::spawn().await;
    for (n, password) in UNUSUAL_BUT_FINE.iter().enumerate() {
        let name = format!("user{n}");
        app.register(&name, password).await;
        app.issue_token(&name, password).await;
    }
}

#[tokio::test]
async fn weak_passwords_are_refused_on_a_password_change_saying_why() {
    let app = TestServer::spawn().await;
    let username = "sesquipedalian";
    let user = app.register(username, PASSWORD).await;
    let path = path_of(&user);
    for (password, why) in refused_for(username) {
        let problem = app
            .patch(&path)
            .password(username)
            .json(&json!({ "password": password, "current_password": PASSWORD }))
            .refused(INVALID_REQUEST)
            .await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{password:?}: {detail:?}");
    }
    // The password is unchanged, and a good unusual one is accepted.
    let emoji = UNUSUAL_BUT_FINE[0];
    app.patch(&path)
        .password(username)
        .json(&json!({ "password": emoji, "current_password": PASSWORD }))
        .expect(200)
        .await;
    app.issue_token(username, emoji).await;
}
