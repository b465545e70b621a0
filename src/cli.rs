//! The command line: `latchkey [serve] [--config PATH] [--listen ADDR] [--data-dir DIR]`.

use crate::config::{ConfigFile, Overrides};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A single-binary REST authentication server.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
pub struct Cli {
    /// Configuration file [default: ./config.toml, if it exists].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to serve on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory holding the store.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
}

impl Cli {
    /// Which configuration file to read.
    pub fn config_file(&self) -> ConfigFile {
        match &self.config {
            Some(path) => ConfigFile::Named(path.clone()),
            None => ConfigFile::Default,
        }
    }

    /// The flags that override the file and environment.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
        }
    }
}
