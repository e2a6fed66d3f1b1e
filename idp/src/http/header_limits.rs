//! Request header size limits: beyond them the answer is 431 Request Header Fields Too Large
//! (RFC 6585 §5) before any handler reads a cookie or a header.
//!
//! hyper alone accepts a request head up to its read buffer (about 400 KiB) and hands every
//! header to the application, so a 64 KiB cookie was parsed and looked up. Lanyard's own cookies
//! are a few hundred bytes each and browsers keep cookies under 4 KiB (RFC 6265 §6.1 asks for at
//! least that), so the limits below leave room for a reverse proxy's additions and nothing more.

use poem::http::HeaderMap;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// Largest single header value, and all `Cookie` headers together (bytes).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest sum of every header's name and value (bytes).
pub const MAX_TOTAL_HEADER_BYTES: usize = 32 * 1024;

/// Which limit a request broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRejection {
    OneTooLarge,
    CookiesTooLarge,
    AllTooLarge,
}

/// Whether the request's headers are within the limits.
pub fn decide_header_size(headers: &HeaderMap) -> std::result::Result<(), HeaderRejection> {
    let mut total = 0usize;
    let mut cookies = 0usize;
    for (name, value) in headers {
        let len = value.as_bytes().len();
        if len > MAX_HEADER_BYTES {
            return Err(HeaderRejection::OneTooLarge);
        }
        if name == poem::http::header::COOKIE {
            // HTTP/2 may split cookies over several fields (RFC 9113 §8.2.3); they count as one.
            cookies += len;
        }
        total += name.as_str().len() + len;
    }
    if cookies > MAX_HEADER_BYTES {
        return Err(HeaderRejection::CookiesTooLarge);
    }
    if total > MAX_TOTAL_HEADER_BYTES {
        return Err(HeaderRejection::AllTooLarge);
    }
    Ok(())
}

pub struct HeaderLimits;

impl<E: Endpoint> Middleware<E> for HeaderLimits {
    type Output = HeaderLimitsEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        HeaderLimitsEndpoint { inner: ep }
    }
}

pub struct HeaderLimitsEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for HeaderLimitsEndpoint<E> {
    type Output = Response;
    async fn call(&self, req: Request) -> Result<Self::Output> {
        if let Err(why) = decide_header_size(req.headers()) {
            tracing::warn!(event = "request.headers_too_large", limit = ?why, "request refused");
            return Ok(Response::builder()
                .status(poem::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .content_type("text/plain; charset=utf-8")
                .body("Request header fields too large.\n"));
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use poem::http::HeaderValue;

    fn with(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ordinary_requests_pass() {
        let h = with(&[
            (
                "cookie",
                "lanyard_session_acme=abc; lanyard_csrf_acme=def".into(),
            ),
            ("user-agent", "Mozilla/5.0".into()),
        ]);
        assert_eq!(decide_header_size(&h), Ok(()));
        assert_eq!(
            decide_header_size(&with(&[("cookie", "a".repeat(MAX_HEADER_BYTES))])),
            Ok(())
        );
    }

    #[test]
    fn one_large_header_is_refused() {
        let h = with(&[("cookie", "a".repeat(64 * 1024))]);
        assert_eq!(decide_header_size(&h), Err(HeaderRejection::OneTooLarge));
        let h = with(&[("x-anything", "a".repeat(MAX_HEADER_BYTES + 1))]);
        assert_eq!(decide_header_size(&h), Err(HeaderRejection::OneTooLarge));
    }

    #[test]
    fn split_cookies_count_together() {
        let part = "a".repeat(MAX_HEADER_BYTES / 2 + 1);
        let h = with(&[("cookie", part.clone()), ("cookie", part)]);
        assert_eq!(
            decide_header_size(&h),
            Err(HeaderRejection::CookiesTooLarge)
        );
    }

    #[test]
    fn many_headers_together_are_refused() {
        let pairs: Vec<(&'static str, String)> = (0..5)
            .map(|_| ("x-filler", "a".repeat(MAX_HEADER_BYTES)))
            .collect();
        assert_eq!(
            decide_header_size(&with(&pairs)),
            Err(HeaderRejection::AllTooLarge)
        );
    }
}
