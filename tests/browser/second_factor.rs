//! The second-factor pages in a real browser: enrolment when the policy requires a second
//! factor (QR code from a data: URI under the CSP, a wrong code, the recovery codes, the RP gets
//! an `mfa` ID token), the code page at the next sign-in (a used code refused, the next one
//! accepted), and a step-up of a live session at 390 px (same `sid`, higher `acr`).

use super::page::{run, Page, Viewport};
use super::rp::{RpClient, WebRp};
use super::{authorization, jwt_claims, sign_in, sign_in_at_rp};
use crate::harness::{token_request, NowSecs, TestServer, PASSWORD};

use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::LayerRef;

async fn require_mfa(ts: &TestServer, layer: LayerRef) {
    change_layer(
        &ts.state,
        &ts.tenant,
        &layer,
        &[FieldChange::Set("require_mfa".into(), "true".into())],
        "test",
    )
    .await
    .unwrap();
}

/// The key the enrolment page shows (in groups of four), decoded.
async fn shown_secret(page: &Page) -> Vec<u8> {
    let grouped = page.text("code.secret").await;
    let b32: String = grouped.chars().filter(|c| !c.is_whitespace()).collect();
    lanyard_idp::factors::from_base32(&b32).expect("a base32 key on the page")
}

fn code_now(ts: &TestServer, secret: &[u8]) -> String {
    lanyard_idp::factors::code_at_step(secret, ts.clock.now_secs() / 30)
}

/// The QR code is laid out at its size. (An image the CSP blocked would fail the test through
/// the suite's CSP-violation and console checks.)
async fn qr_is_rendered(page: &Page) {
    let rects = page.rects("img.qr").await;
    assert_eq!(rects.len(), 1, "one QR code");
    let (_, _, w, h) = rects[0];
    assert!(w >= 150.0 && h >= 150.0, "QR code {w}x{h}");
}

/// Redeem the code at the RP's callback as the RP would; returns the ID token's claims.
async fn redeem(
    ts: &TestServer,
    rp: &WebRp,
    client: &RpClient,
    verifier: &str,
) -> serde_json::Value {
    let cb = rp.last_callback();
    let code = cb.get("code").cloned().expect("a code at the RP");
    let (status, tok) = token_request(
        ts,
        &client.client_id,
        &client.secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri()),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tok}");
    jwt_claims(tok["id_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_required_second_factor_is_set_up_then_asked_for_at_the_next_sign_in() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    require_mfa(&ts, LayerRef::tenant()).await;
    run(
        "a_required_second_factor_is_set_up_then_asked_for_at_the_next_sign_in",
        Viewport::Desktop,
        async |page| {
            let client = rp.register(&ts, "rp-app", true, false).await;
            let a = authorization(&ts, &rp, &client, &[]);
            page.step("sign in with the password");
            page.goto(&a.url).await;
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("Set up a second factor").await;
            qr_is_rendered(page).await;
            assert_eq!(
                page.focused_name().await.as_deref(),
                Some("code"),
                "the code field has the focus"
            );
            let secret = shown_secret(page).await;

            page.step("type a wrong code");
            let right = code_now(&ts, &secret);
            let wrong = if right == "000000" {
                "111111"
            } else {
                "000000"
            };
            page.expect_error_status("/t/acme/login/enrol", 400);
            page.fill("input[name=code]", wrong).await;
            page.click_button("Confirm").await;
            page.expect_heading("Set up a second factor").await;
            assert!(page.text("p.error").await.contains("did not match"));
            assert_eq!(shown_secret(page).await, secret, "the same key again");

            page.step("type the code the app shows");
            page.fill("input[name=code]", &code_now(&ts, &secret)).await;
            page.click_button("Confirm").await;
            page.expect_heading("Save your recovery codes").await;
            let codes = page.text("ul.codes").await;
            assert_eq!(
                codes.lines().filter(|l| !l.trim().is_empty()).count(),
                10,
                "{codes}"
            );
            page.click_button("I have saved them, continue").await;
            page.expect_heading("RP callback").await;
            let id = redeem(&ts, &rp, &client, &a.verifier).await;
            assert_eq!(id["acr"], "urn:lanyard:acr:mfa", "{id}");
            assert_eq!(id["amr"], serde_json::json!(["pwd", "otp"]));

            page.step("sign in again (prompt=login): the code page");
            let again = authorization(&ts, &rp, &client, &[("prompt", "login")]);
            page.goto(&again.url).await;
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("Enter your code").await;
            page.step("the code already used is refused");
            page.expect_error_status("/t/acme/login/factor", 401);
            page.fill("input[name=code]", &code_now(&ts, &secret)).await;
            page.click_button("Verify").await;
            page.expect_heading("Enter your code").await;
            let err = page.text("p.error").await;
            assert!(!err.is_empty(), "an explanation is shown");
            page.step("the next code works");
            ts.clock.advance_secs(30);
            page.fill("input[name=code]", &code_now(&ts, &secret)).await;
            page.click_button("Verify").await;
            page.expect_heading("RP callback").await;
            assert_eq!(rp.last_callback().get("state"), Some(&again.state));
        },
    )
    .await;
}

#[tokio::test]
async fn a_sensitive_app_steps_up_the_same_session_on_a_390px_phone() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    run(
        "a_sensitive_app_steps_up_the_same_session_on_a_390px_phone",
        Viewport::Phone {
            width: 390,
            height: 844,
        },
        async |page| {
            let everyday = rp.register(&ts, "rp-app", true, false).await;
            let payroll = rp.register(&ts, "rp-payroll", true, false).await;
            require_mfa(&ts, LayerRef::client("rp-payroll")).await;
            let first = jwt_claims(&sign_in_at_rp(page, &ts, &rp, &everyday).await);
            assert_eq!(first["acr"], "urn:lanyard:acr:pwd");

            page.step("open the sensitive app: set up a second factor, no password again");
            let a = authorization(&ts, &rp, &payroll, &[]);
            page.goto(&a.url).await;
            page.expect_heading("Set up a second factor").await;
            qr_is_rendered(page).await;
            page.step("measure the page");
            for css in [
                "main",
                "img.qr",
                "code.secret",
                "input[name=code]",
                "button",
            ] {
                for (x, _y, w, _h) in page.rects(css).await {
                    assert!(
                        x >= 0.0 && x + w <= 390.5,
                        "`{css}` spans x {x}..{} outside 390 px",
                        x + w
                    );
                }
            }
            let secret = shown_secret(page).await;
            page.fill("input[name=code]", &code_now(&ts, &secret)).await;
            page.click_button("Confirm").await;
            page.expect_heading("Save your recovery codes").await;
            page.click_button("I have saved them, continue").await;
            page.expect_heading("RP callback").await;
            let id = redeem(&ts, &rp, &payroll, &a.verifier).await;
            assert_eq!(id["sid"], first["sid"], "the same session continues");
            assert_eq!(id["acr"], "urn:lanyard:acr:mfa");
        },
    )
    .await;
}
