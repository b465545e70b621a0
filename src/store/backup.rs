//! Backups: every tree, copied as raw bytes at one consistent cut, in one
//! self-checking file; and restoring such a file into an empty data dir.
//!
//! The copy decodes no record (that stays in `codec`), so a backup carries
//! whatever record versions the store holds, and any tree latchkey has ever
//! opened, `signing_keys` and `revoked_session_at` included.
//!
//! # Consistency
//!
//! sled 0.34 has no snapshots. Every write in this module tree holds the
//! store's `write_gate` shared for the length of its transaction; the copy
//! holds it exclusively. So a backup holds every transaction committed
//! before it whole, and none of those after it in part. Writes wait while
//! the trees are copied (into a temporary file, at disk speed), not while
//! the file is sent. Reads never wait. The in-memory mirror of
//! `revoked_session_at` is rebuilt from the tree when a store opens.
//!
//! # Format, version 1
//!
//! Integers are big-endian.
//!
//! ```text
//! magic        "LATCHKEY-BACKUP"                    15 bytes
//! version      u16 = 1
//! created_at   i64, Unix seconds, UTC
//! trees        u32, then for each tree, in name order:
//!   name       u32 length, then the name's bytes
//!   entries    u64, then for each entry, in key order:
//!     key      u32 length, then the key's bytes
//!     value    u32 length, then the value's bytes
//! checksum     SHA-256 of every byte before it      32 bytes
//! ```
//!
//! # Where the copy goes
//!
//! The trees are spooled to an unnamed temporary file in the data dir
//! (`O_TMPFILE` on Linux: it vanishes when closed, even on a crash), not to
//! memory: on a small host the store can be larger than the RAM to spare,
//! and the data dir is the one place latchkey may write.

use super::{Store, StoreError, StoreOptions, StoreResult};
use crate::model::{UnixTime, unix_now};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

/// The first bytes of every backup.
pub const MAGIC: &[u8; 15] = b"LATCHKEY-BACKUP";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the trailing SHA-256.
const CHECKSUM_LEN: usize = 32;
/// Entries restored per sled batch: bounds memory on large trees.
const BATCH_ENTRIES: usize = 4096;

/// A backup taken and spooled, ready to be read out. Reading yields the
/// whole backup file, checksum last; dropping it deletes the spool.
#[derive(Debug)]
pub struct Snapshot {
    spool: BufReader<File>,
    hasher: Sha256,
    /// The checksum and how much of it has been read, once the spool is done.
    tail: Option<([u8; CHECKSUM_LEN], usize)>,
    len: u64,
    created_at: UnixTime,
    trees: u64,
    entries: u64,
}

impl Snapshot {
    /// Bytes the whole backup file has, checksum included.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the backup is empty (it never is: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When the copy was taken.
    pub fn created_at(&self) -> UnixTime {
        self.created_at
    }

    /// Trees copied.
    pub fn trees(&self) -> u64 {
        self.trees
    }

    /// Key/value pairs copied, over all trees.
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

impl Read for Snapshot {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tail.is_none() {
            let n = self.spool.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.hasher.update(&buf[..n]);
                return Ok(n);
            }
            let digest: [u8; CHECKSUM_LEN] = std::mem::take(&mut self.hasher).finalize().into();
            self.tail = Some((digest, 0));
        }
        let Some((digest, sent)) = &mut self.tail else {
            return Ok(0);
        };
        let rest = digest.get(*sent..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        *sent += n;
        Ok(n)
    }
}

/// Why a backup could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target holds something already.
    #[error("{0} is not empty; restore only into an empty or missing data dir")]
    NotEmpty(PathBuf),
    /// The file is not a backup this build can read, or is damaged.
    #[error("{0}")]
    Invalid(String),
    /// Reading the file or writing the new store failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The new store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The restored store fails the integrity walk; nothing was kept.
    #[error(
        "the restored store fails the integrity check with {} problem(s): {}",
        .0.len(),
        .0.join("; ")
    )]
    Inconsistent(Vec<String>),
}

/// What a restore put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// When the backup was taken.
    pub created_at: UnixTime,
    /// Trees restored.
    pub trees: u64,
    /// Key/value pairs restored.
    pub entries: u64,
    /// Users, as the integrity walk counted them.
    pub users: u64,
    /// Tokens, as the integrity walk counted them.
    pub tokens: u64,
}

