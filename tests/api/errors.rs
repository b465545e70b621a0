//! The error contract: problem+json for every failure, 404 before auth,
//! 405 with `Allow`, and the body errors (413, 415, malformed JSON).

use crate::support::{PASSWORD, TestServer, path_of, set};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn problem_bodies_carry_type_title_status_detail_and_error() {
    let app = TestServer::spawn().await;
    let problem = app
        .get("/api/me")
        .expect_problem(401, "invalid_credentials")
        .await;
    for key in ["type", "title", "detail"] {
        assert!(
            !problem[key].as_str().unwrap().is_empty(),
            "{key} is empty in {problem}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404_whatever_the_credentials() {
    let (app, token) = TestServer::with_token("alice").await;
    let paths = [
        "/",
        "/api",
        "/api/",
        "/api/nope",
        "/api/users/abc",
        "/api/users/1/extra",
        "/api/user",
        "/api/tokens/abc",
        "/api/tokens/1/extra",
        "/api/me/1",
        "/api/resource/1",
        "/healthz/x",
        "/API/USERS",
        "/api/users/-1",
        "/api/users/99999999999999999999999",
        "/api/tokens/-1",
    ];
    for path in paths {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let no_credentials = app.request(method.clone(), path).send().await;
            no_credentials.assert_problem(404, "not_found");
            app.request(method.clone(), path)
                .basic("alice", "wrong password")
                .expect_problem(404, "not_found")
                .await;
            app.request(method.clone(), path)
                .bearer("lk_not_a_real_token")
                .expect_problem(404, "not_found")
                .await;
            app.request(method.clone(), path)
                .authorization("Basic !!!")
                .expect_problem(404, "not_found")
                .await;
            app.request(method.clone(), path)
                .bearer(&token)
                .expect_problem(404, "not_found")
                .await;
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_an_accurate_allow_header() {
    let app = TestServer::spawn().await;
    // Every other method of these is refused with the route's own Allow.
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let cases: [(&str, &[&str]); 7] = [
        ("/api/users", &["GET", "POST"]),
        ("/api/users/1", &["GET", "PATCH", "DELETE"]),
        ("/api/me", &["GET"]),
        ("/api/tokens", &["GET", "POST", "DELETE"]),
        ("/api/tokens/1", &["DELETE"]),
        ("/api/resource", &["GET"]),
        ("/healthz", &["GET"]),
    ];
    for (path, allowed) in cases {
        let refused = methods.iter().filter(|m| !allowed.contains(&m.as_str()));
        for method in refused {
            let response = app.request(method.clone(), path).send().await;
            let allow = response.allow();
            // HEAD may be listed beside GET; nothing else may differ.
            let mut listed = allow.clone();
            listed.remove("HEAD");
            assert_eq!(listed, set(allowed), "{method} {path}: Allow {allow:?}");
            response.assert_problem(405, "method_not_allowed");
        }
    }
}

#[tokio::test]
async fn wrong_method_is_405_even_with_bad_credentials() {
    let app = TestServer::spawn().await;
    let response = app.put_as("/api/me", "lk_not_a_real_token").send().await;
    assert!(response.header("allow").is_some());
    response.assert_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = 64).await;
    let padding = "x".repeat(200);
    app.post("/api/users")
        .json(&json!({ "username": "alice", "password": PASSWORD, "email": padding }))
        .expect_problem(413, "payload_too_large")
        .await;
    app.post("/api/tokens")
        .json(&json!({ "username": "alice", "password": padding }))
        .expect_problem(413, "payload_too_large")
        .await;
    // Nothing was registered.
    app.try_issue_token("alice", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    // A body within the limit is fine.
    app.register("alice", PASSWORD).await;
}

#[tokio::test]
async fn a_body_of_exactly_the_limit_is_accepted() {
    let body = json!({ "username": "alice", "password": PASSWORD });
    let limit = serde_json::to_vec(&body).unwrap().len();
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = limit as u64).await;
    app.post("/api/users").json(&body).expect(201).await;
    let longer = json!({ "username": "alice2", "password": PASSWORD });
    app.post("/api/users")
        .json(&longer)
        .expect_problem(413, "payload_too_large")
        .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_on_patch() {
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = 64).await;
    let alice = app.register("alice", PASSWORD).await;
    app.patch(&path_of(&alice))
        .basic("alice", PASSWORD)
        .json(&json!({ "email": format!("{}@example.com", "x".repeat(100)), "current_password": PASSWORD }))
        .expect_problem(413, "payload_too_large").await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = 64).await;
    let body = format!(
        r#"{{"username":"alice","password":"{PASSWORD}","email":"{}@example.com"}}"#,
        "x".repeat(100)
    );
    let (first, second) = body.split_at(40);
    let request = format!(
        "POST /api/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        app.addr,
        first.len(),
        second.len()
    );
    let response = app.raw(request.as_bytes()).await;
    response.assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn a_json_body_sent_as_text_plain_is_415() {
    let app = TestServer::spawn().await;
    let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
    app.post("/api/users")
        .body_as("text/plain", body.clone())
        .expect_problem(415, "unsupported_media_type")
        .await;
    app.post("/api/tokens")
        .body_as("text/plain", body)
        .expect_problem(415, "unsupported_media_type")
        .await;
}

#[tokio::test]
async fn a_json_body_sent_as_text_plain_is_415_on_patch() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    app.patch(&path_of(&alice))
        .basic("alice", PASSWORD)
        .body_as("text/plain", r#"{"email":"a@example.com"}"#)
        .expect_problem(415, "unsupported_media_type")
        .await;
}

#[tokio::test]
async fn malformed_json_unknown_fields_and_wrong_types_are_400() {
    let app = TestServer::spawn().await;
    let bodies = [
        r#"{"username": "alice", "password": "#.to_owned(),
        "not json".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        json!({ "username": "alice", "password": PASSWORD, "admin": true }).to_string(),
        json!({ "username": 42, "password": PASSWORD }).to_string(),
        json!({ "username": "alice", "password": ["a"] }).to_string(),
        json!({ "username": "alice", "password": PASSWORD, "email": 7 }).to_string(),
        json!({ "username": "alice" }).to_string(),
        json!({ "password": PASSWORD }).to_string(),
    ];
    for body in &bodies {
        app.post("/api/users")
            .body_as("application/json", body.clone())
            .expect_problem(400, "invalid_request")
            .await;
    }
    // None of them registered anyone.
    app.register("alice", PASSWORD).await;
}

#[tokio::test]
async fn registration_without_a_body_is_400() {
    let app = TestServer::spawn().await;
    app.post("/api/users")
        .expect_problem(400, "invalid_request")
        .await;
}

#[tokio::test]
async fn malformed_token_request_bodies_are_400() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for body in [
        "{".to_owned(),
        json!({ "username": "alice", "password": PASSWORD, "extra": 1 }).to_string(),
        json!({ "username": "alice", "password": 12_345_678 }).to_string(),
        json!({ "username": "alice" }).to_string(),
    ] {
        app.post("/api/tokens")
            .body_as("application/json", body)
            .expect_problem(400, "invalid_request")
            .await;
    }
}

#[tokio::test]
async fn malformed_patch_bodies_are_400() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let path = path_of(&alice);
    for body in [
        "{".to_owned(),
        json!({ "username": "mallory" }).to_string(),
        json!({ "email": 5 }).to_string(),
        json!({ "password": true }).to_string(),
    ] {
        app.patch(&path)
            .basic("alice", PASSWORD)
            .body_as("application/json", body)
            .expect_problem(400, "invalid_request")
            .await;
    }
    let me = app.me_basic("alice", PASSWORD).await;
    assert_eq!(me["username"], "alice");
}

#[tokio::test]
async fn a_dead_token_buys_no_token_and_is_refused_as_credentials() {
    // Refused before the token is looked up: a live and a dead token get
    // the same answer, so POST /api/tokens tells nobody which tokens live.
    let app = TestServer::spawn().await;
    let jws = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    for token in ["lk_not_a_real_token", jws] {
        app.post("/api/tokens")
            .bearer(token)
            .expect_problem(401, "invalid_credentials")
            .await;
    }
}

#[tokio::test]
async fn each_code_is_sent_with_the_status_its_table_row_gives() {
    use latchkey::error::Code;
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = 64).await;
    let token = app.register_and_issue_token("alice").await;
    let too_large = json!({ "username": "x".repeat(100), "password": PASSWORD });
    let cases = [
        (
            Code::InvalidRequest,
            app.get("/api/me").authorization("Basic !!!").send().await,
        ),
        (Code::InvalidCredentials, app.get("/api/me").send().await),
        (
            Code::InvalidToken,
            app.get("/api/resource")
                .bearer("lk_not_a_real_token")
                .send()
                .await,
        ),
        (
            Code::InsufficientScope,
            app.get_as("/api/admin/resource", &token).send().await,
        ),
        (Code::NotFound, app.get("/api/nope").send().await),
        (
            Code::MethodNotAllowed,
            app.put("/api/resource").send().await,
        ),
        (
            Code::UsernameTaken,
            app.post("/api/users")
                .json(&json!({ "username": "alice", "password": PASSWORD }))
                .send()
                .await,
        ),
        (
            Code::InvalidCode,
            app.post("/api/confirm")
                .json(&json!({ "code": "nope" }))
                .send()
                .await,
        ),
        (
            Code::PayloadTooLarge,
            app.post("/api/users").json(&too_large).send().await,
        ),
        (
            Code::UnsupportedMediaType,
            app.post("/api/users")
                .body_as("text/plain", "hello")
                .send()
                .await,
        ),
    ];
    for (code, response) in cases {
        let problem = response.assert_problem(code.status().as_u16(), code.as_str());
        assert_eq!(problem["title"], code.title(), "{code:?}");
        assert_eq!(problem["status"], code.status().as_u16(), "{code:?}");
    }
}
