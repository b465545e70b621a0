//! `[tls]`: the certificate and key to serve HTTPS with.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[tls]`: both paths set serves HTTPS, both empty plain HTTP. Relative
/// paths resolve against the working directory, as `data_dir` does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key: PathBuf,
}

impl Settings {
    /// The certificate and key paths when HTTPS is on; `None` for plain HTTP.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        let set = |p: &PathBuf| !p.as_os_str().is_empty();
        (set(&self.cert) && set(&self.key)).then_some((self.cert.as_path(), self.key.as_path()))
    }

    /// Refuses one path without the other: half a pair would silently
    /// serve plain HTTP.
    pub fn validate(&self) -> Result<(), &'static str> {
        match (
            self.cert.as_os_str().is_empty(),
            self.key.as_os_str().is_empty(),
        ) {
            (false, true) => Err("tls.key is missing: set both tls.cert and tls.key, or neither"),
            (true, false) => Err("tls.cert is missing: set both tls.cert and tls.key, or neither"),
            _ => Ok(()),
        }
    }
}
