//! The practical ceiling for a protected request: warp 0.4 plus one sled
//! `get` on the bearer token, nothing else. `bench/run.sh` compares
//! latchkey's token check against it.
//!
//! ```text
//! cargo run --release --example ceiling -- --listen 127.0.0.1:0 --data-dir DIR --token TOKEN
//! ```
//!
//! Seeds `DIR` with `TOKEN` before serving and prints `listening on
//! http://ADDR` on stderr, as latchkey does.

use std::net::SocketAddr;
use std::path::PathBuf;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Reply;

struct Args {
    listen: SocketAddr,
    data_dir: PathBuf,
    token: String,
}

fn args() -> Result<Args, String> {
    let mut listen = None;
    let mut data_dir = None;
    let mut token = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| format!("--listen: {e}"))?),
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            "--token" => token = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        data_dir: data_dir.ok_or("--data-dir is required")?,
        token: token.unwrap_or_else(|| "lk_ceiling".to_owned()),
    })
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = args()?;
    let db = sled::Config::new()
        .path(&args.data_dir)
        .cache_capacity(64 * 1024 * 1024)
        .open()
        .map_err(|e| e.to_string())?;
    db.insert(args.token.as_bytes(), b"bench".as_slice())
        .map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    let route = warp::path!("api" / "resource")
        .and(warp::get())
        .and(warp::header::optional::<String>("authorization"))
        .map(move |auth: Option<String>| {
            let token = auth.as_deref().and_then(|a| a.strip_prefix("Bearer "));
            match token.map(|t| db.get(t.as_bytes())) {
                Some(Ok(Some(_))) => {
                    warp::reply::json(&serde_json::json!({ "data": "Hello, bench!" }))
                        .into_response()
                }
                _ => StatusCode::UNAUTHORIZED.into_response(),
            }
        });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("listening on http://{addr}");
    warp::serve(route).incoming(listener).run().await;
    Ok(())
}
