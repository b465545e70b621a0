//! `latchkey check|backup|restore`: the data dir of a stopped server.

use super::say;
use crate::app::config::Config;
use crate::model::rfc3339;
use crate::store::{BackupError, Store};
use std::fs::File;
use std::path::Path;

/// `latchkey check`: the store's integrity walk, printed; an error (and a
/// non-zero exit) if it found anything wrong. Findings (clashing names from
/// earlier releases) are printed but do not fail the check.
pub fn check(config: Config, json: bool) -> Result<(), String> {
    let store = super::open_store(&config).map_err(|e| e.to_string())?;
    let report = super::runtime()?
        .block_on(store.check())
        .map_err(|e| e.to_string())?;
    say(
        json,
        serde_json::json!({
            "users": report.users,
            "tokens": report.tokens,
            "problems": report.problems,
            "findings": report.findings,
        }),
        || {
            let mut text = format!("users: {}\ntokens: {}", report.users, report.tokens);
            for problem in &report.problems {
                text.push_str("\nproblem: ");
                text.push_str(problem);
            }
            for finding in &report.findings {
                text.push_str("\nfinding: ");
                text.push_str(finding);
            }
            text
        },
    );
    if report.is_ok() {
        Ok(())
    } else {
        Err(format!("check found {} problem(s)", report.problems.len()))
    }
}

/// `latchkey backup FILE`: a consistent backup of a stopped server's data
/// dir, written to a temporary file beside FILE (mode 0600) and renamed over
/// FILE only once complete and fsynced.
pub fn backup(config: Config, file: &Path, json: bool) -> Result<(), String> {
    let dir = &config.data_dir;
    // Opening would create an empty store; a backup of nothing is a mistake.
    if !dir.join("db").is_file() {
        return Err(format!(
            "data dir {} holds no latchkey store",
            dir.display()
        ));
    }
    let store = super::open_store(&config).map_err(|e| match e {
        crate::app::serve::ServeError::Locked { dir } => format!(
            "data dir {dir} is in use by a running server; take the backup over HTTP: POST /api/admin/backup"
        ),
        other => other.to_string(),
    })?;
    let mut snapshot = super::runtime()?
        .block_on(store.snapshot())
        .map_err(|e| e.to_string())?;
    drop(store);
    // A backup holds every password hash: owner-only, like the store.
    crate::replace_file::replace_file(file, 0o600, |f| std::io::copy(&mut snapshot, f).map(drop))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    say(
        json,
        serde_json::json!({
            "file": file.display().to_string(),
            "created_at": rfc3339(snapshot.created_at()),
            "bytes": snapshot.len(),
            "trees": snapshot.trees(),
            "entries": snapshot.entries(),
        }),
        || {
            format!(
                "backup written to {}: {} bytes, {} trees, {} entries",
                file.display(),
                snapshot.len(),
                snapshot.trees(),
                snapshot.entries()
            )
        },
    );
    Ok(())
}

/// `latchkey restore FILE`: restores a backup into an empty or missing data
/// dir, checks it, and prints what the integrity walk counted.
pub fn restore(config: Config, file: &Path, json: bool) -> Result<(), String> {
    let dir = &config.data_dir;
    let source = File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let restored = Store::restore(source, dir, &config.storage).map_err(|e| match e {
        BackupError::NotEmpty(_) => e.to_string(),
        other => format!(
            "cannot restore {}: {other}; nothing was restored",
            file.display()
        ),
    })?;
    say(
        json,
        serde_json::json!({
            "file": file.display().to_string(),
            "data_dir": dir.display().to_string(),
            "created_at": rfc3339(restored.created_at),
            "trees": restored.trees,
            "entries": restored.entries,
            "users": restored.users,
            "tokens": restored.tokens,
            "problems": [],
        }),
        || {
            format!(
                "restored {} (taken {}) into {}; the integrity check found nothing wrong\nusers: {}\ntokens: {}",
                file.display(),
                rfc3339(restored.created_at),
                dir.display(),
                restored.users,
                restored.tokens
            )
        },
    );
    Ok(())
}
