//! `GET /api/users?page=&per_page=`: the page, its `_meta` and `_links`.

use crate::support::{
    INVALID_REQUEST, PASSWORD, TestServer, assert_has_keys, assert_user_shape, id_of,
};
use serde_json::Value;

/// Registers `user00`, `user01`, … and returns their ids in order.
async fn register_users(app: &TestServer, count: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(id_of(&app.register(&format!("user{i:02}"), PASSWORD).await));
    }
    ids
}

async fn list(app: &TestServer, path: &str) -> Value {
    app.get_json_with_password(path, "user00").await
}

fn ids(page: &Value) -> Vec<u64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(id_of)
        .collect()
}

#[tokio::test]
async fn listing_defaults_to_page_1_of_10_with_meta_and_links() {
    let app = TestServer::spawn().await;
    let all = register_users(&app, 23).await;
    let page = list(&app, "/api/users").await;
    assert_has_keys(&page, &["items", "_meta", "_links"]);
    assert_eq!(ids(&page), all[..10]);
    let meta = &page["_meta"];
    assert_eq!(meta["page"], 1);
    assert_eq!(meta["per_page"], 10);
    assert_eq!(meta["total_pages"], 3);
    assert_eq!(meta["total_items"], 23);
    let links = &page["_links"];
    assert!(links["self"].is_string(), "{links}");
    assert!(links["next"].is_string(), "{links}");
    assert!(links["prev"].is_null(), "{links}");
}

#[tokio::test]
async fn following_next_and_prev_links_walks_every_user_once() {
    let app = TestServer::spawn().await;
    let all = register_users(&app, 23).await;
    let mut seen = Vec::new();
    let mut path = "/api/users?per_page=10".to_owned();
    let mut pages = Vec::new();
    loop {
        let page = list(&app, &path).await;
        seen.extend(ids(&page));
        pages.push(page.clone());
        match page["_links"]["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
        assert!(pages.len() <= 3, "more pages than expected: {page}");
    }
    assert_eq!(seen, all);
    assert_eq!(pages.len(), 3);
    let last = &pages[2];
    assert_eq!(last["_meta"]["page"], 3);
    assert_eq!(ids(last).len(), 3);
    assert!(last["_links"]["next"].is_null(), "{last}");
    // Back from the last page.
    let prev = last["_links"]["prev"].as_str().unwrap();
    assert_eq!(ids(&list(&app, prev).await), all[10..20]);
    // Each page's self link yields that page.
    for page in &pages {
        let own = page["_links"]["self"].as_str().unwrap();
        assert_eq!(&list(&app, own).await, page);
    }
}

#[tokio::test]
async fn page_and_per_page_select_the_slice() {
    let app = TestServer::spawn().await;
    let all = register_users(&app, 12).await;
    let page = list(&app, "/api/users?page=2&per_page=5").await;
    assert_eq!(ids(&page), all[5..10]);
    assert_eq!(page["_meta"]["page"], 2);
    assert_eq!(page["_meta"]["per_page"], 5);
    assert_eq!(page["_meta"]["total_pages"], 3);
    assert_eq!(page["_meta"]["total_items"], 12);
    assert!(page["_links"]["next"].is_string());
    assert!(page["_links"]["prev"].is_string());
}

#[tokio::test]
async fn per_page_over_100_is_clamped_to_100() {
    let app = TestServer::spawn().await;
    let all = register_users(&app, 3).await;
    for query in ["per_page=101", "per_page=500", "per_page=1000000"] {
        let page = list(&app, &format!("/api/users?{query}")).await;
        assert_eq!(page["_meta"]["per_page"], 100, "{query}");
        assert_eq!(page["_meta"]["total_pages"], 1, "{query}");
        assert_eq!(ids(&page), all);
    }
    let page = list(&app, "/api/users?per_page=100").await;
    assert_eq!(page["_meta"]["per_page"], 100);
}

#[tokio::test]
async fn page_below_1_or_not_a_number_is_400() {
    let app = TestServer::spawn().await;
    register_users(&app, 1).await;
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=",
        "page=1e3",
        "per_page=abc",
        "per_page=-5",
    ] {
        app.get(&format!("/api/users?{query}"))
            .password("user00")
            .refused(INVALID_REQUEST)
            .await;
    }
}

#[tokio::test]
async fn listed_users_show_only_the_callers_own_email() {
    let app = TestServer::spawn().await;
    let alice = app.register_with_example_email("alice").await;
    app.register_with_example_email("bob").await;
    let page = app.get_json_with_password("/api/users", "alice").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        if item["id"] == alice["id"] {
            assert_eq!(item, &alice);
        } else {
            assert_eq!(item["username"], "bob");
            assert_user_shape(item, None);
        }
    }
    assert!(!page.to_string().contains("bob@example.com"));
}

#[tokio::test]
async fn total_items_follows_deletions() {
    let app = TestServer::spawn().await;
    let all = register_users(&app, 3).await;
    app.delete(&format!("/api/users/{}", all[1]))
        .password("user01")
        .expect(204)
        .await;
    let page = list(&app, "/api/users").await;
    assert_eq!(page["_meta"]["total_items"], 2);
    assert_eq!(ids(&page), [all[0], all[2]]);
}
