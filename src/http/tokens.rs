//! `/api/tokens` and `/api/tokens/{id}`.

use super::{Request, credentials, no_store};
use crate::auth::{Actor, Credentials, IssuedToken, PasswordCredentials, TokenInfo};
use crate::error::ApiError;
use crate::model::{TokenId, UserId, rfc3339};
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::{Reply, Response, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// A username or an email.
    username: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    token_type: &'static str,
    expires_in: i64,
    expires_at: String,
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_expires_at: Option<String>,
}

impl From<IssuedToken> for TokenResponse {
    fn from(t: IssuedToken) -> Self {
        let (refresh_token, refresh_expires_at) = match t.refresh {
            Some((token, at)) => (Some(token), Some(rfc3339(at))),
            None => (None, None),
        };
        Self {
            token: t.token,
            token_type: "Bearer",
            // The lifetime as issued (RFC 6749 5.1), not what is left by
            // the time the answer is written: a write that crosses a second
            // boundary must not make a 3600 s token read 3599.
            expires_in: (t.expires_at - t.issued_at).max(0),
            expires_at: rfc3339(t.expires_at),
            id: t.id.0,
            refresh_token,
            refresh_expires_at,
        }
    }
}

/// POST /api/tokens: exchange a username and password (Basic, or a JSON body) for a bearer token; 401 on any mismatch or a token.
pub(super) async fn issue(mut req: Request) -> Result<impl Reply, ApiError> {
    let from_header = credentials::parse(&req.headers)?;
    let from_body: Option<LoginRequest> = req.optional_json().await?;
    let credentials = match (from_header, from_body) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidRequest(
                "send credentials in the Authorization header or the body, not both".into(),
            ));
        }
        (Some(c), None) => c,
        (None, Some(login)) => Credentials::Password {
            username: login.username,
            password: login.password,
        },
        (None, None) => return Err(ApiError::InvalidCredentials { presented: false }),
    };
    let password = PasswordCredentials::try_from(credentials)?;
    let caller = credentials::authenticate(&req, password.into()).await?;
    let issued = req.state.auth.issue_token(&caller).await?;
    Ok(no_store(json(&TokenResponse::from(issued))))
}

#[derive(Serialize)]
struct TokenItem {
    id: u64,
    created_at: String,
    expires_at: String,
    current: bool,
}

impl From<TokenInfo> for TokenItem {
    fn from(t: TokenInfo) -> Self {
        Self {
            id: t.id.0,
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            current: t.current,
        }
    }
}

#[derive(Serialize)]
struct TokenList {
    items: Vec<TokenItem>,
}

/// GET /api/tokens: the caller's live tokens, metadata only, never the secret.
pub(super) async fn list(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
    let items = req.state.auth.list_tokens(&caller).await?;
    Ok(no_store(json(&TokenList {
        items: items.into_iter().map(TokenItem::from).collect(),
    })))
}

/// DELETE /api/tokens: revoke the token this request is made with (400 when made with a password); with `?others=true`, every other token of the caller instead; 204.
pub(super) async fn revoke_current(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
    let mut others = false;
    for (key, value) in super::query_pairs(req.query.as_deref()) {
        if key == "others" {
            others = match value {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ApiError::InvalidRequest(
                        "others must be true or false".into(),
                    ));
                }
            };
        }
    }
    if others {
        req.state.auth.revoke_other_tokens(&caller).await?;
    } else {
        req.state.auth.revoke_current(&caller).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/users/{id}/tokens: revoke every token of a user, your own or (as an admin) anyone's; 204, 403 for someone else's.
pub(super) async fn revoke_all_of_user(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
    req.state
        .auth
        .revoke_all_tokens(Actor::Caller(&caller), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/tokens/{id}: revoke one of the caller's tokens; 204, or 404 if it is unknown or someone else's.
pub(super) async fn revoke_one(id: TokenId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
    req.state.auth.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// POST /api/tokens/refresh: trade `{refresh_token}` (no other credential) for a new access and refresh token; a spent refresh token revokes its session; 401 `invalid_token`.
pub(super) async fn refresh(mut req: Request) -> Result<impl Reply, ApiError> {
    let body: RefreshRequest = req.take_json().await?;
    let issued = req.state.auth.refresh(&body.refresh_token).await;
    credentials::log_attempt(&req, "refresh_token", &issued);
    Ok(no_store(json(&TokenResponse::from(issued?))))
}

#[derive(Deserialize)]
struct IntrospectRequest {
    token: String,
    // RFC 7662 lets clients hint the kind; latchkey tells them apart itself.
    #[serde(default, rename = "token_type_hint")]
    _hint: Option<String>,
}

/// POST /api/tokens/introspect: RFC 7662, a form-encoded `token=`; admins only; 200 `{active, ...}`.
pub(super) async fn introspect(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::admin(&req).await?;
    let form = req.body_limits();
    let bytes = req.body.read(&req.headers, form).await?;
    let is_form = req
        .headers
        .get(warp::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body: IntrospectRequest = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid form body: {e}")))?;
    let answer = req.state.auth.introspect(&body.token).await?;
    tracing::info!(admin = %caller.id(), active = answer.active, "token introspected");
    Ok(no_store(json(&answer)))
}

/// GET /.well-known/jwks.json: the public keys that verify signed access tokens (RFC 7517).
pub(super) fn jwks(req: &Request) -> Response {
    json(&req.state.auth.jwks()).into_response()
}
