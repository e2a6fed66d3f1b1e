//! Security headers on every response: CSP without inline script, frames denied, no sniffing.
//! A page that must frame or be framed (the logged-out page) sets its own CSP, which wins.
//! `Referrer-Policy: same-origin` keeps URLs (with their request ids) from every other site, and
//! lets a browser send our own Origin on our own forms (ADR 0007).

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// `hsts`: the public URL is https, so browsers are told to use nothing else (RFC 6797 §7.2:
/// sent over secure transport only; a plain-http deployment must not send it).
pub struct SecurityHeaders {
    pub hsts: bool,
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        SecurityHeadersEndpoint {
            inner: ep,
            hsts: self.hsts,
        }
    }
}

pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    hsts: bool,
}

/// One year, the RFC 6797 §11.2 example and what preload lists ask for.
pub const HSTS: &str = "max-age=31536000";

pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'";

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;
    async fn call(&self, req: Request) -> Result<Self::Output> {
        let mut resp = self.inner.call(req).await?.into_response();
        let h = resp.headers_mut();
        if !h.contains_key("content-security-policy") {
            h.insert(
                "content-security-policy",
                poem::http::HeaderValue::from_static(DEFAULT_CSP),
            );
        }
        if !h.contains_key("x-frame-options") {
            h.insert(
                "x-frame-options",
                poem::http::HeaderValue::from_static("DENY"),
            );
        }
        h.insert(
            "x-content-type-options",
            poem::http::HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "referrer-policy",
            poem::http::HeaderValue::from_static("same-origin"),
        );
        // No other site's window keeps a handle on ours (and no cross-window leaks of state);
        // the front-channel frames are iframes, which this does not affect.
        h.insert(
            "cross-origin-opener-policy",
            poem::http::HeaderValue::from_static("same-origin"),
        );
        if self.hsts {
            h.insert(
                "strict-transport-security",
                poem::http::HeaderValue::from_static(HSTS),
            );
        }
        Ok(resp)
    }
}
