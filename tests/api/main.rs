//! latchkey's HTTP API, end to end: each test runs a real server on a free
//! port over its own temp dir, so tests share nothing and run in any order.
#![allow(clippy::unwrap_used)]

mod concurrency;
mod credentials;
mod errors;
mod lifecycle;
mod pagination;
mod support;
mod tokens;
mod users;
