//! Logout in the browser: RP-initiated logout with a front-channel RP (the logged-out page frames
//! the RP, then continues to the post-logout redirect URI), and the confirmation page asked when
//! no hint names the session, with both of its answers.

use super::page::{run, Page, Viewport};
use super::rp::{RpClient, WebRp};
use super::{authorization, jwt_claims, sign_in_at_rp};
use crate::harness::TestServer;
use std::collections::BTreeMap;

/// Ask for a silent authorization (`prompt=none`) and return what the RP received.
async fn silent_authorization(
    page: &Page,
    ts: &TestServer,
    rp: &WebRp,
    client: &RpClient,
) -> BTreeMap<String, String> {
    let a = authorization(ts, rp, client, &[("prompt", "none")]);
    page.goto(&a.url).await;
    page.expect_heading("RP callback").await;
    let cb = rp.last_callback();
    assert_eq!(cb.get("state"), Some(&a.state), "{cb:?}");
    cb
}

fn end_session_url(ts: &TestServer, params: &[(&str, &str)]) -> String {
    let mut u = url::Url::parse(&ts.url("/end_session")).unwrap();
    for (k, v) in params {
        u.query_pairs_mut().append_pair(k, v);
    }
    u.to_string()
}

#[tokio::test]
async fn rp_initiated_logout_frames_the_frontchannel_rp_then_returns_with_state() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "fc-app", true, true).await;
    run(
        "rp_initiated_logout_frames_the_frontchannel_rp_then_returns_with_state",
        Viewport::Desktop,
        async |page| {
            let id_token = sign_in_at_rp(page, &ts, &rp, &client).await;
            let sid = jwt_claims(&id_token)["sid"].as_str().unwrap().to_string();
            page.step("open end_session with id_token_hint, post_logout_redirect_uri and state");
            let url = end_session_url(
                &ts,
                &[
                    ("id_token_hint", &id_token),
                    ("post_logout_redirect_uri", &rp.post_logout_uri()),
                    ("state", "bye-123"),
                ],
            );
            page.goto(&url).await;
            page.step("wait for the logged-out page to continue to the RP");
            page.expect_heading("RP signed out").await;
            let at = page.url().await;
            assert_eq!(at.path(), "/logged-out", "{at}");
            assert_eq!(page.text("#param-state").await, "bye-123");
            assert_eq!(
                rp.logged_out_hits()
                    .last()
                    .and_then(|p| p.get("state"))
                    .map(String::as_str),
                Some("bye-123")
            );
            // Front-Channel Logout 1.0 §2: the iframe loaded, with our iss and this session's sid.
            let hits = rp.frontchannel_hits();
            assert_eq!(hits.len(), 1, "front-channel hits: {hits:?}");
            assert_eq!(hits[0].get("iss"), Some(&ts.issuer));
            assert_eq!(hits[0].get("sid"), Some(&sid));
            page.step("check that the session ended");
            let cb = silent_authorization(page, &ts, &rp, &client).await;
            assert_eq!(
                cb.get("error").map(String::as_str),
                Some("login_required"),
                "{cb:?}"
            );
        },
    )
    .await;
}

/// Sign in, open `/end_session` without a hint and see the question with both answers.
async fn ask_to_sign_out(page: &Page, ts: &TestServer, rp: &WebRp, client: &RpClient) {
    sign_in_at_rp(page, ts, rp, client).await;
    page.step("open end_session without a hint");
    page.goto(&ts.url("/end_session")).await;
    page.expect_heading("Sign out?").await;
    page.button("Sign out").await;
    page.button("No, stay signed in").await;
}

#[tokio::test]
async fn logout_confirmation_sign_out_ends_the_session() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "logout_confirmation_sign_out_ends_the_session",
        Viewport::Desktop,
        async |page| {
            ask_to_sign_out(page, &ts, &rp, &client).await;
            page.step("click Sign out");
            page.click_button("Sign out").await;
            page.expect_heading("You are logged out").await;
            page.step("prompt=none after signing out");
            let cb = silent_authorization(page, &ts, &rp, &client).await;
            assert_eq!(
                cb.get("error").map(String::as_str),
                Some("login_required"),
                "{cb:?}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn logout_confirmation_stay_keeps_the_session() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "logout_confirmation_stay_keeps_the_session",
        Viewport::Desktop,
        async |page| {
            ask_to_sign_out(page, &ts, &rp, &client).await;
            page.step("click No, stay signed in");
            page.click_button("No, stay signed in").await;
            page.expect_heading("You are still signed in").await;
            assert!(page.text("main").await.contains("Nothing was changed"));
            page.step("prompt=none after staying");
            let cb = silent_authorization(page, &ts, &rp, &client).await;
            assert!(cb.contains_key("code"), "still signed in: {cb:?}");
        },
    )
    .await;
}

