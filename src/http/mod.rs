//! The HTTP edge: warp filters that route requests to handlers, and the one
//! `recover` that turns framework rejections into problem+json.
//!
//! Every route is declared once, in `routes.rs`: one filter looks the path
//! up there, then the method. Path comes first, so an unknown path is 404
//! whatever the credentials; handlers never reject (they return
//! `Result<_, ApiError>`), so nothing falls through from one route to
//! another, and a method a path does not take gets 405 with the table's
//! `Allow`.

mod backup;
mod body;
mod codes;
mod credentials;
pub(crate) mod metrics;
mod openapi;
mod parse_error;
mod resource;
mod routes;
pub(crate) mod server;
pub mod settings;
mod tokens;
mod users;
mod verify;

use crate::auth::Auth;
use crate::error::ApiError;
use body::Body;
pub use credentials::parse as parse_credentials;
pub use settings::Settings;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use warp::http::{HeaderMap, HeaderValue, Method, header};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

/// What every handler gets: the use cases and the HTTP settings.
#[derive(Clone, Debug)]
pub struct State {
    /// The use cases.
    pub auth: Auth,
    /// What the routes and the accept loop are configured with.
    pub config: Arc<Settings>,
    /// Whether to report ready on `/readyz`.
    pub ready: server::Readiness,
}

/// One request, past routing: everything a handler may need.
struct Request {
    method: Method,
    /// The client's address: the peer, or what a trusted proxy says.
    client: Option<IpAddr>,
    /// Shared, not cloned: a request only reads it.
    state: Arc<State>,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
}

impl Request {
    /// Reads and decodes a required JSON body.
    async fn json<T: serde::de::DeserializeOwned>(mut self) -> Result<T, ApiError> {
        self.take_json().await
    }

    /// Reads and decodes a required JSON body, keeping the request for the
    /// handler (to log the outcome against the client, say).
    async fn take_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let limits = self.body_limits();
        std::mem::take(&mut self.body)
            .require_json(&self.headers, limits)
            .await
    }

    /// Reads and decodes a JSON body that may be absent.
    async fn optional_json<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Result<Option<T>, ApiError> {
        let limits = self.body_limits();
        std::mem::take(&mut self.body)
            .json(&self.headers, limits)
            .await
    }

    pub(super) fn body_limits(&self) -> body::Limits {
        let config = &self.state.config;
        body::Limits {
            max_bytes: config.limits.max_body_bytes,
            timeout: std::time::Duration::from_millis(config.http.body_read_timeout_ms),
        }
    }
}

/// All routes, with rejection handling and security headers.
pub fn routes(state: State) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let http = state.config.http.clone();
    let scrape = state.config.metrics.on_main_listener();
    let api = router(&state, routes::Listener::Main { scrape });
    let cors_on = !http.cors_allowed_origins.is_empty();
    // Not boxed, so the two arms are two filters and a guard: a box is an
    // allocation and an indirect call on every request.
    let plain = only_if(!cors_on).and(api.clone());
    // Preflights from listed origins are answered here; other origins
    // get no CORS headers, so browsers keep their responses from them.
    let cors = warp::cors()
        .allow_origins(http.cors_allowed_origins.iter().map(String::as_str))
        .allow_credentials(true)
        .allow_methods(["GET", "POST", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type"]);
    let with_cors = only_if(cors_on)
        .and(api.with(cors))
        .map(Reply::into_response);
    let basic_challenge = http.basic_challenge;
    let tls = state.config.https;
    plain
        .or(with_cors)
        .unify()
        .recover(handle_rejection)
        .unify()
        .map(move |mut response: Response| {
            hardening_headers(&mut response, tls);
            if !basic_challenge {
                drop_basic_challenge(response.headers_mut());
            }
            response
        })
}

/// Passes when `on`, else rejects as "no route", so an `or` tries the next.
fn only_if(on: bool) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::any()
        .and_then(move || {
            std::future::ready(if on {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            })
        })
        .untuple_one()
}

