//! The HTTP side of both harnesses: a client for one latchkey server
//! ([`Api`]), the request builder it hands out ([`Req`]) and the fully read
//! response ([`Resp`]) with the assertions the spec needs. It knows only an
//! address, so the in-process server of `tests/api` and the child process of
//! `tests/binary` both speak through it.

use super::{PASSWORD, Problem, basic_header, secret};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The admin the harnesses seed, as the operator's
/// `latchkey user add root --admin` would make it.
pub const ADMIN: &str = "root";

/// The email of [`ADMIN`].
pub const ADMIN_EMAIL: &str = "root@example.com";

/// What a login or a refresh answers in jwt mode: the access token and
/// its lifetime, and the refresh token that continues the session.
pub const SESSION_KEYS: &[&str] = &[
    "token",
    "token_type",
    "expires_in",
    "expires_at",
    "id",
    "refresh_token",
    "refresh_expires_at",
];

/// A client for the server at `addr`.
pub struct Api {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The client every helper sends with.
    pub client: reqwest::Client,
}

impl Api {
    /// A client for `addr` that sends with `client`.
    pub fn new(addr: SocketAddr, client: reqwest::Client) -> Self {
        Self { addr, client }
    }

    /// The absolute URL of `path` (which may carry a query string).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, path: &str) -> Req {
        Req {
            request: format!("{method} {path}"),
            inner: self.client.request(method, self.url(path)),
        }
    }

    /// GET `path`.
    pub fn get(&self, path: &str) -> Req {
        self.request(Method::GET, path)
    }

    /// GET a URL that is not this server's, such as a proxy's in front of
    /// it, with this server's client.
    pub fn get_url(&self, url: &str) -> Req {
        Req {
            inner: self.client.get(url),
            request: format!("GET {url}"),
        }
    }

    /// POST `path`.
    pub fn post(&self, path: &str) -> Req {
        self.request(Method::POST, path)
    }

    /// PATCH `path`.
    pub fn patch(&self, path: &str) -> Req {
        self.request(Method::PATCH, path)
    }

    /// PUT `path`.
    pub fn put(&self, path: &str) -> Req {
        self.request(Method::PUT, path)
    }

    /// DELETE `path`.
    pub fn delete(&self, path: &str) -> Req {
        self.request(Method::DELETE, path)
    }

    /// GET `path` with `Authorization: Bearer <token>`.
    pub fn get_as(&self, path: &str, token: &str) -> Req {
        self.get(path).bearer(token)
    }

    /// POST `path` with `Authorization: Bearer <token>`.
    pub fn post_as(&self, path: &str, token: &str) -> Req {
        self.post(path).bearer(token)
    }

    /// PATCH `path` with `Authorization: Bearer <token>`.
    pub fn patch_as(&self, path: &str, token: &str) -> Req {
        self.patch(path).bearer(token)
    }

    /// PUT `path` with `Authorization: Bearer <token>`.
    pub fn put_as(&self, path: &str, token: &str) -> Req {
        self.put(path).bearer(token)
    }

    /// DELETE `path` with `Authorization: Bearer <token>`.
    pub fn delete_as(&self, path: &str, token: &str) -> Req {
        self.delete(path).bearer(token)
    }

    /// GET `path` with Basic `username:`[`PASSWORD`], which must answer
    /// 200; returns the JSON body.
    pub async fn get_json_with_password(&self, path: &str, username: &str) -> Value {
        self.get(path).basic(username, PASSWORD).expect_json().await
    }

    /// Asserts `token` opens the protected resource; returns the answer.
    pub async fn assert_token_accepted(&self, token: &str) -> Resp {
        self.get_as("/api/resource", token).expect(200).await
    }

    /// Asserts the protected resource refuses `token` as `invalid_token`;
    /// returns the problem.
    pub async fn assert_token_refused(&self, token: &str) -> Value {
        self.get_as("/api/resource", token)
            .expect_problem(401, "invalid_token")
            .await
    }

    /// Asserts `GET /api/me` refuses Basic `username:password` as
    /// `invalid_credentials`.
    pub async fn assert_password_refused(&self, username: &str, password: &str) {
        self.get("/api/me")
            .basic(username, password)
            .expect_problem(401, "invalid_credentials")
            .await;
    }

    /// Asserts the admin-only resource refuses `token` as
    /// `insufficient_scope`: its owner is no admin (or no longer one).
    pub async fn assert_admin_refused(&self, token: &str) -> Value {
        let resource = self.get_as("/api/admin/resource", token);
        resource.refused(super::INSUFFICIENT_SCOPE).await
    }

    /// An admin's `PATCH {"role": role}` of the user at `path`, which must
    /// answer 200; returns the user.
    pub async fn set_role(&self, admin_token: &str, path: &str, role: &str) -> Value {
        let change = self
            .patch_as(path, admin_token)
            .json(&json!({ "role": role }));
        change.expect_json().await
    }

    /// The account `token` belongs to, as `GET /api/me` (which must answer
    /// 200) shows it.
    pub async fn me(&self, token: &str) -> Value {
        self.get_as("/api/me", token).expect_json().await
    }

    /// The account of `username`, as `GET /api/me` with Basic credentials
    /// (which must answer 200) shows it.
    pub async fn me_basic(&self, username: &str, password: &str) -> Value {
        self.get("/api/me")
            .basic(username, password)
            .expect_json()
            .await
    }

    /// POST /api/tokens with Basic credentials, whatever it answers.
    pub async fn try_issue_token(&self, username: &str, password: &str) -> Resp {
        self.post("/api/tokens")
            .basic(username, password)
            .send()
            .await
    }

    /// Registers `username` with `password` and no email; returns the user.
    pub async fn register(&self, username: &str, password: &str) -> Value {
        let response = self.try_register(username, password).await;
        self.registered(response, username, password).await
    }

    /// The user a registration made: its `201` body, or, where confirmation
    /// is required and the answer is a `202` that names no one, the
    /// account as `GET /api/me` shows it to its owner.
    async fn registered(&self, response: Resp, username: &str, password: &str) -> Value {
        if response.status.as_u16() == 202 {
            return self.me_basic(username, password).await;
        }
        response.assert_status(201).json()
    }

    /// POST /api/users `{username, password}`, whatever it answers.
    pub async fn try_register(&self, username: &str, password: &str) -> Resp {
        self.post("/api/users")
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
    }

    /// Registers `username` with `password` and `email`; returns the user.
    pub async fn register_with_email(&self, username: &str, password: &str, email: &str) -> Value {
        let response = self
            .try_register_with_email(username, password, email)
            .await;
        self.registered(response, username, password).await
    }

    /// POST /api/users `{username, password, email}`, whatever it answers.
    pub async fn try_register_with_email(
        &self,
        username: &str,
        password: &str,
        email: &str,
    ) -> Resp {
        self.post("/api/users")
            .json(&json!({ "username": username, "password": password, "email": email }))
            .send()
            .await
    }

    /// Registers `username` with [`PASSWORD`] and the email
    /// `username@example.com`; returns the user.
    pub async fn register_with_example_email(&self, username: &str) -> Value {
        let email = format!("{username}@example.com");
        self.register_with_email(username, PASSWORD, &email).await
    }

    /// Issues a token with Basic credentials; returns the whole token response.
    pub async fn issue_token(&self, username: &str, password: &str) -> Value {
        self.try_issue_token(username, password)
            .await
            .assert_status(200)
            .json()
    }

    /// Issues a token with Basic credentials; returns the secret alone.
    pub async fn token_for(&self, username: &str, password: &str) -> String {
        secret(&self.issue_token(username, password).await)
    }

    /// Registers `username` with [`PASSWORD`] and logs in with Basic;
    /// asserts the token answer is a 200 no cache may keep
    /// (`Cache-Control: no-store`) and returns it whole.
    pub async fn register_and_log_in(&self, username: &str) -> Resp {
        self.register(username, PASSWORD).await;
        let response = self.try_issue_token(username, PASSWORD).await;
        let response = response.assert_status(200);
        assert_eq!(response.header("cache-control"), Some("no-store"));
        response
    }

    /// Registers `username` with [`PASSWORD`] and issues a token.
    pub async fn register_and_issue_token(&self, username: &str) -> String {
        self.register(username, PASSWORD).await;
        self.token_for(username, PASSWORD).await
    }

    /// Registers `username` as [`Api::register_with_example_email`] does;
    /// returns the user and a token issued to them.
    pub async fn user_with_token(&self, username: &str) -> (Value, String) {
        let user = self.register_with_example_email(username).await;
        (user, self.token_for(username, PASSWORD).await)
    }

    /// A token for [`ADMIN`].
    pub async fn admin_token(&self) -> String {
        self.token_for(ADMIN, PASSWORD).await
    }

    /// The user `username` as an admin sees it (looked up by listing).
    pub async fn user_named(&self, admin_token: &str, username: &str) -> Value {
        let listed = self
            .get("/api/users?per_page=100")
            .bearer(admin_token)
            .send()
            .await
            .assert_status(200)
            .json();
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username)
            .unwrap_or_else(|| panic!("no {username} in {listed}"))
            .clone()
    }

    /// POST /api/tokens/refresh `{refresh_token}`, with no other credential.
    pub async fn post_refresh(&self, refresh_token: &str) -> Resp {
        self.post("/api/tokens/refresh")
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
    }

    /// GET /.well-known/jwks.json, which must answer 200.
    pub async fn jwks(&self) -> Value {
        self.get("/.well-known/jwks.json")
            .send()
            .await
            .assert_status(200)
            .json()
    }

    /// Sends raw bytes on a fresh connection and returns the raw response;
    /// for requests reqwest will not build (e.g. a chunked body).
    pub async fn raw(&self, request: &[u8]) -> RawResponse {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out));
        // The server may reset the connection after an early response; what
        // was read by then is what counts.
        let _ = read
            .await
            .unwrap_or_else(|_| panic!("no response within 10 s"));
        RawResponse(String::from_utf8_lossy(&out).into_owned())
    }
}

