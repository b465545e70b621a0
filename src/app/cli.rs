//! The command line: `latchkey [serve]`, and admin commands that work on the
//! data dir directly (`user ...`, `token ...`, `check`, `backup`, `restore`).

use super::config::{ConfigFile, Overrides};
use clap::{Parser, Subcommand, ValueEnum};
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
    /// Machine-readable JSON output for admin commands.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do; serving is the default.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Manage accounts (the server must be stopped: sled allows one process per data dir).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tokens (the server must be stopped).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the keys that sign access tokens (the server must be stopped).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// HTTPS certificates.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Verify every record decodes and every index entry points at a live
    /// record; exits non-zero if anything is wrong (the server must be stopped).
    Check,
    /// Write a consistent backup of the data dir to FILE (the server must be
    /// stopped; a running server takes one with `POST /api/admin/backup`).
    Backup {
        /// Where to write the backup; replaced only once it is complete.
        file: PathBuf,
    },
    /// Restore a backup into an empty or missing data dir, then run the
    /// integrity check on it.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

/// `latchkey tls ...`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Write a self-signed certificate (cert.pem) and its key (key.pem,
    /// mode 0600), valid for one year, and print the [tls] lines for
    /// config.toml. The server need not be stopped.
    SelfSigned {
        /// A DNS name or IP address the certificate is for; repeat the flag
        /// for more. Only the names given go in.
        #[arg(long = "host", value_name = "NAME", required = true)]
        hosts: Vec<String>,
        /// Directory to write into, created if missing [default: the data dir].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace an existing cert.pem or key.pem.
        #[arg(long)]
        force: bool,
    },
}

/// `latchkey keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key and make it current; older keys keep verifying
    /// until every token they signed has expired.
    Rotate,
}

/// `latchkey user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account, confirmed. The password is prompted for twice
    /// without echo, or read as the first line of stdin when it is not a terminal.
    Add {
        /// The username.
        name: String,
        /// An email address.
        #[arg(long)]
        email: Option<String>,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
    },
    /// List every account.
    List,
    /// Show one account.
    Show {
        /// Username or email.
        name: String,
    },
    /// Set an account's role.
    SetRole {
        /// Username or email.
        name: String,
        /// The new role.
        role: RoleArg,
    },
    /// Set an account's password (read as for `add`); revokes its tokens.
    Passwd {
        /// Username or email.
        name: String,
    },
    /// Disable an account and revoke its tokens.
    Disable {
        /// Username or email.
        name: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Username or email.
        name: String,
    },
    /// Mark an account confirmed.
    Confirm {
        /// Username or email.
        name: String,
    },
    /// Delete an account and its tokens.
    Delete {
        /// Username or email.
        name: String,
    },
}

/// `latchkey token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke every token of an account.
    RevokeAll {
        /// Username or email.
        name: String,
    },
}

/// A role as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// An ordinary account.
    User,
    /// May manage every account.
    Admin,
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
