//! Strict validation of back-channel logout tokens, OpenID Back-Channel Logout 1.0 §2.4 and §2.6
//! (and errata 1, which makes `exp` REQUIRED), against what the RP knows of the session.

use crate::jwt::Jws;
use crate::report::{Finding, Severity};
use openidconnect::core::CoreJsonWebKeySet;
use serde_json::Value;

pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What the RP expects of a logout token for one of its sessions.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// `sub` of the ID token; the logout token's `sub`, if present, must equal it.
    pub sub: Option<&'a str>,
    /// `sid` of the ID token; the logout token's `sid`, if present, must equal it.
    pub sid: Option<&'a str>,
    /// The client registered `backchannel_logout_session_required`: `sid` MUST be present.
    pub sid_required: bool,
    /// Lanyard plan: `exp` present (errata 1) and header `typ: logout+jwt` (§2.4 explicit typing),
    /// neither of which the official suite's conditions check.
    pub strict: bool,
}

/// `iat` may be this far in the future (clock skew), as the official suite allows.
const IAT_FUTURE_SKEW: i64 = 5 * 60;
/// `iat` older than this is refused, as the official suite does.
const IAT_MAX_AGE: i64 = 24 * 60 * 60;

fn fail(message: String) -> Finding {
    Finding {
        severity: Severity::Failure,
        message,
    }
}

