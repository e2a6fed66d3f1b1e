//! "This wasn't me" in a real browser: the link from a received new-device notice opens the
//! confirmation page (nothing changes on GET), its button posts the CSRF-protected form with the
//! browser's own Origin, and the reported session ends.

use super::page::{run, Viewport};
use super::rp::WebRp;
use super::sign_in_at_rp;
use crate::harness::{Setup, TestServer};
use crate::smtp::SmtpServer;
use lanyard_idp::store;

#[tokio::test]
async fn the_link_from_a_new_device_notice_opens_and_confirms_in_the_browser() {
    let smtp = SmtpServer::start().await;
    let ts = TestServer::start_with(Setup {
        env: vec![("LANYARD_SMTP_URL", smtp.url())],
        ..Default::default()
    })
    .await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "the_link_from_a_new_device_notice_opens_and_confirms_in_the_browser",
        Viewport::Desktop,
        async |page| {
            sign_in_at_rp(page, &ts, &rp, &client).await;
            ts.drain_outbox(15).await;
            let mail = smtp.wait_for(1).await.remove(0);
            assert!(
                mail.subject().starts_with("New sign-in"),
                "{}",
                mail.subject()
            );
            let link = mail.link();

            page.step("open the link from the mail");
            page.goto(&link).await;
            page.expect_heading("This wasn't me").await;
            let live = |ts: &TestServer| {
                let db = ts.state.db.clone();
                let tenant = ts.tenant.id.clone();
                async move {
                    store::sessions::list_active_page(&db, &tenant, &Default::default(), None, 10)
                        .await
                        .unwrap()
                        .len()
                }
            };
            assert_eq!(live(&ts).await, 1, "opening the link changes nothing");

            page.step("confirm");
            page.click_button("Sign that device out").await;
            page.expect_heading("That device is signed out").await;
            let posts = ts.seen("POST", "/t/acme/not-me");
            let post = posts.last().expect("the form was posted");
            assert_eq!(post.origin.as_deref(), Some(ts.base.as_str()), "Origin");
            assert_eq!(post.status, 200);
            assert_eq!(live(&ts).await, 0, "the reported session ended");
        },
    )
    .await;
}
