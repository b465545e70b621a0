//! `/api/tokens` and `/api/tokens/{id}`.

use super::{Request, Route, State, auth, method_not_allowed, no_store, request, respond};
use crate::auth::{Actor, Credentials, IssuedToken, TokenInfo};
use crate::error::ApiError;
use crate::model::{TokenId, UserId, rfc3339};
use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, json};

pub(super) fn routes(state: &State) -> Route {
    let collection =
        warp::path!("api" / "tokens")
            .and(request(state))
            .then(|req: Request| async move {
                match req.method {
                    Method::POST => respond(issue(req).await),
                    Method::GET => respond(list(req).await),
                    Method::DELETE => respond(revoke_current(req).await),
                    _ => method_not_allowed("GET, POST, DELETE"),
                }
            });
    let item = warp::path!("api" / "tokens" / u64)
        .and(request(state))
        .then(|id, req: Request| async move {
            match req.method {
                Method::DELETE => respond(revoke_one(TokenId(id), req).await),
                _ => method_not_allowed("DELETE"),
            }
        });
    let of_user = warp::path!("api" / "users" / u64 / "tokens")
        .and(request(state))
        .then(|id, req: Request| async move {
            match req.method {
                Method::DELETE => respond(revoke_all_of_user(UserId(id), req).await),
                _ => method_not_allowed("DELETE"),
            }
        });
    collection.or(item).unify().or(of_user).unify().boxed()
}

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
}

impl From<IssuedToken> for TokenResponse {
    fn from(t: IssuedToken) -> Self {
        Self {
            token: t.secret,
            token_type: "Bearer",
            expires_in: t.record.expires_at - t.record.created_at,
            expires_at: rfc3339(t.record.expires_at),
            id: t.record.id.0,
        }
    }
}

/// POST /api/tokens: exchange a username and password (Basic, or a JSON body) for a bearer token; 401 on any mismatch or a token.
async fn issue(mut req: Request) -> Result<impl Reply, ApiError> {
    let from_header = auth::credentials(&req.headers)?;
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
    // A token never buys a new token; say so as a credentials failure.
    if matches!(credentials, Credentials::Token(_)) {
        return Err(ApiError::InvalidCredentials { presented: true });
    }
    let caller = auth::authenticate(&req, credentials).await?;
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
async fn list(req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller_even_unconfirmed(&req).await?;
    let items = req.state.auth.list_tokens(&caller)?;
    Ok(no_store(json(&TokenList {
        items: items.into_iter().map(TokenItem::from).collect(),
    })))
}

/// DELETE /api/tokens: revoke the token this request is made with (400 when made with a password); with `?others=true`, every other token of the caller instead; 204.
async fn revoke_current(req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller_even_unconfirmed(&req).await?;
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
async fn revoke_all_of_user(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller_even_unconfirmed(&req).await?;
    req.state
        .auth
        .revoke_all_tokens(Actor::Caller(&caller), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE /api/tokens/{id}: revoke one of the caller's tokens; 204, or 404 if it is unknown or someone else's.
async fn revoke_one(id: TokenId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller_even_unconfirmed(&req).await?;
    req.state.auth.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
