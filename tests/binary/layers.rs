//! The layer rules, read off the source tree: `http → auth → store`, and
//! only the composition root (`src/app/`, `main.rs`) knows them all. A failure names the file and line that broke a rule.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir` (relative to the crate root), in order.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "no Rust files under {dir}");
    files.sort();
    files
}

/// Fails listing every `file:line` under `dirs` that contains one of
/// `forbidden`, saying which rule it breaks.
#[track_caller]
fn assert_nowhere(dirs: &[&str], forbidden: &[&str], rule: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut breaches = Vec::new();
    for file in dirs.iter().flat_map(|dir| rust_files(dir)) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if let Some(found) = forbidden.iter().find(|f| line.contains(*f)) {
                let file = file.strip_prefix(root).unwrap_or(&file).display();
                breaches.push(format!("{file}:{}: `{found}`: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(breaches.is_empty(), "{rule}:\n{}", breaches.join("\n"));
}

#[test]
fn auth_and_http_never_import_the_entry_layer() {
    assert_nowhere(
        &["src/auth", "src/http"],
        &[
            "crate::app",
            "crate::config",
            "crate::ServeError",
            "crate::serve",
            "crate::open_store",
            "crate::cli",
            "crate::commands",
        ],
        "auth and http get their own settings and return their own errors; \
         the entry layer builds the one and maps the other",
    );
}

#[test]
fn auth_knows_nothing_of_warp() {
    assert_nowhere(
        &["src/auth"],
        &["use warp", "warp::"],
        "auth holds the use cases; HTTP is the http layer's",
    );
}

#[test]
fn only_the_sled_backend_names_sled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backend = root.join("src/store/sled");
    let mut breaches = Vec::new();
    for file in rust_files("src")
        .into_iter()
        .filter(|f| !f.starts_with(&backend))
    {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            // The seam names its backend module (`self::sled::SledStore`),
            // never the crate.
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("sled::") && !code.contains("self::sled::") {
                let file = file.strip_prefix(root).unwrap_or(&file).display();
                breaches.push(format!("{file}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        breaches.is_empty(),
        "sled stays inside src/store/sled; the seam's types are backend-neutral:\n{}",
        breaches.join("\n")
    );
}

#[test]
fn the_store_never_reaches_up_into_auth() {
    assert_nowhere(
        &["src/store"],
        &["crate::auth", "crate::http", "crate::app"],
        "dependencies point down: the store serves auth and never calls it",
    );
}
