//! The `Authorization` header in every form latchkey accepts, the 401
//! challenges, and what malformed headers get.

use crate::support::{
    INVALID_CREDENTIALS, INVALID_REQUEST, INVALID_TOKEN, PASSWORD, Resp, TestServer, basic_header,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

const BASIC_CHALLENGE: &str = "Basic realm=\"latchkey\", charset=\"UTF-8\"";

/// The `WWW-Authenticate` challenges, whether sent as one header or several.
fn challenges(response: &Resp) -> Vec<String> {
    let all = response.header_all("www-authenticate");
    assert!(
        !all.is_empty(),
        "no WWW-Authenticate: {:?}",
        response.headers
    );
    let mut out = Vec::new();
    for value in all {
        // Split a combined header before each scheme name.
        let mut current = String::new();
        for part in value.split(", ") {
            let starts_scheme = part.starts_with("Basic ") || part.starts_with("Bearer ");
            if starts_scheme && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str(", ");
            }
            current.push_str(part);
        }
        out.push(current);
    }
    out
}

#[track_caller]
fn assert_bare_challenges(response: &Resp) {
    let found = challenges(response);
    assert!(found.iter().any(|c| c == BASIC_CHALLENGE), "{found:?}");
    assert!(
        found.iter().any(|c| c == "Bearer realm=\"latchkey\""),
        "{found:?}"
    );
    assert!(found.iter().all(|c| !c.contains("error=")), "{found:?}");
}

#[track_caller]
fn assert_invalid_token_challenge(response: &Resp) {
    let found = challenges(response);
    let bearer = found
        .iter()
        .find(|c| c.starts_with("Bearer "))
        .unwrap_or_else(|| panic!("no Bearer challenge in {found:?}"));
    assert!(bearer.contains("realm=\"latchkey\""), "{bearer}");
    assert!(bearer.contains("error=\"invalid_token\""), "{bearer}");
}

/// Every route that needs credentials, as (method, path).
fn protected_routes(user_id: u64, token_id: u64) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (Method::GET, "/api/users".into()),
        (Method::GET, format!("/api/users/{user_id}")),
        (Method::PATCH, format!("/api/users/{user_id}")),
        (Method::DELETE, format!("/api/users/{user_id}")),
        (Method::GET, "/api/me".into()),
        (Method::GET, "/api/tokens".into()),
        (Method::DELETE, "/api/tokens".into()),
        (Method::DELETE, format!("/api/tokens/{token_id}")),
        (Method::GET, "/api/resource".into()),
    ]
}

#[tokio::test]
async fn basic_with_a_password_works() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let body = app.get_json_with_password("/api/resource", "alice").await;
    assert_eq!(body, json!({ "data": "Hello, alice!" }));
}

#[tokio::test]
async fn basic_credentials_are_utf8() {
    let app = TestServer::spawn().await;
    app.register("J\u{f6}s\u{e9}", "p\u{e4}ssw\u{f6}rd \u{2603}")
        .await;
    let body = app
        .get("/api/resource")
        .basic("J\u{f6}s\u{e9}", "p\u{e4}ssw\u{f6}rd \u{2603}")
        .expect_json()
        .await;
    assert_eq!(body, json!({ "data": "Hello, J\u{f6}s\u{e9}!" }));
}

#[tokio::test]
async fn basic_password_may_contain_colons() {
    let app = TestServer::spawn().await;
    app.register("alice", "pass:word:with:colons").await;
    app.me_basic("alice", "pass:word:with:colons").await;
}

#[tokio::test]
async fn every_token_form_authenticates_on_every_any_route() {
    let (app, token) = TestServer::with_token("alice").await;
    let forms = [
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
        basic_header(&token, "anything"),
        basic_header(&token, ""),
        token.clone(),
    ];
    for authorization in &forms {
        let me = app
            .get("/api/me")
            .authorization(authorization)
            .expect_json()
            .await;
        assert_eq!(me["username"], "alice", "{authorization}");
        let resource = app
            .get("/api/resource")
            .authorization(authorization)
            .expect_json()
            .await;
        assert_eq!(resource, json!({ "data": "Hello, alice!" }));
        app.get("/api/users")
            .authorization(authorization)
            .expect(200)
            .await;
        let list = app
            .get("/api/tokens")
            .authorization(authorization)
            .expect_json()
            .await;
        assert_eq!(list["items"][0]["current"], true, "{authorization}");
    }
}

#[tokio::test]
async fn no_credentials_get_401_with_both_challenges_and_no_error_on_every_protected_route() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let token = app.issue_token("alice", PASSWORD).await;
    let routes = protected_routes(alice["id"].as_u64().unwrap(), token["id"].as_u64().unwrap());
    for (method, path) in routes {
        let response = app.request(method.clone(), &path).send().await;
        assert_bare_challenges(&response);
        let problem = response.refused(INVALID_CREDENTIALS);
        assert!(problem["detail"].is_string(), "{method} {path}");
    }
    let response = app.post("/api/tokens").send().await;
    assert_bare_challenges(&response);
    response.refused(INVALID_CREDENTIALS);
}

