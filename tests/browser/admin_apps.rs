//! Apps in the admin area in a real browser: an admin registers a confidential app by filling
//! the form (the secret is shown once), edits its redirect URIs, replaces the secret after the
//! confirmation and deletes the app after another — at desktop width, and the forms fit a
//! 390 px phone. Screenshot of the app's page (no secret on it): docs/screenshots/admin-app.png.

use super::admin_pages::{click, pages_fit_a_phone, shot, sign_in_as_admin};
use super::page::{run, Viewport};
use crate::harness::TestServer;
use lanyard_idp::manage;

async fn server() -> TestServer {
    let ts = TestServer::start().await;
    manage::admins::grant_admin(&ts.state, &ts.tenant, "bob", "cli")
        .await
        .unwrap();
    ts
}

#[tokio::test]
async fn an_admin_registers_an_app_replaces_its_secret_and_deletes_it() {
    let ts = server().await;
    run(
        "an_admin_registers_an_app_replaces_its_secret_and_deletes_it",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("register payroll");
            p.click_link("Apps").await;
            p.expect_heading("Apps").await;
            click(p, "#register-app").await;
            p.expect_heading("Register an app").await;
            p.fill("#client_id", "payroll").await;
            p.fill("input[name=redirect_uri]", "https://payroll.example/cb")
                .await;
            p.click_button("Register the app").await;
            p.expect_heading("payroll is registered").await;
            let secret = p.text("#secret").await;
            assert!(secret.len() >= 32, "a secret is shown: {secret:?}");
            p.click_link("Done").await;
            p.expect_heading("payroll").await;
            assert!(!p.text("main").await.contains(&secret), "shown only once");

            p.step("add a second redirect URI");
            let inputs = p.rects("input[name=redirect_uri]").await.len();
            assert_eq!(inputs, 2, "the stored URI and an empty one");
            p.fill(
                "input[name=redirect_uri][aria-label='Another redirect URI']",
                "https://payroll.example/second",
            )
            .await;
            p.click_button("Save").await;
            p.expect_heading("payroll").await;
            assert!(p
                .text("[role=status]")
                .await
                .contains("registration was saved"));
            assert_eq!(p.rects("input[name=redirect_uri]").await.len(), 3);
            p.save_screenshot(&shot("admin-app.png")).await;

            p.step("replace the secret after the confirmation");
            click(p, "#overlap option[value='0']").await;
            p.click_button("Replace the secret…").await;
            p.expect_heading("Replace payroll's secret?").await;
            assert!(p.text("#what").await.contains("stops working now"));
            click(p, "#confirm").await;
            p.expect_heading("payroll's new secret").await;
            assert_ne!(p.text("#secret").await, secret);
            p.click_link("Done").await;

            p.step("delete it after the confirmation");
            p.expect_heading("payroll").await;
            p.click_button("Delete…").await;
            p.expect_heading("Delete payroll?").await;
            click(p, "#confirm").await;
            p.expect_heading("Apps").await;
            assert!(p.text("[role=status]").await.contains("deleted"));
            assert!(!p.has("[data-client=payroll]").await);
        },
    )
    .await;
}

#[tokio::test]
async fn the_app_forms_fit_a_phone() {
    let ts = server().await;
    pages_fit_a_phone(
        "the_app_forms_fit_a_phone",
        &ts,
        &[
            ("/admin/register-app", "Register an app"),
            ("/admin/clients/web", "web"),
        ],
    )
    .await;
}
