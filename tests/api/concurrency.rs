//! Races and load: one winner among concurrent registrations, and 503 with
//! `Retry-After` when the hash pool is full.

use crate::support::{
    EMAIL_TAKEN, PASSWORD, Resp, TestServer, USERNAME_TAKEN, basic_header, items,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Runs `n` copies of `request` at once on the multi-thread runtime.
async fn all_at_once<F, Fut>(app: &Arc<TestServer>, n: usize, request: F) -> Vec<Resp>
where
    F: Fn(Arc<TestServer>, usize) -> Fut,
    Fut: Future<Output = Resp> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let fut = request(Arc::clone(app), i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

fn statuses(responses: &[Resp]) -> Vec<u16> {
    responses.iter().map(|r| r.status.as_u16()).collect()
}

/// Asserts exactly one of `responses` is a 201; returns every status.
#[track_caller]
fn assert_one_created(responses: &[Resp]) -> Vec<u16> {
    let codes = statuses(responses);
    assert_eq!(
        codes.iter().filter(|&&c| c == 201).count(),
        1,
        "statuses: {codes:?}"
    );
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_registrations_of_one_name_make_exactly_one_account() {
    let app = Arc::new(TestServer::spawn().await);
    let responses = all_at_once(&app, 50, |app, i| async move {
        app.post("/api/users")
            .json(&json!({ "username": "alice", "password": format!("password number {i}") }))
            .send()
            .await
    })
    .await;
    assert_one_created(&responses);
    let mut winner = None;
    for (i, response) in responses.into_iter().enumerate() {
        if response.status == 201 {
            winner = Some(i);
        } else {
            response.refused(USERNAME_TAKEN);
        }
    }
    // The winner's password is the one that works.
    let winner = winner.unwrap();
    app.me_basic("alice", &format!("password number {winner}"))
        .await;
    let page = app
        .get("/api/users")
        .basic("alice", &format!("password number {winner}"))
        .expect_json()
        .await;
    assert_eq!(page["_meta"]["total_items"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_differing_only_in_case_make_one_account() {
    let app = Arc::new(TestServer::spawn().await);
    let spellings = ["alice", "Alice", "ALICE", "aLiCe", "alicE", "ALice"];
    let responses = all_at_once(&app, 24, move |app, i| async move {
        app.post("/api/users")
            .json(&json!({ "username": spellings[i % spellings.len()], "password": PASSWORD }))
            .send()
            .await
    })
    .await;
    let codes = assert_one_created(&responses);
    assert!(codes.iter().all(|&c| c == 201 || c == 409), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_with_one_email_make_one_account() {
    let app = Arc::new(TestServer::spawn().await);
    let responses = all_at_once(&app, 20, |app, i| async move {
        app.post("/api/users")
            .json(&json!({
                "username": format!("user{i}"),
                "password": PASSWORD,
                "email": "shared@example.com",
            }))
            .send()
            .await
    })
    .await;
    assert_one_created(&responses);
    for response in responses.into_iter().filter(|r| r.status != 201) {
        response.refused(EMAIL_TAKEN);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_each_get_their_own_token() {
    // Checks in flight on one name count against the lockout threshold, so
    // raise it: this test is about tokens, not throttling.
    let app = Arc::new(TestServer::spawn_with(|cfg| cfg.throttle.account_failures = 16).await);
    app.register("alice", PASSWORD).await;
    let responses = all_at_once(&app, 16, |app, _| async move {
        app.try_issue_token("alice", PASSWORD).await
    })
    .await;
    let tokens: BTreeSet<String> = responses
        .into_iter()
        .map(|r| {
            r.assert_status(200).json()["token"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 16);
    let list = app.get_json_with_password("/api/tokens", "alice").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hash_pool_answers_503_with_retry_after() {
    let app = Arc::new(
        TestServer::spawn_with(|cfg| {
            cfg.password.scrypt_log_n = 14;
            cfg.password.max_concurrent_hashes = 1;
            cfg.password.queue_timeout_ms = 1;
        })
        .await,
    );
    // One name per request: concurrent checks on one name are capped by
    // the lockout threshold before they ever reach the pool.
    let responses = all_at_once(&app, 8, move |app, i| {
        let authorization = basic_header(&format!("nobody{i}"), "some password");
        async move {
            app.post("/api/tokens")
                .authorization(&authorization)
                .send()
                .await
        }
    })
    .await;
    let codes = statuses(&responses);
    assert!(codes.contains(&503), "no 503 among {codes:?}");
    assert!(codes.iter().all(|&c| c == 503 || c == 401), "{codes:?}");
    for response in responses {
        if response.status == 503 {
            let retry_after = response
                .header("retry-after")
                .unwrap_or_else(|| panic!("503 without Retry-After: {:?}", response.headers))
                .to_owned();
            assert!(
                retry_after.parse::<u32>().is_ok_and(|s| s >= 1),
                "Retry-After {retry_after:?}"
            );
            response.assert_problem(503, "unavailable");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_revocations_each_take_effect_once_even_when_asked_twice() {
    // Revocations that arrive together share one transaction; asking for
    // the same token twice in one batch must still revoke it once.
    let app = Arc::new(TestServer::spawn().await);
    app.register("alice", PASSWORD).await;
    let mut issued = Vec::new();
    for _ in 0..16 {
        let body = app.issue_token("alice", PASSWORD).await;
        issued.push((
            body["id"].as_u64().unwrap(),
            body["token"].as_str().unwrap().to_owned(),
        ));
    }
    // Bearer, not Basic: 32 password checks at once would meet the throttle.
    let caller = Arc::new(app.token_for("alice", PASSWORD).await);
    let ids: Arc<Vec<u64>> = Arc::new(issued.iter().map(|(id, _)| *id).collect());
    let responses = all_at_once(&app, 32, |app, i| {
        let (id, caller) = (ids[i % 16], Arc::clone(&caller));
        async move {
            app.delete_as(&format!("/api/tokens/{id}"), &caller)
                .send()
                .await
        }
    })
    .await;
    for (i, id) in ids.iter().enumerate() {
        let mut pair = [
            responses[i].status.as_u16(),
            responses[i + 16].status.as_u16(),
        ];
        pair.sort_unstable();
        assert_eq!(pair, [204, 404], "token {id}: {:?}", statuses(&responses));
    }
    for (_, token) in &issued {
        app.assert_token_refused(token).await;
    }
    let list = app.get_as("/api/tokens", &caller).expect_json().await;
    let left = items(&list);
    assert_eq!(left.len(), 1, "only the caller's token is left: {list}");
    assert_eq!(left[0]["current"], true);
}
