//! The account portal in a real browser, signed in through the demo app as a new user would be:
//! this device and session shown, a device renamed, a second browser (a second WebDriver
//! session with a fresh profile) ended from the first, "end all other sessions", "this isn't
//! mine" and that browser refused afterwards, a password change behind a fresh sign-in, TOTP
//! enrolment with a code computed from the secret the page shows, and the history — on a
//! 390 px phone too. The suite fails on any console error or CSP report.

use super::page::{run, Page, Viewport};
use super::sign_in;
use crate::harness::{NowSecs, Setup, TestServer};

const PHONE_WIDTH: u32 = 390;

async fn demo_server() -> (TestServer, String) {
    let ts = TestServer::start_with(Setup {
        demo: true,
        ..Default::default()
    })
    .await;
    let password = ts.demo_password.clone().unwrap();
    (ts, password)
}

/// Sign in through the demo app, as its README tells a new user to.
async fn sign_in_with_demo(page: &Page, ts: &TestServer, password: &str) {
    page.step("open the demo app and sign in");
    page.goto(&format!("{}/t/demo/demo", ts.base)).await;
    page.expect_heading("Demo relying party").await;
    page.click_link("Sign in with Lanyard").await;
    sign_in(page, "demo", password).await;
    page.expect_heading("Signed in").await;
}

async fn open_portal(page: &Page, ts: &TestServer) {
    page.step("open the account portal");
    page.goto(&format!("{}/t/demo/account", ts.base)).await;
    page.expect_heading("Devices and sessions").await;
}

