//! The admin command line: `latchkey user ...`, `token ...` and `check`,
//! run on a stopped server's data dir, and what their changes do to the
//! server started on it afterwards.
//!
//! Passwords go in on stdin (not a terminal, so the first line is read).

use crate::support::{PASSWORD, Resp, Run, Server, check, run, workspace};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const ROOT_PASSWORD: &str = "plum orchard telescope quietly";
const BOB_PASSWORD: &str = "mossy canal bicycle sundays";

/// `latchkey user add NAME EXTRA...` with `password` on stdin.
fn add(data: &Path, name: &str, extra: &[&str], password: &str) -> Run {
    let mut args = vec!["user", "add", name];
    args.extend_from_slice(extra);
    run(data, &args, Some(&format!("{password}\n")))
}

/// A data dir with `root` (admin, with an email) and `bob` (a user).
fn root_and_bob(data: &Path) {
    add(
        data,
        "root",
        &["--admin", "--email", "root@example.com"],
        ROOT_PASSWORD,
    )
    .ok();
    add(data, "bob", &[], BOB_PASSWORD).ok();
}

/// `latchkey user show NAME --json`: the one account it prints.
fn show(data: &Path, name: &str) -> Value {
    let rows = run(data, &["user", "show", name, "--json"], None).json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows[0].clone()
}

/// Where each whitespace-separated word of `line` starts, in characters.
fn column_starts(line: &str) -> Vec<usize> {
    let chars: Vec<char> = line.chars().collect();
    (0..chars.len())
        .filter(|&i| !chars[i].is_whitespace() && (i == 0 || chars[i - 1].is_whitespace()))
        .collect()
}

/// The `error` member of a problem+json response.
fn error_code(response: Resp) -> String {
    let body = response.json();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn user_add_reads_the_password_from_stdin_and_list_prints_aligned_columns() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    let listing = run(&data, &["user", "list"], None);
    let lines: Vec<&str> = listing.ok().lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and two accounts:\n{}",
        listing.stdout
    );
    let header = lines[0];
    for column in "ID USERNAME EMAIL ROLE CONFIRMED DISABLED CREATED".split(' ') {
        assert!(header.contains(column), "{header}");
    }
    let starts = column_starts(header);
    assert_eq!(starts.len(), 7, "{header}");
    for row in &lines[1..] {
        assert_eq!(
            column_starts(row),
            starts,
            "misaligned:\n{}",
            listing.stdout
        );
    }
    let root: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        root[1..6],
        ["root", "root@example.com", "admin", "yes", "no"]
    );
    let bob: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(bob[1..6], ["bob", "-", "user", "yes", "no"]);

    let one = run(&data, &["user", "show", "bob"], None);
    let lines: Vec<&str> = one.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{}", one.stdout);
    assert_eq!(column_starts(lines[0]).len(), 7, "{}", one.stdout);
    assert!(lines[1].contains("bob"), "{}", one.stdout);
}

#[test]
fn json_flag_prints_machine_readable_accounts_and_check_results() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    let rows = run(&data, &["user", "list", "--json"], None).json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let root = &rows[0];
    assert_eq!(root["username"], "root");
    assert_eq!(root["email"], "root@example.com");
    assert_eq!(root["role"], "admin");
    assert_eq!(
        root["confirmed"], true,
        "accounts added here start confirmed"
    );
    assert_eq!(root["disabled"], false);
    assert!(root["id"].is_u64(), "{root}");
    assert!(root["created_at"].is_string(), "{root}");
    assert_eq!(rows[1]["username"], "bob");
    assert_eq!(rows[1]["email"], Value::Null);
    assert_eq!(rows[1]["role"], "user");
    let text = serde_json::to_string(&rows).unwrap();
    assert!(!text.contains("scrypt"), "no password hash: {text}");

    // Accounts can be named by email as well as by username.
    assert_eq!(show(&data, "root@example.com")["username"], "root");

    let report = run(&data, &["check", "--json"], None).json();
    assert_eq!(
        report,
        json!({ "users": 2, "tokens": 0, "problems": [], "findings": [] })
    );
}

#[test]
fn user_add_refuses_passwords_the_policy_refuses_with_a_one_line_message() {
    let (_tmp, data) = workspace();

    let short = add(&data, "alice", &[], "short1");
    let line = short.one_line_failure();
    assert!(line.contains("at least 8"), "{line}");

    let common = add(&data, "alice", &[], "password123");
    let line = common.one_line_failure();
    assert!(line.contains("common"), "{line}");

    // Nothing on stdin is an empty password, not a hang or an empty account.
    let empty = run(&data, &["user", "add", "alice"], None);
    empty.one_line_failure();

    let rows = run(&data, &["user", "list", "--json"], None).json();
    assert_eq!(rows, json!([]), "no account was made");
}

