//! The route table: every path latchkey serves, the methods it takes and
//! the handler behind each, declared once. The router matches requests
//! against it, a 405's `Allow` is its method list, the metrics route label
//! is its template, and a test holds the OpenAPI document's paths to it.

use super::{Request, backup, codes, metrics, openapi, resource, respond, tokens, users, verify};
use crate::model::{TokenId, UserId};
use warp::http::Method;
use warp::reply::Response;

/// What answers a request once its path and method matched: one variant per
/// handler, so the compiler holds [`serve`] to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Resource,
    Verify,
    AdminResource,
    Health,
    Ready,
    ListUsers,
    Register,
    GetUser,
    UpdateUser,
    DeleteUser,
    Me,
    SendConfirmation,
    RevokeUserTokens,
    Confirm,
    RequestReset,
    ResetPassword,
    ListTokens,
    IssueToken,
    RevokeCurrentToken,
    RevokeToken,
    Refresh,
    Introspect,
    Jwks,
    OpenApi,
    Backup,
    Scrape,
}

/// Which listeners serve a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// The main listener.
    Main,
    /// `/metrics`: its own listener when `[metrics] listen` is set, else
    /// the main one when metrics are on; elsewhere an unknown path.
    Scrape,
}

/// One route: a path template and the handler behind each method.
#[derive(Debug)]
pub(super) struct RouteSpec {
    /// The path as the OpenAPI document writes it and metrics label it;
    /// `{id}` stands for a segment that parses as a `u64`.
    pub(super) template: &'static str,
    /// The methods it takes, each with its handler, in `Allow` order.
    methods: &'static [(Method, Op)],
    /// A 405's `Allow`: `methods`, joined.
    allow: &'static str,
    /// What a method not in `methods` gets; `None` is a 405.
    otherwise: Option<Op>,
    served: Served,
    /// Whether `template` has an `{id}`: one without is compared whole.
    has_id: bool,
}

impl RouteSpec {
    const fn new(
        template: &'static str,
        methods: &'static [(Method, Op)],
        allow: &'static str,
    ) -> Self {
        Self {
            template,
            methods,
            allow,
            otherwise: None,
            served: Served::Main,
            has_id: has_id(template),
        }
    }

    /// Answers every other method as the first listed one.
    const fn any_method(mut self) -> Self {
        if let Some((_, op)) = self.methods.first() {
            self.otherwise = Some(*op);
        }
        self
    }

    /// Serves the route where metrics are scraped.
    const fn scrape(mut self) -> Self {
        self.served = Served::Scrape;
        self
    }

    /// The methods it takes, upper case, as the document lists them.
    #[cfg(test)]
    pub(super) fn method_names(&self) -> impl Iterator<Item = &'static str> {
        self.methods.iter().map(|(m, _)| m.as_str())
    }

    /// The `{id}` of `path` (0 where the template has none), if `path` is
    /// this route. Segments compare as sent, without percent-decoding, as
    /// warp's path filters did.
    fn matches(&self, path: &str) -> Option<u64> {
        if !self.has_id {
            return (self.template == path).then_some(0);
        }
        let mut id = 0;
        let (mut want, mut got) = (self.template.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(id),
                (Some("{id}"), Some(segment)) => id = segment.parse().ok()?,
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }
}

const fn has_id(template: &str) -> bool {
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            return true;
        }
        i += 1;
    }
    false
}

/// `route!("/path", GET => Op, POST => Op)`: the `Allow` value is written
/// from the same list, so the two cannot disagree.
macro_rules! route {
    ($template:literal, $first:ident => $first_op:ident $(, $method:ident => $op:ident)* $(,)?) => {
        RouteSpec::new(
            $template,
            &[(Method::$first, Op::$first_op) $(, (Method::$method, Op::$op))*],
            concat!(stringify!($first) $(, ", ", stringify!($method))*),
        )
    };
}

