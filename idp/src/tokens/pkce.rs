//! PKCE (RFC 7636): S256 only; `plain` is refused (OAuth 2.0 Security BCP §2.1.1).

use crate::crypto::{constant_time_eq, sha256_b64url};

/// Validate an authorization request's `code_challenge` / `code_challenge_method` pair.
/// RFC 7636 §4.2: the challenge is base64url(SHA-256) = 43 characters.
pub fn decide_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    public_client: bool,
) -> Result<Option<String>, &'static str> {
    match (challenge, method) {
        (None, None) if public_client => Err("code_challenge required for public clients"),
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (Some(_), Some(m)) if m != "S256" => Err("only code_challenge_method=S256 is supported"),
        // §4.3: a missing method means "plain", which we refuse.
        (Some(_), None) => Err("code_challenge_method=S256 is required"),
        (Some(c), Some(_)) => {
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                Ok(Some(c.to_string()))
            } else {
                Err("malformed code_challenge")
            }
        }
    }
}

/// RFC 7636 §4.6: verify a `code_verifier` against the stored challenge.
pub fn verify(verifier: Option<&str>, challenge: Option<&str>) -> bool {
    match (verifier, challenge) {
        (None, None) => true,
        (Some(v), Some(c)) => {
            // §4.1: 43..128 unreserved characters.
            let well_formed = (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            well_formed && constant_time_eq(sha256_b64url(v.as_bytes()).as_bytes(), c.as_bytes())
        }
        // A verifier sent for a code issued without a challenge, or none sent for one with.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_accepted_plain_refused() {
        assert_eq!(
            decide_challenge(Some(C), Some("S256"), true),
            Ok(Some(C.into()))
        );
        assert!(decide_challenge(Some(C), Some("plain"), false).is_err());
        assert!(decide_challenge(Some(C), None, false).is_err());
        assert!(decide_challenge(None, Some("S256"), false).is_err());
        assert!(decide_challenge(Some("short"), Some("S256"), false).is_err());
    }

    #[test]
    fn public_clients_must_use_pkce_confidential_may() {
        assert!(decide_challenge(None, None, true).is_err());
        assert_eq!(decide_challenge(None, None, false), Ok(None));
    }

    #[test]
    fn verifier_checks() {
        assert!(verify(Some(V), Some(C)));
        assert!(!verify(
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"),
            Some(C)
        ));
        assert!(!verify(None, Some(C)));
        assert!(!verify(Some(V), None));
        assert!(verify(None, None));
        assert!(!verify(Some("short"), Some(C)));
    }
}
