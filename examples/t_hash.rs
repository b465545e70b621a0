//! t_hash: the single-thread time of one scrypt password verification at
//! the parameters the server would use (defaults, `config.toml` in the
//! current directory, `LATCHKEY_PASSWORD__*` variables), with the scrypt
//! crate the server uses. The login and registration targets of
//! `bench/run.sh` are `max_concurrent_hashes / t_hash`.
//!
//! ```text
//! cargo run --release --example t_hash -- [RUNS]    # prints seconds per verify
//! ```

use latchkey::config::{Config, ConfigFile, Overrides};
use scrypt::password_hash::phc::PasswordHash;
use scrypt::password_hash::{CustomizedPasswordHasher, PasswordVerifier};
use scrypt::{Params, Scrypt};
use std::time::Instant;

fn main() -> Result<(), String> {
    let runs: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("RUNS: {e}"))?,
        None => 10,
    };
    let config =
        Config::load(&ConfigFile::Default, &Overrides::default()).map_err(|e| e.to_string())?;
    let p = &config.password;
    let params = Params::new(p.scrypt_log_n, p.scrypt_r, p.scrypt_p).map_err(|e| e.to_string())?;
    let password = b"bench correct horse";
    let stored = Scrypt::new_with_params(params)
        .hash_password_customized(password, b"0123456789abcdef", None, None, params)
        .map_err(|e| e.to_string())?
        .to_string();
    let hash = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
    let start = Instant::now();
    for _ in 0..runs {
        Scrypt::default()
            .verify_password(password, &hash)
            .map_err(|e| e.to_string())?;
    }
    let each = start.elapsed().as_secs_f64() / f64::from(runs.max(1));
    let pool = match p.max_concurrent_hashes {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let memory = (128 * u64::from(p.scrypt_r)) << p.scrypt_log_n;
    println!(
        "t_hash {each:.6} s  (log_n={} r={} p={}, {runs} runs)  pool {pool}  memory_per_hash {memory} bytes",
        p.scrypt_log_n, p.scrypt_r, p.scrypt_p
    );
    Ok(())
}
