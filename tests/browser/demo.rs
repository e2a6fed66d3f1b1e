//! The demo app from the README, clicked through as a new user would: wrong password, right
//! password, the signed-in page, sign out, and proof that the session really ended.

use super::page::{run, Viewport};
use super::sign_in;
use crate::harness::{Setup, TestServer};

#[tokio::test]
async fn demo_app_signs_in_shows_tokens_and_signs_out() {
    let ts = TestServer::start_with(Setup {
        demo: true,
        ..Default::default()
    })
    .await;
    let password = ts.demo_password.clone().unwrap();
    let demo = format!("{}/t/demo/demo", ts.base);
    run(
        "demo_app_signs_in_shows_tokens_and_signs_out",
        Viewport::Desktop,
        async |page| {
            page.step("open the demo app");
            page.goto(&demo).await;
            page.expect_heading("Demo relying party").await;
            page.step("click sign in");
            page.click_link("Sign in with Lanyard").await;
            page.expect_heading("Sign in").await;

            page.step("submit a wrong password");
            // The refused sign-in answers 401 (the form again, with the error).
            page.expect_error_status("/t/demo/login", 401);
            sign_in(page, "demo", "not the password").await;
            page.expect_heading("Sign in").await;
            assert_eq!(
                page.text("[role=alert]").await,
                "Invalid username or password."
            );
            assert_eq!(
                page.url().await.path(),
                "/t/demo/login",
                "still on the login form"
            );
            assert_eq!(
                page.attr("input[name=username]", "value").await.as_deref(),
                Some("demo"),
                "the username is kept"
            );

            page.step("submit the right password");
            sign_in(page, "demo", &password).await;
            page.expect_heading("Signed in").await;
            let claims: serde_json::Value =
                serde_json::from_str(&page.text("pre:nth-of-type(1)").await)
                    .expect("ID token claims as JSON");
            assert_eq!(claims["iss"], format!("{}/t/demo", ts.base));
            assert_eq!(claims["aud"], "demo-spa");
            let sid = claims["sid"]
                .as_str()
                .expect("sid in the ID token")
                .to_string();
            let userinfo: serde_json::Value =
                serde_json::from_str(&page.text("pre:nth-of-type(2)").await)
                    .expect("UserInfo as JSON");
            assert_eq!(userinfo["sub"], claims["sub"]);
            assert_eq!(userinfo["email"], "demo@example.com");
            assert_eq!(page.text("p code").await, sid, "the session id shown");

            page.step("click sign out");
            page.click_link("Sign out everywhere").await;
            page.expect_heading("Signed out").await;
            let at = page.url().await;
            assert_eq!(at.path(), "/t/demo/demo/logged-out");
            assert!(
                at.query_pairs().any(|(k, _)| k == "state"),
                "state at the demo: {at}"
            );

            page.step("open the demo again and sign in");
            page.goto(&demo).await;
            page.click_link("Sign in with Lanyard").await;
            page.expect_heading("Sign in").await;
            assert!(
                page.has("input[name=password]").await,
                "the login form again: the session ended"
            );
        },
    )
    .await;
}