#[test]
fn user_add_refuses_a_taken_username_whatever_its_case() {
    let (_tmp, data) = workspace();
    add(&data, "alice", &[], PASSWORD).ok();
    let line = add(&data, "Alice", &[], PASSWORD).one_line_failure();
    assert!(line.contains("taken"), "{line}");
}

#[test]
fn commands_naming_an_unknown_account_fail_with_a_one_line_message() {
    let (_tmp, data) = workspace();
    add(&data, "root", &["--admin"], ROOT_PASSWORD).ok();
    for args in [
        &["user", "show", "nobody"][..],
        &["user", "set-role", "nobody", "admin"],
        &["user", "disable", "nobody"],
        &["user", "enable", "nobody"],
        &["user", "confirm", "nobody"],
        &["user", "delete", "nobody"],
        &["token", "revoke-all", "nobody"],
    ] {
        let line = run(&data, args, None).one_line_failure();
        assert!(line.contains("no such user"), "{args:?}: {line}");
    }
    let line = run(
        &data,
        &["user", "passwd", "nobody"],
        Some("fresh basil window\n"),
    )
    .one_line_failure();
    assert!(line.contains("no such user"), "{line}");
}

#[test]
fn set_role_promotes_a_user_and_demotes_an_admin_once_another_exists() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    run(&data, &["user", "set-role", "bob", "admin"], None).ok();
    assert_eq!(show(&data, "bob")["role"], "admin");

    run(&data, &["user", "set-role", "root", "user"], None).ok();
    assert_eq!(show(&data, "root")["role"], "user");
}

#[test]
fn the_only_admin_cannot_be_demoted_disabled_or_deleted() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    for args in [
        &["user", "set-role", "root", "user"][..],
        &["user", "disable", "root"],
        &["user", "delete", "root"],
    ] {
        let line = run(&data, args, None).one_line_failure();
        assert!(line.contains("last enabled admin"), "{args:?}: {line}");
    }
    let root = show(&data, "root");
    assert_eq!(root["role"], "admin", "{root}");
    assert_eq!(root["disabled"], false, "{root}");
    assert_eq!(check(&data), (2, 0));
}

#[test]
fn disable_and_enable_flip_the_account_and_delete_removes_it() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    run(&data, &["user", "disable", "bob"], None).ok();
    assert_eq!(show(&data, "bob")["disabled"], true);
    run(&data, &["user", "enable", "bob"], None).ok();
    assert_eq!(show(&data, "bob")["disabled"], false);

    run(&data, &["user", "delete", "bob"], None).ok();
    let line = run(&data, &["user", "show", "bob"], None).one_line_failure();
    assert!(line.contains("no such user"), "{line}");
    assert_eq!(check(&data), (1, 0));
}

#[tokio::test]
async fn check_prints_user_and_token_counts_and_exits_zero_on_a_sound_store() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);
    let server = Server::start(&data);
    server.token_for("root", ROOT_PASSWORD).await;
    server.token_for("bob", BOB_PASSWORD).await;
    server.token_for("bob", BOB_PASSWORD).await;
    server.stop();

    let report = run(&data, &["check"], None);
    assert_eq!(report.ok().trim(), "users: 2\ntokens: 3");
}

#[tokio::test]
async fn accounts_made_on_the_command_line_work_over_http_until_disabled() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    let server = Server::start(&data);
    let root = server.token_for("root", ROOT_PASSWORD).await;
    let bob = server.token_for("bob", BOB_PASSWORD).await;
    let response = server.get_as("/api/admin/resource", &root).send().await;
    assert_eq!(response.status, 200);
    let response = server.get_as("/api/admin/resource", &bob).send().await;
    assert_eq!(response.status, 403);
    assert_eq!(error_code(response), "insufficient_scope");
    server.stop();

    run(&data, &["user", "disable", "bob"], None).ok();

    let server = Server::start(&data);
    let response = server.try_issue_token("bob", BOB_PASSWORD).await;
    assert_eq!(response.status, 401);
    assert_eq!(error_code(response), "invalid_credentials");
    assert_eq!(server.resource(&bob).await.status, 401, "tokens go too");
    let response = server.get_as("/api/admin/resource", &root).send().await;
    assert_eq!(response.status, 200, "root is untouched");
    server.stop();
    assert_eq!(check(&data).0, 2);
}