/// A raw HTTP/1.1 response as text.
pub struct RawResponse(pub String);

impl RawResponse {
    /// Asserts an RFC 9457 problem with this status and `error` code;
    /// returns its body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status(), status, "{}", self.0);
        let problem_json = "content-type: application/problem+json\r\n";
        assert!(self.0.contains(problem_json), "{}", self.0);
        let problem = self.json();
        assert_eq!(problem["error"], code, "{}", self.0);
        assert_eq!(problem["status"], status, "{}", self.0);
        problem
    }

    /// The status code from the status line.
    pub fn status(&self) -> u16 {
        let line = self.0.lines().next().unwrap_or_default();
        line.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {:?}", self.0))
    }

    /// The body, parsed as JSON.
    pub fn json(&self) -> Value {
        let (_, body) = self
            .0
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no body in {:?}", self.0));
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
    }
}

/// A request being built.
pub struct Req {
    inner: reqwest::RequestBuilder,
    // `METHOD path`, for the failures of the `expect` helpers: an async fn
    // cannot take `#[track_caller]`, so the request names the place.
    request: String,
}

impl Req {
    fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            inner: f(self.inner),
            request: self.request,
        }
    }

    /// A JSON body (with `Content-Type: application/json`).
    pub fn json(self, body: &impl serde::Serialize) -> Self {
        self.map(|inner| inner.json(body))
    }

    /// A raw body with the given content type.
    pub fn body_as(self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        self.header("content-type", content_type).body(body)
    }

    /// A raw body with no content type.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|inner| inner.body(body))
    }

    /// `Authorization: Basic base64(user:pass)`.
    pub fn basic(self, user: &str, pass: &str) -> Self {
        self.authorization(&basic_header(user, pass))
            .named(&format!("as {user} by Basic"))
    }

    /// `Authorization: Basic base64(user:`[`PASSWORD`]`)`.
    pub fn password(self, user: &str) -> Self {
        self.basic(user, PASSWORD)
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.authorization(&format!("Bearer {token}"))
            .named("by Bearer")
    }

    /// Adds `what` to the name a failure gives this request, so that two
    /// requests to one path with other credentials tell apart.
    fn named(mut self, what: &str) -> Self {
        self.request = format!("{} {what}", self.request);
        self
    }

    /// `Authorization: <value>`, exactly as given.
    pub fn authorization(self, value: &str) -> Self {
        self.header("authorization", value)
    }

    /// `Authorization` with raw bytes (which need not be ASCII).
    pub fn authorization_bytes(self, value: &[u8]) -> Self {
        self.map(|inner| {
            inner.header(
                reqwest::header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            )
        })
    }

    /// Any header.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.map(|inner| {
            inner.header(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
    }

    /// Sends it and reads the whole response.
    pub async fn send(self) -> Resp {
        let response = self.inner.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Sends it and asserts the status, naming the request and showing the
    /// body if it is wrong.
    pub async fn expect(self, status: u16) -> Resp {
        let request = self.request.clone();
        let response = self.send().await;
        assert_eq!(
            response.status.as_u16(),
            status,
            "{request}: unexpected status; body: {}",
            response.text()
        );
        response
    }

    /// Sends it, asserts `200` and returns the JSON body.
    pub async fn expect_json(self) -> Value {
        self.expect(200).await.json()
    }

    /// Sends it and asserts an RFC 9457 problem with this status and
    /// `error` code (see [`Resp::assert_problem`]); returns its body.
    pub async fn expect_problem(self, status: u16, code: &str) -> Value {
        let request = self.request.clone();
        let response = self.expect(status).await;
        let error = response.json_or_null()["error"].clone();
        assert_eq!(
            error,
            code,
            "{request}: unexpected problem; body: {}",
            response.text()
        );
        response.assert_problem(status, code)
    }

    /// [`Req::expect_problem`] with the status and code of `problem`.
    pub async fn refused(self, (status, code): Problem) -> Value {
        self.expect_problem(status, code).await
    }
}

