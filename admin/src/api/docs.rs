//! Swagger UI for the admin API at `/api/v1/docs`. poem-openapi's page inlines its script and
//! style; Lanyard's default CSP allows no inline script, so the page carries its own CSP that
//! allows exactly those inline blocks by hash (CSP Level 3 §8.3 hash-source) and nothing more.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use poem::http::{HeaderValue, StatusCode};
use poem::{handler, Endpoint, EndpointExt, Response};
use sha2::{Digest, Sha256};

/// `'sha256-…'` sources for every `<tag …>…</tag>` block of `html`.
fn inline_hashes(html: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(gt) = after.find('>') else { break };
        let body_and_rest = &after[gt + 1..];
        let Some(end) = body_and_rest.find(&close) else {
            break;
        };
        let body = &body_and_rest[..end];
        out.push(format!(
            "'sha256-{}'",
            STANDARD.encode(Sha256::digest(body.as_bytes()))
        ));
        rest = &body_and_rest[end + close.len()..];
    }
    out
}

/// The CSP for the page: its own inline blocks, same-origin requests (the API), data: images.
pub fn csp_for(html: &str) -> String {
    format!(
        "default-src 'self'; script-src {}; style-src {}; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        inline_hashes(html, "script").join(" "),
        inline_hashes(html, "style").join(" "),
    )
}

#[handler]
fn page(poem::web::Data(page): poem::web::Data<&DocsPage>) -> Response {
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .content_type("text/html; charset=utf-8")
        .body(page.html.clone());
    if let Ok(v) = HeaderValue::from_str(&page.csp) {
        r.headers_mut().insert("content-security-policy", v);
    }
    r
}

#[derive(Clone)]
struct DocsPage {
    html: String,
    csp: String,
}

/// The docs endpoint for a rendered Swagger UI page.
pub fn endpoint(html: String) -> impl Endpoint {
    let csp = csp_for(&html);
    page.data(DocsPage { html, csp })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_inline_block_is_hashed() {
        let html =
            "<style a=1>s{}</style><script>x()</script><p></p><script charset=\"u\">y()</script>";
        let scripts = inline_hashes(html, "script");
        assert_eq!(scripts.len(), 2);
        assert_eq!(
            scripts[0],
            format!("'sha256-{}'", STANDARD.encode(Sha256::digest(b"x()")))
        );
        assert_eq!(inline_hashes(html, "style").len(), 1);
        let csp = csp_for(html);
        assert!(csp.contains(&scripts[1]) && !csp.contains("unsafe-inline"));
    }
}
