//! The admin area's audit search and export, logout deliveries, users and apps over HTTP:
//! export content (CSV header and a known event, JSON lines that parse), formula escaping,
//! "Retry now" on a dead delivery, disabling a user ends their sessions, a confirmation step
//! before every action, 403 for a non-admin on every route, and a form without its CSRF token
//! refused.

use crate::harness::{
    field, login_and_redeem, Browser, Landing, RecordingRp, Setup, TestServer, PASSWORD,
};
use lanyard_idp::manage;

pub(crate) async fn grant(ts: &TestServer, username: &str) {
    assert!(
        manage::admins::grant_admin(&ts.state, &ts.tenant, username, "cli")
            .await
            .unwrap()
    );
}

pub(crate) async fn page(b: &Browser, ts: &TestServer, url: &str) -> (u16, String, String) {
    match b.get(&ts.base, url).await {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("the admin area redirected away to {u}"),
    }
}

pub(crate) async fn post(
    b: &Browser,
    ts: &TestServer,
    url: &str,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    match b.post_form(&ts.base, url, form).await {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("the admin area redirected away to {u}"),
    }
}

/// A browser signed in to the admin area as `username` (through the login page).
pub(crate) async fn admin_browser(ts: &TestServer, username: &str) -> Browser {
    let b = Browser::new();
    let (_, login, url) = page(&b, ts, &ts.url("/admin")).await;
    assert!(login.contains("name=\"password\""), "a login form: {login}");
    let csrf = field(&login, "csrf").unwrap();
    let req = field(&login, "req").unwrap();
    let action = url.split('?').next().unwrap().to_string();
    post(
        &b,
        ts,
        &action,
        &[
            ("csrf", &csrf),
            ("req", &req),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await;
    b
}

/// The CSRF token of the browser's pages (from a page with a form).
pub(crate) async fn csrf_of(b: &Browser, ts: &TestServer, path: &str) -> String {
    let (_, body, _) = page(b, ts, &ts.url(path)).await;
    field(&body, "csrf").unwrap_or_else(|| panic!("no form on {path}: {body}"))
}

pub(crate) async fn user_id(ts: &TestServer, username: &str) -> String {
    manage::users::find(&ts.state.db, &ts.tenant, username)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn the_audit_search_shows_events_in_words_and_exports_the_same_search() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    // A known event about alice whose actor a spreadsheet would run as a formula.
    let alice = user_id(&ts, "alice").await;
    lanyard_idp::events::audit::record(
        &ts.state.db,
        lanyard_idp::events::audit::Event {
            tenant_id: &ts.tenant.id,
            kind: "user.disabled",
            user_id: Some(&alice),
            actor: "=HYPERLINK(\"http://evil.example\")",
            outcome: "ok",
            ..Default::default()
        },
        None,
        ts.state.clock.now_ms(),
    )
    .await
    .unwrap();

    let (status, body, _) = page(&b, &ts, &ts.url("/admin/audit?user=alice")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("The account was disabled"),
        "in words: {body}"
    );
    assert!(
        body.contains("value=\"alice\""),
        "the search keeps its value"
    );
    assert!(!body.contains("bob</a>"), "only alice's events: {body}");
    // bob's own sign-in is in the unfiltered log.
    let (_, all, _) = page(&b, &ts, &ts.url("/admin/audit")).await;
    assert!(all.contains("Signed in"), "{all}");
    // A search naming nobody says so.
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/audit?user=nobody")).await;
    assert_eq!(status, 400);
    assert!(body.contains("role=\"alert\"") && body.contains("nobody"));
    let (status, _, _) = page(&b, &ts, &ts.url("/admin/audit?since=yesterday")).await;
    assert_eq!(status, 400, "a time that does not parse is refused");

    // CSV of the same search: a header, the event, the formula neutralised.
    let r = b
        .http
        .get(ts.url("/admin/audit/export?format=csv&user=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment; filename=\"acme-audit-"), "{cd}");
    assert!(cd.ends_with(".csv\""), "{cd}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("at,kind,actor,outcome,username,sid,client_id,ip,user_agent,detail")
    );
    let row = csv
        .lines()
        .find(|l| l.contains("user.disabled"))
        .unwrap_or_else(|| panic!("the event is exported: {csv}"));
    assert!(
        row.contains("\"'=HYPERLINK("),
        "escaped against formulas: {row}"
    );
    assert!(!row.contains(",=HYPERLINK") && !row.contains(",\"=HYPERLINK"));
    assert!(row.contains(",alice,"), "{row}");
    assert!(!csv.contains(",bob,"), "only the search's events: {csv}");

    // JSON lines of the same search: every line parses, the value kept as it is.
    let r = b
        .http
        .get(ts.url("/admin/audit/export?format=jsonl&user=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".jsonl\""));
    let text = r.text().await.unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["username"] == "alice"));
    assert!(events.iter().any(
        |e| e["kind"] == "user.disabled" && e["actor"] == "=HYPERLINK(\"http://evil.example\")"
    ));
    // A format the export does not know is refused, not guessed.
    let r = b
        .http
        .get(ts.url("/admin/audit/export?format=xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn retry_now_sends_a_dead_delivery_again_after_a_confirmation() {
    let (_rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc.replace("/bc", "/missing")),
        ..Default::default()
    })
    .await;
    grant(&ts, "bob").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    manage::revoke_user_sessions(&ts.state, &ts.tenant, "alice", "test")
        .await
        .unwrap();
    ts.drain_outbox(10).await;
    let rows = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, "dead");
    let id = rows[0].id.clone();

    let b = admin_browser(&ts, "bob").await;
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/deliveries?state=dead")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Dead") && body.contains("404"),
        "last error: {body}"
    );
    let action = format!("/t/acme/admin/deliveries/{id}/retry");
    assert!(body.contains(&format!("action=\"{action}\"")), "{body}");
    let csrf = field(&body, "csrf").unwrap();
    let (_, delivered, _) = page(&b, &ts, &ts.url("/admin/deliveries?state=delivered")).await;
    assert!(delivered.contains("No deliveries in this state"));
    let (status, _, _) = page(&b, &ts, &ts.url("/admin/deliveries?state=lost")).await;
    assert_eq!(status, 400, "an unknown state is refused");

    // The first POST only asks.
    let url = format!("{}{action}", ts.base);
    let (status, body, _) = post(&b, &ts, &url, &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(body.contains("Retry this delivery now?"), "{body}");
    assert!(body.contains("name=\"confirm\" value=\"yes\""));
    let row = lanyard_idp::store::outbox::list(&ts.state.db, &ts.tenant.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(row[0].state, "dead", "nothing happened yet");
    // Confirmed: back on the page with the notice, attempted again, audited as bob.
    let (status, body, url) = post(&b, &ts, &url, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(status, 200);
    assert!(
        url.ends_with("/admin/deliveries?done=retry_scheduled"),
        "{url}"
    );
    assert!(body.contains("attempted again now"), "{body}");
    ts.drain_outbox(10).await;
    let failed = lanyard_idp::store::audit::list(
        &ts.state.db,
        &ts.tenant.id,
        Some("logout.delivery_failed"),
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        failed.len(),
        2,
        "sent once more (and refused again by the RP)"
    );
    let events =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("delivery.retried"), 10)
            .await
            .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "admin-area:bob");
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_the_role_and_sessions_actions_work() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let b = admin_browser(&ts, "bob").await;

    let (status, list, _) = page(&b, &ts, &ts.url("/admin/users")).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains("href=\"/t/acme/admin/users/alice\""),
        "{list}"
    );
    assert!(
        list.contains("admin?user=alice\">2</a>"),
        "alice's live sessions: {list}"
    );
    assert!(
        list.contains("bob</a> <span class=\"badge\">Admin</span>"),
        "{list}"
    );
    let (status, profile, _) = page(&b, &ts, &ts.url("/admin/users/alice")).await;
    assert_eq!(status, 200);
    assert!(profile.contains("<h1>alice</h1>"));
    assert_eq!(profile.matches("audit?session=").count(), 2, "{profile}");
    let (status, _, _) = page(&b, &ts, &ts.url("/admin/users/nobody")).await;
    assert_eq!(status, 404);
    let csrf = field(&profile, "csrf").unwrap();
    let act = |a: &str| ts.url(&format!("/admin/users/alice/{a}"));

    // Disable: asked first, then done; every session of alice's ended.
    let (_, ask, _) = post(&b, &ts, &act("disable"), &[("csrf", &csrf)]).await;
    assert!(ask.contains("Disable alice?") && ask.contains("every session of theirs ends"));
    let live = manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("alice"), true, 10)
        .await
        .unwrap();
    assert_eq!(live.len(), 2, "not before the confirmation");
    let (status, body, url) = post(
        &b,
        &ts,
        &act("disable"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        url.ends_with("/admin/users/alice?done=user_disabled"),
        "{url}"
    );
    assert!(body.contains("id=\"status\">Disabled"), "{body}");
    let live = manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("alice"), true, 10)
        .await
        .unwrap();
    assert!(live.is_empty(), "disabling ended every session");
    let disabled =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("user.disabled"), 10)
            .await
            .unwrap();
    assert_eq!(disabled[0].actor, "admin-area:bob");

    // Enable, grant and revoke the admin role.
    let (_, body, _) = post(
        &b,
        &ts,
        &act("enable"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(body.contains("id=\"status\">Active"), "{body}");
    post(
        &b,
        &ts,
        &act("grant-admin"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    let alice = user_id(&ts, "alice").await;
    assert!(
        manage::admins::is_admin(&ts.state.db, &ts.tenant.id, &alice)
            .await
            .unwrap()
    );
    let (_, body, _) = post(
        &b,
        &ts,
        &act("grant-admin"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(
        body.contains("nothing changed"),
        "granting twice changes nothing"
    );
    post(
        &b,
        &ts,
        &act("revoke-admin"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(
        !manage::admins::is_admin(&ts.state.db, &ts.tenant.id, &alice)
            .await
            .unwrap()
    );
    let granted =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("admin.granted"), 10)
            .await
            .unwrap();
    assert!(granted.iter().any(|e| e.actor == "admin-area:bob"));

    // End all sessions.
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let (_, body, _) = post(
        &b,
        &ts,
        &act("end-sessions"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert!(body.contains("sessions were ended"), "{body}");
    let live = manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("alice"), true, 10)
        .await
        .unwrap();
    assert!(live.is_empty());
    // An action the area does not have.
    let (status, _, _) = post(
        &b,
        &ts,
        &act("promote"),
        &[("csrf", &csrf), ("confirm", "yes")],
    )
    .await;
    assert_eq!(status, 404);
    ts.assert_invariants().await;
}

#[tokio::test]
async fn apps_are_listed_and_disabled_after_a_confirmation() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    let (status, body, _) = page(&b, &ts, &ts.url("/admin/clients")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("data-client=\"web\""), "{body}");
    let csrf = field(&body, "csrf").unwrap();
    let url = ts.url("/admin/clients/web/disable");
    let (_, ask, _) = post(&b, &ts, &url, &[("csrf", &csrf)]).await;
    assert!(ask.contains("Disable web?"), "{ask}");
    let (_, body, url) = post(&b, &ts, &url, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert!(
        url.ends_with("/admin/clients?done=client_disabled"),
        "{url}"
    );
    assert!(body.contains("/admin/clients/web/enable\""), "{body}");
    let web = manage::clients::show_client(&ts.state, &ts.tenant, "web")
        .await
        .unwrap();
    assert!(web.disabled);
    let events =
        lanyard_idp::store::audit::list(&ts.state.db, &ts.tenant.id, Some("client.disabled"), 10)
            .await
            .unwrap();
    assert_eq!(events[0].actor, "admin-area:bob");
}

/// Every page and action of this file's routes.
const PAGES: &[&str] = &[
    "/admin/audit",
    "/admin/audit/export?format=csv",
    "/admin/deliveries",
    "/admin/users",
    "/admin/users/alice",
    "/admin/clients",
];
const ACTIONS: &[&str] = &[
    "/admin/deliveries/some-id/retry",
    "/admin/users/bob/disable",
    "/admin/users/bob/enable",
    "/admin/users/alice/grant-admin",
    "/admin/users/bob/revoke-admin",
    "/admin/users/bob/end-sessions",
    "/admin/clients/web/disable",
    "/admin/clients/web/enable",
];

#[tokio::test]
async fn a_signed_in_non_admin_gets_403_on_every_page_and_action() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "alice").await;
    let csrf = csrf_of(&b, &ts, "/account").await;
    for p in PAGES {
        let r = b.http.get(ts.url(p)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{p}");
    }
    for a in ACTIONS {
        let (status, body, _) =
            post(&b, &ts, &ts.url(a), &[("csrf", &csrf), ("confirm", "yes")]).await;
        assert_eq!(status, 403, "{a}: {body}");
    }
    // Nothing happened.
    let bob = manage::users::show_user(&ts.state.db, &ts.tenant, "bob", ts.state.clock.now())
        .await
        .unwrap();
    assert_eq!(bob.status, "active");
    let alice = user_id(&ts, "alice").await;
    assert!(
        !manage::admins::is_admin(&ts.state.db, &ts.tenant.id, &alice)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_action_without_its_csrf_token_is_refused() {
    let ts = TestServer::start().await;
    grant(&ts, "bob").await;
    let b = admin_browser(&ts, "bob").await;
    for a in ACTIONS {
        let (status, _, _) = post(&b, &ts, &ts.url(a), &[("confirm", "yes")]).await;
        assert!(status == 400 || status == 403, "{a}: {status}");
        let (status, _, _) = post(
            &b,
            &ts,
            &ts.url(a),
            &[("csrf", "forged"), ("confirm", "yes")],
        )
        .await;
        assert!(status == 400 || status == 403, "{a}: {status}");
    }
    let alice = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.state.clock.now())
        .await
        .unwrap();
    assert_eq!(alice.status, "active", "nothing happened");
    assert!(
        !manage::clients::show_client(&ts.state, &ts.tenant, "web")
            .await
            .unwrap()
            .disabled
    );
}
