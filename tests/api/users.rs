//! `/api/users`, `/api/users/{id}` and `/api/me`: registration, reading,
//! changing and deleting accounts, and the password length rules.

use crate::support::{PASSWORD, TestServer, assert_rfc3339_utc, assert_user_shape, id_of, path_of};
use serde_json::json;

#[tokio::test]
async fn registration_returns_201_with_the_user_and_its_location() {
    let app = TestServer::spawn().await;
    let response = app
        .post("/api/users")
        .json(&json!({ "username": "alice", "password": PASSWORD, "email": "alice@example.com" }))
        .expect(201)
        .await;
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let user = response.json();
    let id = id_of(&user);
    assert_user_shape(&user, Some("alice@example.com"));
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    let created = assert_rfc3339_utc(&user["created_at"]);
    let age = time::OffsetDateTime::now_utc() - created;
    assert!(
        age.whole_seconds().abs() < 60,
        "created_at {created} is not now"
    );
    let location = format!("/api/users/{id}");
    assert_eq!(response.header("location"), Some(location.as_str()));
    assert_eq!(user["_links"]["self"], location);
}

#[tokio::test]
async fn registration_without_email_is_accepted() {
    let app = TestServer::spawn().await;
    let user = app.register("alice", PASSWORD).await;
    assert_eq!(user["username"], "alice");
    assert!(user["email"].is_null(), "{user}");
}

#[tokio::test]
async fn user_seen_by_another_user_has_no_email() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    app.register("bob", PASSWORD).await;
    let seen = app.get_json_with_password(&path_of(&alice), "bob").await;
    assert_user_shape(&seen, None);
    assert_eq!(seen["id"], alice["id"]);
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["created_at"], alice["created_at"]);
    assert_eq!(seen["_links"]["self"], alice["_links"]["self"]);
}

#[tokio::test]
async fn user_seen_by_themselves_includes_email() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    let seen = app.get_as(&path_of(&alice), &token).expect_json().await;
    assert_eq!(seen, alice);
}

#[tokio::test]
async fn me_returns_the_caller_with_email_for_password_and_token() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let token = app.token_for("alice", PASSWORD).await;
    let by_password = app.me_basic("alice", PASSWORD).await;
    let by_token = app.me(&token).await;
    assert_user_shape(&by_password, Some("alice@example.com"));
    assert_eq!(by_password, alice);
    assert_eq!(by_token, alice);
}

#[tokio::test]
async fn no_response_ever_contains_the_password_or_its_hash() {
    let app = TestServer::spawn().await;
    let created = app
        .post("/api/users")
        .json(&json!({ "username": "alice", "password": PASSWORD, "email": "a@example.com" }))
        .expect(201)
        .await;
    let id = id_of(&created.json());
    let path = format!("/api/users/{id}");
    let token = app.token_for("alice", PASSWORD).await;
    let responses = [
        created,
        app.get_as("/api/me", &token).send().await,
        app.get_as(&path, &token).send().await,
        app.get_as("/api/users", &token).send().await,
        app.patch_as(&path, &token)
            .json(&json!({ "email": "b@example.com", "current_password": PASSWORD }))
            .send()
            .await,
    ];
    for response in responses {
        let text = response.assert_status_in(&[200, 201]).text();
        assert!(!text.contains("scrypt"), "{text}");
        assert!(!text.contains("password"), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[tokio::test]
async fn get_of_an_unknown_user_is_404() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    app.get("/api/users/999999")
        .basic("alice", PASSWORD)
        .expect_problem(404, "not_found")
        .await;
}

#[tokio::test]
async fn patch_changes_the_email_and_returns_the_user() {
    let app = TestServer::spawn().await;
    let alice = app
        .register_with_email("alice", PASSWORD, "old@example.com")
        .await;
    let path = path_of(&alice);
    let updated = app
        .patch(&path)
        .basic("alice", PASSWORD)
        .json(&json!({ "email": "new@example.com", "current_password": PASSWORD }))
        .expect_json()
        .await;
    assert_eq!(updated["email"], "new@example.com");
    assert_eq!(updated["id"], alice["id"]);
    assert_eq!(updated["username"], "alice");
    assert_user_shape(&updated, Some("new@example.com"));
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["email"], "new@example.com");
    // The new email logs in; the old one no longer does.
    app.post("/api/tokens")
        .json(&json!({ "username": "new@example.com", "password": PASSWORD }))
        .expect(200)
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": "old@example.com", "password": PASSWORD }))
        .expect_problem(401, "invalid_credentials")
        .await;
}

#[tokio::test]
async fn patch_changes_the_password() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    app.patch(&path_of(&alice))
        .basic("alice", PASSWORD)
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
    app.assert_password_refused("alice", PASSWORD).await;
    app.me_basic("alice", "a brand new secret").await;
}

#[tokio::test]
async fn password_change_with_a_token_keeps_that_token_and_revokes_the_others() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let kept = app.token_for("alice", PASSWORD).await;
    let other = app.token_for("alice", PASSWORD).await;
    let third = app.token_for("alice", PASSWORD).await;
    app.patch_as(&path_of(&alice), &kept)
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
    app.assert_token_accepted(&kept).await;
    for dead in [other, third] {
        app.assert_token_refused(&dead).await;
    }
    let listed = app.get_as("/api/tokens", &kept).expect_json().await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["current"], true);
}

