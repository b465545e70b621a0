//! The data dir is private: made 0700 with every file in it 0600 whatever
//! the umask the binary starts with, by the server, `restore` and
//! `tls self-signed` alike; an existing dir open to others draws a warning.

use crate::support::{PASSWORD, Server, log_lines, run, workspace};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The umask an ordinary login shell has, which made the data dir 0755 and
/// its files 0644. Children inherit it. It is process-wide, but 022 is what
/// every other test here runs under anyway.
fn with_a_permissive_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
}

/// A path and its permission bits.
type Mode = (String, u32);

/// Every directory under (and including) `dir` with its mode, then every file.
fn modes_under(dir: &Path) -> (Vec<Mode>, Vec<Mode>) {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let entry = (
            path.display().to_string(),
            metadata.permissions().mode() & 0o777,
        );
        if metadata.is_dir() {
            dirs.push(entry);
            for child in std::fs::read_dir(&path).unwrap() {
                pending.push(child.unwrap().path());
            }
        } else {
            files.push(entry);
        }
    }
    (dirs, files)
}

/// Asserts `dir` and every directory in it are 0700 and every file 0600.
#[track_caller]
fn assert_private(dir: &Path) {
    let (dirs, files) = modes_under(dir);
    assert!(!files.is_empty(), "nothing in {}", dir.display());
    let open: Vec<String> = dirs
        .iter()
        .filter(|(_, mode)| *mode != 0o700)
        .chain(files.iter().filter(|(_, mode)| *mode != 0o600))
        .map(|(path, mode)| format!("{path} is {mode:o}"))
        .collect();
    assert!(open.is_empty(), "not private:\n{}", open.join("\n"));
}

/// A workspace whose stopped server, started under umask 022, holds alice
/// and a token of hers.
async fn a_store_made_under_umask_022() -> (tempfile::TempDir, std::path::PathBuf) {
    with_a_permissive_umask();
    let (tmp, data) = workspace();
    let server = Server::start(&data);
    server.register("alice", PASSWORD).await;
    server.token_for("alice", PASSWORD).await;
    server.stop();
    (tmp, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_its_files_are_private_under_umask_022() {
    let (_tmp, data) = a_store_made_under_umask_022().await;
    assert_private(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_data_dir_and_self_signed_tls_files_are_private_under_umask_022() {
    let (tmp, data) = a_store_made_under_umask_022().await;
    let file = tmp.path().join("latchkey.backup");
    run(&data, &["backup", file.to_str().unwrap()], None).ok();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let restored = tmp.path().join("restored");
    run(&restored, &["restore", file.to_str().unwrap()], None).ok();
    assert_private(&restored);
    run(
        &restored,
        &["tls", "self-signed", "--host", "localhost"],
        None,
    )
    .ok();
    for name in ["cert.pem", "key.pem"] {
        assert!(restored.join(name).exists(), "no {name}");
    }
    assert_private(&restored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_data_dir_open_to_others_draws_one_warning_naming_it() {
    let (_tmp, data) = workspace();
    Server::start(&data).stop();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = Server::start(&data).stop();
    let warnings = log_lines(&log, &["WARN", "data dir"]);
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains(data.to_str().unwrap()),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("755"), "{}", warnings[0]);
    // A private dir draws none.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let log = Server::start(&data).stop();
    assert!(!log.contains("open to group or others"), "{log}");
}
