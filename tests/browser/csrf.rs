//! The CSRF rule of ADR 0007 as a browser applies it: our own login form posts with our Origin
//! and `Sec-Fetch-Site: same-origin` and is accepted; a form on another origin that posts to the
//! login endpoint, even one carrying a leaked token, is refused with 403 and signs nobody in.

use super::page::{run, Page, Viewport};
use super::rp::{RpClient, WebRp};
use super::{authorization, sign_in_at_rp};
use crate::harness::{TestServer, PASSWORD};

#[tokio::test]
async fn login_form_posts_our_own_origin_and_is_accepted() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "login_form_posts_our_own_origin_and_is_accepted",
        Viewport::Desktop,
        async |page| {
            // The sign-in succeeding is the assertion; the recorded request shows why.
            sign_in_at_rp(page, &ts, &rp, &client).await;
            let posts = ts.seen("POST", "/t/acme/login");
            let post = posts.last().expect("the login form was posted");
            assert_eq!(post.origin.as_deref(), Some(ts.base.as_str()), "Origin");
            assert_eq!(
                post.fetch_site.as_deref(),
                Some("same-origin"),
                "Sec-Fetch-Site"
            );
            assert!(
                (300..400).contains(&post.status),
                "accepted: {}",
                post.status
            );
        },
    )
    .await;
}

/// Start a sign-in, read its request id and the browser's CSRF token off the form (as if they
/// had leaked), then click the button of a form served from `attacker_base` that posts them with
/// alice's credentials to Lanyard's login endpoint. The browser must land on the refusal.
async fn forged_login(
    page: &Page,
    ts: &TestServer,
    rp: &WebRp,
    client: &RpClient,
    attacker_base: &str,
) {
    let a = authorization(ts, rp, client, &[]);
    page.step("start a sign-in to learn its request id and CSRF token");
    page.goto(&a.url).await;
    page.expect_heading("Sign in").await;
    let req = page.attr("input[name=req]", "value").await.unwrap();
    let csrf = page.attr("input[name=csrf]", "value").await.unwrap();
    page.step("open the attacker's page");
    let mut attack = url::Url::parse(&format!("{attacker_base}/attack")).unwrap();
    attack
        .query_pairs_mut()
        .append_pair("action", &ts.url("/login"))
        .append_pair("req", &req)
        .append_pair("csrf", &csrf)
        .append_pair("username", "alice")
        .append_pair("password", PASSWORD);
    page.goto(attack.as_str()).await;
    page.expect_heading("You won a prize").await;
    page.step("click the attacker's button");
    page.expect_error_status("/t/acme/login", 403);
    page.click_button("Claim the prize").await;
    page.expect_heading("Request refused").await;
    let post = ts.seen("POST", "/t/acme/login").last().cloned().unwrap();
    assert_eq!(post.status, 403, "refused");
    assert_eq!(
        post.origin.as_deref(),
        Some(attacker_base),
        "the browser named the attacker's origin"
    );
    page.step("check that nobody was signed in");
    let a = authorization(ts, rp, client, &[("prompt", "none")]);
    page.goto(&a.url).await;
    page.expect_heading("RP callback").await;
    let cb = rp.last_callback();
    assert_eq!(
        cb.get("error").map(String::as_str),
        Some("login_required"),
        "{cb:?}"
    );
}

#[tokio::test]
async fn cross_site_form_post_to_login_is_refused() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "cross_site_form_post_to_login_is_refused",
        Viewport::Desktop,
        async |page| {
            // `localhost` is another site than `127.0.0.1`: the browser says `cross-site` (and
            // keeps the SameSite=Lax token cookie to itself).
            forged_login(page, &ts, &rp, &client, &rp.cross_site_base()).await;
            let post = ts.seen("POST", "/t/acme/login").last().cloned().unwrap();
            assert_eq!(post.fetch_site.as_deref(), Some("cross-site"));
        },
    )
    .await;
}

#[tokio::test]
async fn same_site_other_origin_form_with_a_leaked_token_is_refused() {
    let ts = TestServer::start().await;
    let rp = WebRp::start().await;
    let client = rp.register(&ts, "rp-app", true, false).await;
    run(
        "same_site_other_origin_form_with_a_leaked_token_is_refused",
        Viewport::Desktop,
        async |page| {
            // Another port on the same host is the same site: the browser sends the token
            // cookie, the token matches, and only Origin / Sec-Fetch-Site tell it apart.
            forged_login(page, &ts, &rp, &client, &rp.base).await;
            let post = ts.seen("POST", "/t/acme/login").last().cloned().unwrap();
            assert_eq!(post.fetch_site.as_deref(), Some("same-site"));
        },
    )
    .await;
}
