//! The accept loop: hyper over tokio, serving the warp filter as a service.
//!
//! warp's own `serve` fixes things an auth server must control, so latchkey
//! runs its own loop: a cap on open connections, a deadline for request
//! headers (slow clients are cut off), the peer address for throttling and
//! logs, and one log line per request (method, path, status, time; never
//! headers or the query string, which may hold secrets).
//!
//! With TLS, each connection is a TLS stream once its handshake is done;
//! the handshake must finish within the header deadline, so a stalled one
//! gives its connection slot back. Everything above the stream is the same
//! for both.

use super::parse_error::ProblemOnParseError;
use crate::error::ApiError;
use crate::http::settings::Http;
use hyper::body::Incoming;
use hyper::service::Service as Hyper;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use warp::Filter;
use warp::http::{HeaderName, HeaderValue};
use warp::reply::{Reply, Response};

/// Whether the server takes new work: true once the store is open and the
/// listener bound, false from the moment shutdown begins. `/readyz` reports it.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the server ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Whether the server is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The target of the per-request access log line, so that it can be
/// filtered on its own: `RUST_LOG=info,latchkey::access=off`.
pub const ACCESS: &str = "latchkey::access";

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);
static REQUEST_PREFIX: LazyLock<u32> =
    LazyLock::new(|| crate::auth::secret::random_bytes::<4>().map_or(0, u32::from_be_bytes));

/// An id for one request, echoed as `X-Request-Id` and logged with it. A
/// client's own id of up to 64 visible ASCII characters is kept; otherwise
/// one is made from a per-process random prefix and a counter.
fn request_id(request: &hyper::Request<Incoming>) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|v| {
        v.len() <= 64 && !v.is_empty() && v.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if let Some(given) = given {
        return given.clone();
    }
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    made_id(*REQUEST_PREFIX, n)
}

/// `{prefix:08x}-{n:x}`, written by hand: `format!` cost about 1,400
/// instructions per request, 4% of a token check, for 25 bytes.
fn made_id(prefix: u32, n: u64) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 8 + 1 + 16];
    for (i, byte) in id[..8].iter_mut().enumerate() {
        *byte = HEX[(prefix >> (28 - 4 * i)) as usize & 0xf];
    }
    id[8] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, byte) in id[9..9 + digits].iter_mut().enumerate() {
        *byte = HEX[(n >> (4 * (digits - 1 - i))) as usize & 0xf];
    }
    HeaderValue::from_bytes(&id[..9 + digits]).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Parsed once: a `&str` name is parsed and checked on every lookup.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The address of the peer whose connection this task serves. A
    /// task-local rather than a request extension: hyper polls each request's
    /// service future inside its connection's task, and the extension map
    /// cost three allocations and two hash lookups per request (3% of a
    /// token check, by callgrind).
    static PEER: SocketAddr;
}

/// The peer of the connection being served, for the filters; `None`
/// outside a connection (no request is served anywhere else).
pub fn peer() -> Option<SocketAddr> {
    PEER.try_with(|peer| *peer).ok()
}

/// Serves `routes` on `listener` until `shutdown` resolves, then waits for
/// in-flight requests to finish. With an `acceptor`, every connection must
/// be TLS.
pub async fn run<F>(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    routes: F,
    config: Http,
    ready: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let service = warp::service(routes);
    let max_connections = config.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max_connections));
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
        let handler = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let id = request_id(&request);
            let started = Instant::now();
            let observed = crate::metrics::observe(request.method().as_str(), || {
                super::routes::find(request.uri().path()).map(|m| m.index)
            });
            // Copy what the access log needs only when it is on.
            let logged = tracing::enabled!(target: ACCESS, tracing::Level::INFO)
                .then(|| (request.method().clone(), request.uri().path().to_owned()));
            // FilteredService is a cheap handle; calling a clone keeps the
            // closure `Fn`, as hyper requires.
            let response = service.clone().call(request);
            async move {
                let mut response = response.await;
                if let Ok(r) = &mut response {
                    r.headers_mut().insert(REQUEST_ID.clone(), id.clone());
                    crate::metrics::record_request(observed, r.status().as_u16(), started);
                }
                if let (Ok(r), Some((method, path))) = (&response, logged) {
                    tracing::info!(
                        target: ACCESS,
                        %method,
                        path,
                        status = r.status().as_u16(),
                        // Whole microseconds: 0.567, not 0.5675520000000001.
                        elapsed_ms = started.elapsed().as_micros() as f64 / 1000.0,
                        client = %peer.ip(),
                        request_id = id.to_str().unwrap_or("-"),
                        "request"
                    );
                }
                response
            }
        });
        let connection = Connection {
            peer,
            header_timeout,
            watcher: graceful.watcher(),
            _slot: slot,
        };
        tokio::spawn(PEER.scope(peer, connection.serve(stream, acceptor.clone(), handler)));
    }
    ready.set(false);
    drop(listener);
    graceful.shutdown().await;
    // Every connection task gives its slot back only after dropping its
    // connection, and with it the service's handles on the store: holding
    // all slots means none is left, so the data dir can be reopened at once.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// One accepted connection and what it holds until it ends.
