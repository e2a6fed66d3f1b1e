//! Consent for a third-party client, clicked in the browser: Allow sends the RP a code with
//! `state` and `iss` (RFC 9207); Deny sends it `error=access_denied` with `state`
//! (OIDC Core §3.1.2.6).

use super::page::{run, Page, Viewport};
use super::rp::WebRp;
use super::{authorization, sign_in};
use crate::harness::{TestServer, PASSWORD};
use std::collections::BTreeMap;

/// Sign in for the third-party client `partner` and answer its consent page with `button`.
/// Returns the RP's callback parameters and the state the authorization request sent.
async fn answer_consent(
    page: &Page,
    ts: &TestServer,
    rp: &WebRp,
    button: &str,
) -> (BTreeMap<String, String>, String) {
    let client = rp.register(ts, "partner", false, false).await;
    let a = authorization(ts, rp, &client, &[]);
    page.step("open the third-party authorization request");
    page.goto(&a.url).await;
    page.step("sign in as alice");
    sign_in(page, "alice", PASSWORD).await;
    page.step("see the consent page");
    page.expect_heading("Allow access?").await;
    assert_eq!(page.text("main p strong").await, "partner", "who asks");
    let scopes = page.text("main ul").await;
    assert!(
        scopes.contains("openid") && scopes.contains("profile"),
        "scopes listed: {scopes}"
    );
    page.button("Allow").await;
    page.button("Deny").await;
    page.step(format!("click {button}"));
    page.click_button(button).await;
    page.expect_heading("RP callback").await;
    (rp.last_callback(), a.state)
}

#[tokio::test]
async fn consent_allow_sends_the_rp_a_code_with_state_and_iss() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    run(
        "consent_allow_sends_the_rp_a_code_with_state_and_iss",
        Viewport::Desktop,
        async |page| {
            let (cb, state) = answer_consent(page, &ts, &rp, "Allow").await;
            assert!(
                cb.get("code").is_some_and(|c| !c.is_empty()),
                "code: {cb:?}"
            );
            assert_eq!(cb.get("state"), Some(&state));
            assert_eq!(cb.get("iss"), Some(&ts.issuer), "RFC 9207 iss");
            assert!(!cb.contains_key("error"), "{cb:?}");
            // The RP's page shows what it received: the browser really arrived there.
            assert_eq!(page.text("#param-state").await, state);
        },
    )
    .await;
}

#[tokio::test]
async fn consent_deny_sends_the_rp_access_denied_with_state() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    run(
        "consent_deny_sends_the_rp_access_denied_with_state",
        Viewport::Desktop,
        async |page| {
            let (cb, state) = answer_consent(page, &ts, &rp, "Deny").await;
            assert_eq!(cb.get("error").map(String::as_str), Some("access_denied"));
            assert_eq!(cb.get("state"), Some(&state));
            assert_eq!(cb.get("iss"), Some(&ts.issuer), "RFC 9207 iss");
            assert!(!cb.contains_key("code"), "{cb:?}");
            assert_eq!(page.text("#param-error").await, "access_denied");
        },
    )
    .await;
}
