//! Security hardening, third round: races on refresh tokens and codes, delivery robustness,
//! logout pages and CSRF purpose. Each test fails on the code before its fix.

use crate::harness::*;
use lanyard_idp::model::Lifetimes;
use lanyard_idp::session::PolicyLayer;

async fn refresh(ts: &TestServer, rt: &str) -> (u16, serde_json::Value) {
    token_request(
        ts,
        "web",
        SECRET,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

/// `n` presentations of `rt` at once.
async fn refresh_parallel(ts: &TestServer, rt: &str, n: usize) -> Vec<(u16, serde_json::Value)> {
    futures::future::join_all((0..n).map(|_| refresh(ts, rt))).await
}

async fn reuse_events(ts: &TestServer) -> Vec<lanyard_idp::store::audit::EventRow> {
    lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("refresh.reuse_detected"),
        100,
    )
    .await
    .unwrap()
}

fn grace(secs: i64) -> Setup {
    Setup {
        web_lifetimes: Lifetimes {
            refresh_reuse_grace_secs: secs,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Of the refresh tokens handed out, how many still refresh (each tried once).
async fn working(ts: &TestServer, results: &[(u16, serde_json::Value)]) -> usize {
    let mut ok = 0;
    for (_, body) in results {
        if let Some(rt) = body["refresh_token"].as_str() {
            if refresh(ts, rt).await.0 == 200 {
                ok += 1;
            }
        }
    }
    ok
}

async fn session_alive(ts: &TestServer, browser: &Browser) -> bool {
    let (url, _, _, _) = auth_url(ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    browser.get(&ts.base, &url).await.param("code").is_some()
}

async fn assert_parallel_retries_keep_the_family(n: usize, rotate_first: bool) {
    let ts = TestServer::start_with(grace(10)).await;
    let browser = Browser::new();
    let first = login_and_redeem(&ts, &browser, "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    if rotate_first {
        // The response to this rotation "gets lost": the client retries `a` from several tabs.
        assert_eq!(refresh(&ts, &a).await.0, 200);
    }
    let results = refresh_parallel(&ts, &a, n).await;
    for (s, body) in &results {
        assert_eq!(
            *s, 200,
            "a retry inside the grace window is not a replay: {body}"
        );
    }
    assert!(reuse_events(&ts).await.is_empty(), "no reuse detected");
    assert!(session_alive(&ts, &browser).await, "the session lives on");
    // Each retry replaced the unused successor: exactly the last one handed out still works.
    assert_eq!(working(&ts, &results).await, 1);
    ts.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_parallel_retries_inside_grace_keep_the_family() {
    assert_parallel_retries_keep_the_family(2, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_retries_inside_grace_keep_the_family() {
    assert_parallel_retries_keep_the_family(20, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_uses_of_an_active_token_inside_grace_keep_the_family() {
    // The losers of the race to rotate are retries of the winner's rotation.
    assert_parallel_retries_keep_the_family(20, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_racing_replay_is_one_revocation_and_one_counted_event() {
    let ts = TestServer::start_with(Setup {
        policy: PolicyLayer {
            refresh_reuse_ends_session: Some(false),
            ..Default::default()
        },
        ..grace(0)
    })
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let (_, second) = refresh(&ts, &a).await;
    let b = second["refresh_token"].as_str().unwrap().to_string();
    let results = refresh_parallel(&ts, &a, 20).await;
    for (s, body) in &results {
        assert_eq!(
            (*s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    let events = reuse_events(&ts).await;
    assert_eq!(events.len(), 1, "one revocation, one event: {events:?}");
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(detail["refused_presentations"], 20, "{detail}");
    // Nothing issued after the revocation: the newest token is dead too.
    assert_eq!(refresh(&ts, &b).await.0, 400);
    ts.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_parallel_uses_without_grace_never_succeed_after_the_revocation() {
    let ts = TestServer::start_with(Setup {
        policy: PolicyLayer {
            refresh_reuse_ends_session: Some(false),
            ..Default::default()
        },
        ..grace(0)
    })
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let a = first["refresh_token"].as_str().unwrap().to_string();
    let results = refresh_parallel(&ts, &a, 2).await;
    let ok: Vec<_> = results.iter().filter(|(s, _)| *s == 200).collect();
    // Two parties held the token: one rotated it, the other's use revoked the family.
    assert_eq!(ok.len(), 1, "{results:?}");
    assert_eq!(reuse_events(&ts).await.len(), 1);
    // What the winner got belongs to the revoked family: its refresh token no longer works and
    // its access token is inactive.
    let won = &ok[0].1;
    assert_eq!(
        refresh(&ts, won["refresh_token"].as_str().unwrap()).await.0,
        400
    );
    assert_eq!(
        introspect(&ts, won["access_token"].as_str().unwrap()).await["active"],
        false
    );
    ts.assert_invariants().await;
}

/// A fresh sign-in's authorization code and its PKCE verifier.
async fn code_for(ts: &TestServer, browser: &Browser) -> (String, String) {
    let (url, _, _, verifier) = auth_url(ts, "web", REDIRECT, "openid", &[]);
    let landing = browser.authorize(ts, &url, "alice", PASSWORD).await;
    (landing.param("code").expect("code"), verifier)
}

/// Rows that must not exist once a session has ended: an active (non-offline) refresh family
/// or an unrevoked registered access token.
async fn live_grants_on_ended_sessions(ts: &TestServer) -> (usize, usize) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &ts.state.db;
    let b = db.get_database_backend();
    let q = |sql: &str| Statement::from_string(b, sql.to_string());
    let families = db
        .query_all(q(
            "SELECT f.id FROM refresh_families f JOIN sessions s ON s.id = f.session_id \
             WHERE f.state = 'active' AND s.state = 'ended' AND f.offline = FALSE",
        ))
        .await
        .unwrap()
        .len();
    let access = db
        .query_all(q(
            "SELECT a.jti FROM access_tokens a JOIN sessions s ON s.id = a.session_id \
             WHERE a.revoked = FALSE AND s.state = 'ended'",
        ))
        .await
        .unwrap()
        .len();
    (families, access)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_exchange_racing_an_admin_revoke_all_leaves_nothing_live() {
    use lanyard_idp::session::service::{end_scope, Ender, Scope};
    use lanyard_idp::session::EndReason;
    let ts = TestServer::start().await;
    let mut issued = 0;
    for round in 0..12 {
        let browser = Browser::new();
        let (code, verifier) = code_for(&ts, &browser).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.as_str()),
        ];
        let exchange = token_request(&ts, "web", SECRET, &form);
        let revoke = async {
            // Stagger the end differently each round so it lands at different points of the
            // exchange.
            for _ in 0..round * 3 {
                tokio::task::yield_now().await;
            }
            end_scope(
                &ts.state,
                &ts.tenant.id,
                Scope::User(&ts.alice_id),
                EndReason::AdminRevoked,
                &Ender::new("admin", None),
            )
            .await
            .unwrap()
        };
        let ((status, body), _) = tokio::join!(exchange, revoke);
        if status == 200 {
            issued += 1;
            let at = body["access_token"].as_str().unwrap();
            assert_eq!(introspect(&ts, at).await["active"], false, "round {round}");
            let rt = body["refresh_token"].as_str().unwrap();
            assert_eq!(refresh(&ts, rt).await.0, 400, "round {round}");
        } else {
            assert_eq!(body["error"], "invalid_grant", "round {round}: {body}");
        }
        assert_eq!(
            live_grants_on_ended_sessions(&ts).await,
            (0, 0),
            "round {round}: a grant outlived the revoke-all"
        );
    }
    // The rounds are not all one way (else the race was not exercised at all).
    eprintln!("exchanges that committed before the end: {issued} of 12");
    ts.assert_invariants().await;
}

/// An RP that accepts back-channel connections and never answers (every attempt times out).
/// Counts the connections it was offered.
async fn dead_rp() -> (std::sync::Arc<std::sync::atomic::AtomicUsize>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(sock);
        }
    });
    (seen, format!("http://127.0.0.1:{port}/bc"))
}

async fn user_id(ts: &TestServer, name: &str) -> String {
    lanyard_idp::store::users::find_by_username(&ts.state.db, &ts.tenant.id, name)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn end_user(ts: &TestServer, user: &str) {
    use lanyard_idp::session::service::{end_scope, Ender, Scope};
    end_scope(
        &ts.state,
        &ts.tenant.id,
        Scope::User(user),
        lanyard_idp::session::EndReason::AdminRevoked,
        &Ender::new("admin", None),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_rp_holds_only_its_share_of_the_delivery_slots() {
    const BACKLOG: usize = 12;
    let (dead_seen, dead_url) = dead_rp().await;
    let (healthy, healthy_url) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(dead_url),
        env: vec![
            ("LANYARD_DELIVERY_CONCURRENCY", "4".into()),
            ("LANYARD_DELIVERY_PER_DESTINATION", "2".into()),
        ],
        ..Default::default()
    })
    .await;
    ts.client(lanyard_idp::manage::NewClient {
        client_id: "healthy".into(),
        secret: Some("healthy-secret-0123456789".into()),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["authorization_code".into()],
        first_party: true,
        backchannel_logout_uri: Some(healthy_url),
        ..Default::default()
    })
    .await;
    // Bob signs in to the healthy RP; alice has a backlog of sessions at the dead one.
    let (url, _, _, verifier) = auth_url(&ts, "healthy", REDIRECT, "openid", &[]);
    let code = Browser::new()
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .param("code")
        .unwrap();
    let (s, body) = token_request(
        &ts,
        "healthy",
        "healthy-secret-0123456789",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    for _ in 0..BACKLOG {
        login_and_redeem(&ts, &Browser::new(), "openid").await;
    }
    end_user(&ts, &ts.alice_id).await;
    // Bob's logout is owed after every one of alice's (oldest due first).
    ts.clock.advance_secs(1);
    end_user(&ts, &user_id(&ts, "bob").await).await;
    healthy.wait_for(1, &ts).await;
    let seen = dead_seen.load(std::sync::atomic::Ordering::SeqCst);
    // Without a per-destination limit every slot went to the dead RP and bob's logout waited
    // until all of alice's had timed out (the dead RP had seen the whole backlog).
    assert!(
        seen < BACKLOG,
        "the healthy RP waited behind {seen} attempts at the dead one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_failed_delivery_attempt_is_in_the_session_timeline() {
    let (rp, bc) = RecordingRp::start().await;
    *rp.fail_first.lock().unwrap() = 2;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let first_attempt_ms = ts.clock.now_secs() * 1000;
    end_user(&ts, &ts.alice_id).await;
    let failures = |n: usize| {
        let ts = &ts;
        async move {
            for _ in 0..750 {
                let events = lanyard_idp::store::audit::list(
                    &ts.state.db,
                    &ts.tenant.id,
                    Some("logout.attempt_failed"),
                    10,
                )
                .await
                .unwrap();
                if events.len() >= n {
                    return events;
                }
                ts.state.outbox_notify.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("fewer than {n} logout.attempt_failed events");
        }
    };
    let events = failures(1).await;
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
    assert!(events[0].session_id.is_some(), "an event of the session");
    assert_eq!(detail["error"], "HTTP 503");
    // The first retry comes a second or more after the first attempt.
    let next = detail["next_attempt_at_ms"].as_i64().unwrap();
    assert!(
        next >= first_attempt_ms + 1000,
        "{next} vs {first_attempt_ms}"
    );
    ts.clock.advance_secs(120);
    failures(2).await;
    ts.clock.advance_secs(600);
    rp.wait_for(1, &ts).await;
    ts.drain_outbox(10).await;
    let events = failures(2).await;
    assert_eq!(
        events.len(),
        2,
        "one event per failed attempt, none for the success"
    );
}

/// Open `u` (an end_session request without a matching hint): the OP asks first. Returns the
/// form's `csrf` and `req`.
async fn ask_at(ts: &TestServer, b: &Browser, u: &url::Url) -> (String, String) {
    let (s, body) = b.get(&ts.base, u.as_str()).await.page();
    assert_eq!(s, 200);
    assert!(body.contains("Sign out?"), "the OP asks first: {body}");
    (field(&body, "csrf").unwrap(), field(&body, "req").unwrap())
}

/// RP-Initiated Logout 1.0 §2/§3: `client_id` with a registered post-logout redirect URI and no
/// hint: the user is asked, and after signing out the browser goes back to the RP with `state`.
#[tokio::test]
async fn logout_with_client_id_and_no_hint_returns_to_the_registered_uri() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "st-42");
    // "No, stay signed in" offers the way back to the RP.
    let (csrf, req) = ask_at(&ts, &b, &u).await;
    let (s, body) = b
        .post_form(
            &ts.base,
            &ts.url("/end_session/confirm"),
            &[("csrf", &csrf), ("req", &req), ("decision", "stay")],
        )
        .await
        .page();
    assert_eq!(s, 200);
    assert!(body.contains("id=\"continue\""), "{body}");
    // Signing out goes back to the registered URI with the state.
    let (csrf, req) = ask_at(&ts, &b, &u).await;
    let back = b
        .post_form(
            &ts.base,
            &ts.url("/end_session/confirm"),
            &[("csrf", &csrf), ("req", &req), ("decision", "logout")],
        )
        .await
        .redirect();
    assert_eq!(back.as_str(), format!("{POST_LOGOUT}?state=st-42"));
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "none")]);
    assert_eq!(
        b.get(&ts.base, &url).await.param("error").as_deref(),
        Some("login_required")
    );
    ts.assert_invariants().await;
}

/// "Only this app": the application that asked is signed out (its grants revoked, its logout
/// token delivered) and the session lives on for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_of_only_the_app_that_asked_keeps_the_session() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    let tok = login_and_redeem(&ts, &b, "openid").await;
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("post_logout_redirect_uri", POST_LOGOUT)
        .append_pair("state", "s-7");
    let (s, body) = b.get(&ts.base, u.as_str()).await.page();
    assert_eq!(s, 200);
    assert!(body.contains("value=\"this_app\""), "{body}");
    let back = b
        .post_form(
            &ts.base,
            &ts.url("/end_session/confirm"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("decision", "this_app"),
            ],
        )
        .await
        .redirect();
    assert_eq!(back.as_str(), format!("{POST_LOGOUT}?state=s-7"));
    // The app's grants are gone and it was told.
    assert_eq!(
        refresh(&ts, tok["refresh_token"].as_str().unwrap()).await.0,
        400
    );
    assert_eq!(
        introspect(&ts, tok["access_token"].as_str().unwrap()).await["active"],
        false
    );
    let tokens = rp.wait_for(1, &ts).await;
    validate_logout_token(&ts, &tokens[0], "web").await;
    // The session itself lives on.
    assert!(session_alive(&ts, &b).await, "still signed in");
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

async fn form_refusals(ts: &TestServer) -> Vec<lanyard_idp::store::audit::EventRow> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("form.refused"), 50)
        .await
        .unwrap()
}

/// The CSRF token is bound to its form's purpose: the login page's token does not confirm a
/// logout, and a refused submission is audited.
#[tokio::test]
async fn a_login_forms_csrf_token_does_not_confirm_a_logout() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    // A login page's token (prompt=login shows the form to a signed-in browser).
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[("prompt", "login")]);
    let (_, login_page) = b.get(&ts.base, &url).await.page();
    let login_csrf = field(&login_page, "csrf").expect("login form");
    let (_, confirm) = b.get(&ts.base, &ts.url("/end_session")).await.page();
    let logout_csrf = field(&confirm, "csrf").unwrap();
    let req = field(&confirm, "req").unwrap();
    assert_ne!(login_csrf, logout_csrf, "one token per purpose");
    let (s, _) = b
        .post_form(
            &ts.base,
            &ts.url("/end_session/confirm"),
            &[("csrf", &login_csrf), ("req", &req), ("decision", "logout")],
        )
        .await
        .page();
    assert_eq!(s, 403, "a login token confirms no logout");
    assert!(session_alive(&ts, &b).await, "nothing was ended");
    let refused = form_refusals(&ts).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].outcome, "token_mismatch");
    let detail: serde_json::Value = serde_json::from_str(&refused[0].detail).unwrap();
    assert_eq!(detail["purpose"], "logout");
    assert!(
        !refused[0].detail.contains(&login_csrf),
        "the token is never recorded"
    );
}

/// A state-changing POST that the browser says came from another site is refused even without
/// `Origin` and with a valid token (W3C Fetch Metadata §2.4).
#[tokio::test]
async fn a_cross_site_post_without_origin_is_refused_and_audited() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (_, confirm) = b.get(&ts.base, &ts.url("/end_session")).await.page();
    let csrf = field(&confirm, "csrf").unwrap();
    let req = field(&confirm, "req").unwrap();
    let r = b
        .http
        .post(ts.url("/end_session/confirm"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf", csrf.as_str()),
            ("req", req.as_str()),
            ("decision", "logout"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(session_alive(&ts, &b).await);
    let refused = form_refusals(&ts).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].outcome, "cross_site");
}
