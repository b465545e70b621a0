//! Loading: built-in defaults, then the file, then `LATCHKEY_*` environment
//! variables, then command-line flags, each overriding the last.

use super::Config;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the configuration file comes from.
#[derive(Debug, Clone)]
pub enum ConfigFile {
    /// `./config.toml`, used if it exists.
    Default,
    /// A path the user named; it must exist.
    Named(PathBuf),
}

/// Settings given as command-line flags, the highest layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist or cannot be read.
    #[error("config file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key is unknown, or a value has the wrong type.
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers defaults, the file, `LATCHKEY_*` environment variables and
    /// flags, then checks the values make sense together.
    pub fn load(file: &ConfigFile, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            ConfigFile::Default => {
                figment = figment.merge(Toml::file(Path::new("config.toml")));
            }
            ConfigFile::Named(path) => {
                if let Err(source) = std::fs::metadata(path) {
                    return Err(ConfigError::File {
                        path: path.clone(),
                        source,
                    });
                }
                figment = figment.merge(Toml::file_exact(path));
            }
        }
        let config: Config = figment
            .merge(Env::prefixed("LATCHKEY_").split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError::Invalid(one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }
}

/// figment's errors can span lines; the command line promises one.
fn one_line(e: &figment::Error) -> String {
    e.to_string().replace('\n', "; ")
}
