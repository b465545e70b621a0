//! The username rules: NFC normalization, uniqueness ignoring case and
//! confusables, the length limits, and the characters a name may not hold.

use crate::support::{INVALID_REQUEST, PASSWORD, TestServer, USERNAME_TAKEN, secret};
use serde_json::json;

#[tokio::test]
async fn username_is_stored_nfc_normalized_and_logs_in_either_way() {
    let app = TestServer::spawn().await;
    let decomposed = "Jose\u{301}";
    let precomposed = "Jos\u{e9}";
    let user = app.register(decomposed, PASSWORD).await;
    assert_eq!(user["username"], precomposed);
    let me = app.me_basic(precomposed, PASSWORD).await;
    assert_eq!(me["id"], user["id"]);
    app.me_basic(decomposed, PASSWORD).await;
    app.post("/api/tokens")
        .json(&json!({ "username": precomposed, "password": PASSWORD }))
        .expect(200)
        .await;
    // The two spellings are one name.
    app.post("/api/users")
        .json(&json!({ "username": precomposed, "password": PASSWORD }))
        .refused(USERNAME_TAKEN)
        .await;
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case_and_shown_as_registered() {
    let app = TestServer::spawn().await;
    let alice = app.register("Alice", PASSWORD).await;
    for other in ["alice", "ALICE", "aLiCe"] {
        app.post("/api/users")
            .json(&json!({ "username": other, "password": PASSWORD }))
            .refused(USERNAME_TAKEN)
            .await;
    }
    let me = app.me_basic("ALICE", PASSWORD).await;
    assert_eq!(me["id"], alice["id"]);
    assert_eq!(me["username"], "Alice");
    let issued = app.issue_token("alice", PASSWORD).await;
    let resource = app
        .get_as("/api/resource", &secret(&issued))
        .expect_json()
        .await;
    assert_eq!(resource, json!({ "data": "Hello, Alice!" }));
}

#[tokio::test]
async fn each_invalid_username_is_refused_with_400() {
    let app = TestServer::spawn().await;
    let too_long = "a".repeat(65);
    for bad in [
        "",
        too_long.as_str(),
        "al:ice",
        "al\u{7}ice",
        "al\nice",
        "al\u{0}ice",
        "\u{7f}alice",
        " alice",
        "alice ",
        "\talice",
        "alice\u{a0}",
        "lk_alice",
    ] {
        let problem = app
            .post("/api/users")
            .json(&json!({ "username": bad, "password": PASSWORD }))
            .refused(INVALID_REQUEST)
            .await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad:?}");
    }
}

#[tokio::test]
async fn usernames_of_1_and_64_characters_are_accepted() {
    let app = TestServer::spawn().await;
    app.register("a", PASSWORD).await;
    let ascii = "b".repeat(64);
    assert_eq!(app.register(&ascii, PASSWORD).await["username"], ascii);
    // 64 characters, 128 bytes: the limit counts characters.
    let accented = "\u{e9}".repeat(64);
    assert_eq!(
        app.register(&accented, PASSWORD).await["username"],
        accented
    );
    let spaced = "jo smith";
    assert_eq!(app.register(spaced, PASSWORD).await["username"], spaced);
}

#[tokio::test]
async fn a_new_username_may_not_contain_an_at_sign() {
    let app = TestServer::spawn().await;
    for bad in ["bob@example.com", "@bob", "bob@"] {
        let problem = app
            .try_register(bad, PASSWORD)
            .await
            .refused(INVALID_REQUEST);
        assert!(
            problem["detail"].as_str().unwrap().contains('@'),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn a_name_that_looks_like_a_registered_one_is_409_username_taken() {
    let app = TestServer::spawn().await;
    app.register("paypal", PASSWORD).await;
    app.register("sam", PASSWORD).await;
    for lookalike in [
        "\u{440}\u{430}\u{443}\u{440}\u{430}l", // Cyrillic раураl
        "p\u{430}yp\u{430}l",                   // two Cyrillic а
        "\u{3c1}\u{3b1}\u{3b3}\u{3c1}\u{3b1}l", // Greek ραγραl
        "\u{ff50}\u{ff41}\u{ff59}\u{ff50}\u{ff41}\u{ff4c}", // full-width ｐａｙｐａｌ
        "PayPal",
        "paypa1",
    ] {
        app.try_register(lookalike, PASSWORD)
            .await
            .refused(USERNAME_TAKEN);
    }
    // Full case folding: ß folds to ss, which lowercasing would not do.
    app.register("strasse", PASSWORD).await;
    app.try_register("stra\u{df}e", PASSWORD)
        .await
        .refused(USERNAME_TAKEN);
    // Long s folds to s, but PRECIS refuses it first (a compatibility form).
    app.try_register("\u{17f}am", PASSWORD)
        .await
        .refused(INVALID_REQUEST);
    app.register("paypal2", PASSWORD).await;
}

#[tokio::test]
async fn invisible_and_direction_changing_characters_in_a_new_name_are_400() {
    let app = TestServer::spawn().await;
    for bad in [
        "pay\u{200d}pal",                                         // zero-width joiner
        "pay\u{200b}pal",                                         // zero-width space
        "pay\u{ad}pal",                                           // soft hyphen
        "\u{202e}lapyap",                                         // right-to-left override
        "pay\u{e000}pal",                                         // private use
        "paypal\u{e0041}\u{e007f}",                               // tag characters
        "\u{301}paypal",                                          // a lone leading combining mark
        "\u{1d429}\u{1d41a}\u{1d432}\u{1d429}\u{1d41a}\u{1d425}", // math bold
    ] {
        let problem = app
            .try_register(bad, PASSWORD)
            .await
            .refused(INVALID_REQUEST);
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{bad:?}");
    }
}
