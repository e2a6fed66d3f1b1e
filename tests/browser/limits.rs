//! The session-limit pages in a real browser: "choose a session to end" (the user picks the
//! session on another device, and the sign-in continues to the RP) and "too many sessions"
//! (the way back gives the RP `access_denied`), on a desktop and on a 390 px phone.

use super::page::{run, Page, Viewport};
use super::rp::WebRp;
use super::{authorization, sign_in};
use crate::harness::{login_and_redeem, Browser, TestServer, PASSWORD};
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use lanyard_idp::session::LayerRef;

async fn limit(ts: &TestServer, action: &str) {
    change_layer(
        &ts.state,
        &ts.tenant,
        &LayerRef::tenant(),
        &[
            FieldChange::Set("max_sessions".into(), "1".into()),
            FieldChange::Set("limit_action".into(), action.into()),
        ],
        "test",
    )
    .await
    .unwrap();
}

/// alice already signed in elsewhere (another device, through the HTTP test client).
async fn signed_in_elsewhere(ts: &TestServer) -> String {
    let tok = login_and_redeem(ts, &Browser::new(), "openid").await;
    super::jwt_claims(tok["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn is_live(ts: &TestServer, sid: &str) -> bool {
    lanyard_idp::session::service::resolve::find_by_sid(&ts.state, &ts.tenant.id, sid)
        .await
        .unwrap()
        .is_some_and(|s| s.is_active())
}

async fn ask_flow(page: &Page, ts: &TestServer, rp: &WebRp, other: &str) {
    let client = rp.register(ts, "rp-app", true, false).await;
    let a = authorization(ts, rp, &client, &[]);
    page.step("open the authorization request");
    page.goto(&a.url).await;
    page.step("sign in while another session holds the only slot");
    sign_in(page, "alice", PASSWORD).await;
    page.expect_heading("You are signed in on too many devices")
        .await;
    let listed = page.text("fieldset.sessions").await;
    assert!(
        listed.contains("127.0.0.1"),
        "the other session's IP: {listed}"
    );
    assert!(listed.contains("Signed in"), "{listed}");
    assert_eq!(
        page.attr("input[name=end]", "value").await.as_deref(),
        Some(other),
        "the checkbox ends that session"
    );

    page.step("continue without choosing");
    page.expect_error_status("/t/acme/login/choose", 400);
    page.click_button("End selected and continue").await;
    page.expect_heading("You are signed in on too many devices")
        .await;
    assert_eq!(page.text("p.error").await, "Choose a session to end.");
    assert!(is_live(ts, other).await, "nothing ended yet");

    page.step("tick the other session (by its label) and continue");
    page.find("label.session").await.click().await.unwrap();
    page.click_button("End selected and continue").await;
    page.expect_heading("RP callback").await;
    let cb = rp.last_callback();
    assert_eq!(cb.get("state"), Some(&a.state));
    assert!(cb.contains_key("code"), "{cb:?}");
    assert!(!is_live(ts, other).await, "the chosen session ended");
}

#[tokio::test]
async fn choosing_a_session_to_end_continues_the_sign_in() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    limit(&ts, "ask").await;
    let other = signed_in_elsewhere(&ts).await;
    run(
        "choosing_a_session_to_end_continues_the_sign_in",
        Viewport::Desktop,
        async |page| ask_flow(page, &ts, &rp, &other).await,
    )
    .await;
}

#[tokio::test]
async fn choosing_a_session_to_end_works_on_a_390px_phone() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    limit(&ts, "ask").await;
    let other = signed_in_elsewhere(&ts).await;
    run(
        "choosing_a_session_to_end_works_on_a_390px_phone",
        Viewport::Phone {
            width: 390,
            height: 844,
        },
        async |page| {
            let client = rp.register(&ts, "rp-app", true, false).await;
            let a = authorization(&ts, &rp, &client, &[]);
            page.goto(&a.url).await;
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("You are signed in on too many devices")
                .await;
            page.step("measure the page");
            for css in ["main", "label.session", "button"] {
                for (x, _y, w, _h) in page.rects(css).await {
                    assert!(
                        x >= 0.0 && x + w <= 390.5,
                        "`{css}` spans x {x}..{} outside 390 px",
                        x + w
                    );
                }
            }
            page.find("input[name=end]").await.click().await.unwrap();
            page.click_button("End selected and continue").await;
            page.expect_heading("RP callback").await;
            assert!(!is_live(&ts, &other).await);
        },
    )
    .await;
}

#[tokio::test]
async fn cancelling_the_choice_ends_nothing_and_tells_the_rp() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    limit(&ts, "ask").await;
    let other = signed_in_elsewhere(&ts).await;
    run(
        "cancelling_the_choice_ends_nothing_and_tells_the_rp",
        Viewport::Desktop,
        async |page| {
            let client = rp.register(&ts, "rp-app", true, false).await;
            let a = authorization(&ts, &rp, &client, &[]);
            page.goto(&a.url).await;
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("You are signed in on too many devices")
                .await;
            page.find("input[name=end]").await.click().await.unwrap();
            page.step("cancel, although a session was ticked");
            page.click_button("Cancel").await;
            page.expect_heading("RP callback").await;
            let cb = rp.last_callback();
            assert_eq!(cb.get("error").map(String::as_str), Some("access_denied"));
            assert_eq!(cb.get("state"), Some(&a.state));
            assert!(is_live(&ts, &other).await, "cancel changes nothing");
        },
    )
    .await;
}

#[tokio::test]
async fn a_refused_sign_in_explains_the_limit_and_returns_access_denied() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    limit(&ts, "refuse").await;
    let other = signed_in_elsewhere(&ts).await;
    run(
        "a_refused_sign_in_explains_the_limit_and_returns_access_denied",
        Viewport::Desktop,
        async |page| {
            let client = rp.register(&ts, "rp-app", true, false).await;
            let a = authorization(&ts, &rp, &client, &[]);
            page.goto(&a.url).await;
            page.expect_error_status("/t/acme/login", 403);
            sign_in(page, "alice", PASSWORD).await;
            page.expect_heading("You are signed in on too many devices")
                .await;
            let text = page.text("main").await;
            assert!(
                text.contains("1 active session at a time, and you have 1"),
                "{text}"
            );
            page.click_button("Return to the application").await;
            page.expect_heading("RP callback").await;
            let cb = rp.last_callback();
            assert_eq!(cb.get("error").map(String::as_str), Some("access_denied"));
            assert_eq!(cb.get("state"), Some(&a.state));
            assert!(is_live(&ts, &other).await);
        },
    )
    .await;
}
