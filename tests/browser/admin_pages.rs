//! The admin area's audit log, deliveries, users and apps in a real browser, signed in as an
//! admin through the login page: the audit search and its export links, a user disabled after
//! the confirmation step (their session ended), the admin role granted, an app disabled and
//! enabled, a dead delivery retried — on a 390 px phone too. Screenshots of the main pages go
//! to docs/screenshots/. The suite fails on any console error or CSP report.

use super::page::{run, Page, Viewport};
use super::sign_in;
use crate::harness::{login_and_redeem, Browser, RecordingRp, Setup, TestServer, PASSWORD};
use lanyard_idp::manage;

pub(super) const PHONE_WIDTH: u32 = 390;

/// Where a screenshot goes, relative to the workspace root (`Page::save_screenshot`).
pub(super) fn shot(name: &str) -> String {
    format!("docs/screenshots/{name}")
}

/// A server where bob is an admin, alice has an app session, and one logout delivery is dead.
async fn server() -> (TestServer, RecordingRp) {
    let (rp, bc) = RecordingRp::start().await;
    let ts = TestServer::start_with(Setup {
        web_backchannel: Some(bc.replace("/bc", "/missing")),
        ..Default::default()
    })
    .await;
    manage::admins::grant_admin(&ts.state, &ts.tenant, "bob", "cli")
        .await
        .unwrap();
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    manage::revoke_user_sessions(&ts.state, &ts.tenant, "alice", "cli")
        .await
        .unwrap();
    ts.drain_outbox(10).await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    (ts, rp)
}

pub(super) async fn sign_in_as_admin(page: &Page, ts: &TestServer) {
    page.step("open the admin area and sign in as bob");
    page.goto(&ts.url("/admin")).await;
    sign_in(page, "bob", PASSWORD).await;
    page.expect_heading("Live sessions").await;
}

pub(super) async fn click(page: &Page, css: &str) {
    page.find(css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click `{css}`: {e}"));
}

/// Every visible control of the page lies inside a phone's width.
pub(super) async fn fits_the_phone(page: &Page, what: &str) {
    let width = f64::from(PHONE_WIDTH);
    for css in ["main", "h1", "button", "input", "select", "nav a"] {
        if !page.has(css).await {
            continue;
        }
        for (x, _y, w, _h) in page.rects(css).await {
            if w == 0.0 {
                continue;
            }
            assert!(
                x >= 0.0 && x + w <= width + 0.5,
                "{what}: `{css}` spans x {x}..{} outside the {PHONE_WIDTH} px viewport",
                x + w
            );
        }
    }
}

/// Signed in as bob at a phone's width, each `(path, heading)` page fits the viewport.
pub(super) async fn pages_fit_a_phone(test: &'static str, ts: &TestServer, pages: &[(&str, &str)]) {
    run(
        test,
        Viewport::Phone {
            width: PHONE_WIDTH,
            height: 844,
        },
        async |p| {
            sign_in_as_admin(p, ts).await;
            for (path, heading) in pages {
                p.goto(&ts.url(path)).await;
                p.expect_heading(heading).await;
                fits_the_phone(p, path).await;
            }
        },
    )
    .await;
}

#[tokio::test]
async fn an_admin_searches_the_audit_log_disables_a_user_and_retries_a_delivery() {
    let (ts, _rp) = server().await;
    run(
        "an_admin_searches_the_audit_log_disables_a_user_and_retries_a_delivery",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("the audit log, searched by user");
            p.click_link("Audit log").await;
            p.expect_heading("Audit log").await;
            p.fill("input[name=user]", "alice").await;
            p.click_button("Search").await;
            p.expect_heading("Audit log").await;
            assert!(p.text("#events").await.contains("A session ended"));
            let csv = p.attr("#export-csv", "href").await.unwrap();
            assert!(
                csv.contains("format=csv") && csv.contains("user=alice"),
                "{csv}"
            );
            p.save_screenshot(&shot("admin-audit.png")).await;

            p.step("deliveries: the dead one retried after the confirmation");
            p.click_link("Deliveries").await;
            p.expect_heading("Logout deliveries").await;
            assert!(p.text("#deliveries").await.contains("Dead"));
            p.save_screenshot(&shot("admin-deliveries.png")).await;
            p.click_button("Retry now").await;
            p.expect_heading("Retry this delivery now?").await;
            click(p, "#confirm").await;
            p.expect_heading("Logout deliveries").await;
            assert!(p.text("[role=status]").await.contains("attempted again"));

            p.step("users: alice disabled after the confirmation");
            p.click_link("Users").await;
            p.expect_heading("Users").await;
            p.save_screenshot(&shot("admin-users.png")).await;
            p.click_link("alice").await;
            p.expect_heading("alice").await;
            p.click_button("Disable…").await;
            p.expect_heading("Disable alice?").await;
            click(p, "#confirm").await;
            p.expect_heading("alice").await;
            assert_eq!(p.text("#status").await, "Disabled");
            assert!(p
                .text("[role=status]")
                .await
                .contains("sessions were ended"));
            p.click_button("Make admin…").await;
            p.expect_heading("Make alice an admin?").await;
            click(p, "#confirm").await;
            assert_eq!(p.text("#admin-badge").await, "Admin");

            p.step("apps: web disabled and enabled");
            p.click_link("Apps").await;
            p.expect_heading("Apps").await;
            click(p, "form[action$='/clients/web/disable'] button").await;
            p.expect_heading("Disable web?").await;
            click(p, "#confirm").await;
            p.expect_heading("Apps").await;
            click(p, "form[action$='/clients/web/enable'] button").await;
            click(p, "#confirm").await;
            assert!(p.text("[role=status]").await.contains("enabled"));
        },
    )
    .await;
    let alice = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.state.clock.now())
        .await
        .unwrap();
    if alice.status == "disabled" {
        let live =
            manage::sessions::list_sessions(&ts.state.db, &ts.tenant, Some("alice"), true, 10)
                .await
                .unwrap();
        assert!(live.is_empty(), "disabling ended alice's session");
    }
}

#[tokio::test]
async fn the_admin_pages_fit_a_390_px_phone() {
    let (ts, _rp) = server().await;
    run(
        "the_admin_pages_fit_a_390_px_phone",
        Viewport::Phone {
            width: PHONE_WIDTH,
            height: 844,
        },
        async |p| {
            sign_in_as_admin(p, &ts).await;
            for (path, heading, file) in [
                ("/admin/audit", "Audit log", Some("admin-audit-390.png")),
                ("/admin/deliveries", "Logout deliveries", None),
                ("/admin/users", "Users", Some("admin-users-390.png")),
                ("/admin/users/alice", "alice", None),
                ("/admin/clients", "Apps", None),
            ] {
                p.step(format!("open {path} on the phone"));
                p.goto(&ts.url(path)).await;
                p.expect_heading(heading).await;
                fits_the_phone(p, path).await;
                if let Some(f) = file {
                    p.save_screenshot(&shot(f)).await;
                }
            }
        },
    )
    .await;
}