#[tokio::test]
async fn unknown_revoked_and_malformed_tokens_get_401_invalid_token_on_every_route() {
    let app = TestServer::spawn().await;
    let alice = app.register("alice", PASSWORD).await;
    let revoked = app.issue_token("alice", PASSWORD).await;
    let revoked_secret = revoked["token"].as_str().unwrap().to_owned();
    app.delete_as("/api/tokens", &revoked_secret)
        .expect(204)
        .await;
    let unknown = format!("lk_{}", "A".repeat(43));
    let bad_tokens = [
        revoked_secret.clone(),
        unknown.clone(),
        "lk_short".to_owned(),
        format!("{revoked_secret}x"),
    ];
    let routes = protected_routes(
        alice["id"].as_u64().unwrap(),
        revoked["id"].as_u64().unwrap(),
    );
    for bad in &bad_tokens {
        for authorization in [format!("Bearer {bad}"), bad.clone(), basic_header(bad, "x")] {
            for (method, path) in &routes {
                let response = app
                    .request(method.clone(), path)
                    .authorization(&authorization)
                    .send()
                    .await;
                assert_invalid_token_challenge(&response);
                response.refused(INVALID_TOKEN);
            }
        }
    }
}

#[tokio::test]
async fn a_bare_string_that_is_not_a_token_is_an_invalid_token() {
    let app = TestServer::spawn().await;
    let response = app
        .get("/api/resource")
        .authorization("garbage")
        .send()
        .await;
    assert_invalid_token_challenge(&response);
    response.refused(INVALID_TOKEN);
}

#[tokio::test]
async fn wrong_password_gets_401_invalid_credentials_with_both_challenges() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let response = app
        .get("/api/resource")
        .basic("alice", "wrong password")
        .send()
        .await;
    let found = challenges(&response);
    assert!(found.iter().any(|c| c == BASIC_CHALLENGE), "{found:?}");
    assert!(found.iter().any(|c| c.starts_with("Bearer ")), "{found:?}");
    response.refused(INVALID_CREDENTIALS);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_byte_identical_responses() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    for (method, path) in [
        (reqwest::Method::POST, "/api/tokens"),
        (reqwest::Method::GET, "/api/resource"),
        (reqwest::Method::GET, "/api/me"),
    ] {
        let wrong_password = app
            .request(method.clone(), path)
            .basic("alice", "wrong password")
            .send()
            .await;
        let unknown_user = app
            .request(method.clone(), path)
            .basic("nobody", "wrong password")
            .send()
            .await;
        assert_eq!(
            wrong_password.fingerprint(),
            unknown_user.fingerprint(),
            "{method} {path}"
        );
        wrong_password.refused(INVALID_CREDENTIALS);
    }
    let wrong_password = app
        .post("/api/tokens")
        .json(&json!({ "username": "alice", "password": "wrong password" }))
        .send()
        .await;
    let unknown_user = app
        .post("/api/tokens")
        .json(&json!({ "username": "nobody", "password": "wrong password" }))
        .send()
        .await;
    assert_eq!(wrong_password.fingerprint(), unknown_user.fingerprint());
}

#[tokio::test]
async fn malformed_authorization_headers_are_400_not_500() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let not_utf8 = format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xc3\x28"));
    let no_colon = format!("Basic {}", STANDARD.encode("alicepassword"));
    for authorization in [
        "Basic !!!not-base64!!!".to_owned(),
        "Basic YWxp Y2U6".to_owned(),
        no_colon,
        not_utf8,
    ] {
        for path in ["/api/resource", "/api/tokens"] {
            let method = if path == "/api/tokens" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            };
            app.request(method, path)
                .authorization(&authorization)
                .refused(INVALID_REQUEST)
                .await;
        }
    }
}

#[tokio::test]
async fn a_non_ascii_authorization_header_is_400_not_500() {
    let app = TestServer::spawn().await;
    for raw in [&b"Basic \xff\xfe"[..], b"Bearer lk_\xc3\xa9", b"\x80\x81"] {
        app.get("/api/resource")
            .authorization_bytes(raw)
            .refused(INVALID_REQUEST)
            .await;
    }
}

#[tokio::test]
async fn username_that_looks_like_a_token_cannot_be_registered() {
    let app = TestServer::spawn().await;
    for name in ["lk_alice", &format!("lk_{}", "A".repeat(43))] {
        app.post("/api/users")
            .json(&json!({ "username": name, "password": PASSWORD }))
            .refused(INVALID_REQUEST)
            .await;
    }
}
