//! `GET /metrics`: the Prometheus scrape, on the main listener or on a
//! listener of its own (`[metrics] listen`) that serves nothing else.

use super::routes::{self, Listener};
use super::{Request, State, handle_rejection, nosniff, router};
use crate::auth::AuthError;
use crate::error::ApiError;
use crate::http::settings::Metrics;
use futures_util::FutureExt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::{HeaderValue, header};
use warp::reply::{Reply, Response};

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A shutdown signal that can be handed to more than one server.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// GET /metrics: reads the store's gauges off the executor, then renders.
pub(super) async fn scrape(req: Request) -> Result<impl Reply, ApiError> {
    let stats = req.state.auth.store_stats().await?;
    crate::metrics::store_stats(stats.size_on_disk, stats.users);
    let text = crate::metrics::render()
        .ok_or_else(|| AuthError::Internal("metrics are on but not installed".into()))?;
    let mut response = Response::new(text.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// Why metrics could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The recorder could not be installed.
    #[error("{0}")]
    Install(String),
    /// The metrics listener's address is taken or not ours to bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Installs the recorder when metrics are on, and binds their own listener
/// when one is configured. Call before anything is recorded: what happens
/// before the recorder is installed is not counted.
pub async fn bind(config: &Metrics) -> Result<Option<TcpListener>, MetricsError> {
    if !config.enabled {
        return Ok(None);
    }
    crate::metrics::install(&routes::labels()).map_err(|e| MetricsError::Install(e.to_string()))?;
    let Ok(Some(addr)) = config.listen_addr() else {
        return Ok(None);
    };
    let bind_error = |source| MetricsError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    // Not "listening on": that line names the main address, and scripts wait for it.
    tracing::info!("serving metrics at http://{bound}/metrics");
    Ok(Some(listener))
}

/// Serves `/metrics` alone on `listener`, if there is one, until `shutdown`.
/// Returns the shutdown signal for the main listener, and the metrics
/// server's task, which ends once its connections are closed.
pub fn serve(
    listener: Option<TcpListener>,
    state: &State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (Shutdown, Option<JoinHandle<()>>) {
    let Some(listener) = listener else {
        return (Box::pin(shutdown), None);
    };
    let shutdown = shutdown.boxed().shared();
    let routes = router(state, Listener::Metrics)
        .recover(handle_rejection)
        .unify()
        .map(|mut response: Response| {
            nosniff(response.headers_mut());
            response
        });
    // Its own readiness, so the scrape listener closing does not touch the
    // main one's `/readyz`. Plain HTTP even when the main listener has TLS:
    // it is meant for loopback or a private interface, where Prometheus
    // scrapes without certificates.
    let server = super::server::run(
        listener,
        None,
        routes,
        state.config.http.clone(),
        super::server::Readiness::default(),
        shutdown.clone(),
    );
    (Box::pin(shutdown), Some(tokio::spawn(server)))
}
