//! Groups, a user's groups and attributes, and admin API tokens in a real browser, clicked
//! through as an admin signed in through the login page: a group created (and a bad name
//! refused on the page), alice put in it, an attribute set and removed, a token created (shown
//! once, working against the admin API), revoked after the confirmation (refused from then on),
//! the group deleted after its confirmation — at desktop width and on a 390 px phone.
//! Screenshots: docs/screenshots/admin-groups.png and admin-tokens.png (the list, never the
//! shown-once page).

use super::admin_pages::{click, fits_the_phone, shot, sign_in_as_admin, PHONE_WIDTH};
use super::page::{run, Page, Viewport};
use crate::harness::{login_and_redeem, Browser, TestServer};
use lanyard_idp::manage;

/// A server where bob is an admin and alice has a live session.
async fn server() -> TestServer {
    let ts = TestServer::start().await;
    manage::admins::grant_admin(&ts.state, &ts.tenant, "bob", "cli")
        .await
        .unwrap();
    login_and_redeem(&ts, &Browser::new(), "openid").await;
    ts
}

/// The admin API's answer to `token` (200 while it is live, 401 once revoked).
async fn api_status(ts: &TestServer, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/tenants/acme/sessions", ts.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn create_group(p: &Page, name: &str, description: &str) {
    p.fill("#new-group input[name=name]", name).await;
    p.fill("#new-group input[name=description]", description)
        .await;
    p.click_button("Create group").await;
    p.expect_heading("Groups").await;
}

/// Create a token on the tokens page; returns it as the page shows it, once.
async fn create_token(p: &Page, name: &str) -> String {
    p.fill("#new-token input[name=name]", name).await;
    p.click_button("Create token").await;
    p.expect_heading(&format!("The token {name} was created"))
        .await;
    assert!(p
        .text("[role=alert]")
        .await
        .contains("it will not be shown again"));
    p.attr("#new-token-value", "value").await.unwrap()
}

