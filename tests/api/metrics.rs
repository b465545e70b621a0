//! `GET /metrics`: off by default, Prometheus text when on, on the main
//! listener or a listener of its own.
//!
//! The recorder is process-wide and every test in this binary runs in one
//! process, so other tests' servers count into the same series at the same
//! time. These tests therefore check that a counter rose by at least what
//! their own requests did, never an absolute value.

use crate::support::{PASSWORD, TestServer};
use latchkey::config::Config;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One sample line: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Every sample of a scrape, asserting each non-comment line has the
/// exposition format's shape.
fn parse(text: &str) -> Vec<Sample> {
    let is_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut labels = BTreeMap::new();
                // latchkey's label values hold no commas or quotes.
                for pair in inner.split(',').filter(|p| !p.is_empty()) {
                    let (key, quoted) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label in {line:?}"));
                    let value = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label in {line:?}"));
                    assert!(is_name(key), "bad label name in {line:?}");
                    labels.insert(key.to_owned(), value.to_owned());
                }
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(is_name(name), "bad metric name in {line:?}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// How far `name`'s samples with `labels` rose from `before` to `after`.
fn rose(before: &[Sample], after: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    total(after, name, labels) - total(before, name, labels)
}

/// The sum of `name`'s samples that carry every one of `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn enabled(cfg: &mut Config) {
    cfg.metrics.enabled = true;
}

async fn scrape(app: &TestServer) -> Vec<Sample> {
    let resp = app.get("/metrics").expect(200).await;
    parse(&resp.text())
}

/// An address with a free port, for a listener the test cannot ask the
/// server about.
fn free_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

#[tokio::test]
async fn metrics_are_an_unknown_path_when_disabled() {
    let app = TestServer::spawn().await;
    app.get("/metrics").expect_problem(404, "not_found").await;
}

#[tokio::test]
async fn enabled_metrics_are_prometheus_text_on_the_main_listener() {
    let app = TestServer::spawn_with(enabled).await;
    app.register("carol", PASSWORD).await;
    let resp = app.get("/metrics").expect(200).await;
    let content_type = resp.header("content-type").unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text();
    let samples = parse(&text);
    assert!(
        text.contains("# TYPE latchkey_http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE latchkey_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(total(&samples, "latchkey_users", &[]) >= 1.0, "{text}");
    assert!(
        total(&samples, "latchkey_store_size_bytes", &[]) > 0.0,
        "{text}"
    );
    assert!(
        total(&samples, "latchkey_hash_pool_size", &[]) >= 1.0,
        "{text}"
    );
    for gauge in ["latchkey_hash_pool_in_use", "latchkey_hash_pool_queued"] {
        assert!(
            samples.iter().any(|s| s.name == gauge),
            "no {gauge} in {text}"
        );
    }
    app.post("/metrics")
        .expect_problem(405, "method_not_allowed")
        .await;
}

#[tokio::test]
async fn a_registration_logins_and_a_revocation_raise_their_counters() {
    let app = TestServer::spawn_with(enabled).await;
    let before = scrape(&app).await;
    let token = app.register_and_issue_token("dave").await;
    app.try_issue_token("dave", "not the password")
        .await
        .assert_problem(401, "invalid_credentials");
    app.delete_as("/api/tokens", &token).expect(204).await;
    let after = scrape(&app).await;
    let rose = |name: &str, labels: &[(&str, &str)]| rose(&before, &after, name, labels);
    let requests = "latchkey_http_requests_total";
    for (route, method, status) in [
        ("/api/users", "POST", "201"),
        ("/api/tokens", "POST", "200"),
        ("/api/tokens", "POST", "401"),
        ("/api/tokens", "DELETE", "204"),
    ] {
        let labels = [("route", route), ("method", method), ("status", status)];
        assert!(rose(requests, &labels) >= 1.0, "{method} {route} {status}");
    }
    let duration = "latchkey_http_request_duration_seconds_count";
    assert!(rose(duration, &[("route", "/api/tokens"), ("method", "POST")]) >= 2.0);
    assert!(rose("latchkey_logins_total", &[("outcome", "success")]) >= 1.0);
    assert!(rose("latchkey_logins_total", &[("outcome", "failure")]) >= 1.0);
    assert!(rose("latchkey_tokens_issued_total", &[("kind", "opaque")]) >= 1.0);
    assert!(rose("latchkey_tokens_revoked_total", &[]) >= 1.0);
}

#[tokio::test]
async fn the_route_label_is_the_path_template_never_the_path() {
    let app = TestServer::spawn_with(enabled).await;
    let token = app.register_and_issue_token("erin").await;
    let before = scrape(&app).await;
    app.get_as("/api/users/42", &token)
        .expect_problem(404, "not_found")
        .await;
    app.get("/no/such/path?secret=x")
        .expect_problem(404, "not_found")
        .await;
    let resp = app.get("/metrics").expect(200).await;
    let text = resp.text();
    let after = parse(&text);
    let labels = [
        ("route", "/api/users/{id}"),
        ("method", "GET"),
        ("status", "404"),
    ];
    let requests = "latchkey_http_requests_total";
    assert!(rose(&before, &after, requests, &labels) >= 1.0, "{text}");
    let other = [("route", "other"), ("status", "404")];
    assert!(rose(&before, &after, requests, &other) >= 1.0, "{text}");
    for raw in ["/api/users/42", "/no/such/path", "secret"] {
        assert!(!text.contains(raw), "{raw} in {text}");
    }
}

#[tokio::test]
async fn forward_auth_backup_and_the_document_have_labels_of_their_own() {
    let app = TestServer::spawn_with(enabled).await;
    let before = scrape(&app).await;
    app.get("/api/auth/verify")
        .expect_problem(401, "invalid_credentials")
        .await;
    app.post("/api/admin/backup")
        .expect_problem(401, "invalid_credentials")
        .await;
    app.get("/api/openapi.json").expect(200).await;
    let after = scrape(&app).await;
    for (route, method, status) in [
        ("/api/auth/verify", "GET", "401"),
        ("/api/admin/backup", "POST", "401"),
        ("/api/openapi.json", "GET", "200"),
    ] {
        let labels = [("route", route), ("method", method), ("status", status)];
        let counted = rose(&before, &after, "latchkey_http_requests_total", &labels);
        assert!(
            counted >= 1.0,
            "{route} was not counted under its own label"
        );
    }
}

#[tokio::test]
async fn throttle_refusals_are_counted_by_kind() {
    let app = TestServer::spawn_with(|cfg| {
        enabled(cfg);
        cfg.throttle.ip_burst = 1;
        cfg.throttle.ip_per_minute = 1;
    })
    .await;
    let before = scrape(&app).await;
    app.try_issue_token("frank", "not the password")
        .await
        .assert_problem(401, "invalid_credentials");
    app.try_issue_token("frank", "not the password")
        .await
        .assert_problem(429, "rate_limited");
    let after = scrape(&app).await;
    let rose = |name: &str, labels: &[(&str, &str)]| rose(&before, &after, name, labels);
    assert!(rose("latchkey_throttle_refusals_total", &[("kind", "ip")]) >= 1.0);
    assert!(rose("latchkey_logins_total", &[("outcome", "throttled")]) >= 1.0);
}

#[tokio::test]
async fn the_sweep_counts_expired_tokens() {
    let app = TestServer::spawn_with(|cfg| {
        enabled(cfg);
        cfg.tokens.ttl_seconds = 1;
        cfg.tokens.sweep_interval_seconds = 1;
    })
    .await;
    let before = total(&scrape(&app).await, "latchkey_tokens_expired_total", &[]);
    app.register_and_issue_token("grace").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = total(&scrape(&app).await, "latchkey_tokens_expired_total", &[]);
        if now > before {
            break;
        }
        assert!(Instant::now() < deadline, "no expired token was counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_separate_metrics_listener_serves_only_metrics_and_closes_at_shutdown() {
    let metrics_addr = free_addr();
    let app = TestServer::spawn_with(|cfg| {
        enabled(cfg);
        cfg.metrics.listen = metrics_addr.to_string();
    })
    .await;
    app.get("/metrics").expect_problem(404, "not_found").await;
    let client = reqwest::Client::new();
    let scrape = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let content_type = scrape.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    assert_eq!(scrape.headers()["x-content-type-options"], "nosniff");
    let text = scrape.text().await.unwrap();
    assert!(!parse(&text).is_empty(), "{text}");
    let elsewhere = client
        .get(format!("http://{metrics_addr}/api/resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    assert_eq!(
        elsewhere.headers()["content-type"],
        "application/problem+json"
    );
    drop(client);
    app.shutdown().await;
    // The port is free again: the listener closed with the server.
    std::net::TcpListener::bind(metrics_addr).unwrap();
}

#[tokio::test]
async fn disabled_metrics_open_no_listener_of_their_own() {
    let metrics_addr = free_addr();
    let app = TestServer::spawn_with(|cfg| {
        cfg.metrics.listen = metrics_addr.to_string();
    })
    .await;
    std::net::TcpListener::bind(metrics_addr).unwrap();
    app.get("/metrics").expect_problem(404, "not_found").await;
}

#[tokio::test]
async fn a_taken_metrics_address_fails_start_up() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.password.scrypt_log_n = 4;
    cfg.metrics.enabled = true;
    cfg.metrics.listen = taken.local_addr().unwrap().to_string();
    let store = latchkey::open_store(&cfg).unwrap();
    let err = latchkey::serve(cfg, store, std::future::pending())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, latchkey::ServeError::Bind { .. }), "{err}");
}
