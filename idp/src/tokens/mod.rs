//! Tokens: JWS signing and verification, claims, PKCE, and the code and refresh-token rules.

pub mod claims;
pub mod code;
pub mod dpop;
pub mod pkce;
pub mod refresh;
pub mod service;
pub mod strict_json;
pub mod verified;

use crate::clock::UnixTime;
use crate::keys::{KeySet, LoadedKey};
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

/// JWS `typ` of access tokens (RFC 9068 §2.1).
pub const TYP_ACCESS: &str = "at+jwt";
/// JWS `typ` of logout tokens (Back-Channel Logout 1.0 §2.4).
pub const TYP_LOGOUT: &str = "logout+jwt";
pub const TYP_JWT: &str = "JWT";

/// Sign `claims` with `key`, setting `kid` and `typ`.
pub fn sign(
    key: &LoadedKey,
    typ: &str,
    claims: Map<String, Value>,
) -> Result<String, josekit::JoseError> {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(&key.kid);
    let payload = JwtPayload::from_map(claims)?;
    jwt::encode_with_signer(&payload, &header, key.signer.as_ref())
}

/// Why a JWT we were handed is not ours or not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRejection {
    Malformed,
    UnknownKey,
    BadSignature,
    WrongType,
}

/// A verified JWT: its header `typ` and claims. Time claims are NOT checked here: callers decide
/// (an expired ID token is still a valid `id_token_hint`, OIDC RP-Initiated Logout §2).
#[derive(Debug)]
pub struct Verified {
    pub typ: Option<String>,
    pub claims: Map<String, Value>,
}

/// Verify a compact JWS against the tenant's published keys: the `kid` must name one of them and
/// the header `alg` must be that key's algorithm (no `none`, no algorithm confusion).
pub fn verify(keys: &KeySet, token: &str, now: UnixTime) -> Result<Verified, JwtRejection> {
    if token.len() > 16 * 1024
        || token.split('.').count() != 3
        || !strict_json::jws_has_unique_members(token)
    {
        return Err(JwtRejection::Malformed);
    }
    let header = jwt::decode_header(token).map_err(|_| JwtRejection::Malformed)?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or(JwtRejection::UnknownKey)?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or(JwtRejection::Malformed)?;
    let key = keys.find(kid, now).ok_or(JwtRejection::UnknownKey)?;
    if key.alg != alg {
        return Err(JwtRejection::BadSignature);
    }
    let (payload, header) = jwt::decode_with_verifier(token, key.verifier.as_ref())
        .map_err(|_| JwtRejection::BadSignature)?;
    Ok(Verified {
        typ: header.token_type().map(str::to_string),
        claims: payload.claims_set().clone(),
    })
}

/// Whether a verified JWT of ours is an ID token: signed with `typ: JWT` (access tokens are
/// `at+jwt`, RFC 9068 §2.1; logout tokens `logout+jwt`, Back-Channel Logout §2.4) and without
/// the `events` claim that marks a logout token (BCL §2.4, §2.6 "MUST NOT ... be an ID Token").
/// RP-Initiated Logout §2 wants an ID token as `id_token_hint`, nothing else.
pub fn is_id_token(v: &Verified) -> bool {
    v.typ.as_deref() == Some(TYP_JWT) && !v.claims.contains_key("events")
}

/// Claims helpers.
pub fn claim_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// `aud` as a list whether it was a string or an array.
pub fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, LoadedKey};

    fn keyset(alg: &str) -> KeySet {
        let g = generate(alg).unwrap();
        KeySet {
            keys: vec![LoadedKey::from_jwk(
                &g.kid,
                alg,
                &g.private_jwk,
                &g.public_jwk,
                0,
                None,
                None,
            )
            .unwrap()],
        }
    }

    #[test]
    fn only_a_plain_jwt_without_events_is_an_id_token() {
        let ks = keyset("ES256");
        let mut id = Map::new();
        id.insert("sub".into(), "u1".into());
        let t = sign(&ks.keys[0], TYP_JWT, id.clone()).unwrap();
        assert!(is_id_token(&verify(&ks, &t, 10).unwrap()));
        let at = sign(&ks.keys[0], TYP_ACCESS, id.clone()).unwrap();
        assert!(!is_id_token(&verify(&ks, &at, 10).unwrap()));
        let mut lt = id.clone();
        lt.insert(
            "events".into(),
            serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        );
        let logout = sign(&ks.keys[0], TYP_LOGOUT, lt.clone()).unwrap();
        assert!(!is_id_token(&verify(&ks, &logout, 10).unwrap()));
        // Even disguised as a plain JWT, the events claim gives it away.
        let disguised = sign(&ks.keys[0], TYP_JWT, lt).unwrap();
        assert!(!is_id_token(&verify(&ks, &disguised, 10).unwrap()));
    }

    #[test]
    fn sign_then_verify_round_trips_for_every_alg() {
        for alg in crate::keys::SUPPORTED_ALGS {
            let ks = keyset(alg);
            let mut c = Map::new();
            c.insert("sub".into(), "u1".into());
            let t = sign(&ks.keys[0], TYP_ACCESS, c).unwrap();
            let v = verify(&ks, &t, 10).unwrap();
            assert_eq!(v.typ.as_deref(), Some(TYP_ACCESS));
            assert_eq!(claim_str(&v.claims, "sub"), Some("u1"));
        }
    }

    #[test]
    fn foreign_key_tampering_and_garbage_are_rejected() {
        let ours = keyset("ES256");
        let theirs = keyset("ES256");
        let t = sign(&theirs.keys[0], TYP_JWT, Map::new()).unwrap();
        assert_eq!(verify(&ours, &t, 10).unwrap_err(), JwtRejection::UnknownKey);
        let good = sign(&ours.keys[0], TYP_JWT, Map::new()).unwrap();
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[1] = "eyJzdWIiOiJldmUifQ";
        assert_eq!(
            verify(&ours, &parts.join("."), 10).unwrap_err(),
            JwtRejection::BadSignature
        );
        assert_eq!(
            verify(&ours, "not.a.jwt", 10).unwrap_err(),
            JwtRejection::Malformed
        );
        assert_eq!(
            verify(&ours, "garbage", 10).unwrap_err(),
            JwtRejection::Malformed
        );
    }

    #[test]
    fn alg_none_with_our_kid_is_rejected() {
        use base64::Engine;
        let ks = keyset("RS256");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, ks.keys[0].kid));
        let body = b64.encode(r#"{"sub":"x"}"#);
        assert!(verify(&ks, &format!("{header}.{body}."), 10).is_err());
    }
}
