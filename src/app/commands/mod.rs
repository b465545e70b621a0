//! The operator's commands, run on a stopped server's data dir (sled
//! allows one process per directory), each with one line of error for
//! stderr.

mod accounts;
mod store;
mod tls;

pub use accounts::{AccountCommand, run};
pub use store::{backup, check, restore};
pub use tls::tls;

use super::serve::open_store;

/// A runtime for one command: the store's operations are async.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Prints a command's result: `value` as one line of JSON with `--json`,
/// else the text `text` makes. A closed stdout (`| head`) is not worth a
/// panic or an error exit.
fn say(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(out, "{value}")
    } else {
        writeln!(out, "{}", text())
    };
}