/// Every route, tried in order: the token checks that apps and proxies make
/// on every request come first. No two templates match one path.
pub(super) const ROUTES: &[RouteSpec] = &[
    route!("/api/resource", GET => Resource),
    // nginx keeps the original method in its sub-request: every method is
    // answered alike, and these are the ones the document lists.
    route!("/api/auth/verify",
        GET => Verify, HEAD => Verify, POST => Verify, PUT => Verify,
        PATCH => Verify, DELETE => Verify, OPTIONS => Verify, TRACE => Verify)
    .any_method(),
    route!("/api/admin/resource", GET => AdminResource),
    route!("/healthz", GET => Health),
    route!("/readyz", GET => Ready),
    route!("/api/users", GET => ListUsers, POST => Register),
    route!("/api/users/{id}", GET => GetUser, PATCH => UpdateUser, DELETE => DeleteUser),
    route!("/api/me", GET => Me),
    route!("/api/users/{id}/confirmation", POST => SendConfirmation),
    route!("/api/users/{id}/tokens", DELETE => RevokeUserTokens),
    route!("/api/confirm", POST => Confirm),
    route!("/api/password-reset", POST => RequestReset),
    route!("/api/password-reset/confirm", POST => ResetPassword),
    route!("/api/tokens", GET => ListTokens, POST => IssueToken, DELETE => RevokeCurrentToken),
    route!("/api/tokens/{id}", DELETE => RevokeToken),
    route!("/api/tokens/refresh", POST => Refresh),
    route!("/api/tokens/introspect", POST => Introspect),
    route!("/.well-known/jwks.json", GET => Jwks),
    route!("/api/openapi.json", GET => OpenApi),
    route!("/api/admin/backup", POST => Backup),
    route!("/metrics", GET => Scrape).scrape(),
];

/// Every template, in table order: the metrics route labels.
pub(super) fn labels() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.template).collect()
}

/// A path matched against the table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Matched {
    /// Its place in [`ROUTES`]: the metrics label's index.
    pub(super) index: usize,
    pub(super) spec: &'static RouteSpec,
    /// The `{id}` segment, 0 for a template without one.
    pub(super) id: u64,
}

/// The route `path` belongs to, wherever it is served. As with warp's path
/// filters, one trailing slash is ignored.
pub(super) fn find(path: &str) -> Option<Matched> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    ROUTES.iter().enumerate().find_map(|(index, spec)| {
        let id = spec.matches(path)?;
        Some(Matched { index, spec, id })
    })
}

/// Which listener a router serves, which decides its live routes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Listener {
    /// The API; with `scrape`, `/metrics` too.
    Main {
        /// Whether metrics are on without a listener of their own.
        scrape: bool,
    },
    /// Metrics' own listener: `/metrics` alone.
    Metrics,
}

impl Listener {
    /// The live route `path` belongs to on this listener.
    pub(super) fn find(self, path: &str) -> Option<Matched> {
        let matched = find(path)?;
        let live = match (self, matched.spec.served) {
            (Self::Main { .. }, Served::Main) | (Self::Metrics, Served::Scrape) => true,
            (Self::Main { scrape }, Served::Scrape) => scrape,
            (Self::Metrics, Served::Main) => false,
        };
        live.then_some(matched)
    }
}

/// Answers a request whose path matched: the handler its method names, or
/// a 405 with the route's `Allow`.
pub(super) async fn serve(matched: Matched, req: Request) -> Response {
    let spec = matched.spec;
    let op = spec
        .methods
        .iter()
        .find(|(method, _)| *method == req.method)
        .map(|(_, op)| *op)
        .or(spec.otherwise);
    match op {
        // The token checks behind every proxied request stay inline; the
        // rest are boxed, so this future stays small to move.
        Some(Op::Resource) => respond(resource::resource(req).await),
        Some(Op::Verify) => respond(verify::verify(req).await),
        Some(op) => Box::pin(serve_cold(op, matched.id, req)).await,
        None => super::method_not_allowed(spec.allow),
    }
}

