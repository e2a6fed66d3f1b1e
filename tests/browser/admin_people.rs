//! People in the admin area in a real browser: an admin adds a user by filling the form (the
//! temporary password is shown once), saves her profile and resets her password, locks alice for
//! an hour after the confirmation and unlocks her, deletes the new user — and the forms fit a
//! 390 px phone. Screenshot: docs/screenshots/admin-user.png.

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
async fn an_admin_adds_a_user_and_locks_and_unlocks_another() {
    let ts = server().await;
    run(
        "an_admin_adds_a_user_and_locks_and_unlocks_another",
        Viewport::Desktop,
        async |p| {
            sign_in_as_admin(p, &ts).await;
            p.step("add carol");
            p.click_link("Users").await;
            p.expect_heading("Users").await;
            click(p, "#add-user").await;
            p.expect_heading("Add a user").await;
            p.fill("#username", "carol").await;
            p.fill("#name", "Carol C").await;
            p.click_button("Add the user").await;
            p.expect_heading("carol can sign in").await;
            assert!(p.text("#secret").await.len() >= 16);
            p.click_link("Done").await;
            p.expect_heading("carol").await;

            p.step("carol's profile, then her password reset after the confirmation");
            p.fill("#p-email", "carol@example.com").await;
            p.click_button("Save profile").await;
            p.expect_heading("carol").await;
            assert!(p.text("[role=status]").await.contains("were saved"));
            p.click_button("Reset password…").await;
            p.expect_heading("Reset carol's password?").await;
            click(p, "#confirm").await;
            p.expect_heading("carol's temporary password").await;
            assert!(p.text("#secret").await.len() >= 16);
            p.click_link("Done").await;
            p.expect_heading("carol").await;

            p.step("lock alice for an hour, then unlock her");
            p.goto(&ts.url("/admin/users/alice")).await;
            p.expect_heading("alice").await;
            click(p, "#lock-for option[value='1h']").await;
            p.click_button("Lock…").await;
            p.expect_heading("Lock alice's account?").await;
            assert!(p.text("#what").await.contains("for 1 hour"));
            click(p, "#confirm").await;
            p.expect_heading("alice").await;
            assert!(p.text("#locked").await.contains("Locked until"));
            p.save_screenshot(&shot("admin-user.png")).await;
            p.click_button("Unlock…").await;
            p.expect_heading("Unlock alice's account?").await;
            click(p, "#confirm").await;
            p.expect_heading("alice").await;
            assert!(!p.has("#locked").await);

            p.step("delete carol after the confirmation");
            p.goto(&ts.url("/admin/users/carol")).await;
            p.expect_heading("carol").await;
            p.click_button("Delete…").await;
            p.expect_heading("Delete carol?").await;
            click(p, "#confirm").await;
            p.expect_heading("Users").await;
            assert!(p.text("[role=status]").await.contains("deleted"));
            assert!(!p.has("[data-user=carol]").await);
        },
    )
    .await;
}

#[tokio::test]
async fn the_people_forms_fit_a_phone() {
    let ts = server().await;
    pages_fit_a_phone(
        "the_people_forms_fit_a_phone",
        &ts,
        &[
            ("/admin/add-user", "Add a user"),
            ("/admin/users/alice", "alice"),
        ],
    )
    .await;
}
