//! Session governance I, end to end: concurrent-session limits (evict, refuse, ask) including
//! the parallel-login race on one and two nodes, client-scoped limits on SSO, schedules with a
//! mock clock, live policy changes, membership rules, cohort revocation (dry run equals real
//! run), exports, and the trusted-proxy client IP.

use crate::harness::*;
use lanyard_idp::app::AppState;
use lanyard_idp::config::Config;
use lanyard_idp::manage::NewClient;
use lanyard_idp::session::cohort::Selector;
use lanyard_idp::session::service::policy::{change_layer, change_membership, FieldChange};
use lanyard_idp::session::service::{self as sessions, cohort};
use lanyard_idp::session::{EndReason, LayerRef, Session, SessionState};
use std::collections::HashMap;
use std::sync::Arc;

/// Set fields of one policy layer through the session service (what the CLI and API call).
async fn set(ts: &TestServer, layer: LayerRef, kv: &[(&str, &str)]) {
    let changes: Vec<FieldChange> = kv
        .iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v.to_string()))
        .collect();
    change_layer(&ts.state, &ts.tenant, &layer, &changes, "test")
        .await
        .expect("policy change");
}

async fn sessions_of(ts: &TestServer, user_id: &str) -> Vec<Session> {
    sessions::resolve::list(&ts.state, &ts.tenant.id, Some(user_id), false, 100)
        .await
        .unwrap()
}

async fn live_of(ts: &TestServer, user_id: &str) -> Vec<Session> {
    sessions_of(ts, user_id)
        .await
        .into_iter()
        .filter(|s| s.is_active())
        .collect()
}

fn ended_reason(s: &Session) -> Option<EndReason> {
    match s.state {
        SessionState::Ended { reason, .. } => Some(reason),
        SessionState::Active { .. } => None,
    }
}

fn claims(jwt: &str) -> serde_json::Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap()
}

fn sid_of(tok: &serde_json::Value) -> String {
    claims(tok["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn events(ts: &TestServer, kind: &str) -> Vec<lanyard_idp::store::audit::EventRow> {
    lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some(kind), 1000)
        .await
        .unwrap()
}

/// A second Lanyard node on the same database and clock, with extra settings. It keeps the
/// first node's public URL (issuer), as nodes behind one load balancer do.
pub(crate) async fn start_node(ts: &TestServer, extra: &[(&str, &str)]) -> String {
    start_node_state(ts, extra).await.0
}

pub(crate) async fn start_node_state(
    ts: &TestServer,
    extra: &[(&str, &str)],
) -> (String, lanyard_idp::app::State) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut vars: HashMap<String, String> = [
        (
            "LANYARD_DATABASE_URL",
            ts.state.config.database_url.to_string_unredacted(),
        ),
        ("LANYARD_BIND", format!("127.0.0.1:{port}")),
        ("LANYARD_PUBLIC_URL", ts.base.clone()),
        ("LANYARD_DEMO", "false".into()),
        ("LANYARD_DATABASE_MAX_CONNECTIONS", "8".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::load(None, &move |k| vars.get(k).cloned()).unwrap();
    let db = lanyard_idp::store::connect_sized(&config.database_url, Some(8))
        .await
        .unwrap();
    let state = AppState::new(db, config, Arc::new(ts.clock.clone()))
        .await
        .unwrap();
    let app = lanyard_idp::server::app(state.clone(), lanyard_admin::extend(state.clone()));
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    (format!("http://127.0.0.1:{port}"), state)
}

/// Open the login form for `web` and return (browser, csrf, req, state, verifier).
async fn login_form(ts: &TestServer) -> (Browser, String, String, String, String) {
    let b = Browser::new();
    let (url, state, _n, verifier) = auth_url(ts, "web", REDIRECT, "openid", &[]);
    let (status, body) = b.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();
    (b, csrf, req, state, verifier)
}

async fn redeem(ts: &TestServer, code: &str, verifier: &str) -> serde_json::Value {
    let (status, tok) = token_request(
        ts,
        "web",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tok}");
    tok
}

#[tokio::test]
async fn login_over_limit_evicts_oldest_and_its_rp_hears_of_it() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("max_sessions", "1"), ("limit_action", "evict_oldest")],
    )
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid offline_access").await;
    let sid1 = sid_of(&first);
    ts.clock.advance_secs(5);
    let second = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid2 = sid_of(&second);

    let tokens = rp.wait_for(1, &ts).await;
    let c = validate_logout_token(&ts, &tokens[0], "web").await;
    assert_eq!(c["sid"], sid1.as_str(), "the evicted session's RP is told");
    let live = live_of(&ts, &ts.alice_id).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sid, sid2);
    let all = sessions_of(&ts, &ts.alice_id).await;
    let old = all.iter().find(|s| s.sid == sid1).unwrap();
    assert_eq!(ended_reason(old), Some(EndReason::Evicted));
    // The evicted session's grants are dead at once.
    let (status, _) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        introspect(&ts, first["access_token"].as_str().unwrap()).await["active"],
        false
    );
    // Audit: the limit hit names the session that caused the eviction.
    let hits = events(&ts, "session.limit_hit").await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].outcome, "evicted");
    let d: serde_json::Value = serde_json::from_str(&hits[0].detail).unwrap();
    assert_eq!(d["new_session"], sid2.as_str());
    assert_eq!(d["ended"], serde_json::json!([sid1]));
    assert_eq!(d["limit"], 1);
    let ended = events(&ts, "session.ended").await;
    let d: serde_json::Value = serde_json::from_str(&ended[0].detail).unwrap();
    assert_eq!(d["caused_by"], sid2.as_str());
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn login_over_limit_is_refused_with_a_page_and_access_denied_on_return() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("max_sessions", "1"), ("limit_action", "refuse")],
    )
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let b = Browser::new();
    let (url, state, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, body) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 403);
    assert!(body.contains("too many devices"), "{body}");
    assert!(body.contains("allows"), "{body}");
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();
    let back = b
        .post_form(
            &ts.base,
            &ts.url("/login/choose"),
            &[("csrf", &csrf), ("req", &req), ("decision", "cancel")],
        )
        .await;
    assert_eq!(back.param("error").as_deref(), Some("access_denied"));
    assert_eq!(back.param("state").as_deref(), Some(state.as_str()));
    // Nothing changed: the first session is the only one, still live.
    let live = live_of(&ts, &ts.alice_id).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sid, sid_of(&first));
    let outcomes: Vec<String> = events(&ts, "session.limit_hit")
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert!(outcomes.contains(&"refused".to_string()), "{outcomes:?}");
    assert!(outcomes.contains(&"cancelled".to_string()), "{outcomes:?}");
}

