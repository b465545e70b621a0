//! Confirmation and password reset: the endpoints that take single-use codes.

use super::{Request, Route, State, auth, method_not_allowed, request, respond};
use crate::error::ApiError;
use crate::model::UserId;
use serde::Deserialize;
use serde_json::json as value;
use warp::Filter;
use warp::http::{Method, StatusCode};
use warp::reply::{Reply, json, with_status};

pub(super) fn routes(state: &State) -> Route {
    let request_confirmation = warp::path!("api" / "users" / u64 / "confirmation")
        .and(request(state))
        .then(|id, req: Request| async move {
            match req.method {
                Method::POST => respond(send_confirmation(UserId(id), req).await),
                _ => method_not_allowed("POST"),
            }
        });
    let confirm =
        warp::path!("api" / "confirm")
            .and(request(state))
            .then(|req: Request| async move {
                match req.method {
                    Method::POST => respond(confirm(req).await),
                    _ => method_not_allowed("POST"),
                }
            });
    let reset = warp::path!("api" / "password-reset")
        .and(request(state))
        .then(|req: Request| async move {
            match req.method {
                Method::POST => respond(request_reset(req).await),
                _ => method_not_allowed("POST"),
            }
        });
    let reset_confirm = warp::path!("api" / "password-reset" / "confirm")
        .and(request(state))
        .then(|req: Request| async move {
            match req.method {
                Method::POST => respond(reset_password(req).await),
                _ => method_not_allowed("POST"),
            }
        });
    request_confirmation
        .or(confirm)
        .unify()
        .or(reset)
        .unify()
        .or(reset_confirm)
        .unify()
        .boxed()
}

/// POST /api/users/{id}/confirmation: send the caller a new confirmation code (unless a limit holds it back; the answer is the same); 202.
async fn send_confirmation(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller_even_unconfirmed(&req).await?;
    req.state
        .auth
        .request_confirmation(&caller, id, req.client)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    code: String,
}

/// POST /api/confirm: confirm an account with its code (the code is the credential); 204, 400 `invalid_code`.
async fn confirm(mut req: Request) -> Result<impl Reply, ApiError> {
    let body: ConfirmRequest = req.take_json().await?;
    let outcome = req.state.auth.confirm(&body.code).await;
    auth::log_attempt(&req, "confirmation_code", &outcome);
    outcome?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    username_or_email: String,
}

/// POST /api/password-reset: send a reset code if the account exists; always 202 with the same body.
async fn request_reset(req: Request) -> Result<impl Reply, ApiError> {
    let (state, client) = (req.state.clone(), req.client);
    let body: ResetRequest = req.json().await?;
    state
        .auth
        .request_password_reset(body.username_or_email, client);
    Ok(with_status(
        json(&value!({
            "status": "accepted",
            "detail": "if the account exists, a reset code is on its way"
        })),
        StatusCode::ACCEPTED,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetConfirmRequest {
    code: String,
    password: String,
}

/// POST /api/password-reset/confirm: set a new password with a reset code, revoking every token; 204, 400 `invalid_code`.
async fn reset_password(mut req: Request) -> Result<impl Reply, ApiError> {
    let body: ResetConfirmRequest = req.take_json().await?;
    let outcome = req
        .state
        .auth
        .reset_password(&body.code, &body.password)
        .await;
    auth::log_attempt(&req, "reset_code", &outcome);
    outcome?;
    Ok(StatusCode::NO_CONTENT)
}
