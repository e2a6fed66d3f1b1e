//! Authorization code rules (RFC 6749 §4.1.2, §4.1.3; RFC 7636 §4.6).
//!
//! ```text
//!   issued ──redeem (once, within 60 s)──▶ redeemed ──presented again──▶ replay: revoke what it issued
//! ```

use crate::clock::UnixTime;
use crate::error::Rejection;

/// Codes live 60 seconds.
pub const CODE_TTL_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    Issued,
    Redeemed,
}

/// What the store knows about a presented code.
#[derive(Debug, Clone)]
pub struct CodeFacts<'a> {
    pub state: CodeState,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub expires_at: UnixTime,
}

/// What the token request presents.
#[derive(Debug, Clone)]
pub struct Redemption<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Outcome of presenting a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeDecision {
    Redeem,
    /// Refuse, and (RFC 6749 §4.1.2) revoke the tokens the first redemption issued.
    RevokeIssued,
    Reject(Rejection),
}

pub fn decide_redemption(
    code: &CodeFacts<'_>,
    req: &Redemption<'_>,
    now: UnixTime,
) -> CodeDecision {
    if code.state == CodeState::Redeemed {
        return CodeDecision::RevokeIssued;
    }
    // §4.1.3: the code must have been issued to the authenticated client.
    if code.client_id != req.client_id {
        return CodeDecision::Reject(Rejection::ClientMismatch);
    }
    if now >= code.expires_at {
        return CodeDecision::Reject(Rejection::CodeInvalid);
    }
    // §4.1.3: redirect_uri is required when it was in the authorization request (always, here)
    // and must be identical.
    if req.redirect_uri != Some(code.redirect_uri) {
        return CodeDecision::Reject(Rejection::RedirectMismatch);
    }
    if !super::pkce::verify(req.code_verifier, code.code_challenge) {
        return CodeDecision::Reject(Rejection::PkceFailed);
    }
    CodeDecision::Redeem
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const C: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn code(state: CodeState) -> CodeFacts<'static> {
        CodeFacts {
            state,
            client_id: "c1",
            redirect_uri: "https://rp/cb",
            code_challenge: Some(C),
            expires_at: 160,
        }
    }
    fn req() -> Redemption<'static> {
        Redemption {
            client_id: "c1",
            redirect_uri: Some("https://rp/cb"),
            code_verifier: Some(V),
        }
    }

    #[test]
    fn valid_code_is_redeemed() {
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &req(), 100),
            CodeDecision::Redeem
        );
    }

    #[test]
    fn code_replayed_revokes_issued_tokens() {
        assert_eq!(
            decide_redemption(&code(CodeState::Redeemed), &req(), 100),
            CodeDecision::RevokeIssued
        );
        // Even by another client or after expiry: the code was leaked.
        let other = Redemption {
            client_id: "c2",
            ..req()
        };
        assert_eq!(
            decide_redemption(&code(CodeState::Redeemed), &other, 999),
            CodeDecision::RevokeIssued
        );
    }

    #[test]
    fn code_of_another_client_is_refused() {
        let other = Redemption {
            client_id: "c2",
            ..req()
        };
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &other, 100),
            CodeDecision::Reject(Rejection::ClientMismatch)
        );
    }

    #[test]
    fn code_expires_after_60_seconds() {
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &req(), 159),
            CodeDecision::Redeem
        );
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &req(), 160),
            CodeDecision::Reject(Rejection::CodeInvalid)
        );
    }

    #[test]
    fn redirect_uri_must_match_exactly_and_be_present() {
        let r = Redemption {
            redirect_uri: Some("https://rp/cb/"),
            ..req()
        };
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &r, 100),
            CodeDecision::Reject(Rejection::RedirectMismatch)
        );
        let r = Redemption {
            redirect_uri: None,
            ..req()
        };
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &r, 100),
            CodeDecision::Reject(Rejection::RedirectMismatch)
        );
    }

    #[test]
    fn pkce_verifier_must_match() {
        let r = Redemption {
            code_verifier: None,
            ..req()
        };
        assert_eq!(
            decide_redemption(&code(CodeState::Issued), &r, 100),
            CodeDecision::Reject(Rejection::PkceFailed)
        );
        let no_challenge = CodeFacts {
            code_challenge: None,
            ..code(CodeState::Issued)
        };
        assert_eq!(
            decide_redemption(&no_challenge, &req(), 100),
            CodeDecision::Reject(Rejection::PkceFailed)
        );
    }
}
