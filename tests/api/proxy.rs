//! What the tests of a real reverse proxy share (`nginx.rs`, `caddy.rs`):
//! finding the proxy's binary, free ports, the running process, and the app
//! it guards.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The first of `candidates` that exists. `.ci/run` installs every proxy
/// these tests run, so only off CI does a missing one skip the test (and
/// say so); under `CI=true` it fails it.
pub fn proxy_binary(name: &str, candidates: &[&str], test: &str) -> Option<PathBuf> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {name} is not installed: apt-get install {name}"
        );
        eprintln!("SKIPPED {test}: {name} is not installed (it is required when CI=true)");
    }
    found
}

/// A port of 127.0.0.1 that was free a moment ago: proxies take their
/// ports from a configuration file, not from a listener we could hand over.
pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A proxy process, killed when dropped, with the file it logs to.
pub struct Proxy {
    child: Child,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Spawns `command` and waits until every address in `listening`
    /// accepts connections; panics with the log if that takes over 20 s
    /// (generous: the whole suite may be keeping both cores busy).
    pub async fn start(mut command: Command, log: &Path, listening: &[SocketAddr]) -> Self {
        let mut proxy = Self {
            child: command.spawn().unwrap(),
            log: log.to_path_buf(),
        };
        for _ in 0..400 {
            let mut ready = true;
            for addr in listening {
                ready &= tokio::net::TcpStream::connect(addr).await.is_ok();
            }
            if ready {
                return proxy;
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("{command:?} exited ({status}); its log:\n{}", proxy.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{command:?} did not start; its log:\n{}", proxy.log());
    }

    /// What the proxy has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// An upstream app that answers every request with the auth headers it was
/// given, one per line, and counts the requests that reach it.
pub async fn start_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let body: String = head
                    .lines()
                    .filter(|l| l.starts_with("x-auth-"))
                    .map(|l| format!("{}\n", l.trim()))
                    .collect();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}
