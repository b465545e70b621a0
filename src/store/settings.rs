//! `[storage]`: the store's own settings.

use serde::{Deserialize, Serialize};

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The embedded store's page cache, in MiB.
    pub cache_capacity_mb: u64,
}

impl Default for Settings {
    fn default() -> Self {
        // sled's own default is 1 GiB, far too much for a Raspberry Pi.
        Self {
            cache_capacity_mb: 64,
        }
    }
}

impl Settings {
    /// The page cache in bytes, as sled takes it.
    pub(super) fn cache_capacity_bytes(&self) -> u64 {
        self.cache_capacity_mb.saturating_mul(1024 * 1024)
    }
}
