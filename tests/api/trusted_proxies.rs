//! `[http] trusted_proxies`: whose `X-Forwarded-For` names the client that
//! the per-IP limits count.

use crate::support::{
    INVALID_CREDENTIALS, Problem, RATE_LIMITED, Resp, TestServer, password_checks_per_ip,
};

/// POST /api/tokens with wrong Basic credentials, as the client a trusted
/// proxy says `client` is.
async fn wrong_login_from(app: &TestServer, client: &str) -> Resp {
    app.post("/api/tokens")
        .basic("nobody", "not the password")
        .header("x-forwarded-for", client)
        .send()
        .await
}

/// Sends a wrong login as each client in turn and asserts what each answer
/// refuses it with; a failure names the client and the step.
async fn assert_wrong_logins(app: &TestServer, steps: &[(&str, Problem)]) {
    for (step, &(client, (status, code))) in steps.iter().enumerate() {
        let response = wrong_login_from(app, client).await;
        assert_eq!(
            response.status,
            status,
            "step {step}, {client}: {}",
            response.text()
        );
        response.assert_problem(status, code);
    }
}

#[tokio::test]
async fn a_proxy_listed_in_the_http_section_is_believed_about_the_client() {
    let app = TestServer::spawn_with(|cfg| {
        cfg.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        password_checks_per_ip(1, 1)(cfg);
    })
    .await;
    // Behind the same proxy, another client has a bucket of its own.
    let steps = [
        ("203.0.113.1", INVALID_CREDENTIALS),
        ("203.0.113.1", RATE_LIMITED),
        ("203.0.113.2", INVALID_CREDENTIALS),
    ];
    assert_wrong_logins(&app, &steps).await;
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_clients_share_the_proxy_bucket() {
    let app = TestServer::spawn_with(password_checks_per_ip(1, 1)).await;
    let steps = [
        ("203.0.113.1", INVALID_CREDENTIALS),
        ("203.0.113.2", RATE_LIMITED),
    ];
    assert_wrong_logins(&app, &steps).await;
}