#[tokio::test]
async fn an_admin_manages_groups_a_users_membership_and_attributes_and_admin_tokens() {
    let ts = server().await;
    let mut shown = String::new();
    run(
        "an_admin_manages_groups_a_users_membership_and_attributes_and_admin_tokens",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("groups: nurses created; a bad name refused in words");
            p.click_link("Groups").await;
            p.expect_heading("Groups").await;
            create_group(p, "nurses", "Ward nurses").await;
            assert!(p.text("[role=status]").await.contains("was created"));
            assert!(p.text("#groups").await.contains("Ward nurses"));
            p.expect_error_status("/t/acme/admin/groups", 400);
            create_group(p, "night shift", "").await;
            assert!(p.text("[role=alert]").await.contains("letters, digits"));
            assert_eq!(
                p.attr("#new-group input[name=name]", "value")
                    .await
                    .as_deref(),
                Some("night shift"),
                "the form keeps what was typed"
            );
            p.goto(&ts.url("/admin/groups")).await;
            p.expect_heading("Groups").await;
            p.save_screenshot(&shot("admin-groups.png")).await;

            p.step("alice put in nurses, on her page");
            p.click_link("Users").await;
            p.expect_heading("Users").await;
            p.click_link("alice").await;
            p.expect_heading("alice").await;
            click(p, "input[name=group][value=nurses]").await;
            p.click_button("Save groups").await;
            p.expect_heading("alice").await;
            assert!(p
                .text("[role=status]")
                .await
                .contains("groups were changed"));
            assert!(p
                .attr("input[name=group][value=nurses]", "checked")
                .await
                .is_some());

            p.step("an attribute set and removed");
            p.fill("#set-attribute input[name=key]", "clearance").await;
            p.fill("#set-attribute input[name=value]", "high").await;
            p.click_button("Set attribute").await;
            p.expect_heading("alice").await;
            let attrs = p.text("#user-attributes").await;
            assert!(
                attrs.contains("clearance") && attrs.contains("high"),
                "{attrs}"
            );
            click(p, "tr[data-attribute=clearance] button").await;
            p.expect_heading("alice").await;
            assert!(p
                .text("[role=status]")
                .await
                .contains("attribute was removed"));
            assert!(!p.has("#user-attributes").await);

            p.step("a token created, shown once, then listed without it");
            p.click_link("Admin tokens").await;
            p.expect_heading("Admin API tokens").await;
            shown = create_token(p, "deploy").await;
            assert!(shown.starts_with("lya_"), "{shown}");
            p.click_link("I have copied it, back to the tokens").await;
            p.expect_heading("Admin API tokens").await;
            assert!(p.text("#tokens").await.contains("deploy"));
            assert!(!p.text("main").await.contains(&shown), "not on the list");
            p.save_screenshot(&shot("admin-tokens.png")).await;
        },
    )
    .await;
    if shown.is_empty() {
        return; // No browser here (`run` said so): nothing was clicked.
    }
    assert_eq!(api_status(&ts, &shown).await, 200, "the shown token works");

    run(
        "an_admin_revokes_a_token_and_deletes_a_group_after_the_confirmations",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("the token revoked after the confirmation");
            p.goto(&ts.url("/admin/tokens")).await;
            p.expect_heading("Admin API tokens").await;
            click(p, "tr[data-token=deploy] button").await;
            p.expect_heading("Revoke the admin token deploy?").await;
            click(p, "#confirm").await;
            p.expect_heading("Admin API tokens").await;
            assert!(p.text("[role=status]").await.contains("no longer works"));
            assert!(p.text("tr[data-token=deploy]").await.contains("Revoked"));

            p.step("the group deleted after the confirmation that counts its members");
            p.click_link("Groups").await;
            p.expect_heading("Groups").await;
            click(p, "tr[data-group=nurses] button").await;
            p.expect_heading("Delete the group nurses?").await;
            assert!(p
                .text("main")
                .await
                .contains("Its 1 member loses the membership"));
            click(p, "#confirm").await;
            p.expect_heading("Groups").await;
            assert!(p.text("[role=status]").await.contains("was deleted"));
            assert!(!p.has("tr[data-group=nurses]").await);
        },
    )
    .await;
    assert_eq!(api_status(&ts, &shown).await, 401, "refused once revoked");
    let alice = manage::users::show_user(&ts.state.db, &ts.tenant, "alice", ts.state.clock.now())
        .await
        .unwrap();
    assert_eq!(alice.groups, ["staff"], "nurses went with the group");
}

#[tokio::test]
async fn groups_membership_and_tokens_work_on_a_390_px_phone() {
    let ts = server().await;
    run(
        "groups_membership_and_tokens_work_on_a_390_px_phone",
        Viewport::Phone {
            width: PHONE_WIDTH,
            height: 844,
        },
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("a group created on the phone");
            p.goto(&ts.url("/admin/groups")).await;
            p.expect_heading("Groups").await;
            create_group(p, "phones", "").await;
            fits_the_phone(p, "/admin/groups").await;
            p.save_screenshot(&shot("admin-groups-390.png")).await;

            p.step("alice put in it and given an attribute");
            p.goto(&ts.url("/admin/users/alice")).await;
            p.expect_heading("alice").await;
            click(p, "input[name=group][value=phones]").await;
            p.click_button("Save groups").await;
            p.expect_heading("alice").await;
            p.fill("#set-attribute input[name=key]", "site").await;
            p.fill("#set-attribute input[name=value]", "north").await;
            p.click_button("Set attribute").await;
            p.expect_heading("alice").await;
            assert!(p.text("#user-attributes").await.contains("north"));
            fits_the_phone(p, "/admin/users/alice").await;

            p.step("a token created and revoked");
            p.goto(&ts.url("/admin/tokens")).await;
            p.expect_heading("Admin API tokens").await;
            create_token(p, "phone").await;
            fits_the_phone(p, "the shown-once token").await;
            p.click_link("I have copied it, back to the tokens").await;
            p.expect_heading("Admin API tokens").await;
            fits_the_phone(p, "/admin/tokens").await;
            click(p, "tr[data-token=phone] button").await;
            p.expect_heading("Revoke the admin token phone?").await;
            click(p, "#confirm").await;
            p.expect_heading("Admin API tokens").await;
            assert!(p.text("tr[data-token=phone]").await.contains("Revoked"));
        },
    )
    .await;
}
