//! The built `latchkey` binary, driven as a child process: crash and restart
//! (`crash`), the admin command line on a data dir (`cli`), what the server
//! writes to its log (`logs`), and HTTPS with certificate reload (`tls`).
//! Each test gets its own temp dir and a free port, so tests share nothing
//! and run in any order.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod cli;
mod crash;
mod deprecated_keys;
mod layers;
mod log_writer;
mod logs;
mod metrics;
mod private;
mod reliability;
mod support;
mod tls;
