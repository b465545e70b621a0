//! seed: fills a fresh data dir with users and live access tokens through
//! `Store::seed_bulk`, for `bench/run.sh`.
//!
//! ```text
//! cargo run --release --example seed -- --data-dir DIR --users N [--tokens N]
//!     [--tokens-out FILE --tokens-out-count N]
//! ```
//!
//! Users are `user1` .. `userN`, all with the password `bench correct horse`
//! hashed once at the configured scrypt parameters (so a login needs no
//! rehash). Token `i` (1-based) belongs to user `(i - 1) % N + 1`; the first
//! `--tokens-out-count` tokens are written to `--tokens-out`, one a line.
//! Tokens are derived from their index, not random: fine for a benchmark,
//! never for real accounts. Prints the time taken and the raw bytes stored
//! (key plus value lengths over every tree).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey::config::{Config, ConfigFile, Overrides};
use latchkey::model::{Role, SecretDigest, User, UserId, Username, unix_now};
use latchkey::store::{SeedUser, Settings, Store};
use scrypt::password_hash::CustomizedPasswordHasher;
use scrypt::{Params, Scrypt};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// The password every seeded user has.
const PASSWORD: &str = "bench correct horse";

#[derive(Default)]
struct Args {
    data_dir: Option<PathBuf>,
    users: u64,
    tokens: u64,
    tokens_out: Option<PathBuf>,
    tokens_out_count: u64,
}

fn args() -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--data-dir" => a.data_dir = Some(PathBuf::from(&value)),
            "--users" => a.users = num()?,
            "--tokens" => a.tokens = num()?,
            "--tokens-out" => a.tokens_out = Some(PathBuf::from(&value)),
            "--tokens-out-count" => a.tokens_out_count = num()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.users == 0 {
        return Err("--users must be at least 1".into());
    }
    Ok(a)
}

/// Token `i`: `lk_` + base64url(SHA-256("latchkey bench token" ++ i)).
fn token(i: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"latchkey bench token");
    h.update(i.to_be_bytes());
    format!("lk_{}", URL_SAFE_NO_PAD.encode(h.finalize()))
}

fn digest(token: &str) -> SecretDigest {
    SecretDigest(Sha256::digest(token.as_bytes()).into())
}

fn main() -> Result<(), String> {
    let a = args()?;
    let dir = a.data_dir.clone().ok_or("--data-dir is required")?;
    let config =
        Config::load(&ConfigFile::Default, &Overrides::default()).map_err(|e| e.to_string())?;
    let p = &config.password;
    let params = Params::new(p.scrypt_log_n, p.scrypt_r, p.scrypt_p).map_err(|e| e.to_string())?;
    let hash = Scrypt::new_with_params(params)
        .hash_password_customized(PASSWORD.as_bytes(), b"latchkey-bench!!", None, None, params)
        .map_err(|e| e.to_string())?
        .to_string();

    if let Some(path) = &a.tokens_out {
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
        for i in 1..=a.tokens_out_count.min(a.tokens) {
            writeln!(out, "{}", token(i)).map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
    }

    let start = Instant::now();
    let store = Store::open(
        &dir,
        &Settings {
            // A cache larger than the server's: random-key inserts into
            // trees bigger than the cache would re-read pages from disk.
            cache_capacity_mb: 1024,
        },
    )
    .map_err(|e| e.to_string())?;
    let now = unix_now();
    let expires_at = now + 30 * 24 * 3600;
    let (users, tokens) = (a.users, a.tokens);
    let seeds = (1..=users).map(move |u| {
        // Tokens u, u + N, u + 2N, ... belong to user u.
        let tokens = (u..=tokens)
            .step_by(usize::try_from(users).unwrap_or(usize::MAX))
            .map(|i| (digest(&token(i)), expires_at))
            .collect();
        SeedUser {
            user: User {
                id: UserId(0),
                username: Username::parse(&format!("user{u}")).unwrap_or_else(|_| unreachable!()),
                email: None,
                password_hash: hash.clone(),
                created_at: now,
                role: Role::User,
                disabled: false,
                confirmed: true,
            },
            tokens,
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let report = runtime.block_on(async {
        let report = store.seed_bulk(seeds, 20_000).await?;
        store.flush().await?;
        Ok::<_, latchkey::store::StoreError>(report)
    });
    let report = report.map_err(|e| e.to_string())?;
    let seeded = start.elapsed();
    drop(store);

    // sled's own threads may hold the directory lock a moment after the
    // store is dropped.
    let mut attempts = 0;
    let db = loop {
        match sled::open(&dir) {
            Ok(db) => break db,
            Err(_) if attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut raw = 0u64;
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(|e| e.to_string())?;
        for entry in tree.iter() {
            let (k, v) = entry.map_err(|e| e.to_string())?;
            raw += (k.len() + v.len()) as u64;
        }
    }
    println!(
        "seeded {} users, {} tokens in {:.1} s; raw_bytes {raw}",
        report.users,
        report.tokens,
        seeded.as_secs_f64()
    );
    Ok(())
}