/// Validates one logout token; returns every violated rule (empty = valid).
pub fn evaluate_logout_token(
    raw: &str,
    jwks: &CoreJsonWebKeySet,
    expect: &Expectation<'_>,
    now: i64,
) -> Vec<Finding> {
    let jws = match Jws::parse(raw) {
        Ok(j) => j,
        Err(e) => return vec![fail(format!("logout token: {e}"))],
    };
    let mut out = Vec::new();
    // §2.6 step 1-3: the signature is validated like an ID token's (OIDC Core §3.1.3.7).
    if let Err(e) = jws.verify(jwks) {
        out.push(fail(format!("logout token: {e}")));
    }
    if expect.strict && jws.header.get("typ").and_then(Value::as_str) != Some("logout+jwt") {
        out.push(fail(format!(
            "logout token header typ is {}, expected logout+jwt (§2.4)",
            jws.header
                .get("typ")
                .map_or("absent".into(), Value::to_string)
        )));
    }
    if jws.claim_str("iss") != Some(expect.issuer) {
        out.push(fail(format!(
            "logout token iss {:?} is not the issuer",
            jws.claims.get("iss")
        )));
    }
    let aud_ok = match jws.claims.get("aud") {
        Some(Value::String(a)) => a == expect.client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(expect.client_id)),
        _ => false,
    };
    if !aud_ok {
        out.push(fail(
            "logout token aud does not contain the client id".into(),
        ));
    }
    match jws.claim_i64("iat") {
        None => out.push(fail("logout token has no numeric iat".into())),
        Some(iat) if iat > now + IAT_FUTURE_SKEW => {
            out.push(fail(format!(
                "logout token iat is {}s in the future",
                iat - now
            )));
        }
        Some(iat) if iat < now - IAT_MAX_AGE => {
            out.push(fail("logout token iat is over a day old".into()))
        }
        Some(_) => {}
    }
    if expect.strict {
        match jws.claim_i64("exp") {
            None => out.push(fail(
                "logout token has no exp (REQUIRED by errata 1, §2.4)".into(),
            )),
            Some(exp) if exp <= now - 60 => out.push(fail("logout token is expired".into())),
            Some(exp) if jws.claim_i64("iat").is_some_and(|iat| exp <= iat) => {
                out.push(fail("logout token exp is not after iat".into()));
            }
            Some(_) => {}
        }
    }
    if jws.claim_str("jti").is_none_or(str::is_empty) {
        out.push(fail("logout token has no jti".into()));
    }
    match jws.claims.get("events") {
        Some(Value::Object(events)) => {
            let only = events.len() == 1;
            let member_ok = events
                .get(BACKCHANNEL_EVENT)
                .is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty()));
            if !(only && member_ok) {
                out.push(fail(format!(
                    "logout token events must be exactly {{\"{BACKCHANNEL_EVENT}\": {{}}}}, got {}",
                    Value::Object(events.clone())
                )));
            }
        }
        _ => out.push(fail("logout token has no events object".into())),
    }
    if jws.claims.get("nonce").is_some() {
        out.push(fail("logout token contains nonce (forbidden, §2.4)".into()));
    }
    let sub = jws.claim_str("sub");
    let sid = jws.claim_str("sid");
    if sub.is_none() && sid.is_none() {
        out.push(fail("logout token has neither sub nor sid".into()));
    }
    if let (Some(got), Some(want)) = (sub, expect.sub) {
        if got != want {
            out.push(fail(
                "logout token sub differs from the ID token's sub".into(),
            ));
        }
    }
    match (sid, expect.sid) {
        (Some(got), Some(want)) if got != want => {
            out.push(fail(
                "logout token sid differs from the ID token's sid".into(),
            ));
        }
        (None, _) if expect.sid_required => {
            out.push(fail(
                "logout token has no sid but the client requires session (§2.4)".into(),
            ));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::testing::Signer;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn expectation(strict: bool) -> Expectation<'static> {
        Expectation {
            issuer: "https://op.example/t/a",
            client_id: "rp1",
            sub: Some("user-1"),
            sid: Some("sid-1"),
            sid_required: true,
            strict,
        }
    }

    fn good_claims() -> serde_json::Value {
        json!({
            "iss": "https://op.example/t/a", "aud": "rp1", "iat": NOW, "exp": NOW + 120,
            "jti": "j1", "sub": "user-1", "sid": "sid-1",
            "events": { BACKCHANNEL_EVENT: {} }
        })
    }

    fn run(
        signer: &Signer,
        typ: Option<&str>,
        claims: serde_json::Value,
        strict: bool,
    ) -> Vec<String> {
        let t = signer.sign(typ, claims);
        evaluate_logout_token(&t, &signer.jwks(), &expectation(strict), NOW)
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    #[test]
    fn valid_token_passes_strict_checks() {
        let s = Signer::new();
        assert!(run(&s, Some("logout+jwt"), good_claims(), true).is_empty());
    }

    #[test]
    fn missing_exp_and_typ_only_fail_in_strict_mode() {
        let s = Signer::new();
        let mut c = good_claims();
        c.as_object_mut().unwrap().remove("exp");
        assert!(run(&s, Some("JWT"), c.clone(), false).is_empty());
        let errs = run(&s, Some("JWT"), c, true);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn nonce_extra_event_and_wrong_audience_are_rejected() {
        let s = Signer::new();
        let mut c = good_claims();
        c["nonce"] = json!("n");
        c["aud"] = json!(["other"]);
        c["events"]["urn:other"] = json!({});
        let errs = run(&s, Some("logout+jwt"), c, true);
        assert!(errs.iter().any(|e| e.contains("nonce")));
        assert!(errs.iter().any(|e| e.contains("aud")));
        assert!(errs.iter().any(|e| e.contains("events")));
    }

    #[test]
    fn event_value_must_be_empty_object() {
        let s = Signer::new();
        let mut c = good_claims();
        c["events"] = json!({ BACKCHANNEL_EVENT: { "x": 1 } });
        assert!(run(&s, Some("logout+jwt"), c, false)
            .iter()
            .any(|e| e.contains("events")));
    }

    #[test]
    fn iat_window_and_jti_and_sid_are_enforced() {
        let s = Signer::new();
        let mut c = good_claims();
        c["iat"] = json!(NOW + 3600);
        c["exp"] = json!(NOW + 4000);
        c.as_object_mut().unwrap().remove("jti");
        c.as_object_mut().unwrap().remove("sid");
        let errs = run(&s, Some("logout+jwt"), c, false);
        assert!(errs.iter().any(|e| e.contains("future")));
        assert!(errs.iter().any(|e| e.contains("jti")));
        assert!(errs.iter().any(|e| e.contains("no sid")));
    }

    #[test]
    fn mismatched_sub_or_sid_fails() {
        let s = Signer::new();
        let mut c = good_claims();
        c["sub"] = json!("user-2");
        c["sid"] = json!("sid-2");
        assert_eq!(run(&s, Some("logout+jwt"), c, true).len(), 2);
    }

    #[test]
    fn signature_from_another_key_fails() {
        let s = Signer::new();
        let other = Signer::new();
        let t = other.sign(Some("logout+jwt"), good_claims());
        let errs = evaluate_logout_token(&t, &s.jwks(), &expectation(true), NOW);
        assert!(
            errs.iter().any(|f| f.message.contains("signature")),
            "{errs:?}"
        );
    }

    #[test]
    fn garbage_is_one_failure() {
        let s = Signer::new();
        let errs = evaluate_logout_token("a.b", &s.jwks(), &expectation(true), NOW);
        assert_eq!(errs.len(), 1);
    }
}
