//! `POST /api/admin/backup`: who may take a backup, and what the response
//! looks like.

use crate::support::{
    ADMIN, INSUFFICIENT_SCOPE, INVALID_CREDENTIALS, METHOD_NOT_ALLOWED, PASSWORD, TestServer,
};
use reqwest::Method;
use sha2::{Digest, Sha256};

const BACKUP: &str = "/api/admin/backup";

#[tokio::test]
async fn an_admin_gets_the_backup_as_a_checksummed_attachment_no_cache_may_keep() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    app.register("alice", PASSWORD).await;
    let response = app.post(BACKUP).password(ADMIN).expect(200).await;
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let disposition = response.header("content-disposition").unwrap();
    let stamp = disposition
        .strip_prefix("attachment; filename=\"latchkey-")
        .and_then(|rest| rest.strip_suffix(".bak\""))
        .unwrap_or_else(|| panic!("{disposition}"));
    let format =
        time::format_description::parse("[year][month][day]T[hour][minute][second]Z").unwrap();
    let taken = time::PrimitiveDateTime::parse(stamp, &format)
        .unwrap_or_else(|e| panic!("{stamp}: {e}"))
        .assume_utc();
    let age = time::OffsetDateTime::now_utc() - taken;
    assert!(
        age.whole_seconds().abs() < 300,
        "taken just now, in UTC: {stamp}"
    );
    assert_eq!(
        response.header("content-length"),
        Some(response.body.len().to_string().as_str())
    );
    let body = &response.body;
    assert!(body.starts_with(b"LATCHKEY-BACKUP"));
    let (content, checksum) = body.split_at(body.len() - 32);
    assert_eq!(Sha256::digest(content).as_slice(), checksum);
    // Raw records: the new user's name is in there.
    assert!(content.windows(5).any(|w| w == b"alice"));
}

#[tokio::test]
async fn a_backup_without_credentials_is_401() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    app.post(BACKUP).refused(INVALID_CREDENTIALS).await;
}

#[tokio::test]
async fn a_backup_for_a_user_who_is_not_an_admin_is_403_insufficient_scope() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    let token = app.register_and_issue_token("mallory").await;
    let response = app.post_as(BACKUP, &token).send().await;
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer realm=\"latchkey\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    response.refused(INSUFFICIENT_SCOPE);
    app.post(BACKUP)
        .password("mallory")
        .refused(INSUFFICIENT_SCOPE)
        .await;
}

#[tokio::test]
async fn methods_other_than_post_are_405_with_allow_post() {
    let app = TestServer::spawn_with_admin(|_| {}).await;
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app
            .request(method.clone(), BACKUP)
            .password(ADMIN)
            .send()
            .await;
        assert_eq!(response.header("allow"), Some("POST"), "{method}");
        response.refused(METHOD_NOT_ALLOWED);
    }
}
