//! A real nginx with `auth_request` in front of a small upstream, guarded by
//! latchkey's `/api/auth/verify`: the configuration the README shows.
//!
//! `.ci/run` installs nginx; off CI a missing nginx skips these tests, on CI
//! (`CI=true`) it fails them.

use crate::proxy::*;
use crate::support::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

/// The nginx configuration under test; the README's snippet is its
/// `location` blocks.
const NGINX_CONF: &str = r#"
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {
        listen 127.0.0.1:{port};

        location = /_latchkey {
            internal;
            proxy_pass http://{latchkey}/api/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
        location = /_latchkey_admin {
            internal;
            proxy_pass http://{latchkey}/api/auth/verify?role=admin;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        location / {
            auth_request /_latchkey;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            auth_request_set $auth_user_id $upstream_http_x_auth_user_id;
            auth_request_set $auth_role $upstream_http_x_auth_role;
            proxy_set_header X-Auth-User $auth_user;
            proxy_set_header X-Auth-User-Id $auth_user_id;
            proxy_set_header X-Auth-Role $auth_role;
            proxy_pass http://{upstream};
        }
        location /admin/ {
            auth_request /_latchkey_admin;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            proxy_set_header X-Auth-User $auth_user;
            proxy_pass http://{upstream};
        }
    }
}
"#;

fn nginx_binary(test: &str) -> Option<PathBuf> {
    proxy_binary(
        "nginx",
        &["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"],
        test,
    )
}

/// nginx, stopped when dropped.
struct Nginx {
    proxy: Proxy,
    addr: SocketAddr,
}

impl Nginx {
    fn error_log(&self) -> String {
        self.proxy.log()
    }
}

async fn start_nginx(
    binary: &Path,
    dir: &Path,
    latchkey: SocketAddr,
    upstream: SocketAddr,
) -> Nginx {
    let addr = free_port();
    let conf = NGINX_CONF
        .replace("{dir}", &dir.display().to_string())
        .replace("{port}", &addr.port().to_string())
        .replace("{latchkey}", &latchkey.to_string())
        .replace("{upstream}", &upstream.to_string());
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.join("error.log");
    let mut command = Command::new(binary);
    command
        .arg("-e")
        .arg(&log)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Nginx {
        proxy: Proxy::start(command, &log, &[addr]).await,
        addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_passes_a_token_holder_through_with_user_headers_and_refuses_the_rest() {
    let Some(binary) = nginx_binary("nginx_auth_request") else {
        return;
    };
    let server = TestServer::spawn_with_admin(|_| {}).await;
    let registered = server.register("alice", PASSWORD).await;
    let token = server.token_for("alice", PASSWORD).await;
    let (upstream, hits) = start_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let nginx = start_nginx(&binary, dir.path(), server.addr, upstream).await;
    let proxy = Api::new(nginx.addr, test_client());

    // A token holder reaches the app, which learns who they are; a header
    // the client forged is overwritten. The app's own query string stays
    // out of the sub-request (latchkey refuses parameters it does not know).
    let resp = proxy
        .get_as("/app/page?q=boots&role=admin", &token)
        .header("x-auth-user", "mallory")
        .send()
        .await;
    assert_eq!(resp.status, 200, "nginx log:\n{}", nginx.error_log());
    let seen = resp.text();
    assert!(seen.contains("x-auth-user: alice\n"), "{seen}");
    assert!(!seen.contains("mallory"), "{seen}");
    assert!(
        seen.contains(&format!("x-auth-user-id: {}\n", id_of(&registered))),
        "{seen}"
    );
    assert!(seen.contains("x-auth-role: user\n"), "{seen}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // No credentials, a wrong token, a POST without credentials: refused
    // at the proxy, and the app never sees them. A POST with a token
    // passes: the sub-request keeps the method.
    proxy.get("/app/page").expect(401).await;
    proxy.get_as("/app/page", MADE_UP_TOKEN).expect(401).await;
    proxy.post("/app/form").body("x=1").expect(401).await;
    proxy
        .post_as("/app/form", &token)
        .body("x=1")
        .expect(200)
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // The admin area needs the admin role.
    proxy.get_as("/admin/panel", &token).expect(403).await;
    let admin_token = server.token_for(ADMIN, PASSWORD).await;
    let admin = proxy.get_as("/admin/panel", &admin_token).expect(200).await;
    assert!(admin.text().contains(&format!("x-auth-user: {ADMIN}\n")));
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Revocation counts at the proxy on the very next request.
    server.delete_as("/api/tokens", &token).expect(204).await;
    proxy.get_as("/app/page", &token).expect(401).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    drop(nginx);
}
