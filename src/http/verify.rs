//! Forward-auth: lets a reverse proxy (nginx `auth_request`, Caddy
//! `forward_auth`, Traefik `forwardAuth`) ask latchkey whether the request it
//! is about to pass upstream carries valid credentials.
//!
//! The proxy copies the original request's headers into its sub-request, so
//! the credentials are read exactly as for any other endpoint. nginx keeps
//! the original method in its sub-request, so every method is answered alike:
//! checking credentials changes nothing.

use super::{Request, credentials, no_store};
use crate::error::ApiError;
use crate::model::Role;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json as value;
use warp::http::HeaderValue;
use warp::reply::{Reply, Response, json};

/// Bytes a header value cannot carry as they are, plus `%` so that the
/// encoding can be undone: a plain ASCII name goes out unchanged.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

/// Any method on /api/auth/verify: 200 with `X-Auth-User`, `X-Auth-User-Id` and `X-Auth-Role` when the request's credentials are valid (and, with `?role=admin`, the caller is an admin: else 403 `insufficient_scope`); 401 otherwise.
pub(super) async fn verify(req: Request) -> Result<Response, ApiError> {
    let required = required_role(req.query.as_deref())?;
    let caller = credentials::caller(&req).await?;
    if required == Some(Role::Admin) {
        req.state.auth.require_admin(&caller)?;
    }
    let user = &caller.user;
    let name = utf8_percent_encode(user.username.as_str(), HEADER_UNSAFE).to_string();
    let mut response = no_store(json(&value!({
        "id": user.id.0,
        "username": user.username.as_str(),
        "role": user.role.as_str(),
    })));
    let headers = response.headers_mut();
    // Percent-encoding leaves only visible ASCII and spaces, which every
    // header value may hold; the fallback is unreachable but never a panic.
    headers.insert(
        "x-auth-user",
        HeaderValue::from_str(&name).unwrap_or_else(|_| HeaderValue::from_static("")),
    );
    headers.insert("x-auth-user-id", HeaderValue::from(user.id.0));
    headers.insert("x-auth-role", HeaderValue::from_static(user.role.as_str()));
    Ok(response.into_response())
}

/// The role `?role=` asks for. The query is the proxy's configuration, so
/// anything but at most one `role=user|admin` is a 400: a repeated `role`
/// has no one meaning, and an unknown parameter (a typo such as `?roles=`,
/// or a client's query passed through) must not pass as "any account".
fn required_role(query: Option<&str>) -> Result<Option<Role>, ApiError> {
    let mut required = None;
    for (key, value) in super::query_pairs(query) {
        if key != "role" {
            return Err(ApiError::InvalidRequest(
                "the only query parameter is role".into(),
            ));
        }
        if required.is_some() {
            return Err(ApiError::InvalidRequest("give role at most once".into()));
        }
        required = Some(match value {
            "admin" => Role::Admin,
            "user" => Role::User,
            _ => {
                return Err(ApiError::InvalidRequest(
                    "role must be user or admin".into(),
                ));
            }
        });
    }
    Ok(required)
}
