//! The accept loop: hyper over tokio, serving the warp filter as a service.
//!
//! warp's own `serve` fixes things an auth server must control, so latchkey
//! runs its own loop: a cap on open connections, a deadline for request
//! headers (slow clients are cut off), the peer address for throttling and
//! logs, and one log line per request (method, path, status, time; never
//! headers or the query string, which may hold secrets).

use crate::config::HttpConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_service::Service;
use warp::Filter;
use warp::reply::Response;

/// The peer's address, put in each request's extensions for the filters.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `routes` on `listener` until `shutdown` resolves, then waits for
/// in-flight requests to finish.
pub async fn run<F>(
    listener: TcpListener,
    routes: F,
    config: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let service = warp::service(routes);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Take a connection slot before accepting: past the cap, new
        // connections wait in the kernel's backlog instead of costing memory.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = service.clone();
        let handler = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            let started = Instant::now();
            // Copy what the access log needs only when it is on.
            let logged = tracing::enabled!(tracing::Level::INFO)
                .then(|| (request.method().clone(), request.uri().path().to_owned()));
            // FilteredService is a cheap handle; calling a clone keeps the
            // closure `Fn`, as hyper requires.
            let response = service.clone().call(request);
            async move {
                let response = response.await;
                if let (Ok(r), Some((method, path))) = (&response, logged) {
                    tracing::info!(
                        %method,
                        path,
                        status = r.status().as_u16(),
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        client = %peer.ip(),
                        "request"
                    );
                }
                response
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), handler);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, client = %peer.ip(), "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