impl Store {
    /// Copies every tree at one consistent cut into a spool file and returns
    /// it, ready to read out. Blocking: run it off the async executor. Writes
    /// wait while the trees are copied; reads do not.
    pub fn snapshot(&self) -> StoreResult<Snapshot> {
        let spool = tempfile::tempfile_in(&self.inner.dir).map_err(StoreError::Spool)?;
        let mut out = BufWriter::with_capacity(256 * 1024, spool);
        let created_at = unix_now();
        let mut names = self.inner.db.tree_names();
        names.sort();
        let mut header = || -> io::Result<()> {
            out.write_all(MAGIC)?;
            out.write_all(&VERSION.to_be_bytes())?;
            out.write_all(&created_at.to_be_bytes())?;
            out.write_all(&len_u32(names.len())?.to_be_bytes())
        };
        header().map_err(StoreError::Spool)?;
        // Where each tree's entry count goes, and the count: patched in
        // once the copy is done, so each tree is walked only once.
        let mut counts = Vec::with_capacity(names.len());
        {
            let _gate = self
                .inner
                .write_gate
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for name in &names {
                let tree = self.inner.db.open_tree(name)?;
                let spool = |out: &mut BufWriter<File>, bytes: &[u8]| -> StoreResult<()> {
                    let len = len_u32(bytes.len()).map_err(StoreError::Spool)?;
                    out.write_all(&len.to_be_bytes())
                        .and_then(|()| out.write_all(bytes))
                        .map_err(StoreError::Spool)
                };
                spool(&mut out, name)?;
                let at = out.stream_position().map_err(StoreError::Spool)?;
                out.write_all(&0u64.to_be_bytes())
                    .map_err(StoreError::Spool)?;
                let mut entries = 0u64;
                for entry in tree.iter() {
                    let (key, value) = entry?;
                    spool(&mut out, &key)?;
                    spool(&mut out, &value)?;
                    entries += 1;
                }
                counts.push((at, entries));
            }
        }
        let mut file = out
            .into_inner()
            .map_err(|e| StoreError::Spool(e.into_error()))?;
        let patch = |file: &mut File| -> io::Result<u64> {
            for (at, entries) in &counts {
                file.seek(SeekFrom::Start(*at))?;
                file.write_all(&entries.to_be_bytes())?;
            }
            let body = file.seek(SeekFrom::End(0))?;
            file.seek(SeekFrom::Start(0))?;
            Ok(body)
        };
        let body = patch(&mut file).map_err(StoreError::Spool)?;
        Ok(Snapshot {
            spool: BufReader::with_capacity(64 * 1024, file),
            hasher: Sha256::new(),
            tail: None,
            len: body + CHECKSUM_LEN as u64,
            created_at,
            trees: names.len() as u64,
            entries: counts.iter().map(|(_, n)| n).sum(),
        })
    }

    /// Restores the backup read from `source` into `target`, which must be
    /// missing or an empty directory. The store is built in a temporary
    /// directory beside `target`, made durable, walked by the integrity
    /// check, and only then renamed into place; a damaged or truncated file,
    /// or any failure on the way, leaves `target` as it was and nothing
    /// beside it.
    pub fn restore(
        source: impl Read,
        target: &Path,
        options: &StoreOptions,
    ) -> Result<Restored, BackupError> {
        if !is_empty_or_missing(target)? {
            return Err(BackupError::NotEmpty(target.to_path_buf()));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        // Dropped (and deleted) on every early return below. Private from
        // the start: it becomes the data dir.
        let prefix = format!(".{name}.restore-");
        let mut staging = tempfile::Builder::new();
        staging.prefix(&prefix);
        #[cfg(unix)]
        staging.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let staging = staging.tempdir_in(&parent).map_err(io_error(format!(
            "creating a directory in {}",
            parent.display()
        )))?;
        let restored = {
            let store = Store::open(staging.path(), options)?;
            let restored = store.load(source)?;
            store.flush_blocking()?;
            let report = store.check()?;
            if !report.is_ok() {
                return Err(BackupError::Inconsistent(report.problems));
            }
            Restored {
                users: report.users,
                tokens: report.tokens,
                ..restored
            }
            // The store closes here, releasing sled's lock on the directory.
        };
        let staged = staging.keep();
        if let Err(e) = std::fs::rename(&staged, target) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(BackupError::Io {
                what: format!("moving the restored store to {}", target.display()),
                source: e,
            });
        }
        // The rename itself must survive a power loss.
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(io_error(format!("syncing {}", parent.display())))?;
        Ok(restored)
    }

