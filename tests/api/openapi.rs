//! The OpenAPI document against the routes: every documented operation is
//! routed, every method a path does not document is refused with an `Allow`
//! that matches the document, and every handler's contract line and every
//! error code appears in it.

use crate::support::*;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    let text = include_str!("../../src/http/openapi.json");
    serde_json::from_str(text).unwrap()
}

/// Each path with the methods it documents, in upper case.
fn operations(doc: &Value) -> Vec<(String, BTreeSet<String>)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn the_served_document_is_the_one_in_the_repository_and_is_openapi_3_1() {
    let server = TestServer::spawn().await;
    let resp = server.get("/api/openapi.json").expect(200).await;
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let served = resp.json();
    assert_eq!(served, document());
    assert_eq!(served["openapi"], "3.1.0");
    for (path, methods) in operations(&served) {
        assert!(!methods.is_empty(), "{path} documents no operation");
        for method in methods {
            let op = &served["paths"][&path][method.to_lowercase()];
            assert!(
                op["responses"]["default"].is_object(),
                "{method} {path} must document its problem+json errors"
            );
            assert!(op["operationId"].is_string(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_undocumented_methods_get_a_matching_allow() {
    // Metrics on, on the main listener: every documented route is live.
    let server = TestServer::spawn_with_admin(|c| c.metrics.enabled = true).await;
    let token = server.token_for(ADMIN, PASSWORD).await;
    for (path, documented) in operations(&document()) {
        let concrete = path.replace("{id}", "1");
        for method in &documented {
            let resp = server
                .request(Method::from_bytes(method.as_bytes()).unwrap(), &concrete)
                .header("x-probe", "routing")
                .send()
                .await;
            let status = resp.status.as_u16();
            assert_ne!(status, 405, "{method} {path} is documented but refused");
            if status == 404 {
                assert_ne!(
                    resp.json()["detail"],
                    "no such resource",
                    "{method} {path} is documented but not routed"
                );
            }
        }
        let Some(other) = METHODS
            .iter()
            .map(|m| m.to_uppercase())
            .find(|m| !documented.contains(m))
        else {
            continue; // every method is documented (forward-auth)
        };
        let resp = server
            .request(Method::from_bytes(other.as_bytes()).unwrap(), &concrete)
            .bearer(&token)
            .send()
            .await;
        let allow = resp.allow();
        resp.assert_problem(405, "method_not_allowed");
        assert_eq!(
            allow, documented,
            "Allow of {path} differs from the document"
        );
    }
}

#[test]
fn every_handler_contract_line_names_a_documented_operation() {
    let doc = document();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for line in source.lines() {
            let Some(contract) = line.trim().strip_prefix("/// ") else {
                continue;
            };
            let Some((method, rest)) = contract.split_once(' ') else {
                continue;
            };
            if !METHODS.contains(&method.to_lowercase().as_str()) || !rest.starts_with('/') {
                continue;
            }
            let route = rest
                .split([':', '?', ' ', ','])
                .next()
                .unwrap()
                .trim_end_matches('`');
            seen += 1;
            assert!(
                doc["paths"][route][method.to_lowercase()].is_object(),
                "{}: `{method} {route}` is not in openapi.json",
                path.display()
            );
        }
    }
    assert!(seen >= 20, "only {seen} contract lines found");
}

#[test]
fn every_error_code_is_in_the_documented_problem_enum() {
    let doc = document();
    let documented: BTreeSet<&str> = doc["components"]["schemas"]["Problem"]["properties"]["error"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let codes: BTreeSet<&str> = latchkey::error::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert!(codes.len() >= 15, "{codes:?}");
    assert_eq!(codes, documented);
}
