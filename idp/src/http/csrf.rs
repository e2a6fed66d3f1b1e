//! CSRF protection for every form: a double-submit token (random cookie, the same value in a
//! hidden field, compared in constant time) plus an Origin check when the browser sends Origin.

use crate::crypto::constant_time_eq;

/// Does a form submission carry a valid token, and come from our own origin?
pub fn check(
    cookie: Option<&str>,
    field: Option<&str>,
    origin: Option<&str>,
    public_url: &str,
) -> bool {
    let same_origin = match origin {
        None => true,
        Some(o) => o == origin_of(public_url),
    };
    match (cookie, field) {
        (Some(c), Some(f)) => {
            same_origin && c.len() >= 32 && constant_time_eq(c.as_bytes(), f.as_bytes())
        }
        _ => false,
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

    #[test]
    fn matching_token_and_origin_pass() {
        assert!(check(
            Some(T),
            Some(T),
            Some("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        ));
        assert!(check(Some(T), Some(T), None, "http://127.0.0.1:8080"));
    }

    #[test]
    fn mismatch_missing_or_foreign_origin_fail() {
        assert!(!check(Some(T), Some("x"), None, "http://a"));
        assert!(!check(None, Some(T), None, "http://a"));
        assert!(!check(Some(T), None, None, "http://a"));
        assert!(!check(
            Some(T),
            Some(T),
            Some("https://evil.example"),
            "http://127.0.0.1:8080"
        ));
        assert!(!check(Some("short"), Some("short"), None, "http://a"));
    }
}
