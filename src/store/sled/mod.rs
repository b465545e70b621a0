//! The embedded backend: sled trees in the data dir.
//!
//! `Trees` is the only type that touches sled, and it is synchronous: the
//! seam's async face (`SledStore`, in `seam`) runs its writes on the
//! blocking pool and returns once they are durable.
//!
//! Each tree is named after the mapping it holds; its key format is written
//! beside it. Writes that span trees run in one sled transaction, so a crash
//! never leaves an index entry pointing at nothing. Transaction closures only
//! read and write trees: they may run more than once.

mod backup;
mod batch;
mod check;
pub mod codec;
mod codes;
mod counters;
mod durability;
mod keys;
mod refresh;
mod restore;
mod seam;
mod seed;
mod signing_keys;
mod skeletons;
mod sweep;
mod tokens;
mod user_cache;
mod users;

use super::{Conflict, Settings, StoreError, StoreResult, StoreStats};
use crate::model::{TokenId, UnixTime, UserId};
use codec::CodecError;
use durability::GroupCommit;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, Tree};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

pub use backup::Snapshot;
pub use check::CheckReport;
pub use restore::{BackupError, Restored};
pub use seam::SledStore;
pub use seed::{SeedReport, SeedUser};

// sled's errors stop here: an I/O failure keeps its `io::Error` (a full disk
// must stay recognisable), anything else is the engine's own complaint.
impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => Self::Io(io),
            other => Self::Engine(other.to_string()),
        }
    }
}

/// What a transaction closure aborts with: an expected conflict, or a fault.
type Abort = Result<Conflict, StoreError>;

// Let `?` on sled and codec errors inside transaction closures abort with a
// fault, while `abort(Ok(conflict))` reports an expected outcome.
impl From<StoreError> for ConflictableTransactionError<Abort> {
    fn from(e: StoreError) -> Self {
        ConflictableTransactionError::Abort(Err(e))
    }
}

impl From<CodecError> for ConflictableTransactionError<Abort> {
    fn from(e: CodecError) -> Self {
        ConflictableTransactionError::Abort(Err(e.into()))
    }
}

