//! Restoring a backup (format in `backup`) into an empty data dir: built
//! beside it, checked, and only then renamed into place.

use super::backup::{BATCH_ENTRIES, CHECKSUM_LEN, MAGIC, VERSION};
use super::{Settings, StoreError, Trees};
use crate::model::UnixTime;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

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

impl Trees {
    /// Restores the backup read from `source` into `target`, which must be
    /// missing or an empty directory. The store is built in a temporary
    /// directory beside `target`, made durable, walked by the integrity
    /// check, and only then renamed into place; a damaged or truncated file,
    /// or any failure on the way, leaves `target` as it was and nothing
    /// beside it.
    pub fn restore(
        source: impl Read,
        target: &Path,
        options: &Settings,
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
            let store = Trees::open(staging.path(), options)?;
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
