//! `/api/users`, `/api/users/{id}` and `/api/me`: registration, reading,
//! changing and deleting accounts, and the username and password rules.

use crate::support::{PASSWORD, TestServer, assert_rfc3339_utc, assert_user_shape, id_of, secret};
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
    let alice = app
        .register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
    app.register("bob", PASSWORD).await;
    let seen = app
        .get(&format!("/api/users/{}", id_of(&alice)))
        .basic("bob", PASSWORD)
        .expect_json()
        .await;
    assert_user_shape(&seen, None);
    assert_eq!(seen["id"], alice["id"]);
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["created_at"], alice["created_at"]);
    assert_eq!(seen["_links"]["self"], alice["_links"]["self"]);
}

#[tokio::test]
async fn user_seen_by_themselves_includes_email() {
    let app = TestServer::spawn().await;
    let alice = app
        .register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
    let token = app.token_for("alice", PASSWORD).await;
    let seen = app
        .get_as(&format!("/api/users/{}", id_of(&alice)), &token)
        .expect_json()
        .await;
    assert_eq!(seen, alice);
}

#[tokio::test]
async fn me_returns_the_caller_with_email_for_password_and_token() {
    let app = TestServer::spawn().await;
    let alice = app
        .register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
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
    let path = format!("/api/users/{}", id_of(&alice));
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
    app.patch(&format!("/api/users/{}", id_of(&alice)))
        .basic("alice", PASSWORD)
        .json(&json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .expect(200)
        .await;
    app.get("/api/me")
        .basic("alice", PASSWORD)
        .expect_problem(401, "invalid_credentials")
        .await;
    app.get("/api/me")
        .basic("alice", "a brand new secret")
        .expect(200)
        .await;
}

#[tokio::test]
async fn password_change_with_a_token_keeps_that_token_and_revokes_the_others() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let kept = app.token_for("alice", PASSWORD).await;
    let other = app.token_for("alice", PASSWORD).await;
    let third = app.token_for("alice", PASSWORD).await;
    app.patch_as(&format!("/api/users/{}", id_of(&alice)), &kept)
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
    app.patch(&format!("/api/users/{}", id_of(&alice)))
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
    app.patch_as(&format!("/api/users/{}", id_of(&alice)), &first)
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
    let alice = app
        .register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
    let bob_token = app.register_and_issue_token("bob").await;
    let path = format!("/api/users/{}", id_of(&alice));
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
    let path = format!("/api/users/{}", id_of(&alice));
    app.delete(&path)
        .basic("bob", PASSWORD)
        .expect_problem(403, "forbidden")
        .await;
    app.delete_as(&path, &bob_token)
        .expect_problem(403, "forbidden")
        .await;
    app.get_as("/api/me", &alice_token).expect(200).await;
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
    let response = app
        .delete_as(&format!("/api/users/{}", id_of(&alice)), &used)
        .expect(204)
        .await;
    assert!(response.body.is_empty());
    for dead in [used, other] {
        app.assert_token_refused(&dead).await;
    }
    app.get("/api/me")
        .basic("alice", PASSWORD)
        .expect_problem(401, "invalid_credentials")
        .await;
}

