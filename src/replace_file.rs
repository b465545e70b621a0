//! Writing a file so no reader ever sees half of it.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Writes `path` through a temporary file beside it: `write` fills it, then
/// it is synced, given `mode` (Unix), renamed over `path`, and the directory
/// is synced so the new name survives a power loss too. On any failure the
/// temporary file is removed and `path` is untouched.
pub(crate) fn replace_file(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(".latchkey-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
    #[cfg(not(unix))]
    let _ = mode;
    let mut staged = builder.tempfile_in(&dir)?;
    write(staged.as_file_mut())?;
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    File::open(&dir)?.sync_all()
}

/// The directory `path` is in; `.` for a bare file name.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_file(&path, 0o600, |f| io::Write::write_all(f, b"old")).unwrap();
        let err = replace_file(&path, 0o600, |_| Err(io::Error::other("boom")));
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o644] {
            let path = dir.path().join(format!("{mode:o}"));
            replace_file(&path, mode, |f| io::Write::write_all(f, b"x")).unwrap();
            let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode);
        }
    }
}
