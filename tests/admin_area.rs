//! The tenant admin area `/t/{tenant}/admin` over HTTP: who gets in (an admin of this tenant,
//! signed in with their own session), who is refused (403 for a signed-in non-admin, a sign-in
//! of its own for a stranger from another tenant), the admin policy's second factor, and the
//! live session dashboard's list, filters and counts.

use crate::harness::{field, login_and_redeem, Browser, Landing, NowSecs, TestServer, PASSWORD};
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;

async fn grant(ts: &TestServer, tenant: &lanyard_idp::model::Tenant, username: &str) {
    assert!(
        manage::admins::grant_admin(&ts.state, tenant, username, "cli")
            .await
            .unwrap()
    );
}

async fn page(b: &Browser, ts: &TestServer, url: &str) -> (u16, String, String) {
    match b.get(&ts.base, url).await {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("the admin area redirected away to {u}"),
    }
}

/// Fill the login form the browser landed on, as `username`.
async fn sign_in_here(
    ts: &TestServer,
    b: &Browser,
    html: &str,
    login_url: &str,
    username: &str,
) -> (u16, String, String) {
    assert!(html.contains("name=\"password\""), "a login form: {html}");
    let csrf = field(html, "csrf").unwrap();
    let req = field(html, "req").unwrap();
    let action = login_url.split('?').next().unwrap().to_string();
    match b
        .post_form(
            &ts.base,
            &action,
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("username", username),
                ("password", PASSWORD),
            ],
        )
        .await
    {
        Landing::Page { status, body, url } => (status, body, url),
        Landing::Redirect(u) => panic!("the sign-in left Lanyard for {u}"),
    }
}

#[tokio::test]
async fn an_admin_signs_in_through_lanyard_and_sees_the_live_sessions() {
    let ts = TestServer::start().await;
    grant(&ts, &ts.tenant, "alice").await;
    // Two sessions of alice's in the RP `web`, made by other browsers.
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;

    let b = Browser::new();
    let (status, login, url) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200);
    assert!(url.contains("/t/acme/login?req="), "sent to sign in: {url}");
    assert!(
        login.contains("the admin area"),
        "the login page says where to"
    );
    let (status, body, url) = sign_in_here(&ts, &b, &login, &url, "alice").await;
    assert_eq!(status, 200, "{url}: {body}");
    assert_eq!(
        url,
        format!("{}/t/acme/admin", ts.base),
        "back on the area's fixed path"
    );
    assert!(body.contains("<h1>Live sessions</h1>"), "{body}");
    assert!(body.contains("signed in as <strong>alice</strong>"));
    // The two RP sessions and the admin's own (which took part in no app).
    assert!(
        body.contains("<strong>3</strong> live sessions of <strong>1</strong> user"),
        "{body}"
    );
    assert_eq!(body.matches("<tr data-sid=").count(), 3);
    assert!(
        body.contains("web</a> <span class=\"badge\">2</span>"),
        "per-app count: {body}"
    );
    assert!(!body.contains("1970"), "no epoch times");
    // The sign-in is audited like any other; the area's sessions are alice's own.
    ts.assert_invariants().await;
}

#[tokio::test]
async fn a_signed_in_user_without_the_admin_role_gets_403() {
    let ts = TestServer::start().await;
    let b = Browser::new();
    let (_, login, url) = page(&b, &ts, &ts.url("/admin")).await;
    let (status, body, _) = sign_in_here(&ts, &b, &login, &url, "alice").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not an admin of this organisation"), "{body}");
    assert!(!body.contains("<h1>Live sessions</h1>"));
    // Still 403 on the next visit, with the session live (not a loop of sign-ins).
    let (status, _, _) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 403);
    // Granting the role opens it on the next request, revoking closes it again.
    grant(&ts, &ts.tenant, "alice").await;
    let (status, body, _) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        manage::admins::revoke_admin(&ts.state, &ts.tenant, "alice", "cli")
            .await
            .unwrap()
    );
    let (status, _, _) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_admin_of_one_tenant_is_a_stranger_to_another() {
    let ts = TestServer::start().await;
    grant(&ts, &ts.tenant, "alice").await;
    let now = ts.clock.now_secs();
    manage::create_tenant(
        &ts.state.db,
        &ts.base,
        "other",
        Some("Other"),
        PolicyLayer::default(),
        now,
    )
    .await
    .unwrap();
    let other = manage::tenant(&ts.state.db, &ts.base, "other")
        .await
        .unwrap();
    manage::create_user(&ts.state.db, &other, "olga", None, &[], PASSWORD, now)
        .await
        .unwrap();
    // A session of olga's in the other tenant, which alice must never see.
    let b = Browser::new();
    let (_, login, url) = page(&b, &ts, &format!("{}/t/acme/admin", ts.base)).await;
    let (status, _, _) = sign_in_here(&ts, &b, &login, &url, "alice").await;
    assert_eq!(status, 200);

    // alice's session is acme's: at the other tenant's area she is nobody, and is asked to sign in.
    let (status, body, url) = page(&b, &ts, &format!("{}/t/other/admin", ts.base)).await;
    assert_eq!(status, 200);
    assert!(
        url.contains("/t/other/login?req="),
        "a sign-in of the other tenant: {url}"
    );
    assert!(!body.contains("Live sessions"));
    // Her acme credentials are not the other tenant's.
    let (status, body, _) = sign_in_here(&ts, &b, &body, &url, "alice").await;
    assert_ne!(status, 200, "alice has no account in 'other': {body}");
    assert!(!body.contains("Live sessions"));
    // Signed in there as olga (no admin role there): 403.
    let (_, login, url) = page(&b, &ts, &format!("{}/t/other/admin", ts.base)).await;
    let (status, _, _) = sign_in_here(&ts, &b, &login, &url, "olga").await;
    assert_eq!(status, 403);
    // And acme's dashboard lists no session of the other tenant.
    let (status, body, _) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200);
    assert!(!body.contains("olga"), "{body}");
}

