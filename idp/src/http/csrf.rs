//! CSRF protection for every form (ADR 0007): a double-submit token (random cookie, the same
//! value in a hidden field, compared in constant time) plus two browser-set signals of where the
//! submission came from, `Origin` (RFC 6454 §7, Fetch §3.1 "append a request `Origin` header")
//! and Fetch Metadata `Sec-Fetch-Site` (W3C Fetch Metadata Request Headers §2.4).
//!
//! Why both: under a page's referrer policy `no-referrer` the Fetch standard serializes the
//! Origin of a form POST as `null`, even for a same-origin form, so Origin alone cannot tell a
//! same-origin submission from a sandboxed or cross-site one. Lanyard's pages therefore send
//! `Referrer-Policy: same-origin` (Origin is then the page's own origin on same-origin POSTs),
//! and where a browser still sends `null` (an operator's template that sets `no-referrer`), the
//! browser-set `Sec-Fetch-Site: same-origin` is what vouches for it. Neither header can be set by
//! page script (both are forbidden request headers), so a cross-site page cannot forge them.

//!
//! The token is bound to the form's purpose (OWASP CSRF Prevention, per-form tokens): the cookie
//! holds one random value per browser, and each form's field carries an HMAC of it under the
//! purpose of the endpoint the form posts to ([`bind_token`]), so a token taken from the login
//! page does not confirm a logout or a consent.

use crate::crypto::{constant_time_eq, SecretHasher};

/// What a form is for: the family of endpoints it posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormPurpose {
    /// The sign-in flow: `/login` and its steps (`/login/*`), `/not-me`.
    Login,
    /// `/consent`.
    Consent,
    /// `/end_session/confirm`.
    Logout,
    /// The account portal, `/account/*`.
    Account,
}

impl FormPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Consent => "consent",
            Self::Logout => "logout",
            Self::Account => "account",
        }
    }
}

/// The purpose of a form posted to `path` (`/t/{tenant}/...`).
pub fn purpose_of_path(path: &str) -> FormPurpose {
    let rest = path
        .strip_prefix("/t/")
        .and_then(|r| r.split_once('/'))
        .map(|(_, r)| r)
        .unwrap_or("");
    let first = rest.split('/').next().unwrap_or("");
    match first {
        "consent" => FormPurpose::Consent,
        "end_session" => FormPurpose::Logout,
        "account" => FormPurpose::Account,
        _ => FormPurpose::Login,
    }
}

/// The purpose of the forms of a sign-in-side template (the portal names its own, `Account`).
pub fn purpose_of_template(template: &str) -> FormPurpose {
    match template {
        "consent.html" => FormPurpose::Consent,
        "logout_confirm.html" => FormPurpose::Logout,
        t if t.starts_with("account/") => FormPurpose::Account,
        _ => FormPurpose::Login,
    }
}

/// The form field value for the browser's token `cookie` and a form's `purpose`.
pub fn bind_token(hasher: &SecretHasher, cookie: &str, purpose: FormPurpose) -> String {
    hasher.hash(&format!("csrf-form:{}", purpose.as_str()), cookie)
}