#[tokio::test]
async fn login_over_limit_asks_which_session_to_end_and_continues() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("max_sessions", "1"), ("limit_action", "ask")],
    )
    .await;
    let first = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid1 = sid_of(&first);

    let b = Browser::new();
    let (url, state, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, body) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("value=\"{sid1}\"")),
        "lists the live session"
    );
    assert!(body.contains("End selected and continue"));
    let csrf = field(&body, "csrf").unwrap();
    let req = field(&body, "req").unwrap();

    // Choosing nothing asks again, ends nothing.
    let (status, again) = b
        .post_form(
            &ts.base,
            &ts.url("/login/choose"),
            &[("csrf", &csrf), ("req", &req), ("decision", "end")],
        )
        .await
        .page();
    assert_eq!(status, 400);
    assert!(again.contains("Choose a session to end."), "{again}");
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 1);

    // Another browser cannot answer for this one (the choice is bound to it).
    let intruder = Browser::new();
    let stolen = intruder
        .post_form(
            &ts.base,
            &ts.url("/login/choose"),
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("decision", "end"),
                ("end", &sid1),
            ],
        )
        .await;
    assert!(
        matches!(
            stolen,
            Landing::Page {
                status: 403 | 400,
                ..
            }
        ),
        "{stolen:?}"
    );
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 1);

    let landing = b
        .post_form(
            &ts.base,
            &ts.url("/login/choose"),
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("decision", "end"),
                ("end", &sid1),
            ],
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let code = landing.param("code").expect("the authorization continued");
    let second = redeem(&ts, &code, &verifier).await;
    let live = live_of(&ts, &ts.alice_id).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sid, sid_of(&second));
    let old = sessions_of(&ts, &ts.alice_id)
        .await
        .into_iter()
        .find(|s| s.sid == sid1)
        .unwrap();
    assert_eq!(ended_reason(&old), Some(EndReason::UserChoice));
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid1.as_str()
    );
    let outcomes: Vec<String> = events(&ts, "session.limit_hit")
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert!(outcomes.contains(&"asked".to_string()), "{outcomes:?}");
    assert!(outcomes.contains(&"user_chose".to_string()), "{outcomes:?}");

    // Cancelling on the page changes nothing and tells the RP access_denied.
    let b3 = Browser::new();
    let (url, state3, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (_, body) = b3.authorize(&ts, &url, "alice", PASSWORD).await.page();
    let back = b3
        .post_form(
            &ts.base,
            &ts.url("/login/choose"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("decision", "cancel"),
            ],
        )
        .await;
    assert_eq!(back.param("error").as_deref(), Some("access_denied"));
    assert_eq!(back.param("state").as_deref(), Some(state3.as_str()));
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 1);
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

