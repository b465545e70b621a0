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

/// Declares [`Code`] and its table in one place.
macro_rules! codes {
    ($($variant:ident => $status:ident, $code:literal, $title:literal;)+) => {
        /// Every stable `error` code a client can get.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(
                #[doc = concat!("`", $code, "`: ", $title, ".")]
                $variant,
            )+
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The code's HTTP status.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)+
                }
            }

            /// The machine-readable code clients switch on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)+
                }
            }

            /// The problem's `title`: the same for every instance of a code.
            pub const fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)+
                }
            }
        }
    };
}

// The one table: adding an error code is one line here, then the variant
// of `ApiError` that carries it.
codes! {
    InvalidRequest => BAD_REQUEST, "invalid_request", "Invalid request";
    InvalidCredentials => UNAUTHORIZED, "invalid_credentials", "Invalid credentials";
    InvalidToken => UNAUTHORIZED, "invalid_token", "Invalid token";
    Forbidden => FORBIDDEN, "forbidden", "Forbidden";
    InsufficientScope => FORBIDDEN, "insufficient_scope", "Admins only";
    UnconfirmedAccount => FORBIDDEN, "unconfirmed_account", "Unconfirmed account";
    InvalidCurrentPassword => FORBIDDEN, "invalid_current_password", "Current password needed";
    InvalidCode => BAD_REQUEST, "invalid_code", "Invalid code";
    NotFound => NOT_FOUND, "not_found", "Not found";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed";
    UsernameTaken => CONFLICT, "username_taken", "Username taken";
    EmailTaken => CONFLICT, "email_taken", "Email taken";
    LastAdmin => CONFLICT, "last_admin", "Last admin";
    RequestTimeout => REQUEST_TIMEOUT, "request_timeout", "Request timeout";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large";
    HeadersTooLarge => REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", "Request headers too large";
    UriTooLong => URI_TOO_LONG, "uri_too_long", "URI too long";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type";
    RateLimited => TOO_MANY_REQUESTS, "rate_limited", "Too many requests";
    Unavailable => SERVICE_UNAVAILABLE, "unavailable", "Service unavailable";
    Internal => INTERNAL_SERVER_ERROR, "internal", "Internal server error";
}

impl ApiError {
    /// The row of the table this error answers with.
    pub const fn kind(&self) -> Code {
        match self {
            Self::InvalidRequest(_) => Code::InvalidRequest,
            Self::InvalidCredentials { .. } => Code::InvalidCredentials,
            Self::InvalidToken => Code::InvalidToken,
            Self::Forbidden(_) => Code::Forbidden,
            Self::InsufficientScope => Code::InsufficientScope,
            Self::UnconfirmedAccount => Code::UnconfirmedAccount,
            Self::InvalidCurrentPassword => Code::InvalidCurrentPassword,
            Self::InvalidCode => Code::InvalidCode,
            Self::NotFound(_) => Code::NotFound,
            Self::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            Self::UsernameTaken => Code::UsernameTaken,
            Self::EmailTaken => Code::EmailTaken,
            Self::LastAdmin => Code::LastAdmin,
            Self::RequestTimeout => Code::RequestTimeout,
            Self::PayloadTooLarge => Code::PayloadTooLarge,
            Self::HeadersTooLarge => Code::HeadersTooLarge,
            Self::UriTooLong => Code::UriTooLong,
            Self::UnsupportedMediaType => Code::UnsupportedMediaType,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::Unavailable { .. } => Code::Unavailable,
            Self::Internal => Code::Internal,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind().status()
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
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
        let code = self.kind();
        let problem = Problem {
            kind: format!("urn:latchkey:error:{}", code.as_str()),
            title: code.title(),
            status: code.status().as_u16(),
            detail: self.detail(),
            error: code.as_str(),
        };
        serde_json::to_vec(&problem).unwrap_or_default()
    }

    /// The `WWW-Authenticate` challenges a refusal carries: both schemes
    /// for a missing or bad credential, so a client learns it may use
    /// either; Bearer alone for a token that lacks the scope.
    fn challenges(&self) -> &'static [&'static str] {
        match self {
            Self::InvalidCredentials { .. } => &[BASIC_CHALLENGE, BEARER_CHALLENGE],
            Self::InvalidToken => &[BASIC_CHALLENGE, BEARER_INVALID_TOKEN],
            Self::InsufficientScope => &[BEARER_INSUFFICIENT_SCOPE],
            _ => &[],
        }
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
        for challenge in self.challenges() {
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        match &self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_code_is_unique_and_in_snake_case() {
        let codes: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), Code::ALL.len(), "a code is in the table twice");
        for code in &codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }

    #[test]
    fn a_problem_carries_its_rows_status_code_and_title() {
        let error = ApiError::MethodNotAllowed { allow: "GET" };
        let body: serde_json::Value = serde_json::from_slice(&error.problem_body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:latchkey:error:method_not_allowed",
                "title": "Method not allowed",
                "status": 405,
                "detail": "this path allows GET",
                "error": "method_not_allowed",
            })
        );
        let response = error.into_response();
        assert_eq!(response.status(), Code::MethodNotAllowed.status());
        assert_eq!(response.headers()[header::ALLOW], "GET");
    }
}