/// Where a form submission came from, as the browser told us.
#[derive(Debug, Clone, Copy, Default)]
pub struct Provenance<'a> {
    /// The `Origin` request header, verbatim (`null` included).
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` request header.
    pub fetch_site: Option<&'a str>,
}

/// Why a form submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRejection {
    /// `Sec-Fetch-Site` says another site (or a sibling subdomain) sent it.
    CrossSite,
    /// `Origin` names another origin.
    ForeignOrigin,
    /// `Origin: null` without a browser's word that the request is same-origin.
    OpaqueOrigin,
    /// The token cookie or field is missing, short or different.
    TokenMismatch,
}

impl CsrfRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CrossSite => "cross_site",
            Self::ForeignOrigin => "foreign_origin",
            Self::OpaqueOrigin => "opaque_origin",
            Self::TokenMismatch => "token_mismatch",
        }
    }
}

/// Decide whether a form submission is our own: the provenance signals first, then the token.
/// `expected` is the field value the browser's cookie gives for this endpoint's purpose
/// ([`bind_token`]; `None` without a usable cookie).
///
/// - `Sec-Fetch-Site` other than `same-origin` or `none` (user-initiated) refuses: `same-site`
///   is refused too, because a sibling subdomain is not the identity provider.
/// - `Origin` equal to the public origin passes; any other serialized origin refuses.
/// - `Origin: null` passes only with `Sec-Fetch-Site: same-origin`.
/// - Neither header (older browsers, non-browser clients) leaves the token as the only check.
pub fn decide_form_submission(
    expected: Option<&str>,
    field: Option<&str>,
    from: Provenance<'_>,
    public_origin: &str,
) -> Result<(), CsrfRejection> {
    match from.fetch_site {
        None | Some("same-origin") | Some("none") => {}
        Some(_) => return Err(CsrfRejection::CrossSite),
    }
    match from.origin {
        None => {}
        Some("null") if from.fetch_site == Some("same-origin") => {}
        Some("null") => return Err(CsrfRejection::OpaqueOrigin),
        Some(o) if o == public_origin => {}
        Some(_) => return Err(CsrfRejection::ForeignOrigin),
    }
    match (expected, field) {
        (Some(c), Some(f)) if c.len() >= 32 && constant_time_eq(c.as_bytes(), f.as_bytes()) => {
            Ok(())
        }
        _ => Err(CsrfRejection::TokenMismatch),
    }
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const T: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
    const ME: &str = "http://127.0.0.1:8080";

    fn from<'a>(origin: Option<&'a str>, fetch_site: Option<&'a str>) -> Provenance<'a> {
        Provenance { origin, fetch_site }
    }

    fn ok(origin: Option<&str>, site: Option<&str>) -> Result<(), CsrfRejection> {
        decide_form_submission(Some(T), Some(T), from(origin, site), ME)
    }

    #[test]
    fn same_origin_submissions_pass() {
        assert_eq!(ok(Some(ME), Some("same-origin")), Ok(()));
        assert_eq!(ok(Some(ME), None), Ok(()));
        assert_eq!(ok(None, None), Ok(()));
        assert_eq!(ok(None, Some("same-origin")), Ok(()));
        // A user-initiated request (bookmark, typed URL) carries `none`.
        assert_eq!(ok(Some(ME), Some("none")), Ok(()));
    }

    #[test]
    fn null_origin_passes_only_when_the_browser_says_same_origin() {
        // Chromium under `Referrer-Policy: no-referrer` sends exactly this for our own form.
        assert_eq!(ok(Some("null"), Some("same-origin")), Ok(()));
        assert_eq!(ok(Some("null"), None), Err(CsrfRejection::OpaqueOrigin));
        assert_eq!(
            ok(Some("null"), Some("none")),
            Err(CsrfRejection::OpaqueOrigin)
        );
        assert_eq!(
            ok(Some("null"), Some("cross-site")),
            Err(CsrfRejection::CrossSite)
        );
    }

    #[test]
    fn other_sites_are_refused_even_with_a_valid_token() {
        assert_eq!(
            ok(Some("https://evil.example"), None),
            Err(CsrfRejection::ForeignOrigin)
        );
        assert_eq!(
            ok(Some("https://evil.example"), Some("cross-site")),
            Err(CsrfRejection::CrossSite)
        );
        assert_eq!(ok(None, Some("cross-site")), Err(CsrfRejection::CrossSite));
        assert_eq!(ok(None, Some("same-site")), Err(CsrfRejection::CrossSite));
        // Same host, other port or scheme: another origin (RFC 6454 §5).
        assert_eq!(
            ok(Some("http://127.0.0.1:8081"), None),
            Err(CsrfRejection::ForeignOrigin)
        );
        assert_eq!(
            ok(Some("https://127.0.0.1:8080"), None),
            Err(CsrfRejection::ForeignOrigin)
        );
    }

    #[test]
    fn the_token_is_always_required() {
        let same = from(Some(ME), Some("same-origin"));
        for (c, f) in [
            (Some(T), Some("x")),
            (None, Some(T)),
            (Some(T), None),
            (Some("short"), Some("short")),
        ] {
            assert_eq!(
                decide_form_submission(c, f, same, ME),
                Err(CsrfRejection::TokenMismatch)
            );
        }
    }

    #[test]
    fn a_token_confirms_only_forms_of_its_purpose() {
        let h = SecretHasher::new(vec![7; 32]);
        let login = bind_token(&h, T, FormPurpose::Login);
        let logout = bind_token(&h, T, FormPurpose::Logout);
        let consent = bind_token(&h, T, FormPurpose::Consent);
        assert_ne!(login, logout);
        assert_ne!(login, consent);
        assert_eq!(
            login,
            bind_token(&h, T, FormPurpose::Login),
            "deterministic"
        );
        let same = from(Some(ME), Some("same-origin"));
        assert_eq!(
            decide_form_submission(Some(&logout), Some(&logout), same, ME),
            Ok(())
        );
        assert_eq!(
            decide_form_submission(Some(&logout), Some(&login), same, ME),
            Err(CsrfRejection::TokenMismatch),
            "the login page's token does not confirm a logout"
        );
        // The raw cookie value is no field value either.
        assert_eq!(
            decide_form_submission(Some(&logout), Some(T), same, ME),
            Err(CsrfRejection::TokenMismatch)
        );
    }

    #[test]
    fn purposes_follow_the_endpoint() {
        assert_eq!(purpose_of_path("/t/acme/login"), FormPurpose::Login);
        assert_eq!(purpose_of_path("/t/acme/login/factor"), FormPurpose::Login);
        assert_eq!(purpose_of_path("/t/acme/not-me"), FormPurpose::Login);
        assert_eq!(purpose_of_path("/t/acme/consent"), FormPurpose::Consent);
        assert_eq!(
            purpose_of_path("/t/acme/end_session/confirm"),
            FormPurpose::Logout
        );
        assert_eq!(
            purpose_of_path("/t/acme/account/sessions/end"),
            FormPurpose::Account
        );
        assert_eq!(purpose_of_template("consent.html"), FormPurpose::Consent);
        assert_eq!(
            purpose_of_template("logout_confirm.html"),
            FormPurpose::Logout
        );
        assert_eq!(
            purpose_of_template("account/overview.html"),
            FormPurpose::Account
        );
        for t in [
            "login.html",
            "second_factor.html",
            "enrol_factor.html",
            "recovery_codes.html",
            "session_limit.html",
            "not_me.html",
            "change_password.html",
        ] {
            assert_eq!(purpose_of_template(t), FormPurpose::Login, "{t}");
        }
    }

    #[test]
    fn origin_of_serializes_scheme_host_port() {
        assert_eq!(origin_of("https://a.example/x?y"), "https://a.example");
        assert_eq!(origin_of("http://127.0.0.1:8080/t/a"), ME);
        assert_eq!(origin_of("not a url"), "");
    }
}
