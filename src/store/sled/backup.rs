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

use super::{StoreError, StoreResult, Trees};
use crate::model::{UnixTime, unix_now};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use std::sync::PoisonError;

/// The first bytes of every backup.
pub const MAGIC: &[u8; 15] = b"LATCHKEY-BACKUP";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the trailing SHA-256.
pub(super) const CHECKSUM_LEN: usize = 32;
/// Entries restored per sled batch: bounds memory on large trees.
pub(super) const BATCH_ENTRIES: usize = 4096;

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

impl Trees {
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
}

/// A length as the format's u32; a longer key or value cannot be stored.
fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::other("a key or value over 4 GiB"))
}