#[tokio::test]
async fn deleting_your_account_with_a_password_works_too() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let token = app.token_for("alice", PASSWORD).await;
    app.delete(&format!("/api/users/{}", id_of(&alice)))
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
    let path = format!("/api/users/{}", id_of(&alice));
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
async fn username_is_stored_nfc_normalized_and_logs_in_either_way() {
    let app = TestServer::spawn().await;
    let decomposed = "Jose\u{301}";
    let precomposed = "Jos\u{e9}";
    let user = app.register(decomposed, PASSWORD).await;
    assert_eq!(user["username"], precomposed);
    let me = app.me_basic(precomposed, PASSWORD).await;
    assert_eq!(me["id"], user["id"]);
    app.get("/api/me")
        .basic(decomposed, PASSWORD)
        .expect(200)
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": precomposed, "password": PASSWORD }))
        .expect(200)
        .await;
    // The two spellings are one name.
    app.post("/api/users")
        .json(&json!({ "username": precomposed, "password": PASSWORD }))
        .expect_problem(409, "username_taken")
        .await;
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case_and_shown_as_registered() {
    let app = TestServer::spawn().await;
    let alice = app.register("Alice", PASSWORD).await;
    for other in ["alice", "ALICE", "aLiCe"] {
        app.post("/api/users")
            .json(&json!({ "username": other, "password": PASSWORD }))
            .expect_problem(409, "username_taken")
            .await;
    }
    let me = app.me_basic("ALICE", PASSWORD).await;
    assert_eq!(me["id"], alice["id"]);
    assert_eq!(me["username"], "Alice");
    let issued = app.issue_token("alice", PASSWORD).await;
    let resource = app
        .get_as("/api/resource", &secret(&issued))
        .expect_json()
        .await;
    assert_eq!(resource, json!({ "data": "Hello, Alice!" }));
}

#[tokio::test]
async fn each_invalid_username_is_refused_with_400() {
    let app = TestServer::spawn().await;
    let too_long = "a".repeat(65);
    for bad in [
        "",
        too_long.as_str(),
        "al:ice",
        "al\u{7}ice",
        "al\nice",
        "al\u{0}ice",
        "\u{7f}alice",
        " alice",
        "alice ",
        "\talice",
        "alice\u{a0}",
        "lk_alice",
    ] {
        let problem = app
            .post("/api/users")
            .json(&json!({ "username": bad, "password": PASSWORD }))
            .expect_problem(400, "invalid_request")
            .await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad:?}");
    }
}

#[tokio::test]
async fn usernames_of_1_and_64_characters_are_accepted() {
    let app = TestServer::spawn().await;
    app.register("a", PASSWORD).await;
    let ascii = "b".repeat(64);
    assert_eq!(app.register(&ascii, PASSWORD).await["username"], ascii);
    // 64 characters, 128 bytes: the limit counts characters.
    let accented = "\u{e9}".repeat(64);
    assert_eq!(
        app.register(&accented, PASSWORD).await["username"],
        accented
    );
    let spaced = "jo smith";
    assert_eq!(app.register(spaced, PASSWORD).await["username"], spaced);
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
    app.register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
    let bob = app
        .register_with_email("bob", PASSWORD, "bob@example.com")
        .await;
    app.patch(&format!("/api/users/{}", id_of(&bob)))
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
    let path = format!("/api/users/{}", id_of(&alice));
    for bad in ["short", &"x".repeat(1025)] {
        app.patch(&path)
            .basic("alice", PASSWORD)
            .json(&json!({ "password": bad, "current_password": PASSWORD }))
            .expect_problem(400, "invalid_request")
            .await;
    }
    app.get("/api/me")
        .basic("alice", PASSWORD)
        .expect(200)
        .await;
}