/// The handler behind each operation. `id` is the route's `{id}`.
async fn serve_cold(op: Op, id: u64, req: Request) -> Response {
    match op {
        Op::Resource => respond(resource::resource(req).await),
        Op::Verify => respond(verify::verify(req).await),
        Op::AdminResource => respond(resource::admin_resource(req).await),
        Op::Health => resource::health(),
        Op::Ready => resource::ready(&req),
        Op::ListUsers => respond(users::list(req).await),
        Op::Register => respond(users::register(req).await),
        Op::GetUser => respond(users::get(UserId(id), req).await),
        Op::UpdateUser => respond(users::update(UserId(id), req).await),
        Op::DeleteUser => respond(users::delete(UserId(id), req).await),
        Op::Me => respond(users::me(req).await),
        Op::SendConfirmation => respond(codes::send_confirmation(UserId(id), req).await),
        Op::RevokeUserTokens => respond(tokens::revoke_all_of_user(UserId(id), req).await),
        Op::Confirm => respond(codes::confirm(req).await),
        Op::RequestReset => respond(codes::request_reset(req).await),
        Op::ResetPassword => respond(codes::reset_password(req).await),
        Op::ListTokens => respond(tokens::list(req).await),
        Op::IssueToken => respond(tokens::issue(req).await),
        Op::RevokeCurrentToken => respond(tokens::revoke_current(req).await),
        Op::RevokeToken => respond(tokens::revoke_one(TokenId(id), req).await),
        Op::Refresh => respond(tokens::refresh(req).await),
        Op::Introspect => respond(tokens::introspect(req).await),
        Op::Jwks => tokens::jwks(&req),
        Op::OpenApi => openapi::document(),
        Op::Backup => respond(backup::backup(req).await),
        Op::Scrape => respond(metrics::scrape(req).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn label(path: &str) -> Option<&'static str> {
        find(path).map(|m| m.spec.template)
    }

    #[test]
    fn the_openapi_document_lists_exactly_the_tables_paths_and_methods() {
        const OPERATIONS: [&str; 8] = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let doc: serde_json::Value = serde_json::from_str(openapi::DOCUMENT).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let templates: BTreeSet<&str> = ROUTES.iter().map(|r| r.template).collect();
        assert_eq!(
            templates.len(),
            ROUTES.len(),
            "a template is declared twice"
        );
        assert_eq!(paths.len(), ROUTES.len(), "the document has other paths");
        for route in ROUTES {
            let item = paths.get(route.template).and_then(|i| i.as_object());
            let documented: BTreeSet<String> = item
                .unwrap_or_else(|| panic!("{} is not in the document", route.template))
                .keys()
                .filter(|k| OPERATIONS.contains(&k.as_str()))
                .map(|m| m.to_uppercase())
                .collect();
            let declared: BTreeSet<String> = route.method_names().map(str::to_owned).collect();
            assert_eq!(documented, declared, "{}", route.template);
        }
    }

    #[test]
    fn allow_lists_the_methods_in_order() {
        for route in ROUTES {
            let joined: Vec<&str> = route.method_names().collect();
            assert_eq!(route.allow, joined.join(", "), "{}", route.template);
        }
    }

    #[test]
    fn every_template_matches_itself_and_no_other() {
        for (i, route) in ROUTES.iter().enumerate() {
            let path = route.template.replace("{id}", "1");
            assert_eq!(find(&path).map(|m| m.index), Some(i), "{path}");
        }
    }

    #[test]
    fn paths_map_to_their_templates_and_ids() {
        assert_eq!(label("/api/users/42"), Some("/api/users/{id}"));
        assert_eq!(find("/api/users/42/tokens").map(|m| m.id), Some(42));
        assert_eq!(label("/api/tokens/refresh"), Some("/api/tokens/refresh"));
        assert_eq!(label("/api/tokens/9"), Some("/api/tokens/{id}"));
        // warp's path filters took one trailing slash, and so does the table.
        assert_eq!(label("/api/users/"), Some("/api/users"));
        assert_eq!(label("/api/users/7/"), Some("/api/users/{id}"));
        for path in [
            "",
            "/",
            "//",
            "/api/users//",
            "/api//users",
            "/api/users/alice",
            "/api/users/1/2/3/4",
            "/api/users/99999999999999999999999",
            "/api/users/-1",
            "/api/%75sers",
            "/wp-login.php",
            "/api/tokens/lk_secret",
            "*",
        ] {
            assert_eq!(label(path), None, "{path}");
        }
    }

    #[test]
    fn metrics_are_served_where_they_are_scraped() {
        let on_main = Listener::Main { scrape: true };
        let off = Listener::Main { scrape: false };
        assert!(on_main.find("/metrics").is_some());
        assert!(off.find("/metrics").is_none());
        assert!(Listener::Metrics.find("/metrics").is_some());
        assert!(Listener::Metrics.find("/api/resource").is_none());
        assert!(off.find("/api/resource").is_some());
    }
}
