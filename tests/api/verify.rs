//! Forward-auth: `/api/auth/verify` as nginx `auth_request`, Caddy
//! `forward_auth` and Traefik `forwardAuth` call it.

use crate::support::*;

#[tokio::test]
async fn a_valid_token_is_verified_with_the_user_headers_set() {
    let server = TestServer::spawn().await;
    let registered = server.register("alice", PASSWORD).await;
    let token = server.token_for("alice", PASSWORD).await;
    let resp = server.get_as("/api/auth/verify", &token).expect(200).await;
    assert_eq!(resp.header("x-auth-user"), Some("alice"));
    assert_eq!(
        resp.header("x-auth-user-id"),
        Some(id_of(&registered).to_string().as_str())
    );
    assert_eq!(resp.header("x-auth-role"), Some("user"));
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    assert_eq!(resp.json()["username"], "alice");
}

#[tokio::test]
async fn every_credential_form_is_verified_and_every_method_is_answered_alike() {
    let (server, token) = TestServer::with_token("bob").await;
    // nginx keeps the original method in its auth sub-request.
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = server
            .request(method.clone(), "/api/auth/verify")
            .authorization(&format!("Bearer {token}"))
            .expect(200)
            .await;
        assert_eq!(resp.header("x-auth-user"), Some("bob"), "{method}");
    }
    server
        .get("/api/auth/verify")
        .password("bob")
        .expect(200)
        .await;
    server
        .get("/api/auth/verify")
        .basic(&token, "")
        .expect(200)
        .await;
}

#[tokio::test]
async fn missing_wrong_and_revoked_credentials_are_refused_with_401() {
    let (server, token) = TestServer::with_token("carol").await;
    let problem = server
        .get("/api/auth/verify")
        .refused(INVALID_CREDENTIALS)
        .await;
    assert!(problem["detail"].is_string());
    let wrong = server
        .get("/api/auth/verify")
        .basic("carol", "not her password")
        .send()
        .await;
    assert!(wrong.header("x-auth-user").is_none());
    wrong.refused(INVALID_CREDENTIALS);
    server.delete_as("/api/tokens", &token).expect(204).await;
    let revoked = server.get_as("/api/auth/verify", &token).send().await;
    assert!(
        revoked
            .header_all("www-authenticate")
            .iter()
            .any(|c| c.starts_with("Bearer")),
        "a 401 carries the challenge the proxy passes on: {:?}",
        revoked.headers
    );
    revoked.refused(INVALID_TOKEN);
}

#[tokio::test]
async fn role_admin_is_403_insufficient_scope_for_a_user_and_200_for_an_admin() {
    let server = TestServer::spawn_with_admin(|_| {}).await;
    let user_token = server.register_and_issue_token("dave").await;
    server
        .get_as("/api/auth/verify?role=admin", &user_token)
        .refused(INSUFFICIENT_SCOPE)
        .await;
    server
        .get_as("/api/auth/verify?role=user", &user_token)
        .expect(200)
        .await;
    let admin_token = server.token_for(ADMIN, PASSWORD).await;
    let resp = server
        .get_as("/api/auth/verify?role=admin", &admin_token)
        .expect(200)
        .await;
    assert_eq!(resp.header("x-auth-role"), Some("admin"));
    assert_eq!(resp.header("x-auth-user"), Some(ADMIN));
}

#[tokio::test]
async fn an_unknown_role_is_a_400_not_a_silent_pass() {
    let (server, token) = TestServer::with_token("erin").await;
    server
        .get_as("/api/auth/verify?role=root", &token)
        .refused(INVALID_REQUEST)
        .await;
}

#[tokio::test]
async fn a_non_ascii_username_is_percent_encoded_in_x_auth_user() {
    let (server, token) = TestServer::with_token("zoë 100%").await;
    let resp = server.get_as("/api/auth/verify", &token).expect(200).await;
    assert_eq!(resp.header("x-auth-user"), Some("zo%C3%AB 100%25"));
    assert_eq!(resp.json()["username"], "zoë 100%");
}

#[tokio::test]
async fn a_repeated_or_unknown_parameter_is_a_400_not_a_silent_pass() {
    let (server, token) = TestServer::with_token("frank").await;
    for query in [
        "role=admin&role=user",
        "role=user&role=admin",
        "role=user&role=user",
        "roles=admin",
        "role=admin&next=/",
        "q=1",
    ] {
        server
            .get_as(&format!("/api/auth/verify?{query}"), &token)
            .refused(INVALID_REQUEST)
            .await;
    }
}
