//! Hardening headers on every answer: no sniffing, no scripts or framing,
//! no caching of anything personal, token answers uncacheable by HTTP/1.0
//! caches too, and HSTS once latchkey itself serves TLS.

use crate::support::{PASSWORD, TestServer};

const CSP: &str = "default-src 'none'; frame-ancestors 'none'";

#[tokio::test]
async fn personal_answers_are_never_cached_and_no_answer_may_run_script_or_be_framed() {
    let app = TestServer::spawn().await;
    let user = app.register("alice", PASSWORD).await;
    let id = user["id"].as_u64().unwrap();
    let token = app.token_for("alice", PASSWORD).await;
    let personal = [
        app.get_as("/api/me", &token).send().await,
        app.get_as(&format!("/api/users/{id}"), &token).send().await,
        app.get_as("/api/users", &token).send().await,
        app.get_as("/api/tokens", &token).send().await,
        app.get_as("/api/resource", &token).send().await,
    ];
    for response in &personal {
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
    let errors = [
        app.get("/api/me").send().await,
        app.get("/no/such/path").send().await,
    ];
    for response in personal.iter().chain(&errors) {
        assert_eq!(response.header("content-security-policy"), Some(CSP));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        // Plain HTTP: HSTS on it would be ignored, and wrong behind a
        // proxy that also serves plain HTTP.
        assert_eq!(response.header("strict-transport-security"), None);
    }
}

#[tokio::test]
async fn token_answers_carry_pragma_no_cache_beside_no_store() {
    let app = TestServer::spawn().await;
    let issued = app.register_and_log_in("alice").await;
    assert_eq!(issued.header("pragma"), Some("no-cache"));
}
