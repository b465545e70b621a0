//! The admin commands: the same use cases the HTTP API runs, invoked by the
//! operator on a stopped server's data dir. They keep the same guards (the
//! password policy, the last admin, unique names).

use crate::auth::{Actor, Auth, AuthError, NewAccount, UserPatch};
use crate::cli::{KeysCommand, RoleArg, TlsCommand, TokenCommand, UserCommand};
use crate::config::Config;
use crate::model::{Email, Role, User, Username, rfc3339};
use crate::store::{BackupError, Store};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Runs an admin command to completion; the error is one line for stderr.
pub fn run(config: Config, command: AdminCommand, json: bool) -> Result<(), String> {
    let store = crate::open_store(&config).map_err(|e| e.to_string())?;
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let auth = Auth::new(store.clone(), config.auth_settings())
            .await
            .map_err(|e| e.to_string())?;
        let output = match command {
            AdminCommand::User(c) => user(&auth, c).await,
            AdminCommand::Token(c) => token(&auth, c).await,
            AdminCommand::Keys(KeysCommand::Rotate) => crate::auth::jwt::rotate(&store)
                .await
                .map(|kid| Output::Done(format!("new signing key {kid} is current"))),
        }
        .map_err(|e| describe(&e))?;
        Ok::<_, String>(output)
    });
    runtime.block_on(store.flush()).map_err(|e| e.to_string())?;
    print(result?, json);
    Ok(())
}

/// A runtime for one command: the store's operations are async.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// `latchkey check`: the store's integrity walk, printed; an error (and a
/// non-zero exit) if it found anything wrong. Findings (clashing names from
/// earlier releases) are printed but do not fail the check.
pub fn check(config: Config, json: bool) -> Result<(), String> {
    let store = crate::open_store(&config).map_err(|e| e.to_string())?;
    let report = runtime()?
        .block_on(store.check())
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "users": report.users,
                "tokens": report.tokens,
                "problems": report.problems,
                "findings": report.findings,
            })
        )
    } else {
        let mut text = format!("users: {}\ntokens: {}", report.users, report.tokens);
        for problem in &report.problems {
            text.push_str("\nproblem: ");
            text.push_str(problem);
        }
        for finding in &report.findings {
            text.push_str("\nfinding: ");
            text.push_str(finding);
        }
        writeln!(out, "{text}")
    };
    if report.is_ok() {
        Ok(())
    } else {
        Err(format!("check found {} problem(s)", report.problems.len()))
    }
}

/// `latchkey tls self-signed`: writes the pair (into the data dir unless
/// `--out`) and prints where, with the `[tls]` lines for config.toml. Needs
/// no store, so it works while the server runs.
pub fn tls(config: &Config, command: TlsCommand, json: bool) -> Result<(), String> {
    let TlsCommand::SelfSigned { hosts, out, force } = command;
    let dir = out.unwrap_or_else(|| config.data_dir.clone());
    let pair = crate::tls::self_signed(&hosts).map_err(|e| e.to_string())?;
    let written = crate::tls::write_pair(&dir, &pair, force).map_err(|e| e.to_string())?;
    // Absolute, so the lines work whatever directory the server starts in.
    let shown = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let (cert, key) = (shown(&written.cert), shown(&written.key));
    let not_after = rfc3339(pair.not_after.unix_timestamp());
    let mut stdout = std::io::stdout().lock();
    let _ = if json {
        writeln!(
            stdout,
            "{}",
            serde_json::json!({ "cert": cert, "key": key, "hosts": hosts, "not_after": not_after })
        )
    } else {
        writeln!(
            stdout,
            "wrote {cert} (self-signed for {}, valid until {not_after})\n\
             wrote {key} (private key, readable by its owner only)\n\n\
             Add to config.toml:\n\n[tls]\ncert = {}\nkey = {}",
            hosts.join(", "),
            toml_string(&cert),
            toml_string(&key),
        )
    };
    Ok(())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `latchkey backup FILE`: a consistent backup of a stopped server's data
/// dir, written to a temporary file beside FILE (mode 0600) and renamed over
/// FILE only once complete and fsynced.
pub fn backup(config: Config, file: &Path, json: bool) -> Result<(), String> {
    let dir = &config.data_dir;
    // Opening would create an empty store; a backup of nothing is a mistake.
    if !dir.join("db").is_file() {
        return Err(format!(
            "data dir {} holds no latchkey store",
            dir.display()
        ));
    }
    let store = crate::open_store(&config).map_err(|e| match e {
        crate::ServeError::Locked { dir } => format!(
            "data dir {dir} is in use by a running server; take the backup over HTTP: POST /api/admin/backup"
        ),
        other => other.to_string(),
    })?;
    let mut snapshot = runtime()?
        .block_on(store.snapshot())
        .map_err(|e| e.to_string())?;
    drop(store);
    // A backup holds every password hash: owner-only, like the store.
    crate::replace_file::replace_file(file, 0o600, |f| std::io::copy(&mut snapshot, f).map(drop))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "file": file.display().to_string(),
                "created_at": rfc3339(snapshot.created_at()),
                "bytes": snapshot.len(),
                "trees": snapshot.trees(),
                "entries": snapshot.entries(),
            })
        )
    } else {
        writeln!(
            out,
            "backup written to {}: {} bytes, {} trees, {} entries",
            file.display(),
            snapshot.len(),
            snapshot.trees(),
            snapshot.entries()
        )
    };
    Ok(())
}

