//! The HTTP edge: warp filters that route requests to handlers, and the one
//! `recover` that turns framework rejections into problem+json.
//!
//! Each resource is one path filter and one dispatcher that matches on the
//! method. Path comes first, so an unknown path is 404 whatever the
//! credentials; handlers never reject (they return `Result<_, ApiError>`),
//! so nothing falls through from one resource to another, and a method a
//! path does not take gets 405 with an accurate `Allow`.

mod auth;
mod body;
mod codes;
mod resource;
mod tokens;
mod users;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::ApiError;
use body::Body;
use std::convert::Infallible;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Method, header};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

/// What every handler gets: the use cases and the configuration.
#[derive(Clone, Debug)]
pub struct State {
    /// The use cases.
    pub auth: Auth,
    /// The loaded configuration.
    pub config: Arc<Config>,
}

/// One request, past routing: everything a handler may need.
struct Request {
    method: Method,
    /// The peer's address, for logs.
    client: Option<std::net::SocketAddr>,
    state: State,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
}

impl Request {
    /// Reads and decodes a required JSON body.
    async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, ApiError> {
        let limit = self.state.config.limits.max_body_bytes;
        self.body.require_json(&self.headers, limit).await
    }
}

/// A finished route: path matched, a response made.
type Route = BoxedFilter<(Response,)>;

/// All routes, with rejection handling, security headers and request logs.
pub fn routes(state: State) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let api = users::routes(&state)
        .or(tokens::routes(&state))
        .unify()
        .or(codes::routes(&state))
        .unify()
        .or(resource::routes(&state))
        .unify();
    api.recover(handle_rejection)
        .unify()
        .map(|mut response: Response| {
            response.headers_mut().insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        })
        .with(warp::log::custom(|info| {
            // Path only: the query string is the client's and may hold secrets.
            tracing::info!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                elapsed_ms = info.elapsed().as_secs_f64() * 1000.0,
                client = ?info.remote_addr(),
                "request"
            );
        }))
}

/// Everything after the path: method, state, headers, query and body.
fn request(state: &State) -> impl Filter<Extract = (Request,), Error = Infallible> + Clone + use<> {
    let state = state.clone();
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::addr::remote())
        .and(warp::header::headers_cloned())
        .and(query)
        .and(body::body())
        .map(move |method, client, headers, query, body| Request {
            method,
            client,
            state: state.clone(),
            headers,
            query,
            body,
        })
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

/// Marks a response as holding a secret that no cache may keep.
fn no_store(reply: impl Reply) -> Response {
    let mut response = reply.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Maps what warp rejects on its own (no route, bad path segment) to
/// problem+json, so no response ever has another shape.
async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::NotFound("no such resource")
    } else if let Some(e) = rejection.find::<ApiError>() {
        e.clone()
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