/// N parallel logins of one user with limit 1 leave exactly one active session, every time,
/// with logins spread over two nodes sharing the database.
async fn race(action: &str) {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("max_sessions", "1"), ("limit_action", action)],
    )
    .await;
    let node2 = start_node(&ts, &[]).await;
    const N: usize = 8;
    let mut forms = Vec::new();
    for _ in 0..N {
        forms.push(login_form(&ts).await);
    }
    let posts = forms.iter().enumerate().map(|(i, (b, csrf, req, _, _))| {
        let base = if i % 2 == 0 {
            ts.base.clone()
        } else {
            node2.clone()
        };
        let url = format!("{base}/t/acme/login");
        async move {
            b.http
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("req", req.as_str()),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    let responses = futures::future::join_all(posts).await;
    let admitted = responses
        .iter()
        .filter(|r| {
            r.headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.contains("code="))
        })
        .count();
    let live = live_of(&ts, &ts.alice_id).await;
    assert_eq!(live.len(), 1, "exactly one active session ({action})");
    match action {
        "refuse" => {
            assert_eq!(admitted, 1, "exactly one login admitted");
            let refused = responses.iter().filter(|r| r.status() == 403).count();
            assert_eq!(refused, N - 1);
        }
        _ => {
            assert_eq!(
                admitted, N,
                "every login admitted, each evicting the one before"
            );
            let all = sessions_of(&ts, &ts.alice_id).await;
            assert_eq!(all.len(), N);
            assert_eq!(
                all.iter()
                    .filter(|s| ended_reason(s) == Some(EndReason::Evicted))
                    .count(),
                N - 1
            );
        }
    }
    ts.assert_invariants().await;
}

/// The admission step itself under contention, without the password hash in front of it (which
/// spaces real logins out): 32 concurrent `begin`s of one user on two nodes.
async fn race_admission(action: &str) {
    use lanyard_idp::session::service::{Admission, Login};
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("max_sessions", "1"), ("limit_action", action)],
    )
    .await;
    let (_, node2) = start_node_state(&ts, &[]).await;
    let user = lanyard_idp::store::users::find(&ts.state.db, &ts.tenant.id, &ts.alice_id)
        .await
        .unwrap()
        .unwrap();
    let client = lanyard_idp::protocol::load_client(&ts.state, &ts.tenant, "web")
        .await
        .unwrap()
        .unwrap();
    const N: usize = 32;
    let tasks = (0..N).map(|i| {
        let st = if i % 2 == 0 {
            ts.state.clone()
        } else {
            node2.clone()
        };
        let (tenant, user, client) = (ts.tenant.clone(), user.clone(), client.clone());
        let ctx = lanyard_idp::http::RequestContext::system(ts.clock.now_secs() * 1000);
        tokio::spawn(async move {
            let login = Login {
                user: &user,
                client: &client,
                acr: lanyard_idp::session::stepup::ACR_PWD.into(),
                amr: vec!["pwd".into()],
                mfa_at: None,
            };
            matches!(
                sessions::begin(&st, &tenant, &login, None, None, &ctx)
                    .await
                    .unwrap(),
                Admission::Admitted(_)
            )
        })
    });
    let admitted = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 1, "{action}");
    let expected = if action == "refuse" { 1 } else { N };
    assert_eq!(admitted, expected, "{action}");
    ts.assert_invariants().await;
}

#[tokio::test]
async fn concurrent_admissions_on_two_nodes_hold_the_limit_exactly() {
    race_admission("evict_oldest").await;
    race_admission("refuse").await;
}

