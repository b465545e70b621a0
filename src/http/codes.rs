//! Confirmation and password reset: the endpoints that take single-use codes.

use super::{Request, credentials};
use crate::error::ApiError;
use crate::model::UserId;
use serde::Deserialize;
use serde_json::json as value;
use warp::http::StatusCode;
use warp::reply::{Reply, json, with_status};

/// POST /api/users/{id}/confirmation: send the caller a new confirmation code (unless a limit holds it back; the answer is the same); 202.
pub(super) async fn send_confirmation(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
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
pub(super) async fn confirm(mut req: Request) -> Result<impl Reply, ApiError> {
    let body: ConfirmRequest = req.take_json().await?;
    let outcome = req.state.auth.confirm(&body.code).await;
    credentials::log_attempt(&req, "confirmation_code", &outcome);
    outcome?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    username_or_email: String,
}

/// POST /api/password-reset: send a reset code if the account exists; always 202 with the same body.
pub(super) async fn request_reset(req: Request) -> Result<impl Reply, ApiError> {
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
pub(super) async fn reset_password(mut req: Request) -> Result<impl Reply, ApiError> {
    let body: ResetConfirmRequest = req.take_json().await?;
    let outcome = req
        .state
        .auth
        .reset_password(&body.code, &body.password)
        .await;
    credentials::log_attempt(&req, "reset_code", &outcome);
    outcome?;
    Ok(StatusCode::NO_CONTENT)
}
