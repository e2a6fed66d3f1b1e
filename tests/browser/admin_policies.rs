//! The admin area's policies pages in a real browser: an admin changes the tenant default's
//! idle timeout through the form and its confirmation, sees it on the layers list, asks for a
//! user's effective policy in an app and reads which layer set each value, and reads a group's
//! schedule with its next run — on a 390 px phone too. Screenshot: docs/screenshots/
//! admin-policies.png. The suite fails on any console error or CSP report.

use super::admin_pages::{click, pages_fit_a_phone, shot, sign_in_as_admin};
use super::page::{run, Viewport};
use crate::admin_policies::night_shift;
use crate::harness::{login_and_redeem, Browser, TestServer};
use lanyard_idp::manage;

/// bob is an admin; alice is in the night shift (a schedule) and has a live app session.
async fn server() -> TestServer {
    let ts = TestServer::start().await;
    manage::admins::grant_admin(&ts.state, &ts.tenant, "bob", "cli")
        .await
        .unwrap();
    night_shift(&ts, &[]).await;
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    ts
}

#[tokio::test]
async fn an_admin_tightens_the_tenant_default_and_reads_the_effective_policy() {
    let ts = server().await;
    run(
        "an_admin_tightens_the_tenant_default_and_reads_the_effective_policy",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("the policies page: the group's schedule and its next run");
            p.click_link("Policies").await;
            p.expect_heading("Session policies").await;
            let schedules = p.text("#schedules").await;
            assert!(
                schedules.contains("Group night-shift")
                    && schedules.contains("07:00,19:00 Europe/Berlin"),
                "{schedules}"
            );
            assert!(schedules.contains("in "), "next run in words: {schedules}");

            p.step("edit the tenant default: idle timeout 20 minutes");
            click(p, "#edit-tenant").await;
            p.expect_heading("Tenant default (every user in every app)")
                .await;
            p.fill("#f-idle_timeout_secs", "20m").await;
            p.click_button("Review the changes").await;
            p.expect_heading("Change the policy of Tenant default (every user in every app)?")
                .await;
            assert!(p.text("#what").await.contains("idle_timeout_secs to 20m"));
            click(p, "#confirm").await;
            p.expect_heading("Session policies").await;
            assert!(p.text("[role=status]").await.contains("policy was changed"));
            let layer = p.text("[data-layer=tenant]").await;
            assert!(
                layer.contains("20 minutes") && layer.contains("admin-area:bob"),
                "{layer}"
            );

            p.step("the effective policy of alice in web, with its sources");
            p.fill("input[name=user]", "alice").await;
            click(p, "select[name=client] option[value=web]").await;
            p.click_button("Show").await;
            p.expect_heading("Session policies").await;
            let idle = p.text("#effective [data-field=idle_timeout_secs]").await;
            assert!(
                idle.contains("20 minutes") && idle.contains("Tenant default"),
                "{idle}"
            );
            let sched = p.text("#effective [data-field=schedule]").await;
            assert!(sched.contains("Group night-shift"), "{sched}");
            p.save_screenshot(&shot("admin-policies.png")).await;
        },
    )
    .await;
}

#[tokio::test]
async fn the_policies_pages_fit_a_phone() {
    let ts = server().await;
    pages_fit_a_phone(
        "the_policies_pages_fit_a_phone",
        &ts,
        &[
            ("/admin/policies?user=alice&client=web", "Session policies"),
            (
                "/admin/policies/layer?layer=group%3Anight-shift",
                "Group night-shift",
            ),
        ],
    )
    .await;
}