#[tokio::test]
async fn parallel_logins_with_limit_one_leave_exactly_one_session_evict() {
    race("evict_oldest").await;
}

#[tokio::test]
async fn parallel_logins_with_limit_one_leave_exactly_one_session_refuse() {
    race("refuse").await;
}

#[tokio::test]
async fn a_client_rule_limits_sessions_per_user_and_client_also_on_sso() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    // One trading session per trader: the limit is on the client, counted per (user, client).
    set(&ts, LayerRef::client("web"), &[("max_sessions", "1")]).await;
    let laptop = Browser::new();
    let first = login_and_redeem(&ts, &laptop, "openid").await;
    let sid1 = sid_of(&first);
    // A second browser signs in to another app: not limited.
    let desk = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "other", "https://other.example/cb", "openid", &[]);
    let landing = desk.authorize(&ts, &url, "alice", PASSWORD).await;
    assert!(landing.param("code").is_some());
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 2);
    // Then opens the trading app through SSO: that session joins `web`, the laptop's ends.
    let (url, state, _, verifier) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let landing = desk.get(&ts.base, &url).await;
    assert_eq!(landing.param("state").as_deref(), Some(state.as_str()));
    let second = redeem(&ts, &landing.param("code").unwrap(), &verifier).await;
    let live = live_of(&ts, &ts.alice_id).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sid, sid_of(&second));
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid1.as_str()
    );
    let hit = &events(&ts, "session.limit_hit").await[0];
    let d: serde_json::Value = serde_json::from_str(&hit.detail).unwrap();
    assert_eq!(d["counted_per"], "user_and_client");
    assert_eq!(d["limit_set_by"], "client:web");
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

/// "HH:MM" of the mock clock plus `secs`, in UTC.
fn hhmm_after(ts: &TestServer, secs: i64) -> (String, i64) {
    let now = ts.clock.now_secs();
    let target = (now + secs) / 60 * 60; // on the minute
    let t = chrono::DateTime::from_timestamp(target, 0).unwrap();
    (t.format("%H:%M").to_string(), target)
}