#[tokio::test]
async fn token_revoke_all_kills_a_token_issued_before() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);

    let server = Server::start(&data);
    let bob = server.token_for("bob", BOB_PASSWORD).await;
    let root = server.token_for("root", ROOT_PASSWORD).await;
    assert_eq!(server.resource(&bob).await.status, 200);
    server.stop();

    let revoked = run(&data, &["token", "revoke-all", "bob"], None);
    assert!(
        revoked.ok().contains("revoked 1 token"),
        "{}",
        revoked.stdout
    );
    assert_eq!(check(&data), (2, 1), "root's token is left");

    let server = Server::start(&data);
    let response = server.resource(&bob).await;
    assert_eq!(response.status, 401);
    assert_eq!(error_code(response), "invalid_token");
    assert_eq!(server.resource(&root).await.status, 200);
    assert_eq!(
        server.try_issue_token("bob", BOB_PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn passwd_reads_the_new_password_like_add_and_revokes_the_accounts_tokens() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);
    let server = Server::start(&data);
    let token = server.token_for("bob", BOB_PASSWORD).await;
    server.stop();

    let weak = run(&data, &["user", "passwd", "bob"], Some("password123\n"));
    assert!(weak.one_line_failure().contains("common"), "{weak:?}");
    let new_password = "lantern drizzle oatmeal harp";
    run(
        &data,
        &["user", "passwd", "bob"],
        Some(&format!("{new_password}\n")),
    )
    .ok();
    assert_eq!(check(&data), (2, 0));

    let server = Server::start(&data);
    assert_eq!(server.resource(&token).await.status, 401);
    assert_eq!(
        server.try_issue_token("bob", BOB_PASSWORD).await.status,
        401
    );
    assert_eq!(
        server.try_issue_token("bob", new_password).await.status,
        200
    );
}

#[tokio::test]
async fn confirm_lets_a_self_registered_account_past_the_confirmation_gate() {
    const CONFIRMATION: (&str, &str) = ("LATCHKEY_ACCOUNTS__REQUIRE_CONFIRMATION", "true");
    let (_tmp, data) = workspace();
    add(&data, "root", &["--admin"], ROOT_PASSWORD).ok();

    let server = Server::start_with(&data, &[CONFIRMATION]);
    server
        .try_register("carol", PASSWORD)
        .await
        .assert_status_in(&[201, 202]);
    let token = server.token_for("carol", PASSWORD).await;
    let response = server.resource(&token).await;
    assert_eq!(response.status, 403);
    assert_eq!(error_code(response), "unconfirmed_account");
    server.stop();

    assert_eq!(show(&data, "carol")["confirmed"], false);
    run(&data, &["user", "confirm", "carol"], None).ok();
    assert_eq!(show(&data, "carol")["confirmed"], true);

    let server = Server::start_with(&data, &[CONFIRMATION]);
    assert_eq!(server.resource(&token).await.status, 200);
}

#[tokio::test]
async fn every_admin_command_fails_fast_while_a_server_holds_the_data_dir() {
    let (_tmp, data) = workspace();
    root_and_bob(&data);
    let server = Server::start(&data);

    let password = Some("fresh basil window\n");
    let commands: [(&[&str], Option<&str>); 13] = [
        (&["user", "add", "carol"], password),
        (&["user", "list"], None),
        (&["user", "list", "--json"], None),
        (&["user", "show", "bob"], None),
        (&["user", "set-role", "bob", "admin"], None),
        (&["user", "passwd", "bob"], password),
        (&["user", "disable", "bob"], None),
        (&["user", "enable", "bob"], None),
        (&["user", "confirm", "bob"], None),
        (&["user", "delete", "bob"], None),
        (&["token", "revoke-all", "bob"], None),
        (&["keys", "rotate"], None),
        (&["check"], None),
    ];
    for (args, stdin) in commands {
        let started = Instant::now();
        let refused = run(&data, args, stdin);
        let line = refused.one_line_failure();
        assert!(
            line.contains("another latchkey process"),
            "{args:?}: {line}"
        );
        assert!(
            line.contains(&data.display().to_string()),
            "{args:?}: {line}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }

    // The refused commands changed nothing and disturbed nothing.
    assert_eq!(
        server.try_issue_token("bob", BOB_PASSWORD).await.status,
        200
    );
    server.stop();
    let rows = run(&data, &["user", "list", "--json"], None).json();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(rows[1]["role"], "user", "{rows}");
}
