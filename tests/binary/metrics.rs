//! Metrics from the built binary: configured from the environment, served
//! on their own listener, with no secret in them.

use crate::support::{PASSWORD, Server, workspace};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_configured_from_the_environment_hold_no_secret() {
    let (_tmp, data) = workspace();
    let metrics_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let server = Server::start_with(
        &data,
        &[
            ("LATCHKEY_METRICS__ENABLED", "true"),
            ("LATCHKEY_METRICS__LISTEN", metrics_addr.as_str()),
        ],
    );
    let token = server.register_and_issue_token("heidi").await;
    assert_eq!(server.resource(&token).await.status, 200);
    assert_eq!(server.get("/metrics").send().await.status, 404);
    let scrape = server
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(
        text.contains(r#"latchkey_logins_total{outcome="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/resource",method="GET",status="200""#),
        "{text}"
    );
    for secret in [PASSWORD, token.as_str(), "heidi"] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
    let log = server.stop();
    assert!(
        log.contains(&format!("serving metrics at http://{metrics_addr}/metrics")),
        "{log}"
    );
}
