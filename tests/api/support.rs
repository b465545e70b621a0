//! The harness: a real latchkey server on `127.0.0.1:0` over a fresh temp
//! dir, spoken to through the shared client in `tests/common` (re-exported
//! here, and reached from a [`TestServer`] by `Deref`).

pub use crate::common::*;
use latchkey::ServeError;
use latchkey::config::Config;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and what keeps it alive.
pub struct TestServer {
    api: Api,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServeError>>>,
    // Dropped last: sled must be closed before the directory goes.
    dir: TempDir,
}

impl Deref for TestServer {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The test configuration: cheap scrypt, a free port, the given data dir.
fn test_config(dir: &TempDir) -> Config {
    let mut cfg = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    cfg.password.scrypt_log_n = 4;
    cfg.password.scrypt_r = 8;
    cfg.password.scrypt_p = 1;
    cfg
}

/// The client a [`TestServer`] sends with: no redirects followed, and a
/// bound on every request.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

impl TestServer {
    /// A server with the test configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server with the test configuration and one registered user
    /// holding a token: the opening of most token tests.
    pub async fn with_token(username: &str) -> (Self, String) {
        let app = Self::spawn().await;
        let token = app.register_and_issue_token(username).await;
        (app, token)
    }

    /// A server with the test configuration, adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_in(tempfile::tempdir().unwrap(), adjust).await
    }

    /// A server over an existing data dir (to reopen one after shutdown).
    pub async fn spawn_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut cfg = test_config(&dir);
        adjust(&mut cfg);
        // A reopen retries briefly: sled's own I/O threads can hold the
        // directory's lock for a moment after the last `Db` of a server
        // that shut down in this process is dropped (CI saw it once, on a
        // busy machine). A server of its own process never meets this.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let store = loop {
            match latchkey::open_store(&cfg) {
                Ok(store) => break store,
                Err(latchkey::ServeError::Locked { .. })
                    if std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot open the store: {e}"),
            }
        };
        Self::serve(cfg, store, dir).await
    }

    /// Serves `store` with `cfg` until [`TestServer::shutdown`].
    async fn serve(cfg: Config, store: latchkey::store::Store, dir: TempDir) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let (addr, handle) = latchkey::serve(cfg, store, shutdown).await.unwrap();
        Self {
            api: Api::new(addr, test_client()),
            shutdown: Some(tx),
            handle: Some(handle),
            dir,
        }
    }

    /// Shuts down gracefully, waits for the final flush, and hands back the
    /// data dir so a new server can open it.
    pub async fn shutdown(mut self) -> TempDir {
        // Close our idle keep-alive connections first.
        self.api.client = reqwest::Client::new();
        self.shutdown.take().unwrap().send(()).unwrap();
        let handle = self.handle.take().unwrap();
        let joined = tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .unwrap_or_else(|_| panic!("server did not shut down within 20 s"));
        joined.unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// A server whose store already holds the confirmed admin [`ADMIN`]
    /// (password [`PASSWORD`]): the HTTP API cannot make the first admin,
    /// so it is written before serving, the way the command line does.
    pub async fn spawn_with_admin(adjust: impl FnOnce(&mut latchkey::config::Config)) -> Self {
        use latchkey::auth::{Auth, NewAccount};
        use latchkey::model::{Email, Role, Username};
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(&dir);
        adjust(&mut cfg);
        let store = latchkey::open_store(&cfg).unwrap();
        let auth = Auth::new(store.clone(), cfg.auth_settings()).await.unwrap();
        auth.create_user(NewAccount {
            username: Username::parse(ADMIN).unwrap(),
            password: PASSWORD.to_owned(),
            email: Some(Email::parse(ADMIN_EMAIL).unwrap()),
            role: Role::Admin,
            confirmed: true,
        })
        .await
        .unwrap();
        drop(auth);
        Self::serve(cfg, store, dir).await
    }
}

/// A per-IP bucket of `burst` password checks, refilled `per_minute`.
pub fn password_checks_per_ip(burst: u32, per_minute: u32) -> impl Fn(&mut Config) {
    move |cfg| {
        cfg.throttle.ip_burst = burst;
        cfg.throttle.ip_per_minute = per_minute;
    }
}

/// `tokens.format = "jwt"`: a login opens a session, a signed access token
/// (JWS, EdDSA) plus an opaque refresh token.
pub fn jwt_mode(cfg: &mut latchkey::config::Config) {
    cfg.tokens.format = latchkey::config::TokenFormat::Jwt;
}