    /// Reads a whole backup into this (empty) store, verifying the checksum
    /// at the end. The caller discards the store if this fails.
    fn load(&self, source: impl Read) -> Result<Restored, BackupError> {
        let mut input = Hashing {
            inner: BufReader::with_capacity(64 * 1024, source),
            hasher: Sha256::new(),
        };
        let mut magic = [0u8; MAGIC.len()];
        read_exact(&mut input, &mut magic)?;
        if &magic != MAGIC {
            return Err(BackupError::Invalid(
                "this is not a latchkey backup (wrong magic bytes)".into(),
            ));
        }
        let version = u16::from_be_bytes(read_array(&mut input)?);
        if version != VERSION {
            return Err(BackupError::Invalid(format!(
                "backup format version {version} is not supported; this build reads version {VERSION}"
            )));
        }
        let created_at = i64::from_be_bytes(read_array(&mut input)?);
        let trees = u32::from_be_bytes(read_array(&mut input)?);
        let mut entries = 0u64;
        for _ in 0..trees {
            let name = read_bytes(&mut input)?;
            let tree = self.inner.db.open_tree(&name).map_err(StoreError::from)?;
            let count = u64::from_be_bytes(read_array(&mut input)?);
            let mut batch = sled::Batch::default();
            let mut batched = 0;
            for _ in 0..count {
                let key = read_bytes(&mut input)?;
                let value = read_bytes(&mut input)?;
                batch.insert(key, value);
                batched += 1;
                if batched == BATCH_ENTRIES {
                    tree.apply_batch(std::mem::take(&mut batch))
                        .map_err(StoreError::from)?;
                    batched = 0;
                }
            }
            tree.apply_batch(batch).map_err(StoreError::from)?;
            entries += count;
        }
        let computed: [u8; CHECKSUM_LEN] = input.hasher.finalize().into();
        let mut stored = [0u8; CHECKSUM_LEN];
        read_exact(&mut input.inner, &mut stored)?;
        if computed != stored {
            return Err(BackupError::Invalid(
                "the backup is corrupted: its checksum does not match its contents".into(),
            ));
        }
        let mut extra = [0u8; 1];
        if input
            .inner
            .read(&mut extra)
            .map_err(io_error("reading the backup"))?
            != 0
        {
            return Err(BackupError::Invalid(
                "the backup is corrupted: there are bytes after its checksum".into(),
            ));
        }
        Ok(Restored {
            created_at,
            trees: u64::from(trees),
            entries,
            users: 0,
            tokens: 0,
        })
    }
}

/// Whether `dir` does not exist or is an empty directory.
fn is_empty_or_missing(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(false),
        Err(e) => Err(BackupError::Io {
            what: format!("reading {}", dir.display()),
            source: e,
        }),
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// A length as the format's u32; a longer key or value cannot be stored.
fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::other("a key or value over 4 GiB"))
}

/// Passes reads through and hashes every byte read.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), BackupError> {
    input.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            BackupError::Invalid("the backup is truncated: it ends before its checksum".into())
        } else {
            BackupError::Io {
                what: "reading the backup".into(),
                source: e,
            }
        }
    })
}

fn read_array<const N: usize>(input: &mut impl Read) -> Result<[u8; N], BackupError> {
    let mut buf = [0u8; N];
    read_exact(input, &mut buf)?;
    Ok(buf)
}

/// A length-prefixed byte string. The buffer grows only as bytes arrive, so
/// a corrupted length cannot make it allocate more than the file holds.
fn read_bytes(input: &mut impl Read) -> Result<Vec<u8>, BackupError> {
    let len = u32::from_be_bytes(read_array(input)?);
    let mut bytes = Vec::new();
    let read = input
        .take(u64::from(len))
        .read_to_end(&mut bytes)
        .map_err(io_error("reading the backup"))?;
    if read != len as usize {
        return Err(BackupError::Invalid(
            "the backup is truncated: it ends before its checksum".into(),
        ));
    }
    Ok(bytes)
}