/// One filter for every route of `listener`: the path is looked up in the
/// route table, then the method. Path comes first, so an unknown path is
/// 404 whatever the credentials. An unknown path is a rejection, as warp's
/// path filters made it, so the CORS wrapper and `recover` see it as before.
fn router(
    state: &State,
    listener: routes::Listener,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    warp::path::full().and(request(state)).and_then(
        move |path: warp::path::FullPath, req: Request| async move {
            match listener.find(path.as_str()) {
                Some(matched) => Ok(routes::serve(matched, req).await),
                None => Err(warp::reject::not_found()),
            }
        },
    )
}

/// What every answer of the API carries: browsers may not guess a content
/// type, run anything from it or frame it; no cache keeps it unless its
/// route said otherwise (nearly every answer names an account); and over
/// TLS, browsers are to use HTTPS from then on.
fn hardening_headers(response: &mut Response, tls: bool) {
    let headers = response.headers_mut();
    nosniff(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// Tells browsers not to guess a content type: every listener's answers
/// carry it.
fn nosniff(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// Removes the Basic challenge from a 401, leaving Bearer: browsers show
/// their login popup only for Basic.
fn drop_basic_challenge(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter(|v| !v.as_bytes().starts_with(b"Basic"))
        .cloned()
        .collect();
    headers.remove(header::WWW_AUTHENTICATE);
    for value in kept {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
}

/// Everything after the path: method, state, headers, query and body.
fn request(state: &State) -> impl Filter<Extract = (Request,), Error = Rejection> + Clone + use<> {
    // warp clones a route's filters each time it tries the route, matched or
    // not: behind an Arc that is one counter bump, not a clone of `State`
    // (about nine per request, the hot spot in a profile of GET /api/resource).
    // The request shares the same Arc instead of cloning it once more.
    let state = Arc::new(state.clone());
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::any().map(server::peer))
        .and(warp::header::headers_cloned())
        .and(query)
        .and(body::stream())
        .map(
            move |method, peer: Option<std::net::SocketAddr>, headers: HeaderMap, query, stream| {
                let trusted = &state.config.http.trusted_proxies;
                let body = Body::of(&headers, stream);
                Request {
                    method,
                    client: peer.map(|p| client_ip(p.ip(), &headers, trusted)),
                    state: Arc::clone(&state),
                    headers,
                    query,
                    body,
                }
            },
        )
}

/// The `key=value` pairs of a query string, in order. Values are taken as
/// written: every parameter latchkey reads is a plain number or word.
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// The client's address. A peer that is a trusted proxy is believed about
/// `X-Forwarded-For`: the client is the right-most address there that is not
/// itself a trusted proxy (left of it, anyone could have written anything).
fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// The answer to a method the path does not take.
fn method_not_allowed(allow: &'static str) -> Response {
    ApiError::MethodNotAllowed { allow }.into_response()
}

/// Turns a handler's result into a response.
fn respond(result: Result<impl Reply, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

/// Marks a response as holding a secret that no cache may keep; `Pragma`
/// is for HTTP/1.0 caches, as RFC 6749 asks of token responses.
fn no_store(reply: impl Reply) -> Response {
    let mut response = reply.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Maps what warp rejects on its own (no route, bad path segment) to
/// problem+json, so no response ever has another shape.
async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::NotFound("no such resource")
    } else if let Some(e) = rejection.find::<ApiError>() {
        e.clone()
    } else if let Some(e) = rejection.find::<warp::filters::cors::CorsForbidden>() {
        ApiError::Forbidden(if e.to_string().contains("origin") {
            "this origin may not call the API"
        } else {
            "this cross-origin request is not allowed"
        })
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some()
        || rejection.find::<warp::reject::InvalidQuery>().is_some()
    {
        ApiError::InvalidRequest("a header or the query string is malformed".into())
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        ApiError::Internal
    };
    Ok(error.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.0.0.7"),
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &headers, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &headers, &trusted), stranger);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
