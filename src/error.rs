//! `ApiError`: every error response, as RFC 9457 `application/problem+json`
//! with a stable `error` code.

use crate::auth::AuthError;
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::{Reply, Response};

/// An error as the client sees it. Server faults carry no detail: the cause
/// is logged where the error is made, and the client gets a generic text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request is malformed; the text says how.
    InvalidRequest(String),
    /// 401: no credentials, an unknown user or a wrong password.
    InvalidCredentials {
        /// Whether any credentials were presented (changes only the text).
        presented: bool,
    },
    /// 401: a presented token is unknown, expired or revoked.
    InvalidToken,
    /// 403: authenticated but not allowed.
    Forbidden(&'static str),
    /// 403: the endpoint needs the admin role (RFC 6750 `insufficient_scope`).
    InsufficientScope,
    /// 403: the account must be confirmed first.
    UnconfirmedAccount,
    /// 403: a change of password or email without the right current password.
    InvalidCurrentPassword,
    /// 400: a confirmation or reset code is unknown, used or expired.
    InvalidCode,
    /// 404: no such resource.
    NotFound(&'static str),
    /// 405: the path exists but not with this method.
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// 409: the username is registered already.
    UsernameTaken,
    /// 409: the email belongs to another account.
    EmailTaken,
    /// 409: the change would leave no enabled admin.
    LastAdmin,
    /// 408: the body did not arrive within `body_read_timeout_ms`.
    RequestTimeout,
    /// 413: the body is larger than `max_body_bytes`.
    PayloadTooLarge,
    /// The request line or headers outgrew the server's buffer (hyper's
    /// own answer, rewritten as problem+json).
    HeadersTooLarge,
    /// The request URI is longer than the server reads.
    UriTooLong,
    /// 415: a body that is not JSON where JSON is expected.
    UnsupportedMediaType,
    /// 429: too many attempts (RFC 6585).
    RateLimited {
        /// Seconds for `Retry-After`.
        retry_after: u32,
    },
    /// 503: try again later.
    Unavailable {
        /// Seconds for `Retry-After`.
        retry_after: u32,
    },
    /// 500: the server's fault; logged in full where it happened.
    Internal,
}

/// The challenges every 401 carries (RFC 7617 and RFC 6750).
const BASIC_CHALLENGE: &str = "Basic realm=\"latchkey\", charset=\"UTF-8\"";
const BEARER_CHALLENGE: &str = "Bearer realm=\"latchkey\"";
const BEARER_INVALID_TOKEN: &str = "Bearer realm=\"latchkey\", error=\"invalid_token\"";
const BEARER_INSUFFICIENT_SCOPE: &str =
    "Bearer realm=\"latchkey\", error=\"insufficient_scope\", scope=\"admin\"";

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    error: &'a str,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::InvalidCode => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials { .. } | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_)
            | Self::InsufficientScope
            | Self::UnconfirmedAccount
            | Self::InvalidCurrentPassword => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UsernameTaken | Self::EmailTaken | Self::LastAdmin => StatusCode::CONFLICT,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden(_) => "forbidden",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnconfirmedAccount => "unconfirmed_account",
            Self::InvalidCurrentPassword => "invalid_current_password",
            Self::InvalidCode => "invalid_code",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::EmailTaken => "email_taken",
            Self::LastAdmin => "last_admin",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "Invalid request",
            Self::InvalidCredentials { .. } => "Invalid credentials",
            Self::InvalidToken => "Invalid token",
            Self::Forbidden(_) => "Forbidden",
            Self::InsufficientScope => "Admins only",
            Self::UnconfirmedAccount => "Unconfirmed account",
            Self::InvalidCurrentPassword => "Current password needed",
            Self::InvalidCode => "Invalid code",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::UsernameTaken => "Username taken",
            Self::EmailTaken => "Email taken",
            Self::LastAdmin => "Last admin",
            Self::RequestTimeout => "Request timeout",
            Self::PayloadTooLarge => "Payload too large",
            Self::HeadersTooLarge => "Request headers too large",
            Self::UriTooLong => "URI too long",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::RateLimited { .. } => "Too many requests",
            Self::Unavailable { .. } => "Service unavailable",
            Self::Internal => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::InvalidRequest(detail) => detail.clone(),
            Self::InvalidCredentials { presented: true } => {
                "the username or password is incorrect".into()
            }
            Self::InvalidCredentials { presented: false } => {
                "this resource needs a username and password or a token".into()
            }
            Self::InvalidToken => "the token is unknown, expired or revoked".into(),
            Self::Forbidden(detail) | Self::NotFound(detail) => (*detail).into(),
            Self::InsufficientScope => "Admins only!".into(),
            Self::UnconfirmedAccount => {
                "Unconfirmed account: confirm it with the code that was sent".into()
            }
            Self::InvalidCode => "the code is invalid, used or expired".into(),
            Self::InvalidCurrentPassword => {
                "changing the password or email needs the account's current password in current_password; it is missing or wrong".into()
            }
            Self::MethodNotAllowed { allow } => format!("this path allows {allow}"),
            Self::UsernameTaken => "that username is registered already".into(),
            Self::EmailTaken => "that email belongs to another account".into(),
            Self::LastAdmin => "this is the last enabled admin: make another admin first".into(),
            Self::RequestTimeout => "the request body did not arrive in time".into(),
            Self::PayloadTooLarge => "the request body is too large".into(),
            Self::HeadersTooLarge => "the request line and headers are too large".into(),
            Self::UriTooLong => "the request URI is too long".into(),
            Self::UnsupportedMediaType => "the request body must be application/json".into(),
            Self::RateLimited { .. } => "too many attempts; retry after the given delay".into(),
            Self::Unavailable { .. } => "the server is busy; retry after the given delay".into(),
            Self::Internal => "the server failed to handle this request".into(),
        }
    }

    /// Maps a store fault: a full disk is worth retrying, anything else is
    /// logged here and hidden from the client.
    fn from_fault(cause: &dyn std::fmt::Display, out_of_space: bool) -> Self {
        if out_of_space {
            // sled 0.34 keeps its first I/O error until the database is
            // reopened: after space is freed, writes succeed only after a
            // restart. Say so where the operator will look.
            tracing::error!(error = %cause, "store out of space; writes are refused until space is freed and latchkey is restarted");
            Self::Unavailable { retry_after: 30 }
        } else {
            tracing::error!(error = %cause, "request failed");
            Self::Internal
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => Self::InvalidCredentials { presented: true },
            AuthError::InvalidToken => Self::InvalidToken,
            AuthError::Forbidden(d) => Self::Forbidden(d),
            AuthError::InsufficientScope => Self::InsufficientScope,
            AuthError::Unconfirmed => Self::UnconfirmedAccount,
            AuthError::InvalidCurrentPassword => Self::InvalidCurrentPassword,
            AuthError::InvalidCode => Self::InvalidCode,
            AuthError::NotFound(d) => Self::NotFound(d),
            AuthError::UsernameTaken => Self::UsernameTaken,
            AuthError::LastAdmin => Self::LastAdmin,
            AuthError::EmailTaken => Self::EmailTaken,
            AuthError::InvalidRequest(d) => Self::InvalidRequest(d),
            AuthError::Busy => Self::Unavailable { retry_after: 1 },
            AuthError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            AuthError::Store(e) => Self::from_fault(&e, e.is_out_of_space()),
            AuthError::Internal(e) => Self::from_fault(&e, false),
        }
    }
}

impl ApiError {
    /// The problem+json body of this error.
    pub fn problem_body(&self) -> Vec<u8> {
        let problem = Problem {
            kind: format!("urn:latchkey:error:{}", self.code()),
            title: self.title(),
            status: self.status().as_u16(),
            detail: self.detail(),
            error: self.code(),
        };
        serde_json::to_vec(&problem).unwrap_or_default()
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let body = self.problem_body();
        let mut response = Response::new(body.into());
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::InvalidCredentials { .. } => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BEARER_CHALLENGE),
                );
            }
            Self::InvalidToken => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BEARER_INVALID_TOKEN),
                );
            }
            Self::InsufficientScope => {
                headers.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BEARER_INSUFFICIENT_SCOPE),
                );
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unavailable { retry_after } | Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

impl warp::reject::Reject for ApiError {}