/// Turns a transaction's outcome into the nested result callers use:
/// expected conflicts inside, faults outside.
fn flatten<T>(outcome: Result<T, TransactionError<Abort>>) -> StoreResult<Result<T, Conflict>> {
    match outcome {
        Ok(v) => Ok(Ok(v)),
        Err(TransactionError::Abort(Ok(conflict))) => Ok(Err(conflict)),
        Err(TransactionError::Abort(Err(e))) => Err(e),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

/// The record stored under `key` in `tree`, decoded.
fn read<T: serde::de::DeserializeOwned>(tree: &Tree, key: &[u8]) -> StoreResult<Option<T>> {
    match tree.get(key)? {
        Some(value) => Ok(Some(codec::decode(&value)?)),
        None => Ok(None),
    }
}

/// The embedded database: users, their tokens, and the indexes between them.
/// Cheap to clone; all clones share one sled handle.
#[derive(Clone)]
pub struct Trees {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// user id (u64 BE) → `User`
    users: Tree,
    /// lowercased NFC username (UTF-8) → user id (u64 BE)
    user_id_by_name: Tree,
    /// lowercased NFC email (UTF-8) → user id (u64 BE)
    user_id_by_email: Tree,
    /// UTS #39 skeleton of the case-folded NFC username (UTF-8) → user ids
    /// (u64 BE each, concatenated in id order; more than one only for
    /// look-alike names registered before this index existed). Written in
    /// the same transactions as `users`; see `skeletons`.
    user_id_by_skeleton: Tree,
    /// SHA-256 of the token (32 bytes) → `TokenRecord`
    token_by_digest: Tree,
    /// user id (u64 BE) ++ token id (u64 BE) → SHA-256 of the token (32 bytes)
    tokens_by_user: Tree,
    /// expires_at (u64 BE seconds) ++ SHA-256 of the token → empty; lets the
    /// sweep find expired tokens with one range scan instead of a full walk.
    token_digest_by_expiry: Tree,
    /// counter name (UTF-8) → u64 BE; kept in the same transactions as the
    /// records they count, so `total_items` and the last-admin guard need no
    /// full scan.
    counters: Tree,
    /// SHA-256 of a single-use code (32 bytes) → `CodeRecord`
    code_by_digest: Tree,
    /// user id (u64 BE) ++ SHA-256 of the code → empty; finds a user's codes
    /// to replace or delete them with the user.
    codes_by_user: Tree,
    /// SHA-256 of a rotated-away refresh token → `SpentRefresh`; kept until
    /// it would have expired, to catch reuse.
    spent_refresh_by_digest: Tree,
    /// session id (u64 BE) → revoked at (u64 BE seconds); the sessions whose
    /// signed access tokens must be refused until they expire.
    revoked_session_at: Tree,
    /// key id (UTF-8) → `SigningKey`
    signing_keys: Tree,
    /// `revoked_session_at`, mirrored in memory so checking a signed token
    /// reads no tree.
    revoked_sessions: RwLock<HashMap<u64, UnixTime>>,
    /// `users`, partly mirrored in memory: a token check reads its user
    /// from here. Every write to `users` forgets what it changed.
    user_cache: user_cache::UserCache,
    /// Held across "list a user's tokens, then remove them in a transaction"
    /// and across every write that adds or replaces a token. sled
    /// transactions cannot scan, so without it a token issued (or a refresh
    /// rotated) between the scan and the commit would survive a password
    /// change, a disable or a "revoke all". Never held across an fsync.
    token_writes: Mutex<()>,
    /// Held across "list a user's codes, then bound them in a transaction"
    /// when a code is stored, for the same reason as `token_writes`.
    code_writes: Mutex<()>,
    /// Revocations (user, token id) queued to share one transaction (see
    /// `batch`); its writer thread holds `token_writes` while it runs one,
    /// then flushes it.
    revocations: batch::Batcher<(UserId, TokenId), StoreResult<bool>>,
    /// Every write to a tree holds this shared for the length of its
    /// transaction (or single-tree write); a backup holds it exclusively
    /// while it copies the trees, so no transaction is ever half in a
    /// backup. Reads never touch it. Taken innermost, after `token_writes`,
    /// and never twice on one thread: a waiting backup blocks new shared
    /// holders, so a nested shared lock could deadlock.
    write_gate: RwLock<()>,
    /// The data dir: backups spool into it, since it is the one place
    /// latchkey may write (systemd's `StateDirectory`).
    dir: PathBuf,
    group_commit: GroupCommit,
}

impl std::fmt::Debug for Trees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trees").finish_non_exhaustive()
    }
}