async fn click(page: &Page, css: &str) {
    page.find(css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click `{css}`: {e}"));
}

/// Every visible control of the page lies inside a phone's width.
async fn fits_the_phone(page: &Page, what: &str) {
    let width = f64::from(PHONE_WIDTH);
    for css in ["main", "h1", "button", "input", "nav a", "p"] {
        if !page.has(css).await {
            continue;
        }
        for (x, _y, w, _h) in page.rects(css).await {
            // Controls inside a closed <details> have no box at all.
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
async fn portal_shows_this_device_renames_it_and_ends_a_second_browser() {
    let (ts, password) = demo_server().await;
    run(
        "portal_shows_this_device_renames_it_and_ends_a_second_browser",
        Viewport::Desktop,
        async |a| {
            sign_in_with_demo(a, &ts, &password).await;
            open_portal(a, &ts).await;
            assert_eq!(a.text("section.device.current .badge").await, "This device");
            assert!(
                a.text("section.device.current li.session-item")
                    .await
                    .contains("This session"),
                "this session is marked"
            );
            assert!(
                a.text("section.device.current li.session-item")
                    .await
                    .contains("demo-spa"),
                "the app that took part"
            );
            let exact = a
                .attr("section.device.current time", "title")
                .await
                .unwrap_or_default();
            assert!(
                exact.ends_with("UTC"),
                "the exact time in the tooltip: {exact}"
            );

            a.step("rename this device");
            click(a, "section.device.current details summary").await;
            a.fill("section.device.current input[name=name]", "My laptop")
                .await;
            a.click_button("Save").await;
            a.expect_heading("Devices and sessions").await;
            assert_eq!(a.text("[role=status]").await, "The device was saved.");
            assert!(a
                .text("section.device.current h2")
                .await
                .starts_with("My laptop"));

            run(
                "portal_shows_this_device_renames_it_and_ends_a_second_browser (second browser)",
                Viewport::Desktop,
                async |b| {
                    sign_in_with_demo(b, &ts, &password).await;
                    open_portal(b, &ts).await;
                    assert!(
                        b.text("section.device:not(.current) h2")
                            .await
                            .starts_with("My laptop"),
                        "the second browser sees the first device by its new name"
                    );

                    a.step("end the second browser's session from the first");
                    a.goto(&format!("{}/t/demo/account", ts.base)).await;
                    a.expect_heading("Devices and sessions").await;
                    click(a, "section.device:not(.current) li.session-item button").await;
                    a.expect_heading("Devices and sessions").await;
                    assert_eq!(a.text("[role=status]").await, "The session was ended.");
                    assert!(
                        !a.has("section.device:not(.current) li.session-item").await,
                        "no session left on the other device"
                    );

                    b.step("the second browser is signed out");
                    b.goto(&format!("{}/t/demo/account", ts.base)).await;
                    b.expect_heading("Sign in").await;
                    assert!(b.text("main").await.contains("your account"));
                },
            )
            .await;
        },
    )
    .await;
}

#[tokio::test]
async fn end_all_others_then_this_isnt_mine_refuses_that_browser() {
    let (ts, password) = demo_server().await;
    run(
        "end_all_others_then_this_isnt_mine_refuses_that_browser",
        Viewport::Desktop,
        async |a| {
            sign_in_with_demo(a, &ts, &password).await;
            run(
                "end_all_others_then_this_isnt_mine_refuses_that_browser (second browser)",
                Viewport::Desktop,
                async |b| {
                    sign_in_with_demo(b, &ts, &password).await;

                    a.step("end all other sessions");
                    open_portal(a, &ts).await;
                    a.click_button("End all other sessions (1)").await;
                    a.expect_heading("Devices and sessions").await;
                    assert_eq!(
                        a.text("[role=status]").await,
                        "Your other sessions were ended."
                    );

                    b.step("the other browser must sign in again, and does (from the portal)");
                    b.goto(&format!("{}/t/demo/account", ts.base)).await;
                    sign_in(b, "demo", &password).await;
                    b.expect_heading("Devices and sessions").await;

                    a.step("report the other device: this isn't mine");
                    a.goto(&format!("{}/t/demo/account", ts.base)).await;
                    a.expect_heading("Devices and sessions").await;
                    click(a, "section.device:not(.current) details summary").await;
                    a.fill(
                        "section.device:not(.current) input[name=note]",
                        "I have never used this browser",
                    )
                    .await;
                    click(a, "section.device:not(.current) button.danger").await;
                    a.expect_heading("Devices and sessions").await;
                    assert!(a
                        .text("[role=status]")
                        .await
                        .contains("can no longer sign in"));
                    assert_eq!(
                        a.text("section.device:not(.current) .badge.danger").await,
                        "Reported as not yours"
                    );

                    b.step("that browser's sign-in is refused");
                    b.goto(&format!("{}/t/demo/account", ts.base)).await;
                    b.expect_error_status("/t/demo/login", 403);
                    sign_in(b, "demo", &password).await;
                    b.expect_heading("This device cannot sign in").await;

                    a.step("the history tells what happened");
                    a.goto(&format!("{}/t/demo/account/history", ts.base)).await;
                    a.expect_heading("Security history").await;
                    let h = a.text("ol.history").await;
                    assert!(h.contains("Reported a device as not yours"), "{h}");
                    assert!(h.contains("A session ended: you ended it in your account page"));
                    assert!(h.contains("Signed in from a new device"));
                },
            )
            .await;
        },
    )
    .await;
}

#[tokio::test]
async fn password_change_with_a_fresh_sign_in_and_totp_enrolment_on_a_phone() {
    let (ts, password) = demo_server().await;
    let phone = Viewport::Phone {
        width: PHONE_WIDTH,
        height: 844,
    };
    run(
        "password_change_with_a_fresh_sign_in_and_totp_enrolment_on_a_phone",
        phone,
        async |page| {
            sign_in_with_demo(page, &ts, &password).await;
            open_portal(page, &ts).await;
            fits_the_phone(page, "devices and sessions").await;

            page.step("ten minutes later, change the password");
            ts.clock.advance_secs(10 * 60);
            page.click_link("Security").await;
            page.expect_heading("Security").await;
            fits_the_phone(page, "security").await;
            let new = "a brand new passphrase";
            page.fill("input[name=new_password]", new).await;
            page.fill("input[name=confirm]", new).await;
            page.click_button("Change password").await;
            page.expect_heading("Confirm it is you").await;
            fits_the_phone(page, "confirm it is you").await;
            page.click_button("Enter my password again").await;
            sign_in(page, "demo", &password).await;
            page.expect_heading("Security").await;
            page.fill("input[name=new_password]", new).await;
            page.fill("input[name=confirm]", new).await;
            page.click_button("Change password").await;
            page.expect_heading("Security").await;
            assert!(page
                .text("[role=status]")
                .await
                .contains("Your password was changed"));

            page.step("set up an authenticator app");
            page.click_button("Set up an authenticator app").await;
            page.expect_heading("Set up a second factor").await;
            fits_the_phone(page, "enrolment").await;
            let shown = page.text("code.secret").await.replace(' ', "");
            let secret = totp_rs::Secret::Encoded(shown.clone())
                .to_bytes()
                .unwrap_or_else(|e| panic!("the page shows a base32 secret, not {shown:?}: {e:?}"));
            let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, secret);
            let code = totp.generate(ts.clock.now_secs() as u64);
            page.fill("input[name=code]", &code).await;
            page.click_button("Confirm").await;
            page.expect_heading("Save your recovery codes").await;
            fits_the_phone(page, "recovery codes").await;
            page.click_link("I have saved them, back to my account")
                .await;
            page.expect_heading("Security").await;
            assert!(page
                .text("main")
                .await
                .contains("An authenticator app is set up"));

            page.step("the history shows it all");
            page.click_link("History").await;
            page.expect_heading("Security history").await;
            fits_the_phone(page, "history").await;
            let h = page.text("ol.history").await;
            assert!(h.contains("Set up an authenticator app"), "{h}");
            assert!(h.contains("Changed the password"), "{h}");
            assert!(h.contains("Signed in again to confirm it was you"), "{h}");
        },
    )
    .await;
}
