//! `/api/users`, `/api/users/{id}` and `/api/me`.

use super::{Request, credentials};
use crate::auth::{Actor, Caller, Page, Registration, UserPatch};
use crate::error::ApiError;
use crate::model::{Email, Role, User, UserId, Username, rfc3339};
use serde::{Deserialize, Deserializer, Serialize};
use warp::http::{StatusCode, header};
use warp::reply::{Reply, json, with_header, with_status};

/// Who is looking at a user, which decides what of it they see.
#[derive(Clone, Copy)]
pub(super) struct Viewer {
    id: UserId,
    admin: bool,
}

impl From<&Caller> for Viewer {
    fn from(c: &Caller) -> Self {
        Self {
            id: c.id(),
            admin: c.is_admin(),
        }
    }
}

/// A user as clients see it. `email`, `confirmed` and `disabled` appear
/// only to the user themselves and to admins.
#[derive(Serialize)]
pub(super) struct UserBody<'a> {
    id: u64,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled: Option<bool>,
    created_at: String,
    _links: SelfLink,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    self_: String,
}

impl<'a> UserBody<'a> {
    pub(super) fn new(user: &'a User, viewer: Viewer) -> Self {
        let private = viewer.admin || viewer.id == user.id;
        Self {
            id: user.id.0,
            username: user.username.as_str(),
            email: user.email.as_ref().filter(|_| private).map(Email::as_str),
            role: user.role,
            confirmed: private.then_some(user.confirmed),
            disabled: private.then_some(user.disabled),
            created_at: rfc3339(user.created_at),
            _links: SelfLink {
                self_: user_path(user.id),
            },
        }
    }
}

fn user_path(id: UserId) -> String {
    format!("/api/users/{id}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
}

/// What a registration answers when confirmation is required, whether the
/// account was made or its email was taken: the same bytes either way.
#[derive(Serialize)]
struct PendingRegistration {
    status: &'static str,
    detail: &'static str,
}

const PENDING: PendingRegistration = PendingRegistration {
    status: "pending_confirmation",
    detail: "unless the email belongs to another account, the account was made and a confirmation code is on its way; redeem it at /api/confirm, then log in",
};

/// POST /api/users: register `{username, password, email?}`; 201 with the user and `Location`, or 202 `{status, detail}` when confirmation is required.
pub(super) async fn register(req: Request) -> Result<warp::reply::Response, ApiError> {
    let state = req.state.clone();
    state.auth.check_registration_rate(req.client)?;
    let request: RegisterRequest = req.json().await?;
    let username = Username::parse(&request.username).map_err(invalid)?;
    let email = parse_optional(request.email.as_deref(), Email::parse)?;
    let user = match state
        .auth
        .register(username, request.password, email)
        .await?
    {
        Registration::Created(user) => user,
        Registration::Pending => {
            return Ok(with_status(json(&PENDING), StatusCode::ACCEPTED).into_response());
        }
    };
    let viewer = Viewer {
        id: user.id,
        admin: false,
    };
    Ok(with_header(
        with_status(json(&UserBody::new(&user, viewer)), StatusCode::CREATED),
        header::LOCATION,
        user_path(user.id),
    )
    .into_response())
}

/// A field that parses to nothing a handler can use: `invalid_request`.
pub(super) fn invalid(e: crate::model::InvalidField) -> ApiError {
    ApiError::InvalidRequest(e.to_string())
}

/// A field the client may leave out, parsed if it is there.
fn parse_optional<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, crate::model::InvalidField>,
) -> Result<Option<T>, ApiError> {
    raw.map(parse).transpose().map_err(invalid)
}

#[derive(Serialize)]
struct UserList<'a> {
    items: Vec<UserBody<'a>>,
    _meta: PageMeta,
    _links: PageLinks,
}

#[derive(Serialize)]
struct PageMeta {
    page: u64,
    per_page: u64,
    total_pages: u64,
    total_items: u64,
}

#[derive(Serialize)]
struct PageLinks {
    #[serde(rename = "self")]
    self_: String,
    next: Option<String>,
    prev: Option<String>,
}

