//! Micro-benchmarks of the bearer-token hot path and the record codec.
//!
//! ```text
//! cargo bench --bench token_check
//! ```
//!
//! `check/*` measures what `GET /api/resource` does per request before the
//! handler: parse the Authorization header, digest the token, look it up,
//! decode its record, then read and decode its user. `codec/*` measures the
//! stored records' encode and decode alone.

// A benchmark may panic on setup failure; criterion's macros make undocumented pub items.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::auth::Credentials;
use latchkey::auth::secret;
use latchkey::http::parse_credentials;
use latchkey::model::{
    Role, SecretDigest, TokenId, TokenKind, TokenRecord, User, UserId, Username,
};
use latchkey::store::{SeedUser, Settings, Store, codec};
use std::hint::black_box;
use warp::http::{HeaderMap, HeaderValue, header};

const USERS: u64 = 1000;

fn user(n: u64) -> User {
    User {
        id: UserId(n),
        username: Username::parse(&format!("user{n}")).unwrap(),
        email: None,
        password_hash: "$scrypt$ln=15,r=8,p=3$bGF0Y2hrZXktYmVuY2ghIQ$\
                        5qeDCsZyq3x5V0hOmRqZjJ5Q7m2o3dM0f8zN1YxW9cE"
            .into(),
        created_at: 1_700_000_000,
        role: Role::User,
        disabled: false,
        confirmed: true,
    }
}

fn record() -> TokenRecord {
    TokenRecord {
        id: TokenId(7),
        kind: TokenKind::Access,
        user_id: UserId(3),
        created_at: 1_700_000_000,
        expires_at: 1_700_003_600,
    }
}

/// A store of `USERS` users with one token each; returns a live token.
fn seeded(dir: &std::path::Path) -> (Store, String) {
    let store = Store::open(dir, &Settings::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tokens: Vec<_> = (0..USERS).map(|_| secret::generate().unwrap()).collect();
    let secret = tokens[USERS as usize / 2].secret.clone();
    let seeds = tokens.into_iter().enumerate().map(|(i, t)| SeedUser {
        user: user(i as u64 + 1),
        tokens: vec![(t.digest, i64::MAX / 2)],
    });
    let seeds: Vec<_> = seeds.collect();
    runtime.block_on(store.seed_bulk(seeds, 500)).unwrap();
    (store, secret)
}

/// Polls a store future once: the embedded store's reads finish without
/// waiting, so this measures the read, not a runtime.
fn now<T>(read: impl std::future::Future<Output = T>) -> T {
    let mut read = std::pin::pin!(read);
    match read
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("an embedded read waited"),
    }
}

fn check(store: &Store, headers: &HeaderMap) -> std::sync::Arc<User> {
    let Ok(Some(Credentials::Token(presented))) = parse_credentials(headers) else {
        panic!("not a token");
    };
    let digest: SecretDigest = secret::parse(&presented).unwrap();
    let record = now(store.token(&digest)).unwrap().unwrap();
    now(store.user(record.user_id)).unwrap().unwrap()
}

fn token_check(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (store, secret) = seeded(dir.path());
    let mut headers = HeaderMap::new();
    let bearer = HeaderValue::from_str(&format!("Bearer {secret}")).unwrap();
    headers.insert(header::AUTHORIZATION, bearer);

    c.bench_function("check/parse_header", |b| {
        b.iter(|| parse_credentials(black_box(&headers)).unwrap())
    });
    c.bench_function("check/digest", |b| {
        b.iter(|| secret::parse(black_box(&secret)).unwrap())
    });
    let digest = secret::parse(&secret).unwrap();
    c.bench_function("check/token_lookup_and_decode", |b| {
        b.iter(|| now(store.token(black_box(&digest))).unwrap().unwrap())
    });
    c.bench_function("check/user_lookup_and_decode", |b| {
        b.iter(|| {
            now(store.user(black_box(UserId(USERS / 2))))
                .unwrap()
                .unwrap()
        })
    });
    c.bench_function("check/whole", |b| {
        b.iter(|| check(&store, black_box(&headers)))
    });
}

fn codec_round_trips(c: &mut Criterion) {
    let (user, record) = (user(42), record());
    let user_bytes = codec::encode(&user).unwrap();
    let record_bytes = codec::encode(&record).unwrap();
    c.bench_function("codec/encode_token_record", |b| {
        b.iter(|| codec::encode(black_box(&record)).unwrap())
    });
    c.bench_function("codec/decode_token_record", |b| {
        b.iter(|| codec::decode::<TokenRecord>(black_box(&record_bytes)).unwrap())
    });
    c.bench_function("codec/encode_user", |b| {
        b.iter(|| codec::encode(black_box(&user)).unwrap())
    });
    c.bench_function("codec/decode_user", |b| {
        b.iter(|| codec::decode::<User>(black_box(&user_bytes)).unwrap())
    });
}

criterion_group!(benches, token_check, codec_round_trips);
criterion_main!(benches);
