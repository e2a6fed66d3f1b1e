//! Regressions for the second round of security findings (issue "Security hardening"), one test
//! per finding, each failing before its fix: usernames in their PRECIS form with look-alikes
//! refused (RFC 8265, UTS #39), ...

use crate::harness::*;
use lanyard_idp::manage;

/// A root admin token's client for the JSON admin API.
struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    async fn root(ts: &TestServer) -> Self {
        let token = manage::create_admin_token(
            &ts.state.db,
            &ts.state.hasher,
            None,
            "root",
            ts.clock.now_secs(),
        )
        .await
        .unwrap();
        Self {
            base: format!("{}/api/v1", ts.base),
            token,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

#[tokio::test]
async fn usernames_are_case_mapped_and_look_alikes_are_refused() {
    let ts = TestServer::start().await;
    let admin = Admin::root(&ts).await;
    let create = |name: &str| {
        let body = serde_json::json!({"username": name, "password": "long enough password"});
        let admin = &admin;
        async move { admin.post("/tenants/acme/users", body).await }
    };
    // The same name in another case, width or normal form is the same user: 409.
    for same in ["ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"] {
        let (status, body) = create(same).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (409, Some("user 'alice' already exists in 'acme'")),
            "{same:?}: {body}"
        );
    }
    let (status, body) = create("\u{E9}lodie").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "\u{E9}lodie");
    let (status, _) = create("E\u{301}LODIE").await;
    assert_eq!(status, 409, "NFD and upper case");
    // Invisible and bidi-control characters: 400 naming the code point.
    for (bad, code) in [
        ("al\u{200D}ice", "U+200D"),
        ("ali\u{202E}ce", "U+202E"),
        ("ali\u{0}ce", "U+0000"),
    ] {
        let (status, body) = create(bad).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(code), "{msg}");
    }
    // A Cyrillic look-alike of an existing name: 409 naming what it looks like.
    let (status, body) = create("\u{430}lice").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("confusable with the existing user \"alice\""),
        "{body}"
    );
    // The stored form is what is listed and what logs in.
    let landing = Browser::new()
        .authorize(
            &ts,
            &auth_url(&ts, "web", REDIRECT, "openid", &[]).0,
            "ALICE",
            PASSWORD,
        )
        .await;
    assert!(landing.redirect().as_str().starts_with(REDIRECT));
    let landing = Browser::new()
        .authorize(
            &ts,
            &auth_url(&ts, "web", REDIRECT, "openid", &[]).0,
            "ａｌｉｃｅ",
            PASSWORD,
        )
        .await;
    assert!(landing.redirect().as_str().starts_with(REDIRECT));
}

#[tokio::test]
async fn the_account_throttle_counts_every_spelling_of_a_name_as_one_account() {
    let ts = TestServer::start().await;
    // Five failures (the per-account limit) spread over spellings of one name.
    for name in ["ALICE", "Alice", "ａｌｉｃｅ", "aLiCe", "ALIce"] {
        let (status, body) = Browser::new()
            .authorize(
                &ts,
                &auth_url(&ts, "web", REDIRECT, "openid", &[]).0,
                name,
                "wrong password",
            )
            .await
            .page();
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = Browser::new()
        .authorize(
            &ts,
            &auth_url(&ts, "web", REDIRECT, "openid", &[]).0,
            "alice",
            PASSWORD,
        )
        .await
        .page();
    assert_eq!(status, 401);
    assert!(body.contains("Too many failed attempts"), "{body}");
}

#[tokio::test]
async fn a_look_alike_is_refused_through_the_service_as_well() {
    let ts = TestServer::start().await;
    let e = manage::create_user(
        &ts.state.db,
        &ts.tenant,
        "b\u{3BF}b",
        None,
        &[],
        PASSWORD,
        ts.clock.now_secs(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, manage::ManageError::Conflict(_)), "{e}");
}
