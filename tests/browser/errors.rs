//! The error pages a person can land on, seen in the browser: each is a styled page (the
//! stylesheet loaded under the page's CSP) with a clear title and message, and a clean console.

use super::page::{run, Page, Viewport};
use crate::harness::TestServer;

/// Open `url`, which must answer `status` with the page titled `title` saying `message`.
async fn expect_error_page(
    page: &Page,
    ts: &TestServer,
    url: &str,
    status: u16,
    title: &str,
    message: &str,
) {
    let path = url::Url::parse(url).unwrap().path().to_string();
    page.expect_error_status(&path, status);
    page.goto(url).await;
    page.expect_heading(title).await;
    let answered = ts.seen("GET", &path);
    assert_eq!(
        answered.last().map(|r| r.status),
        Some(status),
        "status of {url}"
    );
    assert_eq!(page.title().await, title, "document title");
    assert_eq!(page.text("main p").await, message);
    // Styled: lanyard.css applied under the page's CSP (a white card on the grey page).
    assert_eq!(
        page.css("body", "background-color").await,
        "rgba(244, 245, 247, 1)",
        "page background from lanyard.css"
    );
    assert_eq!(
        page.css("main", "background-color").await,
        "rgba(255, 255, 255, 1)",
        "card background from lanyard.css"
    );
}

#[tokio::test]
async fn error_pages_are_styled_and_clear() {
    let ts = TestServer::start().await;
    run("error_pages_are_styled_and_clear", Viewport::Desktop, async |page| {
        page.step("authorize with an unknown client");
        let url = format!(
            "{}?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid&state=s",
            ts.url("/authorize")
        );
        expect_error_page(page, &ts, &url, 400, "Invalid request", "The client is not registered.")
            .await;
        assert_eq!(
            page.url().await.as_str(),
            url,
            "rendered, never redirected (RFC 6749 §4.1.2.1)"
        );

        page.step("an unknown sign-in request");
        expect_error_page(
            page,
            &ts,
            &ts.url("/login?req=nope"),
            400,
            "Sign-in expired",
            "This sign-in request has expired. Return to the application and try again.",
        )
        .await;

        page.step("an unknown tenant");
        expect_error_page(
            page,
            &ts,
            &format!("{}/t/nope/authorize?client_id=web", ts.base),
            404,
            "Not found",
            "There is no such tenant.",
        )
        .await;
    })
    .await;
}
