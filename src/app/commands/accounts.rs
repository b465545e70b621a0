//! `latchkey user|token|keys`: the same use cases the HTTP API runs, so
//! they keep the same guards (the password policy, the last admin, unique
//! names).

use crate::app::cli::{KeysCommand, RoleArg, TokenCommand, UserCommand};
use crate::app::config::Config;
use crate::auth::{Actor, Auth, AuthError, NewAccount, UserPatch};
use crate::model::{Email, Role, User, Username, rfc3339};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};

/// The commands that run the use cases on the store.
#[derive(Debug)]
pub enum AccountCommand {
    /// `latchkey user ...`
    User(UserCommand),
    /// `latchkey token ...`
    Token(TokenCommand),
    /// `latchkey keys ...`
    Keys(KeysCommand),
}

/// Runs an account command to completion; the error is one line for stderr.
pub fn run(config: Config, command: AccountCommand, json: bool) -> Result<(), String> {
    let store = super::open_store(&config).map_err(|e| e.to_string())?;
    let runtime = super::runtime()?;
    let result = runtime.block_on(async {
        let auth = Auth::new(store.clone(), config.auth_settings())
            .await
            .map_err(|e| e.to_string())?;
        let output = match command {
            AccountCommand::User(c) => user(&auth, c).await,
            AccountCommand::Token(c) => token(&auth, c).await,
            AccountCommand::Keys(KeysCommand::Rotate) => crate::auth::jwt::rotate(&store)
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

/// What a command prints.
enum Output {
    Users(Vec<User>),
    Done(String),
}

/// Changes one field of an account, as an admin's PATCH would.
async fn patch(
    auth: &Auth,
    name: String,
    set: impl FnOnce(&mut UserPatch),
) -> Result<Output, AuthError> {
    let target = auth.find_user(&name).await?;
    let mut patch = UserPatch::default();
    set(&mut patch);
    auth.update_user(Actor::Operator, target.id, patch)
        .await
        .map(|u| Output::Users(vec![u]))
}

async fn user(auth: &Auth, command: UserCommand) -> Result<Output, AuthError> {
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
            patch(auth, name, |p| p.role = Some(role)).await
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
        UserCommand::Disable { name } => patch(auth, name, |p| p.disabled = Some(true)).await,
        UserCommand::Enable { name } => patch(auth, name, |p| p.disabled = Some(false)).await,
        UserCommand::Confirm { name } => patch(auth, name, |p| p.confirmed = Some(true)).await,
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
