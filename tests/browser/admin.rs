//! The tenant admin area in a real browser: an admin signs in through Lanyard, watches the live
//! dashboard update by itself when a session starts elsewhere, filters, drills into a session,
//! ends it through the confirmation and reads the notice; a cohort dry run and its
//! confirmation; a non-admin's 403 page; the pages at 390 px. Screenshots of the main pages go
//! to docs/screenshots/. The suite fails on any console error or CSP report (the live script
//! is a file of its own, CSP `script-src 'self'`).

use super::page::{run, Page, Viewport};
use super::sign_in;
use crate::harness::{login_and_redeem, Browser, TestServer, PASSWORD};
use lanyard_idp::manage;

const PHONE_WIDTH: u32 = 390;

fn sid_of(tok: &serde_json::Value) -> String {
    let p = tok["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    let c: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, p).unwrap(),
    )
    .unwrap();
    c["sid"].as_str().unwrap().to_string()
}

async fn server_with_admin() -> TestServer {
    let ts = TestServer::start().await;
    assert!(
        manage::admins::grant_admin(&ts.state, &ts.tenant, "alice", "cli")
            .await
            .unwrap()
    );
    ts
}

async fn open_admin(page: &Page, ts: &TestServer, username: &str) {
    page.step(format!("open the admin area and sign in as {username}"));
    page.goto(&ts.url("/admin")).await;
    sign_in(page, username, PASSWORD).await;
}

async fn click(page: &Page, css: &str) {
    page.find(css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click `{css}`: {e}"));
}

#[tokio::test]
async fn admin_watches_filters_drills_in_and_ends_a_session_through_the_confirmation() {
    let ts = server_with_admin().await;
    let first = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    run(
        "admin_watches_filters_drills_in_and_ends_a_session_through_the_confirmation",
        Viewport::Desktop,
        async |page| {
            open_admin(page, &ts, "alice").await;
            page.expect_heading("Live sessions").await;
            page.find(&format!("tr[data-sid=\"{first}\"]")).await;
            // The script says the list is live once the stream is open.
            page.find("#live-state:not([hidden])").await;
            page.save_screenshot("docs/screenshots/admin-dashboard.png")
                .await;

            page.step("a session starts elsewhere: it appears without a reload");
            let before = page.url().await;
            let second = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
            page.find(&format!("tr[data-sid=\"{second}\"]")).await;
            assert_eq!(page.url().await, before, "no navigation");
            assert!(page.text("#summary").await.contains("3 live sessions"));

            page.step("filter by app");
            page.fill("input[name=client]", "web").await;
            page.click_button("Filter").await;
            page.find("a.button.secondary").await; // "Clear" shows once filtered
            assert!(page.text("#summary").await.contains("2 live sessions"));

            page.step("drill into a session");
            click(page, &format!("tr[data-sid=\"{first}\"] td a")).await;
            page.expect_heading("Session of alice").await;
            assert!(
                page.text("main").await.contains("127.0.0.1"),
                "the bound IP"
            );
            page.save_screenshot("docs/screenshots/admin-session.png")
                .await;

            page.step("end it through the confirmation");
            page.click_link("End this session").await;
            page.expect_heading("End alice's session?").await;
            assert!(page
                .text("#what")
                .await
                .contains("This ends alice's session on"));
            page.save_screenshot("docs/screenshots/admin-confirm.png")
                .await;
            page.click_button("End the session").await;
            page.expect_heading("Session of alice").await;
            assert!(page
                .text(".banner.ok")
                .await
                .contains("The session was ended"));
            assert_eq!(page.text(".summary .badge").await, "Ended");
        },
    )
    .await;
    let r = lanyard_idp::store::sessions::find_by_sid(&ts.state.db, &ts.tenant.id, &first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.end_reason.as_deref(), Some("admin_revoked"));
}

#[tokio::test]
async fn admin_previews_a_cohort_then_ends_it() {
    let ts = server_with_admin().await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    run(
        "admin_previews_a_cohort_then_ends_it",
        Viewport::Desktop,
        async |page| {
            open_admin(page, &ts, "alice").await;
            page.expect_heading("Live sessions").await;
            page.step("from the dashboard's filters to the cohort's dry run");
            page.fill("input[name=client]", "web").await;
            page.click_button("End sessions like these…").await;
            page.expect_heading("End a cohort of sessions").await;
            page.fill("input[name=client]", "web").await;
            page.click_button("Preview (dry run)").await;
            page.find("#dry-summary").await;
            assert!(page
                .text("#dry-summary")
                .await
                .contains("ends 2 live sessions of 1 user"));
            page.save_screenshot("docs/screenshots/admin-cohort.png")
                .await;
            page.click_button("End these 2 sessions").await;
            page.expect_heading("Live sessions").await;
            assert!(page
                .text(".banner.ok")
                .await
                .contains("The sessions of the cohort were ended"));
            assert!(page.text("#summary").await.contains("1 live session "));
        },
    )
    .await;
}

#[tokio::test]
async fn a_non_admin_sees_the_403_page() {
    let ts = server_with_admin().await;
    run(
        "a_non_admin_sees_the_403_page",
        Viewport::Desktop,
        async |page| {
            page.expect_error_status("/t/acme/admin", 403);
            page.expect_error_status("/t/acme/login", 403);
            open_admin(page, &ts, "bob").await;
            page.expect_heading("You are not an admin of this organisation")
                .await;
        },
    )
    .await;
}

/// Every visible control of the page lies inside a phone's width.
async fn fits_the_phone(page: &Page, what: &str) {
    let width = f64::from(PHONE_WIDTH);
    for css in ["main", "h1", "button", "input", "nav a", "p", "dl"] {
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

#[tokio::test]
async fn the_admin_pages_fit_a_390_px_phone() {
    let ts = server_with_admin().await;
    let sid = sid_of(&login_and_redeem(&ts, &Browser::new(), "openid").await);
    run(
        "the_admin_pages_fit_a_390_px_phone",
        Viewport::Phone {
            width: PHONE_WIDTH,
            height: 844,
        },
        async |page| {
            open_admin(page, &ts, "alice").await;
            page.expect_heading("Live sessions").await;
            fits_the_phone(page, "dashboard").await;
            page.save_screenshot("docs/screenshots/admin-dashboard-390.png")
                .await;
            page.goto(&ts.url(&format!("/admin/sessions/{sid}"))).await;
            page.expect_heading("Session of alice").await;
            fits_the_phone(page, "session page").await;
            page.goto(&ts.url(&format!("/admin/sessions/{sid}/end")))
                .await;
            page.expect_heading("End alice's session?").await;
            fits_the_phone(page, "confirmation").await;
        },
    )
    .await;
}
