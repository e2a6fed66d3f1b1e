//! Regressions for the second round of security findings (issue "Security hardening"), one test
//! per finding, each failing before its fix: usernames in their PRECIS form with look-alikes
//! refused (RFC 8265, UTS #39); back-channel logout URIs that name loopback, private or metadata
//! addresses refused at registration and at send time (SSRF); front-channel logout URIs on the
//! origin of a redirect URI (OIDC Front-Channel Logout 1.0 §2); control characters in any
//! parameter and unknown `display` values refused with `invalid_request` (OIDC Core §3.1.2.1);
//! oversized headers and cookies answered 431 (RFC 6585 §5).

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
            "test",
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
    // Five failures (the free allowance before delays, ADR 0013) spread over spellings of one name.
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
    // The sixth attempt waits: all five spellings counted against alice (429, RFC 6585 §4).
    assert_eq!(status, 429, "{body}");
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

#[tokio::test]
async fn registration_refuses_private_backchannel_targets_and_foreign_frontchannel_origins() {
    // The default setting: no private destination allowed.
    let ts = TestServer::start_with(Setup {
        env: vec![("LANYARD_ALLOW_PRIVATE_DESTINATIONS", String::new())],
        ..Default::default()
    })
    .await;
    let admin = Admin::root(&ts).await;
    let register = |extra: serde_json::Value| {
        let mut body = serde_json::json!({
            "client_id": "probe",
            "redirect_uris": ["https://rp.example/cb"],
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let admin = &admin;
        async move { admin.post("/tenants/acme/clients", body).await }
    };
    for target in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/bc",
        "http://127.0.0.1:9/bc",
        "http://[::1]/bc",
        "http://localhost:8080/bc",
        "http://100.64.1.1/bc",
        "http://[fd00::1]/bc",
        "http://[::ffff:10.0.0.1]/bc",
    ] {
        let (status, body) =
            register(serde_json::json!({ "backchannel_logout_uri": target })).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_client_metadata")),
            "{target}: {body}"
        );
    }
    let (status, body) =
        register(serde_json::json!({ "frontchannel_logout_uri": "https://evil.example/fc" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Front-Channel Logout 1.0"));
    // Same scheme, host and port as the redirect URI, and a public back-channel host: accepted.
    let (status, body) = register(serde_json::json!({
        "frontchannel_logout_uri": "https://rp.example/fc",
        "backchannel_logout_uri": "https://rp.example/bc",
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    // An update is held to the same rules.
    let e = manage::clients::update_client(
        &ts.state,
        &ts.tenant,
        "probe",
        manage::clients::ClientChanges {
            backchannel_logout_uri: Some(Some("http://192.168.1.1/bc".into())),
            ..Default::default()
        },
        "test",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, manage::ManageError::InvalidClientMetadata(_)),
        "{e}"
    );
}

#[tokio::test]
async fn a_delivery_to_a_private_destination_is_refused_at_send_time_once_and_audited() {
    use sea_orm::ConnectionTrait;
    // A row that passed registration under another setting (or was written before this rule)
    // and now names loopback: by address, and by a name that resolves there.
    for target in ["http://127.0.0.1:{port}/bc", "http://localhost:{port}/bc"] {
        let (rp, bc) = RecordingRp::start().await;
        let port = url::Url::parse(&bc).unwrap().port().unwrap();
        let target = target.replace("{port}", &port.to_string());
        let ts = TestServer::start_with(Setup {
            web_backchannel: Some("https://rp.example/bc".into()),
            env: vec![("LANYARD_ALLOW_PRIVATE_DESTINATIONS", String::new())],
            ..Default::default()
        })
        .await;
        ts.state
            .db
            .execute_unprepared(&format!(
                "UPDATE clients SET backchannel_logout_uri = '{target}' WHERE client_id = 'web'"
            ))
            .await
            .unwrap();
        let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
        let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
        manage::revoke_session(&ts.state, &ts.tenant, &sid, "test")
            .await
            .unwrap();
        ts.drain_outbox(10).await;
        let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{target}");
        assert_eq!(rows[0].target, target);
        assert_eq!(
            (rows[0].state.as_str(), rows[0].attempts),
            ("dead", 1),
            "{target}: dead at the first attempt, not retried"
        );
        let err = rows[0].last_error.clone().unwrap_or_default();
        assert!(err.contains("destination refused"), "{target}: {err}");
        let events = lanyard_idp::store::audit::list(
            &ts.state.db,
            &ts.tenant.id,
            Some("logout.delivery_failed"),
            10,
        )
        .await
        .unwrap();
        assert_eq!(events.len(), 1, "{target}");
        assert!(rp.tokens().is_empty(), "{target}: nothing reached the RP");
    }
}

#[tokio::test]
async fn control_characters_in_parameters_are_refused_and_never_echoed() {
    let ts = TestServer::start().await;
    let marker = "zq7marker";
    // Authorization request: NUL and a line break in `state` / `nonce`.
    for (name, value) in [
        ("state", format!("{marker}\u{0}x")),
        ("nonce", format!("{marker}\r\nSet-Cookie: x=1")),
        ("login_hint", format!("{marker}\u{1b}[31m")),
    ] {
        let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
        let url = with_param(&url, name, &value);
        let (status, body) = Browser::new().get(&ts.base, &url).await.page();
        assert_eq!(status, 400, "{name}: {body}");
        assert!(!body.contains(marker), "{name} echoed: {body}");
    }
    // Token endpoint: invalid_request in JSON, the value not echoed.
    let r = reqwest::Client::new()
        .post(ts.url("/token"))
        .basic_auth("web", Some(SECRET))
        .body(format!(
            "grant_type=authorization_code&code={marker}%00&redirect_uri=x"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("\"invalid_request\""), "{body}");
    assert!(!body.contains(marker), "{body}");
    // The login form: a NUL in the username is a bad request, not a failed login.
    let browser = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, page) = browser.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    let (status, body) = browser
        .post_form(
            &ts.base,
            &ts.url("/login"),
            &[
                ("csrf", &field(&page, "csrf").unwrap()),
                ("req", &field(&page, "req").unwrap()),
                ("username", &format!("alice\u{0}{marker}")),
                ("password", PASSWORD),
            ],
        )
        .await
        .page();
    assert_eq!(status, 400, "{body}");
    assert!(!body.contains(marker), "{body}");
}

#[tokio::test]
async fn display_must_be_one_of_the_four_values() {
    let ts = TestServer::start().await;
    for ok in ["page", "popup", "touch", "wap"] {
        let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("display", ok)]);
        let (status, body) = Browser::new().get(&ts.base, &url).await.page();
        assert_eq!(status, 200, "{ok}: {body}");
    }
    let (url, state, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("display", "fullscreen")]);
    let to = Browser::new().get(&ts.base, &url).await.redirect();
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(q.get("state"), Some(&state));
    // `prompt` was already validated; it stays so.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "sometimes")]);
    let to = Browser::new().get(&ts.base, &url).await.redirect();
    assert!(
        to.query().unwrap_or("").contains("error=invalid_request"),
        "{to}"
    );
}

#[tokio::test]
async fn oversized_cookies_and_headers_get_431_and_are_not_processed() {
    let ts = TestServer::start().await;
    let http = reqwest::Client::new();
    let big = "a".repeat(64 * 1024);
    for path in [
        "/authorize",
        "/.well-known/openid-configuration",
        "/account",
    ] {
        let r = http
            .get(ts.url(path))
            .header("cookie", format!("lanyard_session_acme={big}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 431, "{path}");
    }
    let r = http
        .get(ts.url("/.well-known/openid-configuration"))
        .header("x-padding", "b".repeat(9 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    // Within the limits: served.
    let r = http
        .get(ts.url("/.well-known/openid-configuration"))
        .header(
            "cookie",
            format!("lanyard_session_acme={}", "c".repeat(4000)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `url` with `name` set to `value` (replacing it if present), so no parameter repeats.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != name)
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    u.to_string()
}

fn id_token_claims(tok: &serde_json::Value) -> serde_json::Value {
    use base64::Engine;
    let payload = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
