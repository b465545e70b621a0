//! The example protected resource and the liveness probe.

use super::{Request, credentials};
use crate::error::ApiError;
use serde_json::json as value;
use warp::reply::{Reply, Response, json};

/// GET /healthz: liveness, `{"status": "ok"}` while the process serves.
pub(super) fn health() -> Response {
    json(&value!({ "status": "ok" })).into_response()
}

/// GET /readyz: `{"status": "ready"}`, or 503 with `Retry-After` while starting or shutting down.
pub(super) fn ready(req: &Request) -> Response {
    if req.state.ready.get() {
        json(&value!({ "status": "ready" })).into_response()
    } else {
        ApiError::Unavailable { retry_after: 1 }.into_response()
    }
}

/// A resource's body. Typed, not a `json!` value: this is the answer to
/// every token-checked request, and a value builds and frees a map each time.
#[derive(serde::Serialize)]
struct Data {
    data: String,
}

/// GET /api/resource: the example protected resource, `{"data": "Hello, {username}!"}`.
pub(super) async fn resource(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller(&req).await?;
    // Not `format!`: its machinery cost a token check about 2% more (callgrind)
    // for one string.
    let data = ["Hello, ", caller.user.username.as_str(), "!"].concat();
    Ok(json(&Data { data }))
}

/// GET /api/admin/resource: the example admin-only resource; 403 `insufficient_scope` for others.
pub(super) async fn admin_resource(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::admin(&req).await?;
    let data = format!("Hello, admin {}!", caller.user.username.as_str());
    Ok(json(&Data { data }))
}
