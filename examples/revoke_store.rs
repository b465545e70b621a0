//! revoke_store: bench case 6 without HTTP. Revocations go straight to
//! latchkey's `Store` from tasks on a two-worker tokio runtime, as the
//! server's handlers make them: each looks its token up (the token check),
//! then awaits `revoke_token_of`, which answers once the revocation is on
//! disk. One client first, then `--clients` at once, on one store; prints
//! both rates and their ratio. It tells how much of case 6's ratio the store
//! and its group commit allow before any HTTP work is added.
//!
//! ```text
//! cargo run --release --example revoke_store -- --data-dir DIR --tokens FILE [--clients 64] [--seconds 5]
//! ```
//!
//! `DIR` is a store seeded by the `seed` example and `FILE` its tokens, one
//! a line. As in `bench/run.sh`, a two-second warm-up that is not measured
//! takes the first tenth (sled's first reads of a fresh store are slow), the
//! single client the next tenth, and the others the rest.

use latchkey::store::{Settings, Store};
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Args {
    data_dir: PathBuf,
    tokens: PathBuf,
    clients: usize,
    seconds: u64,
}

fn args() -> Result<Args, String> {
    let (mut data_dir, mut tokens, mut clients, mut seconds) = (None, None, 64usize, 5u64);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value)),
            "--tokens" => tokens = Some(PathBuf::from(value)),
            "--clients" => clients = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            "--seconds" => seconds = value.parse().map_err(|e| format!("{flag}: {e}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        data_dir: data_dir.ok_or("--data-dir is required")?,
        tokens: tokens.ok_or("--tokens is required")?,
        clients: clients.max(1),
        seconds,
    })
}

/// Revocations per second by `clients` tasks, each revoking its share of
/// `tokens` one after another until `seconds` are up, or its share is: the
/// rate is over the time until the last task stops. Any token that is not
/// found or not revoked is an error: a rate that quietly left some out
/// would not be the rate of anything.
async fn rate(
    store: &Store,
    tokens: &[String],
    clients: usize,
    seconds: u64,
) -> Result<f64, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let mine: Vec<String> = tokens.iter().skip(c).step_by(clients).cloned().collect();
            let store = store.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                for token in mine {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let digest = latchkey::auth::secret::parse(&token)
                        .ok_or_else(|| format!("not a token: {token:.12}..."))?;
                    let record = store
                        .token(&digest)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or("a token of the file is not in the store")?;
                    match store.revoke_token_of(record.user_id, record.id).await {
                        Ok(true) => done += 1,
                        Ok(false) => return Err("a token vanished before its revocation".into()),
                        Err(e) => return Err(format!("revocation failed: {e}")),
                    }
                }
                Ok::<u64, String>(done)
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.map_err(|e| e.to_string())??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<(), String> {
    let args = args()?;
    let tokens: Vec<String> = std::fs::read_to_string(&args.tokens)
        .map_err(|e| format!("{}: {e}", args.tokens.display()))?
        .lines()
        .map(str::to_owned)
        .collect();
    let tenth = tokens.len() / 10;
    let (warm_up, rest) = tokens.split_at(tenth);
    let (one, many) = rest.split_at(tenth);
    let store = Store::open(&args.data_dir, &Settings::default()).map_err(|e| e.to_string())?;
    // Two workers, as on the 2-core machines the bench targets.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| e.to_string())?;
    let (single, concurrent) = runtime.block_on(async {
        rate(&store, warm_up, 1, 2).await?;
        let single = rate(&store, one, 1, args.seconds).await?;
        let concurrent = rate(&store, many, args.clients, args.seconds).await?;
        Ok::<_, String>((single, concurrent))
    })?;
    println!(
        "store only: 1 client {single:.0}/s; {} clients {concurrent:.0}/s; {:.2}x",
        args.clients,
        concurrent / single
    );
    Ok(())
}
