//! Requests hyper refuses before routing still get problem+json, like every
//! other error, not hyper's empty body.

use crate::support::TestServer;

#[tokio::test]
async fn too_many_headers_get_a_problem_json_431() {
    let app = TestServer::spawn().await;
    let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..150 {
        request.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    request.push_str("\r\n");
    let response = app.raw(request.as_bytes()).await;
    response.assert_problem(431, "headers_too_large");
}

#[tokio::test]
async fn a_malformed_header_gets_a_problem_json_400() {
    let app = TestServer::spawn().await;
    let response = app
        .raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
        .await;
    response.assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn a_well_formed_request_after_them_is_served_as_before() {
    let app = TestServer::spawn().await;
    let response = app
        .raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(response.status(), 200, "{}", response.0);
    assert_eq!(response.json()["status"], "ok");
}