#[tokio::test]
async fn the_admin_policy_can_require_a_second_factor() {
    let ts = TestServer::start().await;
    grant(&ts, &ts.tenant, "alice").await;
    use lanyard_idp::session::service::policy::{change_layer, FieldChange};
    change_layer(
        &ts.state,
        &ts.tenant,
        &manage::governance::parse_layer("client:lanyard:admin").unwrap(),
        &[FieldChange::Set("require_mfa".into(), "true".into())],
        "cli",
    )
    .await
    .unwrap();
    // A password-only SSO session (made through the RP) does not open the area.
    let b = Browser::new();
    login_and_redeem(&ts, &b, "openid").await;
    let (status, body, url) = page(&b, &ts, &ts.url("/admin")).await;
    assert_eq!(status, 200);
    assert!(
        url.contains("/t/acme/login?req="),
        "asked to sign in again: {url}"
    );
    assert!(!body.contains("Live sessions"));
    // The password alone leads to the second factor's enrolment, not to the dashboard.
    let (_, body, url) = sign_in_here(&ts, &b, &body, &url, "alice").await;
    assert!(!body.contains("<h1>Live sessions</h1>"), "{url}: {body}");
    assert!(
        body.to_lowercase().contains("authenticator"),
        "the second factor is asked for: {body}"
    );
}

#[tokio::test]
async fn the_dashboard_filters_by_user_app_ip_range_and_status() {
    let ts = TestServer::start().await;
    grant(&ts, &ts.tenant, "alice").await;
    // (The harness's tenant has alice and bob, both with PASSWORD.)
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    let b = Browser::new();
    let (_, login, url) = page(&b, &ts, &ts.url("/admin")).await;
    sign_in_here(&ts, &b, &login, &url, "alice").await;
    // bob signs in to the portal (a session in no app).
    let bob = Browser::new();
    let (_, login, url) = page(&bob, &ts, &ts.url("/account")).await;
    sign_in_here(&ts, &bob, &login, &url, "bob").await;

    let (_, all, _) = page(&b, &ts, &ts.url("/admin")).await;
    assert!(all.contains("of <strong>2</strong> users"), "{all}");
    let (_, only_bob, _) = page(&b, &ts, &ts.url("/admin?user=bob")).await;
    assert!(
        only_bob.contains("<strong>1</strong> live session of <strong>1</strong> user match"),
        "{only_bob}"
    );
    assert!(
        only_bob.contains("value=\"bob\""),
        "the filter keeps its value"
    );
    let (_, in_web, _) = page(&b, &ts, &ts.url("/admin?client=web")).await;
    assert_eq!(in_web.matches("<tr data-sid=").count(), 1, "{in_web}");
    let (_, nowhere, _) = page(&b, &ts, &ts.url("/admin?ip_range=203.0.113.0%2F24")).await;
    assert!(
        nowhere.contains("No live sessions match these filters"),
        "{nowhere}"
    );
    let (_, loopback, _) = page(&b, &ts, &ts.url("/admin?ip_range=127.0.0.0%2F8")).await;
    assert_eq!(loopback.matches("<tr data-sid=").count(), 3);
    let (_, read_only, _) = page(&b, &ts, &ts.url("/admin?status=read_only")).await;
    assert!(read_only.contains("No live sessions match"), "{read_only}");
    // A filter that names nothing says so (400), it does not silently match nothing.
    let (status, body, _) = page(&b, &ts, &ts.url("/admin?user=nobody")).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("role=\"alert\"") && body.contains("nobody"),
        "{body}"
    );
    let (status, body, _) = page(&b, &ts, &ts.url("/admin?ip_range=10.0.0.0%2F99")).await;
    assert_eq!(status, 400, "{body}");
}