struct Connection {
    peer: SocketAddr,
    header_timeout: Duration,
    watcher: Watcher,
    // Given back when the connection is dropped, whatever way it ends, and
    // after the handler: see the end of `run`.
    _slot: OwnedSemaphorePermit,
}

/// What the first bytes of a connection to the TLS port turned out to be.
enum Handshake {
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    PlainHttp(TcpStream),
}

type Request = hyper::Request<Incoming>;

/// What a connection serves: a hyper service for warp's responses that can
/// move to the connection's task.
trait Handler:
    Send + 'static + Hyper<Request, Response = Response, Error = Infallible, Future: Send + 'static>
{
}

impl<S> Handler for S where
    S: Send
        + 'static
        + Hyper<Request, Response = Response, Error = Infallible, Future: Send + 'static>
{
}

impl Connection {
    /// Serves `handler` on `stream`, after a TLS handshake if there is an
    /// `acceptor`.
    async fn serve(self, stream: TcpStream, acceptor: Option<TlsAcceptor>, handler: impl Handler) {
        let Some(acceptor) = acceptor else {
            return self.http(stream, handler).await;
        };
        // The handshake counts against the header deadline: a client that
        // stalls mid-handshake is cut off like one that stalls mid-headers.
        match tokio::time::timeout(self.header_timeout, handshake(acceptor, stream)).await {
            Ok(Ok(Handshake::Tls(stream))) => self.http(*stream, handler).await,
            Ok(Ok(Handshake::PlainHttp(stream))) => {
                drop(handler);
                self.http(stream, hyper::service::service_fn(https_required))
                    .await;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, client = %self.peer.ip(), "TLS handshake failed");
            }
            Err(_) => {
                tracing::debug!(client = %self.peer.ip(), "TLS handshake timed out");
            }
        }
    }

    /// Serves HTTP/1.1 on `io` until the client or shutdown ends it.
    async fn http<I>(self, io: I, handler: impl Handler)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .serve_connection(TokioIo::new(ProblemOnParseError::new(io)), handler);
        if let Err(e) = self.watcher.watch(connection).await {
            tracing::debug!(error = %e, client = %self.peer.ip(), "connection ended with an error");
        }
    }
}

/// Tells a TLS handshake from a plain HTTP request by the first byte: a TLS
/// record starts with 0x16, an HTTP request with a method's letter.
async fn handshake(acceptor: TlsAcceptor, stream: TcpStream) -> std::io::Result<Handshake> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0].is_ascii_alphabetic() {
        return Ok(Handshake::PlainHttp(stream));
    }
    Ok(Handshake::Tls(Box::new(acceptor.accept(stream).await?)))
}

/// The answer to plain HTTP on the TLS port: a problem+json 400 that says
/// what to do, then the connection closes. Nothing of the request is read
/// or logged: it may carry credentials sent in clear.
async fn https_required(_request: hyper::Request<Incoming>) -> Result<Response, Infallible> {
    let mut response =
        ApiError::InvalidRequest("this port speaks HTTPS only; use an https:// URL".into())
            .into_response();
    response.headers_mut().insert(
        warp::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::made_id;

    #[test]
    fn made_ids_read_as_prefix_dash_counter_in_hex() {
        for (prefix, n) in [
            (0, 0),
            (0xdead_beef, 1),
            (0x0012_abcd, 0x1f),
            (u32::MAX, u64::MAX),
        ] {
            assert_eq!(made_id(prefix, n), format!("{prefix:08x}-{n:x}").as_str());
        }
    }
}