/// `latchkey restore FILE`: restores a backup into an empty or missing data
/// dir, checks it, and prints what the integrity walk counted.
pub fn restore(config: Config, file: &Path, json: bool) -> Result<(), String> {
    let dir = &config.data_dir;
    let source = File::open(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let restored = Store::restore(source, dir, &config.storage).map_err(|e| match e {
        BackupError::NotEmpty(_) => e.to_string(),
        other => format!(
            "cannot restore {}: {other}; nothing was restored",
            file.display()
        ),
    })?;
    let mut out = std::io::stdout().lock();
    let _ = if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "file": file.display().to_string(),
                "data_dir": dir.display().to_string(),
                "created_at": rfc3339(restored.created_at),
                "trees": restored.trees,
                "entries": restored.entries,
                "users": restored.users,
                "tokens": restored.tokens,
                "problems": [],
            })
        )
    } else {
        writeln!(
            out,
            "restored {} (taken {}) into {}; the integrity check found nothing wrong\nusers: {}\ntokens: {}",
            file.display(),
            rfc3339(restored.created_at),
            dir.display(),
            restored.users,
            restored.tokens
        )
    };
    Ok(())
}

/// The commands this module runs.
#[derive(Debug)]
pub enum AdminCommand {
    /// `latchkey user ...`
    User(UserCommand),
    /// `latchkey token ...`
    Token(TokenCommand),
    /// `latchkey keys ...`
    Keys(KeysCommand),
}

/// What a command prints.
enum Output {
    Users(Vec<User>),
    Done(String),
}

async fn user(auth: &Auth, command: UserCommand) -> Result<Output, AuthError> {
    let patch = |name: String, patch: UserPatch| async move {
        let target = auth.find_user(&name).await?;
        auth.update_user(Actor::Operator, target.id, patch)
            .await
            .map(|u| Output::Users(vec![u]))
    };
    match command {
        UserCommand::Add { name, email, admin } => {
            let username = Username::parse(&name).map_err(invalid)?;
            let email = email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(invalid)?;
            let password = read_password()?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = auth
                .create_user(NewAccount {
                    username,
                    password,
                    email,
                    role,
                    confirmed: true,
                })
                .await?;
            Ok(Output::Users(vec![user]))
        }
        UserCommand::List => Ok(Output::Users(auth.all_users().await?)),
        UserCommand::Show { name } => Ok(Output::Users(vec![auth.find_user(&name).await?])),
        UserCommand::SetRole { name, role } => {
            let role = match role {
                RoleArg::User => Role::User,
                RoleArg::Admin => Role::Admin,
            };
            patch(
                name,
                UserPatch {
                    role: Some(role),
                    ..UserPatch::default()
                },
            )
            .await
        }
        UserCommand::Passwd { name } => {
            let target = auth.find_user(&name).await?;
            let password = read_password()?;
            let change = UserPatch {
                password: Some(password),
                ..UserPatch::default()
            };
            auth.update_user(Actor::Operator, target.id, change).await?;
            Ok(Output::Done(format!(
                "password changed for {name}; its tokens are revoked"
            )))
        }
        UserCommand::Disable { name } => {
            patch(
                name,
                UserPatch {
                    disabled: Some(true),
                    ..UserPatch::default()
                },
            )
            .await
        }
        UserCommand::Enable { name } => {
            patch(
                name,
                UserPatch {
                    disabled: Some(false),
                    ..UserPatch::default()
                },
            )
            .await
        }
        UserCommand::Confirm { name } => {
            patch(
                name,
                UserPatch {
                    confirmed: Some(true),
                    ..UserPatch::default()
                },
            )
            .await
        }
        UserCommand::Delete { name } => {
            let target = auth.find_user(&name).await?;
            auth.delete_user(Actor::Operator, target.id).await?;
            Ok(Output::Done(format!(
                "deleted {}",
                target.username.as_str()
            )))
        }
    }
}