#[tokio::test]
async fn sessions_of_a_scheduled_group_end_at_the_shift_end() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let (hhmm, at) = hhmm_after(&ts, 2 * 3600);
    // alice is in `staff` (harness); bob is in no group.
    set(
        &ts,
        LayerRef::group("staff"),
        &[("schedule", &format!("{hhmm} UTC"))],
    )
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let sid = sid_of(&tok);
    let bob = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert!(bob
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .param("code")
        .is_some());
    let s = live_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(s.clocks.scheduled_end_at, Some(at));

    // Keep both sessions from idling out; just before the shift end nothing happens.
    ts.clock.advance_secs(at - ts.clock.now_secs() - 1);
    set(&ts, LayerRef::tenant(), &[("idle_timeout_secs", "3h")]).await;
    assert_eq!(ts.sweep().await, 0);
    assert_eq!(live_of(&ts, &ts.alice_id).await.len(), 1);
    ts.clock.advance_secs(1);
    assert_eq!(
        ts.sweep().await,
        1,
        "only the scheduled group's session ends"
    );
    let s = sessions_of(&ts, &ts.alice_id)
        .await
        .into_iter()
        .find(|s| s.sid == sid)
        .unwrap();
    assert_eq!(ended_reason(&s), Some(EndReason::Scheduled));
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid.as_str()
    );
    let bob_id = lanyard_idp::store::users::find_by_username(&ts.state.db, &ts.tenant.id, "bob")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(live_of(&ts, &bob_id).await.len(), 1);
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn tightening_a_policy_applies_to_live_sessions_at_once() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    let early = login_and_redeem(&ts, &Browser::new(), "openid").await;
    ts.clock.advance_secs(600);
    let bob = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert!(bob
        .authorize(&ts, &url, "bob", PASSWORD)
        .await
        .param("code")
        .is_some());
    let bob_id = lanyard_idp::store::users::find_by_username(&ts.state.db, &ts.tenant.id, "bob")
        .await
        .unwrap()
        .unwrap()
        .id;

    // Idle 5 minutes: alice has been idle 10 minutes, so her session ends now.
    let changed = change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::tenant(),
        &[FieldChange::Set("idle_timeout_secs".into(), "300".into())],
        "test",
    )
    .await
    .unwrap();
    assert_eq!(changed.sessions_ended, 1);
    assert_eq!(changed.sessions_reresolved, 2);
    let a = sessions_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(ended_reason(&a), Some(EndReason::PolicyChanged));
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid_of(&early).as_str()
    );
    // Bob's deadline is shortened, not ended: it passes after 5 more minutes of nothing.
    let b = live_of(&ts, &bob_id).await.remove(0);
    assert_eq!(b.clocks.idle_timeout_secs, 300);
    assert_eq!(b.clocks.idle_deadline, b.last_active_at + 300);
    ts.clock.advance_secs(301);
    assert_eq!(ts.sweep().await, 1);
    assert!(live_of(&ts, &bob_id).await.is_empty());
    // The change is audited with before and after.
    let e = &events(&ts, "policy.changed").await[0];
    let d: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
    assert_eq!(d["layer"], "tenant");
    assert_eq!(d["after"]["idle_timeout_secs"], "300");
    // Only the keys given changed: another change keeps this one.
    set(&ts, LayerRef::tenant(), &[("max_sessions", "3")]).await;
    let p = sessions::policy::show(&ts.state, &ts.tenant, None, None)
        .await
        .unwrap();
    assert_eq!(p.idle_timeout_secs.value, 300);
    assert_eq!(p.max_sessions.value, Some(3));
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn membership_changes_reresolve_or_end_sessions_by_rule() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    change_membership(
        &ts.state,
        &ts.tenant,
        &ts.alice_id,
        None,
        Some(("clearance", Some("secret"))),
        "test",
    )
    .await
    .unwrap();
    set(
        &ts,
        LayerRef::attribute("clearance", "secret"),
        &[
            ("idle_timeout_secs", "600"),
            ("end_sessions_on_membership_change", "true"),
        ],
    )
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid").await;
    let s = live_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(
        s.clocks.idle_timeout_secs, 600,
        "the attribute rule applies"
    );

    // Joining a group with a stricter rule re-resolves the live session at once.
    lanyard_idp::session::service::policy::create_group(
        &ts.state, &ts.tenant, "traders", None, "test",
    )
    .await
    .unwrap();
    set(
        &ts,
        LayerRef::group("traders"),
        &[("idle_timeout_secs", "60")],
    )
    .await;
    let changed = change_membership(
        &ts.state,
        &ts.tenant,
        &ts.alice_id,
        Some(&["staff".into(), "traders".into()]),
        None,
        "test",
    )
    .await
    .unwrap();
    assert!(changed.rules_triggered.is_empty());
    let s = live_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(s.clocks.idle_timeout_secs, 60);

    // The clearance is revoked mid-shift: every session of hers ends.
    let changed = change_membership(
        &ts.state,
        &ts.tenant,
        &ts.alice_id,
        None,
        Some(("clearance", None)),
        "test",
    )
    .await
    .unwrap();
    assert_eq!(changed.rules_triggered, vec!["attribute:clearance=secret"]);
    assert_eq!(changed.sessions_ended, 1);
    let s = sessions_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(ended_reason(&s), Some(EndReason::AttributesChanged));
    let tokens = rp.wait_for(1, &ts).await;
    assert_eq!(
        validate_logout_token(&ts, &tokens[0], "web").await["sid"],
        sid_of(&tok).as_str()
    );
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_cohort_dry_run_and_the_real_run_agree() {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc),
        ..Default::default()
    })
    .await;
    // Two sessions of alice (staff), one of bob; bob's from 10.1.2.3 through a trusted proxy.
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let proxied = forwarded_browser("10.1.2.3");
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let url = url.replace(&ts.base, &node);
    let landing = login_on(&proxied, &node, &url, "bob").await;
    assert!(landing.param("code").is_some(), "{landing:?}");

    let staff = Selector {
        group: Some("staff".into()),
        ..Default::default()
    };
    let dry = cohort::run(&ts.state, &ts.tenant, &staff, false, "test")
        .await
        .unwrap();
    assert_eq!(dry.sessions, 2);
    assert_eq!(dry.users, vec!["alice"]);
    assert_eq!(dry.clients, vec!["web"]);
    assert_eq!(
        dry.backchannel_deliveries, 2,
        "one logout token per session to web"
    );
    assert_eq!(
        live_of(&ts, &ts.alice_id).await.len(),
        2,
        "a dry run ends nothing"
    );

    let real = cohort::run(&ts.state, &ts.tenant, &staff, true, "test")
        .await
        .unwrap();
    assert_eq!(
        lanyard_idp::session::service::cohort::CohortReport {
            dry_run: true,
            ..real.clone()
        },
        dry,
        "the real run covers exactly what the dry run reported"
    );
    assert!(live_of(&ts, &ts.alice_id).await.is_empty());
    rp.wait_for(real.backchannel_deliveries as usize, &ts).await;
    let ended: Vec<EndReason> = sessions_of(&ts, &ts.alice_id)
        .await
        .iter()
        .filter_map(ended_reason)
        .collect();
    assert_eq!(
        ended,
        vec![EndReason::CohortRevoked, EndReason::CohortRevoked]
    );

    // By network: only bob's proxied session is in 10.0.0.0/8.
    let net = Selector {
        ip_range: Some("10.0.0.0/8".parse().unwrap()),
        ..Default::default()
    };
    let r = cohort::run(&ts.state, &ts.tenant, &net, false, "test")
        .await
        .unwrap();
    assert_eq!((r.sessions, r.users.clone()), (1, vec!["bob".to_string()]));
    // By auth time: nothing authenticated before the first login.
    let old = Selector {
        auth_before: Some(ts.clock.now_secs() - 3600),
        ..Default::default()
    };
    assert_eq!(
        cohort::run(&ts.state, &ts.tenant, &old, false, "test")
            .await
            .unwrap()
            .sessions,
        0
    );
    // Selectors combine: bob is not in staff.
    let both = Selector {
        group: Some("staff".into()),
        ip_range: Some("10.0.0.0/8".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(
        cohort::run(&ts.state, &ts.tenant, &both, false, "test")
            .await
            .unwrap()
            .sessions,
        0
    );
    // An empty selector and an unknown name are refused, not "everything" or "nothing".
    assert!(
        cohort::run(&ts.state, &ts.tenant, &Selector::default(), true, "test")
            .await
            .is_err()
    );
    let typo = Selector {
        group: Some("staf".into()),
        ..Default::default()
    };
    let e = cohort::run(&ts.state, &ts.tenant, &typo, true, "test")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no group 'staf'"), "{e}");
    let audit = events(&ts, "sessions.cohort_revoked").await;
    assert_eq!(audit.len(), 1);
    let d: serde_json::Value = serde_json::from_str(&audit[0].detail).unwrap();
    assert_eq!(d["selector"]["group"], "staff");
    assert_eq!(d["sessions"], 2);
    ts.drain_outbox(10).await;
    ts.assert_invariants().await;
}

/// A browser whose requests carry `X-Forwarded-For` (as a reverse proxy adds it).
fn forwarded_browser(ip: &str) -> Browser {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", ip.parse().unwrap());
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap(),
    }
}

