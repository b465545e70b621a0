//! Hostile HTTP: oversized and slow requests, malformed and duplicated
//! credentials, the connection cap, security headers and CORS.

use crate::support::{
    INVALID_CREDENTIALS, INVALID_REQUEST, NOT_FOUND, PASSWORD, RawResponse, Resp, TestServer,
    UNSUPPORTED_MEDIA_TYPE, basic_header, id_of, path_of,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw connection that sends what it is told and no more, for clients
/// that stall or lie about their body.
struct Raw {
    stream: TcpStream,
    read: Vec<u8>,
}

/// What became of a raw request.
enum Outcome {
    /// A whole response arrived.
    Response(RawResponse),
    /// The server closed (or reset) the connection without one.
    Closed,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Response(response) => write!(f, "Response({:?})", response.0),
            Self::Closed => f.write_str("Closed"),
        }
    }
}

impl Raw {
    async fn connect(app: &TestServer) -> Self {
        Self {
            stream: TcpStream::connect(app.addr).await.unwrap(),
            read: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next response (head and `Content-Length` body), or `Closed`;
    /// `None` if neither comes within `within`.
    async fn outcome_within(&mut self, within: Duration) -> Option<Outcome> {
        tokio::time::timeout(within, self.outcome()).await.ok()
    }

    async fn outcome(&mut self) -> Outcome {
        loop {
            if let Some(len) = self.complete_response_len() {
                let response: Vec<u8> = self.read.drain(..len).collect();
                return Outcome::Response(RawResponse(
                    String::from_utf8_lossy(&response).into_owned(),
                ));
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Outcome::Closed,
                Ok(n) => self.read.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn complete_response_len(&self) -> Option<usize> {
        let text = String::from_utf8_lossy(&self.read);
        let head_end = text.find("\r\n\r\n")? + 4;
        let body_len = text[..head_end]
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.trim().parse::<usize>().unwrap());
        (self.read.len() >= head_end + body_len).then_some(head_end + body_len)
    }
}

/// Asserts the raw outcome is a response with `status` and `error` code.
#[track_caller]
fn assert_raw_problem(outcome: Option<Outcome>, status: u16, code: &str) {
    match outcome {
        Some(Outcome::Response(response)) => {
            assert_eq!(response.status(), status, "{}", response.0);
            assert_eq!(response.json()["error"], code, "{}", response.0);
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_body_declared_far_over_the_limit_is_413_before_the_rest_is_sent() {
    let app = TestServer::spawn().await;
    let user = app.register("alice", PASSWORD).await;
    let patch = format!("PATCH /api/users/{} HTTP/1.1", id_of(&user));
    for (request_line, credentials) in [
        ("POST /api/users HTTP/1.1", String::new()),
        ("POST /api/tokens HTTP/1.1", String::new()),
        (
            patch.as_str(),
            format!("Authorization: {}\r\n", basic_header("alice", PASSWORD)),
        ),
    ] {
        let mut raw = Raw::connect(&app).await;
        raw.send(
            format!(
                "{request_line}\r\nHost: {}\r\n{credentials}Content-Type: application/json\r\n\
                 Content-Length: 1000000000\r\n\r\n{{\"username\":",
                app.addr
            )
            .as_bytes(),
        )
        .await;
        // The client sends nothing more: the answer cannot depend on it.
        let outcome = raw.outcome_within(Duration::from_secs(5)).await;
        assert_raw_problem(outcome, 413, "payload_too_large");
    }
}

#[tokio::test]
async fn a_json_body_without_a_json_content_type_is_415() {
    let app = TestServer::spawn().await;
    let user = app.register("alice", PASSWORD).await;
    let register = json!({ "username": "bob", "password": PASSWORD }).to_string();
    let login = json!({ "username": "alice", "password": PASSWORD }).to_string();
    let patch = json!({ "email": "alice@example.com" }).to_string();
    let user_path = path_of(&user);
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/json"),
    ] {
        let with_type = |req: crate::support::Req, body: &str| match content_type {
            Some(t) => req.body_as(t, body.to_owned()),
            None => req.body(body.to_owned()),
        };
        with_type(app.post("/api/users"), &register)
            .refused(UNSUPPORTED_MEDIA_TYPE)
            .await;
        with_type(app.post("/api/tokens"), &login)
            .refused(UNSUPPORTED_MEDIA_TYPE)
            .await;
        with_type(app.patch(&user_path).password("alice"), &patch)
            .refused(UNSUPPORTED_MEDIA_TYPE)
            .await;
    }
    // Basic and no body at all is a login, not a missing media type.
    app.try_issue_token("alice", PASSWORD)
        .await
        .assert_status(200);
    // And bob was never registered.
    app.try_issue_token("bob", PASSWORD)
        .await
        .refused(INVALID_CREDENTIALS);
}

#[tokio::test]
async fn huge_and_malformed_authorization_headers_are_4xx_never_5xx() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let long_password = format!("alice:{}", "p".repeat(75_000));
    let cases = [
        (
            "100 KB of Basic",
            format!("Basic {}", STANDARD.encode(long_password)),
        ),
        (
            "100 KB of Bearer",
            format!("Bearer lk_{}", "A".repeat(100_000)),
        ),
        ("100 KB bare", "A".repeat(100_000)),
        ("not base64", "Basic !!!not base64!!!".to_owned()),
        (
            "not UTF-8 once decoded",
            format!("Basic {}", STANDARD.encode(b"alice:\xff\xfe\xfd")),
        ),
        ("no colon", format!("Basic {}", STANDARD.encode("alice"))),
    ];
    for (what, authorization) in &cases {
        for (method, path) in [
            (reqwest::Method::GET, "/api/resource"),
            (reqwest::Method::POST, "/api/tokens"),
        ] {
            let response = app
                .request(method, path)
                .authorization(authorization)
                .send()
                .await;
            assert!(
                response.status.is_client_error(),
                "{what} on {path}: {} {}",
                response.status,
                response.text()
            );
        }
    }
    // The malformed ones say so.
    for (_, authorization) in &cases[3..] {
        app.get("/api/resource")
            .authorization(authorization)
            .refused(INVALID_REQUEST)
            .await;
    }
    // A megabyte of header is more than the server reads at all.
    let mut raw = Raw::connect(&app).await;
    let request = format!(
        "GET /api/resource HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer lk_{}\r\n\r\n",
        app.addr,
        "A".repeat(1 << 20)
    );
    // The server may answer and close before taking the whole request, so
    // the write may fail; the answer is what matters.
    let _ = raw.stream.write_all(request.as_bytes()).await;
    match raw.outcome_within(Duration::from_secs(5)).await {
        Some(Outcome::Response(response)) => {
            let status = response.status();
            assert!((400..500).contains(&status), "{}", response.0);
        }
        Some(Outcome::Closed) => {}
        None => panic!("no answer to a 1 MB header within 5 s"),
    }
    // The server is none the worse.
    app.issue_token("alice", PASSWORD).await;
}

#[tokio::test]
async fn an_access_token_in_the_query_string_is_ignored() {
    let (app, token) = TestServer::with_token("alice").await;
    for path in ["/api/me", "/api/resource", "/api/tokens"] {
        app.get(&format!("{path}?access_token={token}"))
            .refused(INVALID_CREDENTIALS)
            .await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_400_even_when_both_are_valid() {
    let (app, token) = TestServer::with_token("alice").await;
    for path in ["/api/me", "/api/resource"] {
        app.get_as(path, &token)
            .bearer(&token)
            .refused(INVALID_REQUEST)
            .await;
        app.get_as(path, &token)
            .password("alice")
            .refused(INVALID_REQUEST)
            .await;
    }
    app.post("/api/tokens")
        .password("alice")
        .password("alice")
        .refused(INVALID_REQUEST)
        .await;
}

#[tokio::test]
async fn credentials_in_both_the_header_and_the_body_are_400() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    app.post("/api/tokens")
        .password("alice")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .refused(INVALID_REQUEST)
        .await;
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_is_disconnected() {
    let app = TestServer::spawn_with(|cfg| cfg.http.header_read_timeout_ms = 300).await;
    let mut raw = Raw::connect(&app).await;
    let started = Instant::now();
    raw.send(b"GET /api/me HT").await;
    let outcome = raw.outcome_within(Duration::from_secs(3)).await;
    let took = started.elapsed();
    match outcome {
        Some(Outcome::Closed) => {}
        Some(Outcome::Response(response)) => {
            assert_eq!(response.status(), 408, "{}", response.0);
            assert!(
                matches!(raw.outcome().await, Outcome::Closed),
                "still open after the 408"
            );
        }
        None => panic!("still connected after 3 s"),
    }
    assert!(took < Duration::from_millis(1500), "cut off after {took:?}");
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_gets_408() {
    let app = TestServer::spawn_with(|cfg| cfg.http.body_read_timeout_ms = 300).await;
    let mut raw = Raw::connect(&app).await;
    let started = Instant::now();
    raw.send(
        format!(
            "POST /api/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"usernam",
            app.addr
        )
        .as_bytes(),
    )
    .await;
    let outcome = raw.outcome_within(Duration::from_secs(3)).await;
    let took = started.elapsed();
    match outcome {
        Some(Outcome::Closed) => {}
        outcome => assert_raw_problem(outcome, 408, "request_timeout"),
    }
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn past_max_connections_a_new_connection_waits_for_a_free_slot() {
    let app = TestServer::spawn_with(|cfg| cfg.http.max_connections = 2).await;
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    // Two connections, each served once and then held open, idle.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut raw = Raw::connect(&app).await;
        raw.send(health.as_bytes()).await;
        match raw.outcome_within(Duration::from_secs(5)).await {
            Some(Outcome::Response(r)) => assert_eq!(r.status(), 200, "{}", r.0),
            other => panic!("{other:?}"),
        }
        held.push(raw);
    }
    let mut third = Raw::connect(&app).await;
    third.send(health.as_bytes()).await;
    assert!(
        third
            .outcome_within(Duration::from_millis(500))
            .await
            .is_none(),
        "a third connection was served while two were open"
    );
    drop(held.pop());
    match third.outcome_within(Duration::from_secs(5)).await {
        Some(Outcome::Response(r)) => assert_eq!(r.status(), 200, "{}", r.0),
        other => panic!("not served once a slot was free: {other:?}"),
    }
}

#[tokio::test]
async fn every_response_says_nosniff_and_token_responses_say_no_store() {
    let app = TestServer::spawn_with(|cfg| cfg.limits.max_body_bytes = 256).await;
    let created = app
        .post("/api/users")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .expect(201)
        .await;
    let issued = app
        .try_issue_token("alice", PASSWORD)
        .await
        .assert_status(200);
    let token = issued.json()["token"].as_str().unwrap().to_owned();
    let listed = app.get_as("/api/tokens", &token).expect(200).await;
    for response in [&issued, &listed] {
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
    let mut responses: Vec<Resp> = vec![created, issued, listed];
    responses.push(app.get("/healthz").expect(200).await);
    responses.push(app.get_as("/api/me", "lk_nope").expect(401).await);
    responses.push(app.get("/api/nowhere").expect(404).await);
    responses.push(app.put("/api/me").expect(405).await);
    responses.push(
        app.post("/api/users")
            .body_as("application/json", "{")
            .expect(400)
            .await,
    );
    responses.push(
        app.post("/api/users")
            .body_as("text/plain", "{}")
            .expect(415)
            .await,
    );
    responses.push(
        app.post("/api/users")
            .json(&json!({ "username": "x".repeat(300), "password": PASSWORD }))
            .expect(413)
            .await,
    );
    responses.push(app.delete_as("/api/tokens", &token).expect(204).await);
    for response in &responses {
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{} lacks nosniff",
            response.status
        );
    }
}

const ORIGIN: &str = "https://app.example";

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestServer::spawn().await;
    app.register("alice", PASSWORD).await;
    let simple = app
        .get("/api/resource")
        .password("alice")
        .header("origin", ORIGIN)
        .expect(200)
        .await;
    let preflight = app
        .request(reqwest::Method::OPTIONS, "/api/tokens")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await;
    for response in [&simple, &preflight] {
        assert_no_cors_grant(response);
    }
}

#[tokio::test]
async fn cors_answers_preflights_from_allowed_origins_only() {
    let app =
        TestServer::spawn_with(|cfg| cfg.http.cors_allowed_origins = vec![ORIGIN.into()]).await;
    app.register("alice", PASSWORD).await;
    let preflight = |origin: &'static str| {
        app.request(reqwest::Method::OPTIONS, "/api/tokens")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight(ORIGIN).await;
    assert!(allowed.status.is_success(), "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_else(|| panic!("{allowed:?}"))
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_else(|| panic!("{allowed:?}"))
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    // The actual request from that origin is marked readable too.
    let actual = app
        .post("/api/tokens")
        .password("alice")
        .header("origin", ORIGIN)
        .expect(200)
        .await;
    assert_eq!(actual.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        actual.header("access-control-allow-credentials"),
        Some("true")
    );
    // Another origin gets nothing a browser would accept.
    for response in [
        preflight("https://evil.example").await,
        app.post("/api/tokens")
            .password("alice")
            .header("origin", "https://evil.example")
            .send()
            .await,
    ] {
        assert!(!response.status.is_server_error(), "{response:?}");
        assert_no_cors_grant(&response);
    }
    // Clients that are not browsers send no Origin and are unaffected.
    app.try_issue_token("alice", PASSWORD)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn without_basic_challenge_401s_carry_only_the_bearer_challenge() {
    let app = TestServer::spawn_with(|cfg| cfg.http.basic_challenge = false).await;
    app.register("alice", PASSWORD).await;
    let cases = [
        (None, "invalid_credentials", "Bearer realm=\"latchkey\""),
        (
            Some(basic_header("alice", "not the password")),
            "invalid_credentials",
            "Bearer realm=\"latchkey\"",
        ),
        (
            Some("Bearer lk_nope".to_owned()),
            "invalid_token",
            "Bearer realm=\"latchkey\", error=\"invalid_token\"",
        ),
    ];
    for (authorization, code, challenge) in cases {
        let mut request = app.get("/api/resource");
        if let Some(authorization) = &authorization {
            request = request.authorization(authorization);
        }
        let response = request.send().await;
        assert_eq!(
            response.header_all("www-authenticate"),
            vec![challenge.to_owned()],
            "{authorization:?}"
        );
        response.assert_problem(401, code);
    }
}

#[tokio::test]
async fn a_json_array_of_fields_in_place_of_an_object_is_refused() {
    let (server, token) = TestServer::with_token("arrays").await;
    let me = server.get_as("/api/me", &token).send().await.json();
    // serde alone would read `[null, null]` as a struct's fields in order.
    let path = path_of(&me);
    for body in ["[null, null]", " [\"x\", \"y\"]", "\"text\"", "null"] {
        let problem = server
            .patch_as(&path, &token)
            .body_as("application/json", body)
            .refused(INVALID_REQUEST)
            .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("object"),
            "{body}"
        );
    }
    server
        .post("/api/users")
        .body_as(
            "application/json",
            r#"["someone", "correct horse battery"]"#,
        )
        .refused(INVALID_REQUEST)
        .await;
    server
        .get_as("/api/users/2", &token)
        .refused(NOT_FOUND)
        .await;
}

/// Asserts `response` carries neither CORS header a browser needs before it
/// lets a page read the answer.
#[track_caller]
fn assert_no_cors_grant(response: &Resp) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
    ] {
        assert_eq!(response.header(name), None, "{name}: {response:?}");
    }
}