/// `page` and `per_page` from the query string; other keys are ignored.
fn page_params(query: Option<&str>) -> Result<(u64, u64), ApiError> {
    let (mut page, mut per_page) = (1, 10);
    for (key, value) in super::query_pairs(query) {
        let slot = match key {
            "page" => &mut page,
            "per_page" => &mut per_page,
            _ => continue,
        };
        *slot = value.parse().map_err(|_| {
            ApiError::InvalidRequest(format!("{key} must be a whole number of at least 1"))
        })?;
    }
    Ok((page, per_page))
}

/// GET /api/users: list users, `?page=1&per_page=10`; 400 on a page below 1 or not a number.
pub(super) async fn list(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller(&req).await?;
    let (page, per_page) = page_params(req.query.as_deref())?;
    let page: Page = req.state.auth.list_users(page, per_page).await?;
    let link = |n: u64| format!("/api/users?page={n}&per_page={}", page.per_page);
    let viewer = Viewer::from(&caller);
    let body = UserList {
        items: page
            .items
            .iter()
            .map(|u| UserBody::new(u, viewer))
            .collect(),
        _meta: PageMeta {
            page: page.page,
            per_page: page.per_page,
            total_pages: page.total_pages(),
            total_items: page.total_items,
        },
        _links: PageLinks {
            self_: link(page.page),
            next: (page.page < page.total_pages()).then(|| link(page.page + 1)),
            prev: (page.page > 1).then(|| link(page.page - 1)),
        },
    };
    Ok(json(&body))
}

/// GET /api/users/{id}: one user; 404 if there is none.
pub(super) async fn get(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller(&req).await?;
    let user = req.state.auth.user(id).await?;
    Ok(json(&UserBody::new(&user, Viewer::from(&caller))))
}

/// `Some(None)` for an explicit `null`, so a client can remove its email.
fn explicit_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRequest {
    #[serde(default, deserialize_with = "explicit_null")]
    email: Option<Option<String>>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    confirmed: Option<bool>,
    #[serde(default)]
    current_password: Option<String>,
}

/// PATCH /api/users/{id}: change your own `email`/`password` (with `current_password`), or as an admin anything of anyone (`role`, `disabled`, `confirmed` are admin only); 403 otherwise.
pub(super) async fn update(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller(&req).await?;
    let state = req.state.clone();
    let request: PatchRequest = req.json().await?;
    let email = match request.email {
        Some(Some(raw)) => Some(Some(Email::parse(&raw).map_err(invalid)?)),
        Some(None) => Some(None),
        None => None,
    };
    let role = parse_optional(request.role.as_deref(), Role::parse)?;
    let patch = UserPatch {
        email,
        password: request.password,
        role,
        disabled: request.disabled,
        confirmed: request.confirmed,
        current_password: request.current_password,
    };
    let user = state
        .auth
        .update_user(Actor::Caller(&caller), id, patch)
        .await?;
    Ok(json(&UserBody::new(&user, Viewer::from(&caller))))
}

/// DELETE /api/users/{id}: delete your own account (or any, as an admin) and all its tokens; 204.
pub(super) async fn delete(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller(&req).await?;
    req.state
        .auth
        .delete_user(Actor::Caller(&caller), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/me: the caller's own user, email included; open to unconfirmed accounts.
pub(super) async fn me(req: Request) -> Result<impl Reply, ApiError> {
    let caller = credentials::caller_even_unconfirmed(&req).await?;
    Ok(json(&UserBody::new(&caller.user, Viewer::from(&caller))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_params_default_and_parse() {
        assert_eq!(page_params(None).unwrap(), (1, 10));
        assert_eq!(page_params(Some("page=3&per_page=500")).unwrap(), (3, 500));
        assert_eq!(page_params(Some("x=1&page=2")).unwrap(), (2, 10));
        assert!(page_params(Some("page=abc")).is_err());
        assert!(page_params(Some("page=-1")).is_err());
    }
}