impl Trees {
    /// Opens (creating if needed) the store in `dir`. Fails if another
    /// process holds it: sled allows one process per directory.
    pub fn open(dir: &Path, options: &Settings) -> StoreResult<Self> {
        create_private_dir(dir).map_err(StoreError::Io)?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_capacity_bytes())
            // Group commit decides when to flush; sled's timer would only add
            // unsynchronized background writes.
            .flush_every_ms(None)
            .open()
            .map_err(held_or_failed)?;
        let group_commit = GroupCommit::start(db.clone(), dir).map_err(StoreError::Durability)?;
        let tree = |name: &str| db.open_tree(name);
        let revoked_session_at = tree("revoked_session_at")?;
        let (revocations, revocation_queue) = batch::channel();
        let store = Self {
            inner: Arc::new(Inner {
                users: tree("users")?,
                user_id_by_name: tree("user_id_by_name")?,
                user_id_by_email: tree("user_id_by_email")?,
                user_id_by_skeleton: tree("user_id_by_skeleton")?,
                token_by_digest: tree("token_by_digest")?,
                tokens_by_user: tree("tokens_by_user")?,
                token_digest_by_expiry: tree("token_digest_by_expiry")?,
                counters: tree("counters")?,
                code_by_digest: tree("code_by_digest")?,
                codes_by_user: tree("codes_by_user")?,
                spent_refresh_by_digest: tree("spent_refresh_by_digest")?,
                revoked_sessions: RwLock::new(load_revoked(&revoked_session_at)?),
                revoked_session_at,
                user_cache: user_cache::UserCache::default(),
                signing_keys: tree("signing_keys")?,
                token_writes: Mutex::new(()),
                code_writes: Mutex::new(()),
                revocations,
                write_gate: RwLock::new(()),
                dir: dir.to_path_buf(),
                group_commit,
                db,
            }),
        };
        // The writer holds the store weakly: dropping the last `Trees` drops
        // the queue's sender, which ends the thread.
        let weak = Arc::downgrade(&store.inner);
        revocation_queue
            .start("latchkey-revoke", move |requests| {
                weak.upgrade()
                    .map(|inner| Self { inner }.revoke_batch_durably(&requests))
                    .unwrap_or_default()
            })
            .map_err(StoreError::Durability)?;
        store.index_skeletons()?;
        Ok(store)
    }

    /// Waits until every write made before this call is on disk. Concurrent
    /// callers share one flush and fsync (group commit).
    pub async fn durable(&self) -> StoreResult<()> {
        self.inner
            .group_commit
            .wait()
            .await
            .map_err(StoreError::Durability)
    }

    /// Flushes and fsyncs from a blocking context (shutdown, command line).
    pub fn flush_blocking(&self) -> StoreResult<()> {
        self.inner
            .group_commit
            .flush_now()
            .map_err(StoreError::Durability)
    }

    /// Whether a session was revoked (its signed tokens must be refused).
    /// Reads memory only.
    pub fn is_session_revoked(&self, session: TokenId) -> bool {
        self.inner
            .revoked_sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&session.0)
    }

    /// Serializes token writes with token scans (see `token_writes`).
    fn token_writes(&self) -> MutexGuard<'_, ()> {
        self.inner
            .token_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds off a backup's copy for the length of one write; see
    /// `write_gate`. Hold it across the transaction only, never an fsync.
    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.inner
            .write_gate
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Mirrors sessions just committed as revoked.
    fn mark_revoked(&self, sessions: &[TokenId], at: UnixTime) {
        self.update_revoked(sessions, |set, s| {
            set.insert(s, at);
        });
    }

    /// Mirrors revoked-session entries just dropped from the tree.
    fn forget_revoked(&self, sessions: &[TokenId]) {
        self.update_revoked(sessions, |set, s| {
            set.remove(&s);
        });
    }

    fn update_revoked(
        &self,
        sessions: &[TokenId],
        apply: impl Fn(&mut HashMap<u64, UnixTime>, u64),
    ) {
        if sessions.is_empty() {
            return;
        }
        let mut set = self
            .inner
            .revoked_sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for s in sessions {
            apply(&mut set, s.0);
        }
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> StoreResult<u64> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// The figures a metrics scrape reports. Blocking: sled sizes its
    /// files with a directory walk.
    pub fn stats(&self) -> StoreResult<StoreStats> {
        Ok(StoreStats {
            size_on_disk: self.size_on_disk()?,
            users: self.user_count()?,
        })
    }
}

/// sled reports a directory held by another process only as text around
/// the OS error; this is the one place that reads it.
fn held_or_failed(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked
        }
        other => other.into(),
    }
}

/// Creates `dir` (and missing parents) accessible to its owner only, before
/// sled would create it with the process's umask; an existing one is left
/// as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Reads `revoked_session_at` into memory at open.
fn load_revoked(tree: &Tree) -> StoreResult<HashMap<u64, UnixTime>> {
    let mut set = HashMap::new();
    for entry in tree.iter() {
        let (sid, at) = entry?;
        let at = keys::read_time(&at, "revoked session time")?;
        set.insert(keys::read_u64(&sid, "revoked session id")?, at);
    }
    Ok(set)
}

#[cfg(test)]
mod tests;
