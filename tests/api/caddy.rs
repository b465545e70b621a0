//! A real Caddy with `forward_auth` in front of a small upstream, guarded by
//! latchkey's `/api/auth/verify`: the README's Caddyfile, word for word but
//! for its addresses.
//!
//! `.ci/run` installs Debian's caddy; off CI a missing caddy skips these
//! tests, on CI (`CI=true`) it fails them.

use crate::proxy::*;
use crate::support::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

/// The README's Caddy snippet, its addresses as the README writes them;
/// [`start_caddy`] swaps in the test's own.
const CADDY_SITE: &str = r#"app.example.com {
    # route runs its directives in the order written. Outside one, Caddy
    # runs request_header after forward_auth, which would delete the
    # headers forward_auth has just copied from latchkey's answer.
    route {
        # The client's own X-Auth-* go first, whatever their name.
        request_header -X-Auth-*
        forward_auth 127.0.0.1:8080 {
            uri /api/auth/verify?   # ?role=admin for admin areas
            copy_headers X-Auth-User X-Auth-User-Id X-Auth-Role
        }
        reverse_proxy 127.0.0.1:3000
    }
}
"#;

/// What the test adds in front of the snippet: parallel tests would all
/// want the admin endpoint's fixed port, and Caddy binds every interface
/// unless told otherwise.
const CADDY_GLOBAL: &str = "{\n    admin off\n    default_bind 127.0.0.1\n}\n";

/// Caddy serving the README's site twice: as written (`app`), and as an
/// admin area with `?role=admin` in its `uri` (`admin`).
struct Caddy {
    proxy: Proxy,
    app: SocketAddr,
    admin: SocketAddr,
}

fn caddy_binary(test: &str) -> Option<PathBuf> {
    proxy_binary("caddy", &["/usr/bin/caddy", "/usr/local/bin/caddy"], test)
}

/// The README's site with the test's addresses.
fn site(at: SocketAddr, latchkey: SocketAddr, upstream: SocketAddr, admin_area: bool) -> String {
    let site = CADDY_SITE
        .replace("app.example.com", &format!("http://{at}"))
        .replace("127.0.0.1:8080", &latchkey.to_string())
        .replace("127.0.0.1:3000", &upstream.to_string());
    if admin_area {
        site.replace("uri /api/auth/verify?", "uri /api/auth/verify?role=admin")
    } else {
        site
    }
}

async fn start_caddy(
    binary: &Path,
    dir: &Path,
    latchkey: SocketAddr,
    upstream: SocketAddr,
) -> Caddy {
    let (app, admin) = (free_port(), free_port());
    let caddyfile = format!(
        "{CADDY_GLOBAL}{}{}",
        site(app, latchkey, upstream, false),
        site(admin, latchkey, upstream, true)
    );
    let path = dir.join("Caddyfile");
    std::fs::write(&path, caddyfile).unwrap();
    let log = dir.join("caddy.log");
    let mut command = Command::new(binary);
    // Caddy keeps its autosaved config and certificate storage under
    // these; a test's own dir keeps it off the machine's.
    command
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    Caddy {
        proxy: Proxy::start(command, &log, &[app, admin]).await,
        app,
        admin,
    }
}

/// latchkey with `alice` (a user) and its admin, an upstream, and Caddy in
/// front; the temp dir must outlive Caddy.
struct Setup {
    server: TestServer,
    alice: u64,
    token: String,
    upstream: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    caddy: Caddy,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(test: &str) -> Option<Self> {
        let binary = caddy_binary(test)?;
        let server = TestServer::spawn_with_admin(|_| {}).await;
        let alice = id_of(&server.register("alice", PASSWORD).await);
        let token = server.token_for("alice", PASSWORD).await;
        let (upstream_addr, upstream) = start_upstream().await;
        let dir = tempfile::tempdir().unwrap();
        let caddy = start_caddy(&binary, dir.path(), server.addr, upstream_addr).await;
        Some(Self {
            server,
            alice,
            token,
            upstream,
            caddy,
            _dir: dir,
        })
    }

    /// How many requests reached the app.
    fn hits(&self) -> usize {
        self.upstream.load(Ordering::SeqCst)
    }

    fn app(&self, path: &str) -> Req {
        self.server
            .get_url(&format!("http://{}{path}", self.caddy.app))
    }

    fn admin(&self, path: &str) -> Req {
        self.server
            .get_url(&format!("http://{}{path}", self.caddy.admin))
    }

