//! latchkey's HTTP API, end to end: each test runs a real server on a free
//! port over its own temp dir, so tests share nothing and run in any order.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod account_hardening;
mod admin;
mod admin_guard;
mod backup;
mod caddy;
mod concurrency;
mod confirmation;
mod credentials;
mod data_dir_format;
mod errors;
mod headers;
mod hostile;
mod jwt;
mod jwt_forgery;
mod lifecycle;
mod metrics;
mod nginx;
mod openapi;
mod pagination;
mod parse_errors;
mod password_policy;
mod proxy;
mod refresh;
mod reset;
mod support;
mod throttle;
mod timing;
mod tls;
mod tokens;
mod trusted_proxies;
mod usernames;
mod users;
mod verify;