#[tokio::test]
async fn logout_confirmation_stay_offers_the_way_back_to_the_rp_that_asked() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "logout_confirmation_stay_offers_the_way_back_to_the_rp_that_asked",
        Viewport::Desktop,
        async |page| {
            // An ID token of an earlier session: a valid hint that names no current session,
            // so the provider asks (RP-Initiated Logout 1.0 §2).
            let old = sign_in_at_rp(page, &ts, &rp, &client).await;
            page.step("sign out of the first session");
            page.goto(&end_session_url(&ts, &[("id_token_hint", &old)]))
                .await;
            page.expect_heading("You are logged out").await;
            sign_in_at_rp(page, &ts, &rp, &client).await;
            page.step("end_session with the old hint and a post-logout redirect");
            let url = end_session_url(
                &ts,
                &[
                    ("id_token_hint", &old),
                    ("post_logout_redirect_uri", &rp.post_logout_uri()),
                    ("state", "s-42"),
                ],
            );
            page.goto(&url).await;
            page.expect_heading("Sign out?").await;
            page.step("click No, stay signed in");
            page.click_button("No, stay signed in").await;
            page.expect_heading("You are still signed in").await;
            page.step("follow the way back");
            page.click_link("Return to rp-app").await;
            page.expect_heading("RP signed out").await;
            assert_eq!(page.text("#param-state").await, "s-42");
            page.step("prompt=none after staying");
            let cb = silent_authorization(page, &ts, &rp, &client).await;
            assert!(cb.contains_key("code"), "still signed in: {cb:?}");
        },
    )
    .await;
}

/// Front-Channel Logout 1.0 §3 gives the OP no way to know an RP signed out but its frame
/// loading: when one does not load, the logged-out page says some applications may not have
/// been signed out, and stays (the Continue link still works).
#[tokio::test]
async fn logged_out_page_warns_when_a_frontchannel_frame_did_not_load() {
    use lanyard_idp::manage::NewClient;
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let good = rp.register(&ts, "fc-app", true, true).await;
    // A second RP whose front-channel URI accepts the connection and does not answer; it hangs
    // up well after the page's give-up time (so the browser's page load, which WebDriver waits
    // for, ends at last with the frame's error page).
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = hang.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(6)).await;
                drop(s);
            });
        }
    });
    ts.client(NewClient {
        client_id: "fc-dead".into(),
        secret: Some("fc-dead-secret-0123456789abcdef".into()),
        // The front-channel URI must share its origin with a redirect URI (Front-Channel
        // Logout 1.0 §2), so the hanging origin is registered as one too.
        redirect_uris: vec![
            rp.redirect_uri(),
            format!("http://127.0.0.1:{hang_port}/cb"),
        ],
        post_logout_redirect_uris: vec![rp.post_logout_uri()],
        grant_types: vec!["authorization_code".into()],
        first_party: true,
        frontchannel_logout_uri: Some(format!("http://127.0.0.1:{hang_port}/fc")),
        ..Default::default()
    })
    .await;
    let dead = RpClient {
        client_id: "fc-dead".into(),
        secret: "fc-dead-secret-0123456789abcdef".into(),
    };
    run(
        "logged_out_page_warns_when_a_frontchannel_frame_did_not_load",
        Viewport::Desktop,
        async |page| {
            let id_token = sign_in_at_rp(page, &ts, &rp, &good).await;
            page.step("the second RP signs in silently in the same session");
            let a = super::authorization(&ts, &rp, &dead, &[]);
            page.goto(&a.url).await;
            page.expect_heading("RP callback").await;
            let code = rp.last_callback().get("code").cloned().expect("a code");
            let (status, tok) = crate::harness::token_request(
                &ts,
                &dead.client_id,
                &dead.secret,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &rp.redirect_uri()),
                    ("code_verifier", &a.verifier),
                ],
            )
            .await;
            assert_eq!(status, 200, "{tok}");
            page.step("RP-initiated logout with a hint and a post-logout redirect");
            let url = end_session_url(
                &ts,
                &[
                    ("id_token_hint", &id_token),
                    ("post_logout_redirect_uri", &rp.post_logout_uri()),
                    ("state", "s-1"),
                ],
            );
            page.goto(&url).await;
            page.step("the warning appears and the page stays");
            page.find("#fc-warning:not([hidden])").await;
            let text = page.text("#fc-warning").await;
            assert!(
                text.contains("Some applications may not have been signed out"),
                "{text}"
            );
            page.expect_heading("You are logged out").await;
            assert!(rp.logged_out_hits().is_empty(), "did not move on by itself");
            page.step("Continue still goes back to the RP");
            page.click_link("Continue").await;
            page.expect_heading("RP signed out").await;
        },
    )
    .await;
}
