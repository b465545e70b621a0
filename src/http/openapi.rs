//! The OpenAPI 3.1 description of the API, kept in the repository beside
//! the handlers (`openapi.json`) and served as it is. `tests/api/openapi.rs`
//! checks it against the routes, so neither can drift from the other.

use warp::http::{HeaderValue, header};
use warp::reply::{Reply, Response};

/// The document, compiled into the binary.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// GET /api/openapi.json: this API's OpenAPI 3.1 document.
pub(super) fn document() -> Response {
    let mut response = DOCUMENT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