/// Sign in through a given node (its own login form URL).
async fn login_on(b: &Browser, node: &str, auth_url: &str, user: &str) -> Landing {
    let (status, body) = b.get(node, auth_url).await.page();
    assert_eq!(status, 200, "{body}");
    b.post_form(
        node,
        &format!("{node}/t/acme/login"),
        &[
            ("csrf", &field(&body, "csrf").unwrap()),
            ("req", &field(&body, "req").unwrap()),
            ("username", user),
            ("password", PASSWORD),
        ],
    )
    .await
}

#[tokio::test]
async fn the_client_ip_comes_from_forwarded_headers_only_behind_a_trusted_proxy() {
    let ts = TestServer::start().await;
    let spoof = forwarded_browser("203.0.113.7");
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    assert!(login_on(&spoof, &ts.base, &url, "alice")
        .await
        .param("code")
        .is_some());
    let s = live_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(
        s.binding.ip, "127.0.0.1",
        "an untrusted peer's header is ignored"
    );

    let node = start_node(&ts, &[("LANYARD_TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    let proxied = forwarded_browser("198.51.100.1, 203.0.113.7");
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let url = url.replace(&ts.base, &node);
    let bob = login_on(&proxied, &node, &url, "bob").await;
    assert!(bob.param("code").is_some());
    let bob_id = lanyard_idp::store::users::find_by_username(&ts.state.db, &ts.tenant.id, "bob")
        .await
        .unwrap()
        .unwrap()
        .id;
    let s = live_of(&ts, &bob_id).await.remove(0);
    assert_eq!(
        s.binding.ip, "203.0.113.7",
        "the right-most address before the trusted proxy"
    );
    // The audit trail records the same address.
    let created = events(&ts, "session.created").await;
    assert!(created
        .iter()
        .any(|e| e.ip.as_deref() == Some("203.0.113.7")));
}

#[tokio::test]
async fn exports_stream_sessions_and_events_as_csv_and_json_lines() {
    use futures::StreamExt;
    use lanyard_idp::session::service::export::{self, Format};
    let ts = TestServer::start().await;
    for _ in 0..3 {
        login_and_redeem(&ts, &Browser::new(), "openid").await;
    }
    let collect = |s: std::pin::Pin<
        Box<dyn futures::Stream<Item = lanyard_idp::error::Result<Vec<u8>>> + Send>,
    >| async move {
        let chunks: Vec<_> = s.collect().await;
        let mut out = Vec::new();
        for c in chunks {
            out.extend(c.unwrap());
        }
        String::from_utf8(out).unwrap()
    };
    let csv = collect(Box::pin(export::sessions(
        ts.state.clone(),
        ts.tenant.clone(),
        Format::Csv,
        false,
    )))
    .await;
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("sid,username,state,mode,created_at"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.contains(",alice,active,normal,")),
        "{csv}"
    );
    let jsonl = collect(Box::pin(export::sessions(
        ts.state.clone(),
        ts.tenant.clone(),
        Format::JsonLines,
        true,
    )))
    .await;
    let parsed: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), 3);
    assert!(parsed.iter().all(|p| p["username"] == "alice"));
    assert!(parsed[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let ev = collect(Box::pin(export::events(
        ts.state.clone(),
        ts.tenant.clone(),
        Format::JsonLines,
        lanyard_idp::store::audit::EventFilter {
            kind: Some("session.created".into()),
            ..Default::default()
        },
    )))
    .await;
    let ev: Vec<serde_json::Value> = ev
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 3);
    assert!(ev
        .iter()
        .all(|e| e["username"] == "alice" && e["sid"].is_string()));
}

#[tokio::test]
async fn a_stored_policy_that_does_not_parse_is_an_error_naming_tenant_and_field() {
    use sea_orm::{ConnectionTrait, Statement};
    let ts = TestServer::start().await;
    set(&ts, LayerRef::tenant(), &[("idle_timeout_secs", "600")]).await;
    let db = &ts.state.db;
    db.execute(Statement::from_string(
        db.get_database_backend(),
        "UPDATE policy_settings SET value = 'soon' WHERE key = 'idle_timeout_secs'".to_string(),
    ))
    .await
    .unwrap();
    let e = sessions::policy::show(&ts.state, &ts.tenant, None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tenant acme") && e.contains("idle_timeout_secs"),
        "{e}"
    );
    // A login under it fails visibly; nobody is silently given a default policy.
    let b = Browser::new();
    let (url, _, _, _) = auth_url(&ts, "web", REDIRECT, "openid", &[]);
    let (status, _) = b.authorize(&ts, &url, "alice", PASSWORD).await.page();
    assert_eq!(status, 500);
    assert!(live_of(&ts, &ts.alice_id).await.is_empty());
}

#[tokio::test]
async fn a_consent_cannot_skip_the_login_step_the_request_requires() {
    let ts = TestServer::start().await;
    ts.client(NewClient {
        client_id: "third".into(),
        secret: Some("third-party-secret-0123456789".into()),
        redirect_uris: vec!["https://third.example/cb".into()],
        first_party: false,
        ..Default::default()
    })
    .await;
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (url, _, _, _) = auth_url(
        &ts,
        "third",
        "https://third.example/cb",
        "openid",
        &[("prompt", "login")],
    );
    let (status, body) = b.get(&ts.base, &url).await.page();
    assert_eq!(status, 200);
    assert!(
        body.contains("name=\"password\""),
        "prompt=login shows the login form"
    );
    let landing = b
        .post_form(
            &ts.base,
            &ts.url("/consent"),
            &[
                ("csrf", &field(&body, "csrf").unwrap()),
                ("req", &field(&body, "req").unwrap()),
                ("decision", "allow"),
            ],
        )
        .await;
    match landing {
        // The login page's CSRF token is bound to sign-in forms: the consent endpoint refuses it
        // outright (ADR 0015); either way nothing is issued.
        Landing::Page { body, status, .. } => assert!(
            status == 403 || body.contains("name=\"password\""),
            "still asked to sign in: {body}"
        ),
        Landing::Redirect(u) => panic!("a consent without the required login issued {u}"),
    }
}

#[tokio::test]
async fn policy_show_names_the_layer_behind_each_value() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::tenant(),
        &[("idle_timeout_secs", "2h"), ("max_sessions", "5")],
    )
    .await;
    set(
        &ts,
        LayerRef::group("staff"),
        &[("idle_timeout_secs", "30m")],
    )
    .await;
    set(
        &ts,
        LayerRef::client("web"),
        &[("max_sessions", "1"), ("limit_action", "ask")],
    )
    .await;
    let p = sessions::policy::show(&ts.state, &ts.tenant, Some(&ts.alice_id), Some("web"))
        .await
        .unwrap();
    let f = p.fields();
    let get = |k: &str| f.iter().find(|x| x.field == k).unwrap().clone();
    assert_eq!(
        (
            get("idle_timeout_secs").value,
            get("idle_timeout_secs").source
        ),
        (1800.into(), "group:staff".into())
    );
    assert_eq!(
        (get("max_sessions").value, get("max_sessions").source),
        (1.into(), "client:web".into())
    );
    assert_eq!(get("limit_action").source, "client:web");
    assert_eq!(get("absolute_timeout_secs").source, "default");
    // Without the client, the tenant's limit.
    let p = sessions::policy::show(&ts.state, &ts.tenant, Some(&ts.alice_id), None)
        .await
        .unwrap();
    assert_eq!(p.max_sessions.value, Some(5));
    // Unknown layers and fields are errors, not ignored.
    let e = change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::group("nope"),
        &[FieldChange::Set("max_sessions".into(), "1".into())],
        "test",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no group 'nope'"));
    let e = change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::tenant(),
        &[FieldChange::Set("idle".into(), "1".into())],
        "test",
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[tokio::test]
async fn a_forced_resync_applies_facts_changed_behind_the_services_back() {
    let ts = TestServer::start().await;
    set(
        &ts,
        LayerRef::attribute("region", "emea"),
        &[("idle_timeout_secs", "600"), ("read_only_scopes", "openid")],
    )
    .await;
    let tok = login_and_redeem(&ts, &Browser::new(), "openid profile").await;
    let sid = sid_of(&tok);
    assert_eq!(
        live_of(&ts, &ts.alice_id).await[0].clocks.idle_timeout_secs,
        3600
    );
    // A directory sync writes the attribute straight into the store: nothing re-resolves.
    lanyard_idp::store::policies::set_user_attribute(
        &ts.state.db,
        &ts.tenant.id,
        &ts.alice_id,
        "region",
        Some("emea"),
    )
    .await
    .unwrap();
    assert_eq!(
        live_of(&ts, &ts.alice_id).await[0].clocks.idle_timeout_secs,
        3600
    );
    let r = lanyard_idp::manage::revocation::resync_user(&ts.state, &ts.tenant, "alice", "admin")
        .await
        .unwrap();
    assert_eq!((r.sessions_reresolved, r.sessions_ended), (1, 0));
    let s = live_of(&ts, &ts.alice_id).await.remove(0);
    assert_eq!(s.sid, sid, "the same session continues, no new login");
    assert_eq!(s.clocks.idle_timeout_secs, 600);
    assert_eq!(events(&ts, "session.resynced").await[0].actor, "admin");

    // An admin downgrades the session: the next refresh carries the mode and only safe scopes.
    assert!(lanyard_idp::manage::revocation::set_session_mode(
        &ts.state,
        &ts.tenant,
        &sid,
        "read_only",
        "admin"
    )
    .await
    .unwrap());
    let (status, next) = token_request(
        &ts,
        "web",
        SECRET,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let at = claims(next["access_token"].as_str().unwrap());
    assert_eq!(at["session_mode"], "read_only");
    assert_eq!(at["scope"], "openid");
    assert!(lanyard_idp::manage::revocation::set_session_mode(
        &ts.state, &ts.tenant, &sid, "sideways", "admin"
    )
    .await
    .is_err());
    assert!(lanyard_idp::manage::revocation::resync_session(
        &ts.state,
        &ts.tenant,
        "no-such-sid",
        "admin"
    )
    .await
    .is_err());
}
