//! Logout propagation: RP-initiated, front-channel, back-channel, on every way a session ends.

use crate::harness::*;
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;

fn id_token_claims(tok: &serde_json::Value) -> serde_json::Value {
    let p = tok["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap()
}

async fn assert_logged_out(ts: &TestServer, b: &Browser) {
    let (url, _, _, _) = auth_url(ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    assert_eq!(
        b.get(&ts.base, &url).await.param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn rp_initiated_logout_redirects_with_state_and_sends_backchannel_token() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", tok["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "xyz");
    let landing = b.get(&ts.base, u.as_str()).await.redirect();
    assert_eq!(landing.as_str(), format!("{POST_LOGOUT}?state=xyz"));
    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    assert_eq!(c["sid"], sid.as_str());
    assert_eq!(c["sub"], ts.alice_id.as_str());
    assert_logged_out(&ts, &b).await;
    assert_eq!(
        introspect(&ts, tok["access_token"].as_str().unwrap()).await["active"],
        false
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn expired_id_token_hint_is_still_accepted() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    ts.clock.advance_secs(1000); // ID token (300 s) expired; session (1 h idle) alive
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", tok["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    assert_eq!(
        b.get(&ts.base, u.as_str()).await.redirect().as_str(),
        POST_LOGOUT
    );
    assert_logged_out(&ts, &b).await;
}

#[tokio::test]
async fn logout_without_hint_asks_the_user_first() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (s, body) = b.get(&ts.base, &ts.url("/end_session")).await.page();
    assert_eq!(s, 200);
    assert!(body.contains("Sign out?"), "confirmation page");
    // Nothing happened yet.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    assert!(b.get(&ts.base, &url).await.param("code").is_some());
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();
    let (s, body) = b
        .post_form(
            &ts.base,
            &ts.url("/end_session/confirm"),
            &[("csrf", &csrf), ("req", &req), ("decision", "logout")],
        )
        .await
        .page();
    assert_eq!(s, 200);
    assert!(body.contains("You are logged out"));
    assert_logged_out(&ts, &b).await;
}

#[tokio::test]
async fn unregistered_post_logout_redirect_is_refused_without_redirect() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    for uri in ["https://evil.example/", &format!("{POST_LOGOUT}?foo=bar")] {
        let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
        u.query_pairs_mut()
            .append_pair("id_token_hint", tok["id_token"].as_str().unwrap())
            .append_pair("post_logout_redirect_uri", uri);
        let (s, _) = b.get(&ts.base, u.as_str()).await.page();
        assert_eq!(s, 400, "{uri}");
    }
    // A hint not signed by us (alg none) is refused too.
    let parts: Vec<&str> = tok["id_token"].as_str().unwrap().split('.').collect();
    let none_header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"none"}"#,
    );
    let forged = format!("{none_header}.{}.", parts[1]);
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", &forged)
        .append_pair("post_logout_redirect_uri", POST_LOGOUT);
    assert_eq!(b.get(&ts.base, u.as_str()).await.page().0, 400);
    // URI without hint or client_id: no redirect.
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "s");
    assert!(matches!(
        b.get(&ts.base, u.as_str()).await,
        Landing::Page { .. }
    ));
    // Still logged in after all that.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    assert!(b.get(&ts.base, &url).await.param("code").is_some());
}

