//! `[http] trusted_proxies`: whose `X-Forwarded-For` names the client that
//! the per-IP limits count.

use crate::support::{Resp, TestServer};

/// POST /api/tokens with wrong Basic credentials, as the client a trusted
/// proxy says `client` is.
async fn wrong_login_from(app: &TestServer, client: &str) -> Resp {
    app.post("/api/tokens")
        .basic("nobody", "not the password")
        .header("x-forwarded-for", client)
        .send()
        .await
}

#[tokio::test]
async fn a_proxy_listed_in_the_http_section_is_believed_about_the_client() {
    let app = TestServer::spawn_with(|cfg| {
        cfg.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        cfg.throttle.ip_burst = 1;
        cfg.throttle.ip_per_minute = 1;
    })
    .await;
    wrong_login_from(&app, "203.0.113.1")
        .await
        .assert_problem(401, "invalid_credentials");
    wrong_login_from(&app, "203.0.113.1")
        .await
        .assert_problem(429, "rate_limited");
    // Behind the same proxy, another client has a bucket of its own.
    wrong_login_from(&app, "203.0.113.2")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_clients_share_the_proxy_bucket() {
    let app = TestServer::spawn_with(|cfg| {
        cfg.throttle.ip_burst = 1;
        cfg.throttle.ip_per_minute = 1;
    })
    .await;
    wrong_login_from(&app, "203.0.113.1")
        .await
        .assert_problem(401, "invalid_credentials");
    wrong_login_from(&app, "203.0.113.2")
        .await
        .assert_problem(429, "rate_limited");
}
