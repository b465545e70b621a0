//! `/api/users`, `/api/users/{id}` and `/api/me`.

use super::{Request, Route, State, auth, method_not_allowed, request, respond};
use crate::auth::{Caller, Page, UserPatch};
use crate::error::ApiError;
use crate::model::{Email, User, UserId, Username};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warp::Filter;
use warp::http::{Method, StatusCode, header};
use warp::reply::{Reply, json, with_header, with_status};

pub(super) fn routes(state: &State) -> Route {
    let collection =
        warp::path!("api" / "users")
            .and(request(state))
            .then(|req: Request| async move {
                match req.method {
                    Method::GET => respond(list(req).await),
                    Method::POST => respond(register(req).await),
                    _ => method_not_allowed("GET, POST"),
                }
            });
    let item = warp::path!("api" / "users" / u64).and(request(state)).then(
        |id, req: Request| async move {
            let id = UserId(id);
            match req.method {
                Method::GET => respond(get(id, req).await),
                Method::PATCH => respond(update(id, req).await),
                Method::DELETE => respond(delete(id, req).await),
                _ => method_not_allowed("GET, PATCH, DELETE"),
            }
        },
    );
    let me = warp::path!("api" / "me")
        .and(request(state))
        .then(|req: Request| async move {
            match req.method {
                Method::GET => respond(me(req).await),
                _ => method_not_allowed("GET"),
            }
        });
    collection.or(item).unify().or(me).unify().boxed()
}

/// A user as clients see it. `email` appears only to the user themselves.
#[derive(Serialize)]
struct UserBody<'a> {
    id: u64,
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    created_at: String,
    _links: SelfLink,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    self_: String,
}

impl<'a> UserBody<'a> {
    fn new(user: &'a User, viewer: Option<UserId>) -> Self {
        let own = viewer == Some(user.id);
        Self {
            id: user.id.0,
            username: user.username.as_str(),
            email: user.email.as_ref().filter(|_| own).map(Email::as_str),
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

/// Unix seconds as RFC 3339 UTC; out-of-range values (never stored) fall
/// back to the epoch rather than failing a response.
pub(super) fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    username: String,
    password: String,
    #[serde(default)]
    email: Option<String>,
}

/// POST /api/users: register `{username, password, email?}`; 201 with the user and `Location`.
async fn register(req: Request) -> Result<impl Reply, ApiError> {
    let state = req.state.clone();
    let request: RegisterRequest = req.json().await?;
    let username = Username::parse(&request.username).map_err(invalid)?;
    let email = request
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(invalid)?;
    let user = state
        .auth
        .register(username, &request.password, email)
        .await?;
    let location = user_path(user.id);
    Ok(with_header(
        with_status(
            json(&UserBody::new(&user, Some(user.id))),
            StatusCode::CREATED,
        ),
        header::LOCATION,
        location,
    ))
}

fn invalid(e: crate::model::InvalidField) -> ApiError {
    ApiError::InvalidRequest(e.to_string())
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
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
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
async fn list(req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller(&req).await?;
    let (page, per_page) = page_params(req.query.as_deref())?;
    let page: Page = req.state.auth.list_users(page, per_page)?;
    let link = |n: u64| format!("/api/users?page={n}&per_page={}", page.per_page);
    let body = UserList {
        items: page
            .items
            .iter()
            .map(|u| UserBody::new(u, Some(caller.id())))
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
async fn get(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller(&req).await?;
    let user = req.state.auth.user(id)?;
    Ok(json(&UserBody::new(&user, Some(caller.id()))))
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
}

/// PATCH /api/users/{id}: change your own `email` and/or `password`; 403 for someone else's account.
async fn update(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller(&req).await?;
    let state = req.state.clone();
    let request: PatchRequest = req.json().await?;
    let email = match request.email {
        Some(Some(raw)) => Some(Some(Email::parse(&raw).map_err(invalid)?)),
        Some(None) => Some(None),
        None => None,
    };
    let patch = UserPatch {
        email,
        password: request.password,
    };
    let user = state.auth.update_user(&caller, id, patch).await?;
    Ok(json(&UserBody::new(&user, Some(caller.id()))))
}

/// DELETE /api/users/{id}: delete your own account and all its tokens; 204.
async fn delete(id: UserId, req: Request) -> Result<impl Reply, ApiError> {
    let caller = auth::caller(&req).await?;
    req.state.auth.delete_user(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/me: the caller's own user, email included.
async fn me(req: Request) -> Result<impl Reply, ApiError> {
    let caller: Caller = auth::caller(&req).await?;
    Ok(json(&UserBody::new(&caller.user, Some(caller.id()))))
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

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