/// Sends each request and asserts the problem beside it; a failure names
/// the request and its credential.
pub async fn assert_problems<const N: usize>(cases: [(Req, Problem); N]) {
    for (request, problem) in cases {
        request.refused(problem).await;
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Resp {
    /// Asserts the status, showing the body if it is wrong.
    #[track_caller]
    pub fn assert_status(self, expected: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts the status is one of `expected`.
    #[track_caller]
    pub fn assert_status_in(self, expected: &[u16]) -> Self {
        assert!(
            expected.contains(&self.status.as_u16()),
            "status {} not in {expected:?}; body: {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and `error` code, and
    /// returns its body.
    #[track_caller]
    pub fn assert_problem(self, status: u16, code: &str) -> Value {
        let body = self.text();
        assert_eq!(
            (self.status.as_u16(), self.json_or_null()["error"].as_str()),
            (status, Some(code)),
            "unexpected problem; body: {body}"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{body}"
        );
        let problem = self.json();
        for key in ["type", "title", "detail", "error"] {
            assert!(problem[key].is_string(), "{key} is not a string in {body}");
        }
        assert_eq!(
            problem["status"].as_u64(),
            Some(u64::from(status)),
            "{body}"
        );
        problem
    }

    /// [`Resp::assert_problem`] with the status and code of `problem`.
    #[track_caller]
    pub fn refused(self, (status, code): Problem) -> Value {
        self.assert_problem(status, code)
    }

    /// The body as JSON; panics if it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    fn json_or_null(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's single value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `Allow` header as a set of methods.
    pub fn allow(&self) -> BTreeSet<String> {
        self.header("allow")
            .unwrap_or_else(|| panic!("no Allow header: {:?}", self.headers))
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    }
}

/// What [`Resp::fingerprint`] compares.
pub type ResponseFingerprint = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

impl Resp {
    /// Status, every header but `Date` and `X-Request-Id` (sorted) and
    /// body: two responses with equal fingerprints tell a client nothing
    /// apart. Both left-out headers differ per request by design, whoever
    /// the request is about.
    pub fn fingerprint(&self) -> ResponseFingerprint {
        let mut headers: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        headers.sort();
        (self.status.as_u16(), headers, self.body.clone())
    }
}
