//! The real-browser suite: headless Chromium driven through WebDriver (chromedriver) against the
//! in-process test server, with nothing patched: no header rewritten, no script injected into a
//! page under test, layout measured through WebDriver's element rectangles. Every test fails on a
//! SEVERE console entry or a CSP report, and saves a screenshot, the page source and the console
//! when it fails. Without chromedriver and Chromium the tests say so loudly and pass, unless
//! `LANYARD_REQUIRE_BROWSER=1` (CI) makes that a failure.

mod driver;
mod page;
mod rp;

mod admin;
mod admin_apps;
mod admin_manage;
mod admin_pages;
mod admin_people;
mod admin_policies;
mod consent;
mod csrf;
mod demo;
mod errors;
mod layout;
mod limits;
mod logout;
mod mail;
mod portal;
mod second_factor;

use crate::harness::{auth_url, token_request, TestServer, PASSWORD};
use page::Page;
use rp::{RpClient, WebRp};

/// Fill the login form on the current page and submit it with its button.
async fn sign_in(page: &Page, username: &str, password: &str) {
    page.expect_heading("Sign in").await;
    page.fill("input[name=username]", username).await;
    page.fill("input[name=password]", password).await;
    page.click_button("Sign in").await;
}

/// A started authorization: where to send the browser and what the RP must get back.
struct Authorization {
    url: String,
    state: String,
    verifier: String,
}

fn authorization(
    ts: &TestServer,
    rp: &WebRp,
    client: &RpClient,
    extra: &[(&str, &str)],
) -> Authorization {
    let (url, state, _nonce, verifier) = auth_url(
        ts,
        &client.client_id,
        &rp.redirect_uri(),
        "openid profile",
        extra,
    );
    Authorization {
        url,
        state,
        verifier,
    }
}

/// Sign alice in through the browser for `client`, wait for the RP's callback page, and redeem
/// the code as the RP would. Returns the ID token.
async fn sign_in_at_rp(page: &Page, ts: &TestServer, rp: &WebRp, client: &RpClient) -> String {
    let a = authorization(ts, rp, client, &[]);
    page.step(format!(
        "open the authorization request of `{}`",
        client.client_id
    ));
    page.goto(&a.url).await;
    page.step("sign in as alice");
    sign_in(page, "alice", PASSWORD).await;
    page.expect_heading("RP callback").await;
    let cb = rp.last_callback();
    assert_eq!(cb.get("state"), Some(&a.state), "state at the RP: {cb:?}");
    let code = cb.get("code").cloned().expect("a code at the RP");
    // Redeem it as the RP would, to get the ID token the logout scenarios need.
    let (status, tok) = token_request(
        ts,
        &client.client_id,
        &client.secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &rp.redirect_uri()),
            ("code_verifier", &a.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "token response: {tok}");
    tok["id_token"].as_str().expect("id_token").to_string()
}

/// The payload of a JWT, unverified (the test server issued it; this only reads `sid`).
fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