#[tokio::test]
async fn password_change_with_basic_auth_revokes_every_token() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let first = app.token_for("alice", PASSWORD).await;
    let second = app.token_for("alice", PASSWORD).await;
    app.patch(&path_of(&alice))
        .basic("alice", PASSWORD)
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
    for dead in [first, second] {
        app.assert_token_refused(&dead).await;
    }
    let listed = app
        .get("/api/tokens")
        .basic("alice", "a brand new secret")
        .expect_json()
        .await;
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn changing_only_the_email_keeps_every_token() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let first = app.token_for("alice", PASSWORD).await;
    let second = app.token_for("alice", PASSWORD).await;
    app.patch_as(&path_of(&alice), &first)
        .json(&json!({ "email": "alice@example.com", "current_password": PASSWORD }))
        .expect(200)
        .await;
    for live in [first, second] {
        app.assert_token_accepted(&live).await;
    }
}

#[tokio::test]
async fn patch_of_another_users_account_is_forbidden() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    let bob_token = app.register_and_issue_token("bob").await;
    let path = path_of(&alice);
    app.patch(&path)
        .basic("bob", PASSWORD)
        .json(&json!({ "password": "taken over by bob" }))
        .expect_problem(403, "forbidden")
        .await;
    app.patch_as(&path, &bob_token)
        .json(&json!({ "email": "bob@example.com" }))
        .expect_problem(403, "forbidden")
        .await;
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn delete_of_another_users_account_is_forbidden() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let alice_token = app.token_for("alice", PASSWORD).await;
    let bob_token = app.register_and_issue_token("bob").await;
    let path = path_of(&alice);
    app.delete(&path)
        .basic("bob", PASSWORD)
        .expect_problem(403, "forbidden")
        .await;
    app.delete_as(&path, &bob_token)
        .expect_problem(403, "forbidden")
        .await;
    app.me(&alice_token).await;
}

#[tokio::test]
async fn patch_and_delete_of_a_nonexistent_user_are_404() {
    let app = TestServer::spawn().await;
    let token = app.register_and_issue_token("alice").await;
    app.patch_as("/api/users/999999", &token)
        .json(&json!({ "email": "x@example.com" }))
        .expect_problem(404, "not_found")
        .await;
    app.delete_as("/api/users/999999", &token)
        .expect_problem(404, "not_found")
        .await;
}

#[tokio::test]
async fn deleting_your_account_returns_204_and_kills_its_tokens_and_password() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let used = app.token_for("alice", PASSWORD).await;
    let other = app.token_for("alice", PASSWORD).await;
    let response = app.delete_as(&path_of(&alice), &used).expect(204).await;
    assert!(response.body.is_empty());
    for dead in [used, other] {
        app.assert_token_refused(&dead).await;
    }
    app.assert_password_refused("alice", PASSWORD).await;
}

#[tokio::test]
async fn deleting_your_account_with_a_password_works_too() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let token = app.token_for("alice", PASSWORD).await;
    app.delete(&path_of(&alice))
        .basic("alice", PASSWORD)
        .expect(204)
        .await;
    app.assert_token_refused(&token).await;
}

#[tokio::test]
async fn a_deleted_user_is_404_to_others() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    app.register("bob", PASSWORD).await;
    let path = path_of(&alice);
    app.delete(&path).basic("alice", PASSWORD).expect(204).await;
    app.get(&path)
        .basic("bob", PASSWORD)
        .expect_problem(404, "not_found")
        .await;
    app.delete(&path)
        .basic("bob", PASSWORD)
        .expect_problem(404, "not_found")
        .await;
}

#[tokio::test]
async fn registering_a_taken_email_is_409_email_taken() {
    let app = TestServer::spawn().await;
    app.register_with_email("alice", PASSWORD, "shared@example.com")
        .await;
    app.post("/api/users")
        .json(&json!({ "username": "bob", "password": PASSWORD, "email": "shared@example.com" }))
        .expect_problem(409, "email_taken")
        .await;
    // The failed registration left no trace: bob is still free.
    app.register("bob", PASSWORD).await;
}

#[tokio::test]
async fn changing_to_a_taken_email_is_409_email_taken() {
    let app = TestServer::spawn().await;
    app.register_with_example_email("alice").await;
    let bob = app.register_with_example_email("bob").await;
    app.patch(&path_of(&bob))
        .basic("bob", PASSWORD)
        .json(&json!({ "email": "alice@example.com", "current_password": PASSWORD }))
        .expect_problem(409, "email_taken")
        .await;
    let me = app.me_basic("bob", PASSWORD).await;
    assert_eq!(me["email"], "bob@example.com");
}

#[tokio::test]
async fn passwords_outside_the_length_limits_are_refused_at_registration() {
    let app = TestServer::spawn().await;
    let too_long = "x".repeat(1025);
    for bad in ["", "short", "7 chars", too_long.as_str()] {
        app.post("/api/users")
            .json(&json!({ "username": "alice", "password": bad }))
            .expect_problem(400, "invalid_request")
            .await;
    }
    app.register("alice", "8 chars!").await;
    app.register("bob", &"x".repeat(1024)).await;
}

#[tokio::test]
async fn configured_password_limits_are_enforced() {
    let app = TestServer::spawn_with(|cfg| {
        cfg.password.min_length = 10;
        cfg.password.max_length = 12;
    })
    .await;
    for bad in ["k7#mQ2vR9", "k7#mQ2vR9pZz1"] {
        app.post("/api/users")
            .json(&json!({ "username": "alice", "password": bad }))
            .expect_problem(400, "invalid_request")
            .await;
    }
    app.register("alice", "k7#mQ2vR9p").await;
    app.register("bob", "k7#mQ2vR9pZz").await;
}

#[tokio::test]
async fn passwords_outside_the_length_limits_are_refused_on_change() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let path = path_of(&alice);
    for bad in ["short", &"x".repeat(1025)] {
        app.patch(&path)
            .basic("alice", PASSWORD)
            .json(&json!({ "password": bad, "current_password": PASSWORD }))
            .expect_problem(400, "invalid_request")
            .await;
    }
    app.me_basic("alice", PASSWORD).await;
}
