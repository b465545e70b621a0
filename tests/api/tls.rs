//! HTTPS: with `[tls]` set the real server speaks only TLS, with a
//! certificate made here by rcgen and trusted by the client, and cuts off
//! handshakes that stall.

use crate::support::{INVALID_REQUEST, PASSWORD, TestServer};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;

/// A self-signed certificate for 127.0.0.1 (an IP SAN), written to a temp dir.
struct Cert {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

fn make_cert() -> Cert {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let pem = made.cert.pem();
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    Cert {
        _dir: dir,
        cert,
        key,
        pem,
    }
}

async fn spawn_tls(cert: &Cert, adjust: impl FnOnce(&mut latchkey::config::Config)) -> TestServer {
    let (c, k) = (cert.cert.clone(), cert.key.clone());
    TestServer::spawn_with(move |cfg| {
        cfg.tls.cert = c;
        cfg.tls.key = k;
        adjust(cfg);
    })
    .await
}

/// A client that trusts only `cert`, with no pooled connections.
fn client_trusting(cert: &Cert) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn https(app: &TestServer, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", app.addr.port())
}

/// A client that trusts `cert` gets `/healthz` over HTTPS.
async fn assert_https_serves(app: &TestServer, cert: &Cert) {
    let healthz = client_trusting(cert)
        .get(https(app, "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn register_token_and_resource_work_over_https_and_answers_carry_hsts() {
    let cert = make_cert();
    let app = spawn_tls(&cert, |_| {}).await;
    let client = client_trusting(&cert);

    let created = client
        .post(https(&app, "/api/users"))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let issued: Value = client
        .post(https(&app, "/api/tokens"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap();
    let resource = client
        .get(https(&app, "/api/resource"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resource.status(), 200);
    assert_eq!(
        resource
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000"),
        "an HTTPS answer tells browsers to stay on HTTPS"
    );
    let body: Value = resource.json().await.unwrap();
    assert_eq!(body["data"], "Hello, alice!");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_clean_400_and_https_still_works() {
    let cert = make_cert();
    let app = spawn_tls(&cert, |_| {}).await;

    // The harness's own client speaks plain HTTP.
    let problem = app.get("/api/resource").refused(INVALID_REQUEST).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("https://"),
        "{problem}"
    );

    assert_https_serves(&app, &cert).await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused_and_the_server_keeps_serving() {
    let cert = make_cert();
    let app = spawn_tls(&cert, |_| {}).await;
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(stranger.get(https(&app, "/healthz")).send().await.is_err());

    assert_https_serves(&app, &cert).await;
}

#[tokio::test]
async fn a_stalled_handshake_gives_its_connection_slot_back_after_the_header_timeout() {
    let cert = make_cert();
    // One slot: while the stalled connection holds it, nobody else is served.
    let app = spawn_tls(&cert, |cfg| {
        cfg.http.max_connections = 1;
        cfg.http.header_read_timeout_ms = 300;
    })
    .await;
    // The start of a TLS record, then silence.
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Within the client's 20 s only if the stalled handshake was cut off.
    assert_https_serves(&app, &cert).await;
    drop(stalled);
}
