//! Starting and stopping the server: open the store, build each layer from
//! its settings, bind, serve until shutdown, flush.

use super::config::{Config, ConfigError};
use crate::auth::{Auth, AuthError};
use crate::http::{self, metrics::MetricsError};
use crate::store::{Store, StoreError};
use crate::tls::{Tls, TlsError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is taken or not ours to bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Another process (a running server, an admin command) holds the
    /// data directory: sled allows one process per directory.
    #[error(
        "data dir {dir} is in use by another latchkey process; stop the server to run admin commands, or use the HTTP API"
    )]
    Locked {
        /// The directory.
        dir: String,
    },
    /// The data directory could not be opened.
    #[error("cannot open data dir {dir}: {source}")]
    Store {
        /// The directory.
        dir: String,
        /// Why.
        source: StoreError,
    },
    /// The `[tls]` certificate or key cannot be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] TlsError),
    /// The SIGHUP handler could not be installed.
    #[error("cannot handle SIGHUP: {0}")]
    Signal(std::io::Error),
    /// Building the use cases failed (the scrypt parameters, the RNG).
    #[error("cannot start: {0}")]
    Auth(#[from] AuthError),
    /// The final flush at shutdown failed.
    #[error("flushing the store at shutdown: {0}")]
    Flush(StoreError),
    /// The metrics recorder could not be installed.
    #[error("{0}")]
    Metrics(String),
    /// The configuration is inconsistent (only reachable when it was built
    /// in code; `Config::load` checks the same).
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl From<MetricsError> for ServeError {
    fn from(e: MetricsError) -> Self {
        match e {
            MetricsError::Install(message) => ServeError::Metrics(message),
            MetricsError::Bind { addr, source } => ServeError::Bind { addr, source },
        }
    }
}

/// Makes every file and directory this process creates from now on private
/// to its user (umask 077), whatever umask it was started with. Called first
/// thing by the binary.
///
/// The store holds the raw Ed25519 signing key, password hashes and token
/// digests. A umask, rather than a chmod after the fact, because sled makes
/// files of its own long after the store opens (snapshots, blobs), and
/// restore staging, spooled backups and `tls self-signed` output are made
/// by yet other code: a mask covers them all, from their first byte.
#[cfg(unix)]
pub fn keep_created_files_private() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// No umask off Unix: nothing to do.
#[cfg(not(unix))]
pub fn keep_created_files_private() {}

/// Warns, in one line naming the path and mode, when an existing data dir
/// is open to its group or others: it holds the signing key. It is left as
/// it is (an operator may share it on purpose), only reported.
#[cfg(unix)]
fn warn_if_data_dir_is_open(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    // Not a directory (or missing): opening it fails, or makes it private.
    let Some(metadata) = std::fs::metadata(dir).ok().filter(|m| m.is_dir()) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{mode:o}"),
            "the data dir is open to group or others, and it holds the signing key; chmod 700 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_data_dir_is_open(_dir: &std::path::Path) {}

/// Opens the store in the configured data dir, creating it if needed
/// (mode 0700).
pub fn open_store(config: &Config) -> Result<Store, ServeError> {
    let dir = &config.data_dir;
    warn_if_data_dir_is_open(dir);
    let fail = |source: StoreError| {
        let dir = dir.display().to_string();
        match source {
            StoreError::Locked => ServeError::Locked { dir },
            source => ServeError::Store { dir, source },
        }
    };
    Store::open(dir, &config.storage).map_err(fail)
}

/// Starts serving on `config.listen`. Returns the bound address (the real
/// port when the configured one is 0) and a handle that resolves once
/// `shutdown` has fired, in-flight requests have finished and the store is
/// flushed.
///
/// With `[tls]` set it serves HTTPS only, and SIGHUP reloads the certificate
/// files; without, SIGHUP is logged and ignored.
pub async fn serve(
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<Result<(), ServeError>>), ServeError> {
    let http_settings = Arc::new(config.http_settings()?);
    // Bind first: a taken port should fail at once, not after the dummy hash.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let tls = match config.tls.files() {
        Some((cert, key)) => Some(Arc::new(Tls::load(cert, key)?)),
        None => {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    %addr,
                    "serving plain HTTP on a non-loopback address: Basic credentials and tokens travel in clear; set [tls] cert and key, or keep latchkey behind a TLS-terminating proxy"
                );
            }
            None
        }
    };
    let metrics_listener = http::metrics::bind(&config.metrics).await?;
    let auth = Auth::new(store.clone(), config.auth_settings()).await?;
    // Before the sweeper: a failure here must leave no task behind.
    let reloader = reload_on_hangup(tls.clone())?;
    let sweeper = tokio::spawn(sweep_expired_tokens(
        auth.clone(),
        Duration::from_secs(config.tokens.sweep_interval_seconds),
    ));
    // The store is open and the port bound: from here on, ready until
    // shutdown begins.
    let ready = http::server::Readiness::default();
    ready.set(true);
    let state = http::State {
        auth,
        config: Arc::clone(&http_settings),
        ready: ready.clone(),
    };
    let acceptor = tls.as_deref().map(Tls::acceptor);
    let (shutdown, metrics_server) = http::metrics::serve(metrics_listener, &state, shutdown);
    let server = http::server::run(
        listener,
        acceptor,
        http::routes(state),
        http_settings.http.clone(),
        ready,
        shutdown,
    );
    let handle = tokio::spawn(async move {
        server.await;
        // The SIGHUP listener lives exactly as long as the server.
        reloader.abort();
        if let Some(metrics_server) = metrics_server {
            // Its connections hold the store too.
            let _ = metrics_server.await;
        }
        sweeper.abort();
        // Wait for the sweep task to be gone: it holds a handle on the store.
        let _ = sweeper.await;
        store.flush().await.map_err(ServeError::Flush)
    });
    Ok((addr, handle))
}

/// Starts the SIGHUP listener: reload the certificate files, or, without
/// TLS, log the signal and carry on. Installed before the server answers,
/// so a SIGHUP from then on never kills the process.
#[cfg(unix)]
fn reload_on_hangup(tls: Option<Arc<Tls>>) -> Result<JoinHandle<()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).map_err(ServeError::Signal)?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(tls) = &tls else {
                tracing::info!("SIGHUP: TLS is off, nothing to reload");
                continue;
            };
            let tls = Arc::clone(tls);
            match tokio::task::spawn_blocking(move || tls.reload()).await {
                Ok(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Ok(Err(e)) => tracing::error!(
                    error = %e,
                    "SIGHUP: TLS certificate reload failed; still serving the previous certificate"
                ),
                Err(e) => tracing::error!(error = %e, "SIGHUP: TLS reload task failed"),
            }
        }
    }))
}

/// No SIGHUP off Unix: nothing to listen for.
#[cfg(not(unix))]
fn reload_on_hangup(_tls: Option<Arc<Tls>>) -> Result<JoinHandle<()>, ServeError> {
    Ok(tokio::spawn(async {}))
}

/// Deletes expired tokens every `every`. Expired tokens are refused at once
/// regardless; this only reclaims their space.
async fn sweep_expired_tokens(auth: Auth, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        auth.shrink_throttle();
        match auth.sweep_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(swept = n, "expired tokens deleted"),
            Err(e) => tracing::error!(error = %e, "sweeping expired tokens failed"),
        }
    }
}