#[tokio::test]
async fn frontchannel_logout_page_frames_each_rp_with_iss_and_sid() {
    let ts = TestServer::start_with(Setup {
        web_frontchannel: Some("https://rp.example/fc".into()),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("id_token_hint", tok["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "s1");
    let r = b.http.get(u.as_str()).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    // Attribute values are HTML-escaped; a browser decodes them before loading.
    let body = r
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(csp.contains("frame-src https://rp.example"), "{csp}");
    let expected = format!(
        "https://rp.example/fc?iss={}&sid={}",
        url::form_urlencoded::byte_serialize(ts.issuer.as_bytes()).collect::<String>(),
        sid
    );
    assert!(body.contains(&expected), "iframe with iss and sid: {body}");
    assert!(
        body.contains(&format!("{POST_LOGOUT}?state=s1")),
        "continue link"
    );
}

#[tokio::test]
async fn backchannel_retries_on_503_with_fresh_tokens() {
    let (rp, bc) = RecordingRp::start().await;
    *rp.fail_first.lock().unwrap() = 2;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    manage::revoke_session(&ts.state, &ts.tenant, &sid, "test")
        .await
        .unwrap();
    // Each failure schedules a retry in the (mock) future; move time on until it is delivered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while rp.tokens().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        ts.clock.advance_secs(5);
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let tokens = rp.tokens();
    validate_logout_token(&ts, &tokens[0], "web").await;
    let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "delivered");
    assert_eq!(rows[0].attempts, 3, "two 503s then success");
}

#[tokio::test]
async fn rp_refusing_with_4xx_makes_delivery_dead_and_retryable_by_hand() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc.replace("/bc", "/missing")),
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    manage::revoke_session(&ts.state, &ts.tenant, &sid, "test")
        .await
        .unwrap();
    ts.drain_outbox(10).await;
    let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(rows[0].state, "dead");
    assert!(rows[0].last_error.as_deref().unwrap_or("").contains("404"));
    let events = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("logout.delivery_failed"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert!(rp.tokens().is_empty());
    assert!(
        manage::retry_delivery(&ts.state, &ts.tenant, &rows[0].id, "cli")
            .await
            .unwrap()
    );
    ts.drain_outbox(10).await;
}

#[tokio::test]
async fn idle_timeout_is_swept_and_propagated() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        policy: PolicyLayer {
            idle_timeout_secs: Some(60),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    ts.clock.advance_secs(30);
    assert_eq!(ts.sweep().await, 0, "not idle yet");
    ts.clock.advance_secs(31);
    assert_eq!(ts.sweep().await, 1);
    let tokens = rp.wait_for(1, &ts).await;
    validate_logout_token(&ts, &tokens[0], "web").await;
    let sessions = lanyard_idp::store::sessions::list(&ts.state.db, &ts.tenant.id, None, false, 10)
        .await
        .unwrap();
    assert_eq!(sessions[0].end_reason.as_deref(), Some("idle_timeout"));
    let (s, _) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(s, 400, "refresh dies with the session");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn refresh_keeps_session_from_idling_out() {
    let ts = TestServer::start_with(Setup {
        policy: PolicyLayer {
            idle_timeout_secs: Some(60),
            absolute_timeout_secs: Some(150),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let mut rt = tok["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        ts.clock.advance_secs(50);
        let (s, t) = token_request(
            &ts,
            "web",
            SECRET,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(s, 200);
        rt = t["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(ts.sweep().await, 0);
    }
    ts.clock.advance_secs(51); // t = 151 > absolute 150
    assert_eq!(ts.sweep().await, 1, "absolute timeout cannot be extended");
    let sessions = lanyard_idp::store::sessions::list(&ts.state.db, &ts.tenant.id, None, false, 10)
        .await
        .unwrap();
    assert_eq!(sessions[0].end_reason.as_deref(), Some("absolute_timeout"));
}

#[tokio::test]
async fn disabling_a_user_ends_every_session_everywhere() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let t1 = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let t2 = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let n = manage::disable_user(&ts.state, &ts.tenant, "alice", "hr")
        .await
        .unwrap();
    assert_eq!(n, 2);
    let tokens = rp.wait_for(2, &ts).await;
    let mut sids = Vec::new();
    for t in &tokens {
        sids.push(
            validate_logout_token(&ts, t, "web").await["sid"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 2, "one token per session");
    for t in [&t1, &t2] {
        assert_eq!(
            introspect(&ts, t["access_token"].as_str().unwrap()).await["active"],
            false
        );
    }
    // A disabled user cannot log in again.
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert_eq!(
        Browser::new()
            .authorize(&ts, &url, "alice", PASSWORD)
            .await
            .page()
            .0,
        401
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn logging_in_as_another_user_supersedes_the_browser_session() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let first = login_and_redeem(&ts, &b, "openid").await;
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "login")]);
    assert!(b
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .param("code")
        .is_some());
    assert_eq!(
        introspect(&ts, first["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

/// An RP that hangs past the delivery timeout the first time, then answers.
#[tokio::test]
async fn backchannel_retries_after_rp_hangs_past_the_timeout() {
    use poem::{handler, post, web::Data, EndpointExt, Route};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    #[derive(Clone, Default)]
    struct Rp {
        calls: Arc<AtomicU32>,
        delivered: Arc<std::sync::Mutex<Vec<String>>>,
    }
    #[handler]
    async fn slow(rp: Data<&Rp>, body: String) -> poem::http::StatusCode {
        if rp.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            // Longer than LANYARD_DELIVERY_TIMEOUT_MS (1 s in the harness).
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
        rp.delivered.lock().unwrap().push(body);
        poem::http::StatusCode::OK
    }
    let rp = Rp::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Route::new().at("/bc", post(slow)).data(rp.clone());
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(format!("http://127.0.0.1:{port}/bc")),
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    manage::revoke_session(&ts.state, &ts.tenant, &sid, "test")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
            .await
            .unwrap();
        if rows[0].state == "delivered" {
            assert!(
                rows[0].attempts >= 2,
                "the hung attempt timed out and was retried"
            );
            break;
        }
        if rows[0].state == "retry" {
            assert_eq!(rows[0].last_error.as_deref(), Some("timeout"));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never delivered: {:?}",
            rows[0]
        );
        ts.clock.advance_secs(5);
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bodies = rp.delivered.lock().unwrap().clone();
    let last = bodies.last().unwrap();
    let token = url::form_urlencoded::parse(last.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .unwrap()
        .1
        .to_string();
    validate_logout_token(&ts, &token, "web").await;
}

/// An RP that is down (connection refused) and comes up later still gets its logout.
#[tokio::test]
async fn backchannel_reaches_an_rp_that_was_down_when_the_session_ended() {
    // Reserve a port, then close it: connections are refused until the RP starts there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(format!("http://127.0.0.1:{port}/bc")),
        ..Default::default()
    })
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = id_token_claims(&tok)["sid"].as_str().unwrap().to_string();
    manage::revoke_session(&ts.state, &ts.tenant, &sid, "test")
        .await
        .unwrap();
    // Wait for a failed attempt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
            .await
            .unwrap();
        if rows[0].state == "retry" {
            assert!(
                rows[0]
                    .last_error
                    .as_deref()
                    .unwrap_or("")
                    .contains("connection"),
                "{:?}",
                rows[0].last_error
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed attempt recorded: {:?}",
            rows[0]
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The RP comes up on that port.
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        use poem::{handler, post, web::Data, EndpointExt, Route};
        #[handler]
        async fn bc(
            store: Data<&std::sync::Arc<std::sync::Mutex<Vec<String>>>>,
            body: String,
        ) -> poem::http::StatusCode {
            store.lock().unwrap().push(body);
            poem::http::StatusCode::OK
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let app = Route::new().at("/bc", post(bc)).data(received.clone());
        let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while received.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "never delivered after the RP came up"
        );
        ts.clock.advance_secs(5);
        ts.state.outbox_notify.notify_one();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let body = received.lock().unwrap()[0].clone();
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .unwrap()
        .1
        .to_string();
    validate_logout_token(&ts, &token, "web").await;
    ts.drain_outbox(10).await;
}
