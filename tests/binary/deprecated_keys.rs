//! Keys that moved keep working from their old place for a while, with a
//! warning in the log that names the new one.

use crate::support::{Server, log_lines, start_failure, workspace};

/// POST /api/tokens with wrong Basic credentials, as the client a trusted
/// proxy says `client` is; returns the status.
async fn wrong_login_from(server: &Server, client: &str) -> u16 {
    server
        .client
        .post(server.url("/api/tokens"))
        .basic_auth("nobody", Some("not the password"))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn trusted_proxies_under_throttle_still_work_and_log_one_deprecation_warning() {
    let (tmp, data) = workspace();
    std::fs::write(
        tmp.path().join("config.toml"),
        "[throttle]\ntrusted_proxies = [\"127.0.0.1/32\"]\nip_burst = 1\nip_per_minute = 1\n",
    )
    .unwrap();
    let server = Server::start(&data);
    // One bucket per forwarded client, not one for the proxy: the old key
    // still makes X-Forwarded-For believed.
    assert_eq!(wrong_login_from(&server, "203.0.113.1").await, 401);
    assert_eq!(wrong_login_from(&server, "203.0.113.1").await, 429);
    assert_eq!(wrong_login_from(&server, "203.0.113.2").await, 401);
    let log = server.stop();
    let warnings = log_lines(&log, &["throttle.trusted_proxies"]);
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("http.trusted_proxies"),
        "{}",
        warnings[0]
    );
}

#[test]
fn different_trusted_proxies_in_the_old_and_the_new_place_stop_the_start() {
    let (tmp, data) = workspace();
    std::fs::write(
        tmp.path().join("config.toml"),
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\"]\n\n[throttle]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .unwrap();
    let line = start_failure(tmp.path(), &data);
    assert!(line.contains("http.trusted_proxies"), "{line}");
    assert!(line.contains("throttle.trusted_proxies"), "{line}");
}