#[tokio::test]
async fn a_new_username_may_not_contain_an_at_sign() {
    let app = TestServer::spawn().await;
    for bad in ["bob@example.com", "@bob", "bob@"] {
        let problem = app
            .try_register(bad, PASSWORD)
            .await
            .assert_problem(400, "invalid_request");
        assert!(
            problem["detail"].as_str().unwrap().contains('@'),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_password_with_a_trailing_nul_does_not_log_in_as_the_password_without_it() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let with_nul = format!("{PASSWORD}\u{0}");
    app.get("/api/me")
        .basic("alice", &with_nul)
        .expect_problem(401, "invalid_credentials")
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": "alice", "password": with_nul }))
        .expect_problem(401, "invalid_credentials")
        .await;
    app.get("/api/me")
        .basic("alice", PASSWORD)
        .expect(200)
        .await;
}

#[tokio::test]
async fn a_new_password_with_a_control_character_is_refused_not_altered() {
    let app = TestServer::spawn().await;
    for bad in [
        format!("{PASSWORD}\u{0}"),
        format!("\u{0}{PASSWORD}"),
        format!("{PASSWORD}\u{7f}"),
        format!("{PASSWORD}\u{85}"),
    ] {
        app.try_register("alice", &bad)
            .await
            .assert_problem(400, "invalid_request");
    }
}

#[tokio::test]
async fn password_change_requires_the_current_password() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let stolen = app.token_for("alice", PASSWORD).await;
    let path = format!("/api/users/{}", id_of(&alice));
    let change = |body: serde_json::Value| app.patch_as(&path, &stolen).json(&body).send();
    let missing = change(json!({ "password": "taken over by a thief" })).await;
    let wrong =
        change(json!({ "password": "taken over by a thief", "current_password": "a guess at it" }))
            .await;
    // Missing and wrong answer alike, so neither tells the thief more.
    assert_eq!(missing.fingerprint(), wrong.fingerprint());
    missing.assert_problem(403, "invalid_current_password");
    app.get("/api/me")
        .basic("alice", PASSWORD)
        .expect(200)
        .await;
    change(json!({ "password": "a brand new secret", "current_password": PASSWORD }))
        .await
        .assert_status(200);
    app.get("/api/me")
        .basic("alice", "a brand new secret")
        .expect(200)
        .await;
}

#[tokio::test]
async fn email_change_requires_the_current_password() {
    let app = TestServer::spawn().await;
    let alice = app
        .register_with_email("alice", PASSWORD, "alice@example.com")
        .await;
    let stolen = app.token_for("alice", PASSWORD).await;
    let path = format!("/api/users/{}", id_of(&alice));
    for body in [
        json!({ "email": "thief@example.com" }),
        json!({ "email": null }),
        json!({ "email": "thief@example.com", "current_password": "a guess at it" }),
    ] {
        app.patch_as(&path, &stolen)
            .json(&body)
            .expect_problem(403, "invalid_current_password")
            .await;
    }
    let me = app.me(&stolen).await;
    assert_eq!(me["email"], "alice@example.com");
}

#[tokio::test]
async fn wrong_current_passwords_count_into_the_accounts_lockout() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let stolen = app.token_for("alice", PASSWORD).await;
    let path = format!("/api/users/{}", id_of(&alice));
    for attempt in 0..5 {
        app.patch_as(&path, &stolen)
            .json(&json!({ "password": "taken over by a thief", "current_password": format!("guess {attempt}") }))
            .expect_problem(403, "invalid_current_password").await;
    }
    // Locked out: even the right current password, or a login, waits.
    app.patch_as(&path, &stolen)
        .json(&json!({ "password": "taken over by a thief", "current_password": PASSWORD }))
        .expect_problem(429, "rate_limited")
        .await;
    app.try_issue_token("alice", PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn a_name_that_looks_like_a_registered_one_is_409_username_taken() {
    let app = TestServer::spawn().await;
    app.register("paypal", PASSWORD).await;
    app.register("sam", PASSWORD).await;
    for lookalike in [
        "\u{440}\u{430}\u{443}\u{440}\u{430}l", // Cyrillic раураl
        "p\u{430}yp\u{430}l",                   // two Cyrillic а
        "\u{3c1}\u{3b1}\u{3b3}\u{3c1}\u{3b1}l", // Greek ραγραl
        "\u{ff50}\u{ff41}\u{ff59}\u{ff50}\u{ff41}\u{ff4c}", // full-width ｐａｙｐａｌ
        "PayPal",
        "paypa1",
    ] {
        app.try_register(lookalike, PASSWORD)
            .await
            .assert_problem(409, "username_taken");
    }
    // Full case folding: ß folds to ss, which lowercasing would not do.
    app.register("strasse", PASSWORD).await;
    app.try_register("stra\u{df}e", PASSWORD)
        .await
        .assert_problem(409, "username_taken");
    // Long s folds to s, but PRECIS refuses it first (a compatibility form).
    app.try_register("\u{17f}am", PASSWORD)
        .await
        .assert_problem(400, "invalid_request");
    app.register("paypal2", PASSWORD).await;
}

#[tokio::test]
async fn invisible_and_direction_changing_characters_in_a_new_name_are_400() {
    let app = TestServer::spawn().await;
    for bad in [
        "pay\u{200d}pal",                                         // zero-width joiner
        "pay\u{200b}pal",                                         // zero-width space
        "pay\u{ad}pal",                                           // soft hyphen
        "\u{202e}lapyap",                                         // right-to-left override
        "pay\u{e000}pal",                                         // private use
        "paypal\u{e0041}\u{e007f}",                               // tag characters
        "\u{301}paypal",                                          // a lone leading combining mark
        "\u{1d429}\u{1d41a}\u{1d432}\u{1d429}\u{1d41a}\u{1d425}", // math bold
    ] {
        let problem = app
            .try_register(bad, PASSWORD)
            .await
            .assert_problem(400, "invalid_request");
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad:?}");
    }
}
