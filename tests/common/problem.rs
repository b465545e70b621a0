//! The refusals the API answers, each its status and problem `error` code
//! together, named after the code: `.refused(NOT_FOUND)` asserts the
//! same as `.expect_problem(404, "not_found")`.

/// A status and the `error` code of the problem that comes with it.
pub type Problem = (u16, &'static str);

pub const EMAIL_TAKEN: Problem = (409, "email_taken");
pub const FORBIDDEN: Problem = (403, "forbidden");
pub const INSUFFICIENT_SCOPE: Problem = (403, "insufficient_scope");
pub const INVALID_CODE: Problem = (400, "invalid_code");
pub const INVALID_CREDENTIALS: Problem = (401, "invalid_credentials");
pub const INVALID_CURRENT_PASSWORD: Problem = (403, "invalid_current_password");
pub const INVALID_REQUEST: Problem = (400, "invalid_request");
pub const INVALID_TOKEN: Problem = (401, "invalid_token");
pub const METHOD_NOT_ALLOWED: Problem = (405, "method_not_allowed");
pub const NOT_FOUND: Problem = (404, "not_found");
pub const PAYLOAD_TOO_LARGE: Problem = (413, "payload_too_large");
pub const RATE_LIMITED: Problem = (429, "rate_limited");
pub const UNCONFIRMED_ACCOUNT: Problem = (403, "unconfirmed_account");
pub const UNSUPPORTED_MEDIA_TYPE: Problem = (415, "unsupported_media_type");
pub const USERNAME_TAKEN: Problem = (409, "username_taken");
