//! HTTPS through the built binary: `latchkey tls self-signed`, serving with
//! the pair it wrote, SIGHUP swapping the certificate for new handshakes
//! while open connections keep theirs, and the start-up and clear-text
//! warnings an operator sees.

use crate::support::{
    REQUEST_TIMEOUT, Server, assert_one_line_failure, cheap_hashing, latchkey, log_line, run,
    run_to_failure, workspace,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `latchkey tls self-signed --host localhost --out DIR [extra]`.
fn self_signed(data: &Path, dir: &Path, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["tls", "self-signed", "--host", "localhost", "--out"];
    let dir = dir.to_str().unwrap();
    args.push(dir);
    args.extend_from_slice(extra);
    run(data, &args, None)
}

/// The DER of the certificate in a PEM file.
fn der_of(cert: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(cert).unwrap().to_vec()
}

/// A client that trusts only the certificate in `cert`, reaches
/// `localhost` at the server's address, and reports the peer certificate.
fn client_trusting(server: &Server, cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .resolve("localhost", server.addr)
        .tls_info(true)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
}

/// GET /healthz over HTTPS; asserts 200 and returns the certificate served.
async fn served_certificate(server: &Server, client: &reqwest::Client) -> Vec<u8> {
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    info.peer_certificate().unwrap().to_vec()
}

fn send_hangup(server: &Server) {
    let sent = Command::new("kill")
        .arg("-HUP")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits until the server's log has `needle` at least `times` times.
fn wait_for_log(server: &Server, needle: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.stderr().matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} (x{times}) in the log:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_alive(server: &mut Server) {
    assert!(
        server.child.0.try_wait().unwrap().is_none(),
        "latchkey exited; stderr:\n{}",
        server.stderr()
    );
}

fn tls_env(cert: &Path, key: &Path) -> [(&'static str, String); 2] {
    [
        ("LATCHKEY_TLS__CERT", cert.display().to_string()),
        ("LATCHKEY_TLS__KEY", key.display().to_string()),
    ]
}

#[tokio::test]
async fn self_signed_pair_serves_https_and_sighup_swaps_it_for_new_connections() {
    let (tmp, data) = workspace();
    let certs = tmp.path().join("certs");
    let made = self_signed(&data, &certs, &[]);
    let out = made.ok();
    let (cert, key): (PathBuf, PathBuf) = (certs.join("cert.pem"), certs.join("key.pem"));
    assert!(out.contains("[tls]"), "{out}");
    assert!(
        out.contains(&format!("cert = \"{}\"", cert.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("key = \"{}\"", key.display())),
        "{out}"
    );
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key.pem mode {mode:o}");

    let env = tls_env(&cert, &key);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(&data, &env);
    assert!(server.stderr().contains("listening on https://"));
    let first = der_of(&cert);
    // Pooled: this client's connection stays open across the reload.
    let old_client = client_trusting(&server, &cert);
    assert_eq!(served_certificate(&server, &old_client).await, first);

    // Without --force the pair in service is left alone.
    let refused = self_signed(&data, &certs, &[]).one_line_failure();
    assert!(refused.contains("--force"), "{refused}");
    self_signed(&data, &certs, &["--force"]).ok();
    let second = der_of(&cert);
    assert_ne!(first, second);
    // Nothing changes until the signal.
    let new_client = client_trusting(&server, &cert);
    assert!(
        new_client
            .get(format!("https://localhost:{}/healthz", server.addr.port()))
            .send()
            .await
            .is_err(),
        "the new certificate was served before SIGHUP"
    );

    send_hangup(&server);
    wait_for_log(&server, "TLS certificate reloaded", 1);
    assert_eq!(
        served_certificate(&server, &client_trusting(&server, &cert)).await,
        second
    );
    // The connection opened before the reload still works with the old
    // certificate: a new one would fail, as this client trusts only that.
    assert_eq!(served_certificate(&server, &old_client).await, first);
    assert_alive(&mut server);

    // A broken file is refused; the certificate in service stays.
    let pem = tmp.path().join("second.pem");
    std::fs::copy(&cert, &pem).unwrap();
    std::fs::write(&cert, "not a certificate").unwrap();
    send_hangup(&server);
    wait_for_log(&server, "TLS certificate reload failed", 1);
    assert_eq!(
        served_certificate(&server, &client_trusting(&server, &pem)).await,
        second
    );
    assert_alive(&mut server);
    let log = server.stop();
    assert!(!log.contains("PRIVATE KEY"), "{log}");
}

#[tokio::test]
async fn sighup_without_tls_is_logged_and_the_server_keeps_serving() {
    let (_tmp, data) = workspace();
    let mut server = Server::start(&data);
    send_hangup(&server);
    wait_for_log(&server, "TLS is off, nothing to reload", 1);
    assert_alive(&mut server);
    let token = server.register_and_issue_token("alice").await;
    assert_eq!(server.resource(&token).await.status, 200);
    let log = server.stop();
    // 127.0.0.1 is loopback: no clear-text warning.
    assert!(!log.contains("travel in clear"), "{log}");
}

#[test]
fn plain_http_on_a_non_loopback_address_warns_that_credentials_travel_in_clear() {
    let (_tmp, data) = workspace();
    let server = Server::start_on("0.0.0.0:0", &data, &[]);
    let log = server.stop();
    let warning = log_line(&log, &["travel in clear"]);
    assert!(warning.contains("WARN"), "{warning}");
}

#[test]
fn an_invalid_certificate_is_a_one_line_startup_error_naming_the_file() {
    let (tmp, data) = workspace();
    let certs = tmp.path().join("certs");
    self_signed(&data, &certs, &[]).ok();
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    let mut cmd = latchkey(tmp.path());
    cheap_hashing(&mut cmd)
        .env("RUST_LOG", "error")
        .envs(tls_env(&cert, &key))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(&data);
    let (status, stderr) = run_to_failure(&mut cmd);
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains(&cert.display().to_string()), "{line}");
}

#[test]
fn a_certificate_without_a_key_is_a_config_error_naming_the_missing_key() {
    let (tmp, data) = workspace();
    let mut cmd = latchkey(tmp.path());
    cmd.env("LATCHKEY_TLS__CERT", "cert.pem")
        .arg("--data-dir")
        .arg(&data);
    let (status, stderr) = run_to_failure(&mut cmd);
    let line = assert_one_line_failure(status, &stderr);
    assert!(line.contains("tls.key"), "{line}");
}
