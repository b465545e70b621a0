//! Request bodies: read up to `max_body_bytes`, require JSON, decode.
//!
//! Bodies are read in the handler rather than by a rejecting filter, so a
//! bad body is an `ApiError` value and can never fall through to another
//! route (or to the 405 fallback).

use crate::error::ApiError;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::pin::Pin;
use warp::Filter;
use warp::http::{HeaderMap, header};

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send + Sync>>;

/// How much of a body, and for how long, a handler will read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `limits.max_body_bytes`
    pub max_bytes: u64,
    /// `http.body_read_timeout_ms`
    pub timeout: std::time::Duration,
}

/// A request body not yet read.
pub struct Body(Chunks);

/// The request's body stream, not yet read. Rejects only if a filter took
/// the body before, which the router never does.
pub fn stream() -> impl Filter<
    Extract = (impl Stream<Item = Result<impl Buf, warp::Error>> + Send + Sync + 'static,),
    Error = warp::Rejection,
> + Clone {
    warp::body::stream()
}

impl Default for Body {
    /// An empty body: what is left after a handler takes the real one.
    fn default() -> Self {
        Self(Box::pin(futures_util::stream::empty()))
    }
}

impl Body {
    /// The body a request declares: none without `Content-Length` or
    /// `Transfer-Encoding` (RFC 9112 6.3), and then no box is allocated,
    /// which spares every GET an allocation.
    pub fn of<B: Buf>(
        headers: &HeaderMap,
        stream: impl Stream<Item = Result<B, warp::Error>> + Send + Sync + 'static,
    ) -> Self {
        let declared = headers.contains_key(header::TRANSFER_ENCODING)
            || headers
                .get(header::CONTENT_LENGTH)
                .is_some_and(|n| n.as_bytes() != b"0");
        if declared {
            Self::new(stream)
        } else {
            Self::default()
        }
    }

    fn new<B: Buf>(
        stream: impl Stream<Item = Result<B, warp::Error>> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::pin(stream.map(|chunk| {
            chunk.map(|mut buf| buf.copy_to_bytes(buf.remaining()))
        })))
    }

    /// Reads the whole body within the time limit (408 past it), refusing
    /// with 413 as soon as it passes the size limit, before reading the
    /// rest. A declared `Content-Length` over the limit is refused without
    /// reading anything.
    pub async fn read(self, headers: &HeaderMap, limits: Limits) -> Result<Bytes, ApiError> {
        tokio::time::timeout(limits.timeout, self.read_untimed(headers, limits.max_bytes))
            .await
            .map_err(|_| ApiError::RequestTimeout)?
    }

    async fn read_untimed(mut self, headers: &HeaderMap, limit: u64) -> Result<Bytes, ApiError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.0.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::InvalidRequest(format!("the request body could not be read: {e}"))
            })?;
            if buf.len().saturating_add(chunk.len()) > limit {
                return Err(ApiError::PayloadTooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Reads and decodes a JSON body. `None` when the body is empty, so
    /// endpoints whose body is optional can tell "absent" from "wrong".
    pub async fn json<T: DeserializeOwned>(
        self,
        headers: &HeaderMap,
        limits: Limits,
    ) -> Result<Option<T>, ApiError> {
        let bytes = self.read(headers, limits).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !is_json(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // serde's derived structs also accept a JSON array of their fields
        // in order; every body latchkey takes is an object, so only an
        // object is one.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::InvalidRequest(
                "the JSON body must be an object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ApiError::InvalidRequest(format!("invalid JSON body: {e}")))
    }

    /// Reads a JSON body that must be present.
    pub async fn require_json<T: DeserializeOwned>(
        self,
        headers: &HeaderMap,
        limits: Limits,
    ) -> Result<T, ApiError> {
        self.json(headers, limits)
            .await?
            .ok_or_else(|| ApiError::InvalidRequest("a JSON body is required".into()))
    }
}

/// `application/json`, or any `+json` type, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    #[test]
    fn json_content_types_are_recognised() {
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            assert_eq!(is_json(&h), ok, "{ct}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
