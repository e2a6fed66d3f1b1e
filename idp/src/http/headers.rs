//! Security headers on every response: CSP without inline script, frames denied, forms submitted
//! to Lanyard only, no sniffing. A page that must frame or be framed (the logged-out page), or
//! whose form hands off to a client ([`csp_handing_off_to`], set by `respond::hand_off`), sets
//! its own CSP, which wins.
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

/// Every directive of the default policy but `form-action`.
const CSP_BASE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of every page that does not set its own: forms submit to Lanyard only.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The CSP source expression naming the origin of `uri`, where a form's submission may end up
/// (CSP Level 3 §2.3.1: a host-source `scheme://host[:port]` for http(s), a scheme-source
/// `scheme:` for a native app's private-use scheme, RFC 8252 §7.1, whose origin is opaque).
/// `None` for anything that is not a URI or would not be one clean source expression.
pub fn hand_off_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    let source = match u.scheme() {
        "http" | "https" => match u.origin() {
            o @ url::Origin::Tuple(..) => o.ascii_serialization(),
            url::Origin::Opaque(_) => return None,
        },
        scheme => format!("{scheme}:"),
    };
    // Nothing that ends a source list, a directive or a policy, and nothing quoted.
    let clean = source
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'));
    clean.then_some(source)
}

/// The `form-action` directive of a page (CSP Level 3 §6.4.1). Forms post to Lanyard itself
/// (`'self'`); a page whose form's submission ends in a redirect to a client (sign-in steps
/// redirect to the pending request's `redirect_uri`, RFC 6749 §4.1.2; the logout confirmation to
/// the `post_logout_redirect_uri`, RP-Initiated Logout 1.0 §3) also names exactly that URI's
/// origin: Chromium checks `form-action` on every redirect that follows a form submission.
pub fn decide_form_action(hand_off: Option<&str>) -> String {
    match hand_off.and_then(hand_off_source) {
        Some(source) => format!("form-action 'self' {source}"),
        None => "form-action 'self'".to_string(),
    }
}

/// The whole policy of a page handing off to `hand_off` (the default's other directives kept).
pub fn csp_handing_off_to(hand_off: Option<&str>) -> String {
    format!("{CSP_BASE}; {}", decide_form_action(hand_off))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_lets_forms_post_to_self_only() {
        assert!(DEFAULT_CSP.ends_with("; form-action 'self'"));
        assert!(!DEFAULT_CSP.contains("http:"));
        assert_eq!(DEFAULT_CSP, csp_handing_off_to(None));
        assert_eq!(decide_form_action(None), "form-action 'self'");
    }

    #[test]
    fn a_hand_off_names_exactly_the_redirect_origin() {
        for (uri, directive) in [
            (
                "https://rp.example/cb?x=1#f",
                "form-action 'self' https://rp.example",
            ),
            (
                "https://rp.example:443/cb",
                "form-action 'self' https://rp.example",
            ),
            (
                "https://rp.example:8443/cb",
                "form-action 'self' https://rp.example:8443",
            ),
            // RFC 8252 §7.3: a loopback redirect with the port of this request.
            (
                "http://127.0.0.1:53123/cb",
                "form-action 'self' http://127.0.0.1:53123",
            ),
            (
                "http://[::1]:4000/cb",
                "form-action 'self' http://[::1]:4000",
            ),
            // RFC 8252 §7.1: a private-use scheme is a scheme-source.
            (
                "com.example.app:/oauth2redirect",
                "form-action 'self' com.example.app:",
            ),
        ] {
            assert_eq!(decide_form_action(Some(uri)), directive, "{uri}");
        }
    }

    #[test]
    fn nothing_but_a_clean_origin_gets_in() {
        for bad in ["", "not a uri", "/relative", "https://"] {
            assert_eq!(
                decide_form_action(Some(bad)),
                "form-action 'self'",
                "{bad:?}"
            );
        }
        // A path or query cannot smuggle a directive: only the origin is used.
        let d = decide_form_action(Some("https://rp.example/cb;script-src%20*"));
        assert_eq!(d, "form-action 'self' https://rp.example");
    }

    #[test]
    fn a_hand_off_keeps_the_rest_of_the_policy() {
        let p = csp_handing_off_to(Some("https://rp.example/cb"));
        assert_eq!(
            p,
            DEFAULT_CSP.replace(
                "form-action 'self'",
                "form-action 'self' https://rp.example"
            )
        );
        for d in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(p.contains(d), "{d}");
        }
    }
}
