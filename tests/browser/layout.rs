//! The login form as people with other devices use it: on a 390 px phone screen (every control
//! inside the viewport, measured with WebDriver element rectangles) and with the keyboard alone.

use super::page::{run, Page, Viewport};
use super::rp::{RpClient, WebRp};
use super::{authorization, sign_in};
use crate::harness::{TestServer, PASSWORD};

const PHONE_WIDTH: u32 = 390;

async fn open_login(page: &Page, ts: &TestServer, rp: &WebRp, client: &RpClient) -> String {
    let a = authorization(ts, rp, client, &[]);
    page.step("open the authorization request");
    page.goto(&a.url).await;
    page.expect_heading("Sign in").await;
    a.state
}

#[tokio::test]
async fn login_fits_a_390px_phone_and_signs_in() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    let phone = Viewport::Phone {
        width: PHONE_WIDTH,
        height: 844,
    };
    run(
        "login_fits_a_390px_phone_and_signs_in",
        phone,
        async |page| {
            let state = open_login(page, &ts, &rp, &client).await;
            page.step("measure the form");
            let width = f64::from(PHONE_WIDTH);
            for css in [
                "main",
                "input[name=username]",
                "input[name=password]",
                "button[type=submit]",
            ] {
                for (x, _y, w, h) in page.rects(css).await {
                    assert!(
                        x >= 0.0 && x + w <= width + 0.5,
                        "`{css}` spans x {x}..{} outside the {PHONE_WIDTH} px viewport",
                        x + w
                    );
                    assert!(
                        w >= 44.0 && h >= 24.0,
                        "`{css}` is too small to tap: {w} x {h}"
                    );
                }
            }
            page.step("sign in on the phone");
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("RP callback").await;
            let cb = rp.last_callback();
            assert_eq!(cb.get("state"), Some(&state));
            assert!(cb.contains_key("code"), "{cb:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn keyboard_only_sign_in() {
    use fantoccini::key::Key;
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run("keyboard_only_sign_in", Viewport::Desktop, async |page| {
        let state = open_login(page, &ts, &rp, &client).await;
        page.step("type the username where the focus starts");
        assert_eq!(
            page.focused_name().await.as_deref(),
            Some("username"),
            "autofocus"
        );
        page.type_keys("alice").await;
        page.step("Tab to the password");
        page.type_keys(&Key::Tab).await;
        assert_eq!(page.focused_name().await.as_deref(), Some("password"));
        page.step("type the password and press Enter");
        page.type_keys(&(PASSWORD.to_string() + &Key::Enter)).await;
        page.expect_heading("RP callback").await;
        let cb = rp.last_callback();
        assert_eq!(cb.get("state"), Some(&state));
        assert!(cb.contains_key("code"), "{cb:?}");
    })
    .await;
}