async fn token(auth: &Auth, command: TokenCommand) -> Result<Output, AuthError> {
    match command {
        TokenCommand::RevokeAll { name } => {
            let target = auth.find_user(&name).await?;
            let n = auth.revoke_all_tokens(Actor::Operator, target.id).await?;
            Ok(Output::Done(format!(
                "revoked {n} token(s) of {}",
                target.username.as_str()
            )))
        }
    }
}

fn invalid(e: crate::model::InvalidField) -> AuthError {
    AuthError::InvalidRequest(e.to_string())
}

/// A one-line explanation of a failed command.
fn describe(e: &AuthError) -> String {
    match e {
        AuthError::LastAdmin => {
            "refused: this is the last enabled admin; make another admin first".into()
        }
        AuthError::UsernameTaken => "refused: that username is taken".into(),
        AuthError::EmailTaken => "refused: that email belongs to another account".into(),
        other => other.to_string(),
    }
}

/// Reads a new password: twice without echo from a terminal, or the first
/// line of stdin when it is piped (for scripts).
fn read_password() -> Result<String, AuthError> {
    let io = |e: std::io::Error| AuthError::InvalidRequest(format!("reading the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(io)?;
        let second = rpassword::prompt_password("Password again: ").map_err(io)?;
        if first != second {
            return Err(AuthError::InvalidRequest("the passwords differ".into()));
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(io)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// An account as the operator sees it: everything but the password hash.
#[derive(Serialize)]
struct Row<'a> {
    id: u64,
    username: &'a str,
    email: Option<&'a str>,
    role: Role,
    confirmed: bool,
    disabled: bool,
    created_at: String,
}

impl<'a> From<&'a User> for Row<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id.0,
            username: u.username.as_str(),
            email: u.email.as_ref().map(Email::as_str),
            role: u.role,
            confirmed: u.confirmed,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
        }
    }
}

fn print(output: Output, json: bool) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is not worth a panic or an error exit.
    let _ = match (output, json) {
        (Output::Done(message), false) => writeln!(out, "{message}"),
        (Output::Done(message), true) => writeln!(out, "{}", serde_json::json!({ "ok": message })),
        (Output::Users(users), true) => {
            let rows: Vec<Row<'_>> = users.iter().map(Row::from).collect();
            writeln!(out, "{}", serde_json::to_string(&rows).unwrap_or_default())
        }
        (Output::Users(users), false) => writeln!(out, "{}", table(&users)),
    };
}

/// Plain aligned columns, header first.
fn table(users: &[User]) -> String {
    let header = [
        "ID",
        "USERNAME",
        "EMAIL",
        "ROLE",
        "CONFIRMED",
        "DISABLED",
        "CREATED",
    ];
    let rows: Vec<[String; 7]> = users
        .iter()
        .map(Row::from)
        .map(|r| {
            [
                r.id.to_string(),
                r.username.to_owned(),
                r.email.unwrap_or("-").to_owned(),
                r.role.as_str().to_owned(),
                yes_no(r.confirmed),
                yes_no(r.disabled),
                r.created_at,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}
