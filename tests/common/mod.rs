//! What both test targets share: the one default password, the HTTP client
//! with its request and response helpers, the webhook receiver that stands
//! in for a mailer, and the JSON readers and shape assertions for what the
//! API answers. `tests/api` (the server in-process) and `tests/binary` (the
//! built binary) each include this module and keep only how they start a
//! server in their own `support`.
// Each target uses a different part of this module; what one of them leaves
// unused is no dead code for the other.
#![allow(dead_code)]

pub mod http;
pub mod json;
pub mod problem;
pub mod webhook;

pub use http::*;
pub use json::*;
pub use problem::*;
pub use webhook::Webhook;

/// The password the helpers register and log in with unless told otherwise.
pub const PASSWORD: &str = "correct horse battery staple";

/// A token of the right shape that was never issued.
pub const MADE_UP_TOKEN: &str = "lk_MadeUpTokenNobodyWasEverIssued0123456789abc";