    /// Asserts `resp` reached the app, and returns the auth headers the app
    /// was given as sorted `name: value` lines.
    #[track_caller]
    fn seen_by_app(&self, resp: Resp) -> Vec<String> {
        assert_eq!(resp.status, 200, "caddy log:\n{}", self.caddy.proxy.log());
        let mut lines: Vec<String> = resp.text().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    /// Sends `req` and asserts Caddy answers it with latchkey's problem
    /// while the app never sees it.
    async fn assert_refused(&self, req: Req, status: u16, code: &str) {
        let before = self.hits();
        req.expect_problem(status, code).await;
        assert_eq!(self.hits(), before, "a refused request reached the app");
    }

    /// What latchkey says of `alice`, as [`Self::seen_by_app`] shows it.
    fn alice_headers(&self) -> Vec<String> {
        let mut lines = vec![
            "x-auth-user: alice".to_owned(),
            format!("x-auth-user-id: {}", self.alice),
            "x-auth-role: user".to_owned(),
        ];
        lines.sort();
        lines
    }
}

/// `req` with what a client forges: another identity, the admin role twice
/// over, and a header of latchkey's prefix that latchkey never answers with.
fn forged(req: Req) -> Req {
    req.header("X-Auth-User", ADMIN)
        .header("X-Auth-User-Id", "1")
        .header("X-Auth-Role", "admin")
        .header("x-auth-role", "admin")
        .header("X-Auth-Groups", "admins")
}

#[test]
fn the_readme_shows_the_caddyfile_these_tests_run() {
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    assert!(
        readme.contains(&format!("```caddy\n{CADDY_SITE}```\n")),
        "README.md's Caddy snippet differs from tests/api/caddy.rs's CADDY_SITE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_without_a_token_answers_401_with_latchkeys_challenges_and_the_app_never_sees_it() {
    let Some(s) = Setup::start("caddy_without_a_token").await else {
        return;
    };
    // Each refusal is latchkey's own, challenges and problem alike: the
    // same request sent to latchkey directly gets the same answer.
    let wrong_token = MADE_UP_TOKEN;
    let cases = [
        (
            s.app("/app/page"),
            s.server.get("/api/auth/verify"),
            "invalid_credentials",
        ),
        (
            s.admin("/admin/panel"),
            s.server.get("/api/auth/verify"),
            "invalid_credentials",
        ),
        (
            s.app("/app/page").bearer(wrong_token),
            s.server.get_as("/api/auth/verify", wrong_token),
            "invalid_token",
        ),
    ];
    for (through_caddy, direct, code) in cases {
        let (refused, direct) = (through_caddy.send().await, direct.send().await);
        let challenges = direct.header_all("www-authenticate");
        assert!(!challenges.is_empty(), "{:?}", direct.headers);
        assert_eq!(refused.header_all("www-authenticate"), challenges);
        assert_eq!(refused.json(), direct.json());
        refused.assert_problem(401, code);
    }
    assert_eq!(s.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_passes_a_token_holder_through_with_x_auth_user_user_id_and_role_of_the_tokens_user()
{
    let Some(s) = Setup::start("caddy_passes_a_token_holder").await else {
        return;
    };
    let seen = s.seen_by_app(s.app("/app/page").bearer(&s.token).send().await);
    assert_eq!(seen, s.alice_headers());
    assert_eq!(s.hits(), 1);

    // Revoked at latchkey, refused at Caddy on the very next request.
    s.server
        .delete_as("/api/tokens", &s.token)
        .expect(204)
        .await;
    s.assert_refused(s.app("/app/page").bearer(&s.token), 401, "invalid_token")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_never_lets_a_clients_own_x_auth_headers_reach_the_app_with_or_without_a_token() {
    let Some(s) = Setup::start("caddy_forged_x_auth_headers").await else {
        return;
    };
    // With a token: latchkey's three headers replace the forged ones, and
    // the one latchkey never answers with is gone too.
    let seen = s.seen_by_app(forged(s.app("/app/page").bearer(&s.token)).send().await);
    assert_eq!(seen, s.alice_headers());
    assert_eq!(s.hits(), 1);

    // Without a token, or with a user's token at the admin area, the
    // forged identity gets no further than Caddy.
    s.assert_refused(forged(s.app("/app/page")), 401, "invalid_credentials")
        .await;
    s.assert_refused(forged(s.admin("/admin/panel")), 401, "invalid_credentials")
        .await;
    let user_at_admin = forged(s.admin("/admin/panel").bearer(&s.token));
    s.assert_refused(user_at_admin, 403, "insufficient_scope")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_with_role_admin_in_the_uri_refuses_a_user_with_403_and_passes_an_admin() {
    let Some(s) = Setup::start("caddy_role_admin").await else {
        return;
    };
    let user_at_admin = s.admin("/admin/panel").bearer(&s.token);
    s.assert_refused(user_at_admin, 403, "insufficient_scope")
        .await;

    let admin_token = s.server.token_for(ADMIN, PASSWORD).await;
    let seen = s.seen_by_app(s.admin("/admin/panel").bearer(&admin_token).send().await);
    assert!(seen.contains(&format!("x-auth-user: {ADMIN}")), "{seen:?}");
    assert!(seen.contains(&"x-auth-role: admin".to_owned()), "{seen:?}");
    assert_eq!(s.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_own_query_string_never_reaches_latchkey_through_caddy() {
    let Some(s) = Setup::start("caddy_app_query_string").await else {
        return;
    };
    // latchkey refuses parameters it does not know; the snippet's trailing
    // `?` keeps the app's own from being forwarded to it.
    let seen = s.seen_by_app(
        s.app("/app/search?q=boots&role=admin&page=2")
            .bearer(&s.token)
            .send()
            .await,
    );
    assert_eq!(seen, s.alice_headers());
    let user_at_admin = s.admin("/admin/panel?role=user").bearer(&s.token);
    s.assert_refused(user_at_admin, 403, "insufficient_scope")
        .await;
}
