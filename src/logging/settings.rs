//! `[log]`: the log's format, whether requests get an access line, and how
//! far its writer may fall behind.

use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `text` or `json`. The level comes from `RUST_LOG` (default `info`).
    pub format: Format,
    /// Whether every request gets an access log line.
    pub access: bool,
    /// Lines the log may hold while its writer is behind; past this, lines
    /// are dropped (and counted) instead of holding up requests.
    pub queue_lines: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            format: Format::Text,
            access: true,
            queue_lines: 8192,
        }
    }
}

impl Settings {
    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.queue_lines < 16 {
            return Err("log.queue_lines must be at least 16");
        }
        Ok(())
    }
}
