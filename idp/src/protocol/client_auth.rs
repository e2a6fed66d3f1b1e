//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3, OIDC Core §9): client_secret_basic, client_secret_post, private_key_jwt, none.

use crate::app::AppState;
use crate::error::{Rejection, Result};
use crate::http::Params;
use crate::model::{AuthMethod, Client, Tenant};
use crate::tokens;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use josekit::jwk::JwkSet;
use poem::Request;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An authenticated client, and whether it tried the Authorization header (for the 401 challenge).
#[derive(Debug)]
pub struct Authenticated {
    pub client: Client,
}

/// The failure and whether the client used HTTP Basic (RFC 6749 §5.2 requires a
/// `WWW-Authenticate` challenge then).
#[derive(Debug)]
pub struct AuthFailure {
    pub rejection: Rejection,
    pub basic: bool,
}

impl From<Rejection> for AuthFailure {
    fn from(rejection: Rejection) -> Self {
        AuthFailure {
            rejection,
            basic: false,
        }
    }
}

fn basic_credentials(req: &Request) -> std::result::Result<Option<(String, String)>, Rejection> {
    let Some(h) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let h = h.to_str().map_err(|_| Rejection::ClientAuthFailed)?;
    let Some(b64) = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(b64.trim())
        .map_err(|_| Rejection::ClientAuthFailed)?;
    let s = String::from_utf8(decoded).map_err(|_| Rejection::ClientAuthFailed)?;
    let (id, secret) = s.split_once(':').ok_or(Rejection::ClientAuthFailed)?;
    // §2.3.1: both parts are form-urlencoded before base64.
    let dec = |v: &str| {
        crate::http::Params::parse(format!("v={v}").as_bytes())
            .ok()
            .and_then(|p| p.get("v").map(str::to_string))
    };
    Ok(Some((
        dec(id).unwrap_or_default(),
        dec(secret).unwrap_or_default(),
    )))
}

/// The client_id a request claims (HTTP Basic, the assertion's `sub`, or `client_id`), before
/// anything is verified: the key of the per-client throttle.
pub fn claimed_client_id(req: &Request, p: &Params) -> Option<String> {
    if let Ok(Some((id, _))) = basic_credentials(req) {
        return Some(id);
    }
    p.get("client_assertion")
        .and_then(assertion_subject)
        .or_else(|| p.get("client_id").map(str::to_string))
        .filter(|id| !id.is_empty() && id.len() <= 256)
}

/// Authenticate the calling client of `tenant`.
pub async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    p: &Params,
    endpoint_url: &str,
    now: i64,
) -> Result<std::result::Result<Authenticated, AuthFailure>> {
    let basic = match basic_credentials(req) {
        Ok(b) => b,
        Err(r) => {
            return Ok(Err(AuthFailure {
                rejection: r,
                basic: true,
            }))
        }
    };
    let via_basic = basic.is_some();
    let fail = |r: Rejection| {
        Ok(Err(AuthFailure {
            rejection: r,
            basic: via_basic,
        }))
    };
    let post_secret = p.get("client_secret");
    let assertion = p.get("client_assertion");
    let methods = [basic.is_some(), post_secret.is_some(), assertion.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if methods > 1 {
        // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
        return fail(Rejection::Malformed(
            "more than one client authentication method",
        ));
    }
    let (client_id, method) = if let Some((id, _)) = &basic {
        if p.get("client_id").is_some_and(|c| c != id) {
            return fail(Rejection::Malformed("client_id"));
        }
        (id.clone(), AuthMethod::ClientSecretBasic)
    } else if assertion.is_some() {
        if p.get("client_assertion_type") != Some(JWT_BEARER) {
            return fail(Rejection::Malformed("client_assertion_type"));
        }
        let Some(id) = assertion_subject(assertion.unwrap_or_default())
            .or_else(|| p.get("client_id").map(str::to_string))
        else {
            return fail(Rejection::ClientAuthFailed);
        };
        (id, AuthMethod::PrivateKeyJwt)
    } else if post_secret.is_some() {
        match p.get("client_id") {
            Some(id) => (id.to_string(), AuthMethod::ClientSecretPost),
            None => return fail(Rejection::Malformed("client_id")),
        }
    } else {
        match p.get("client_id") {
            Some(id) => (id.to_string(), AuthMethod::None),
            None => return fail(Rejection::ClientAuthFailed),
        }
    };
    let Some(client) = super::load_client(state, tenant, &client_id).await? else {
        return fail(Rejection::UnknownClient);
    };
    // A disabled client is refused like an unknown one (RFC 6749 §5.2 invalid_client).
    if client.disabled {
        return fail(Rejection::UnknownClient);
    }
    let ok = match (method, client.auth_method) {
        (
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost,
        ) => {
            let secret = basic
                .as_ref()
                .map(|(_, s)| s.as_str())
                .or(post_secret)
                .unwrap_or_default();
            evaluate_secret(&state.hasher, secret, &client, now)
        }
        (AuthMethod::PrivateKeyJwt, AuthMethod::PrivateKeyJwt) => verify_assertion(
            &client,
            assertion.unwrap_or_default(),
            &tenant.issuer,
            endpoint_url,
            now,
        ),
        (AuthMethod::None, AuthMethod::None) => true,
        _ => return fail(Rejection::ClientAuthMethodNotAllowed),
    };
    if !ok {
        return fail(Rejection::ClientAuthFailed);
    }
    Ok(Ok(Authenticated { client }))
}

/// Whether `secret` is the client's current secret, or its previous one while the rotation's
/// overlap lasts (until `previous.until`, exclusive). Both comparisons run every time, each in
/// constant time, so the timing tells nothing about which secret matched or whether an overlap
/// exists.
pub fn evaluate_secret(
    hasher: &crate::crypto::SecretHasher,
    secret: &str,
    client: &Client,
    now: i64,
) -> bool {
    let current = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| hasher.verify("client_secret", secret, h));
    let previous = client.previous_secret.as_ref().is_some_and(|p| {
        let matches = hasher.verify("client_secret", secret, &p.hash);
        matches && now < p.until
    });
    current | previous
}

/// The `sub` of an assertion without verifying it (only to find the client and its keys).
fn assertion_subject(jwt: &str) -> Option<String> {
    let body = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("sub").and_then(|s| s.as_str()).map(str::to_string)
}

/// RFC 7523 §3 / OIDC Core §9: iss = sub = client_id, aud names us, exp in the future, signed by
/// a key the client registered.
fn verify_assertion(
    client: &Client,
    jwt: &str,
    issuer: &str,
    endpoint_url: &str,
    now: i64,
) -> bool {
    let Some(jwks) = client
        .jwks
        .as_deref()
        .and_then(|j| JwkSet::from_bytes(j.as_bytes()).ok())
    else {
        return false;
    };
    // RFC 7515 §5.2 / RFC 7519 §4: a header or claims set with duplicate names is refused.
    if !tokens::strict_json::jws_has_unique_members(jwt) {
        return false;
    }
    let Ok(header) = josekit::jwt::decode_header(jwt) else {
        return false;
    };
    let Some(alg) = header.claim("alg").and_then(|a| a.as_str()) else {
        return false;
    };
    let kid = header.claim("kid").and_then(|k| k.as_str());
    let candidates: Vec<_> = jwks
        .keys()
        .into_iter()
        .filter(|k| kid.is_none() || k.key_id() == kid)
        .collect();
    for jwk in candidates {
        let verifier: Option<Box<dyn josekit::jws::JwsVerifier>> = match alg {
            "RS256" => josekit::jws::RS256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| Box::new(v) as _),
            "ES256" => josekit::jws::ES256
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| Box::new(v) as _),
            "EdDSA" => josekit::jws::EdDSA
                .verifier_from_jwk(jwk)
                .ok()
                .map(|v| Box::new(v) as _),
            _ => None,
        };
        let Some(verifier) = verifier else { continue };
        if let Ok((payload, _)) = josekit::jwt::decode_with_verifier(jwt, verifier.as_ref()) {
            return decide_assertion_claims(
                payload.claims_set(),
                &client.client_id,
                issuer,
                endpoint_url,
                now,
            );
        }
    }
    false
}

/// Clock skew tolerated on an assertion's `nbf` and `iat` (RFC 7523 §3 points 5 and 6 allow
/// "some small leeway ... for clock skew").
pub const ASSERTION_SKEW_SECS: i64 = 60;
/// The longest an assertion may claim to live: a client makes a fresh one per request, so an
/// `exp` further away is "unreasonably far in the future" (RFC 7523 §3 point 4).
pub const ASSERTION_MAX_LIFETIME_SECS: i64 = 3600;

/// RFC 7523 §3 / OIDC Core §9 on the claims of a verified client assertion: `iss` = `sub` =
/// client_id (points 1, 2), `aud` names the issuer or the endpoint (3), `exp` in the future and
/// not absurdly far (4), `nbf` (5) and `iat` (6) not in the future beyond the skew, `jti` present
/// (7). Numeric times must be integers or they count as absent-and-required / wrong.
pub fn decide_assertion_claims(
    c: &serde_json::Map<String, serde_json::Value>,
    client_id: &str,
    issuer: &str,
    endpoint_url: &str,
    now: i64,
) -> bool {
    let time = |name: &str| -> Option<Option<i64>> {
        match c.get(name) {
            None => Some(None),
            Some(v) => v.as_i64().map(Some),
        }
    };
    let aud_ok = tokens::audiences(c)
        .iter()
        .any(|a| a == issuer || a == endpoint_url);
    let who_ok = tokens::claim_str(c, "iss") == Some(client_id)
        && tokens::claim_str(c, "sub") == Some(client_id);
    let exp_ok =
        matches!(time("exp"), Some(Some(e)) if e > now && e <= now + ASSERTION_MAX_LIFETIME_SECS);
    let nbf_ok = match time("nbf") {
        Some(None) => true,
        Some(Some(n)) => n <= now + ASSERTION_SKEW_SECS,
        None => false,
    };
    let iat_ok = match time("iat") {
        Some(None) => true,
        Some(Some(i)) => i <= now + ASSERTION_SKEW_SECS,
        None => false,
    };
    let jti_ok = tokens::claim_str(c, "jti").is_some_and(|j| !j.is_empty());
    aud_ok && who_ok && exp_ok && nbf_ok && iat_ok && jti_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretHasher;
    use crate::model::PreviousSecret;

    fn client(hasher: &SecretHasher, current: &str, previous: Option<(&str, i64)>) -> Client {
        Client {
            id: "row".into(),
            client_id: "web".into(),
            secret_hash: Some(hasher.hash("client_secret", current)),
            auth_method: AuthMethod::ClientSecretBasic,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![],
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            id_token_alg: "RS256".into(),
            jwks: None,
            first_party: false,
            lifetimes: Default::default(),
            disabled: false,
            dpop_bound_access_tokens: false,
            previous_secret: previous.map(|(s, until)| PreviousSecret {
                hash: hasher.hash("client_secret", s),
                until,
            }),
        }
    }

    fn assertion(extra: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        let mut c = serde_json::json!({
            "iss": "web", "sub": "web", "aud": "https://op/t/a", "exp": 1060, "jti": "j1"
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c.as_object().unwrap().clone()
    }

    #[test]
    fn assertion_claims_follow_rfc7523_section_3() {
        let ok =
            |c| decide_assertion_claims(&c, "web", "https://op/t/a", "https://op/t/a/token", 1000);
        assert!(ok(assertion(serde_json::json!({}))));
        assert!(ok(assertion(
            serde_json::json!({"aud": "https://op/t/a/token"})
        )));
        assert!(ok(assertion(
            serde_json::json!({"aud": ["x", "https://op/t/a"]})
        )));
        assert!(!ok(assertion(serde_json::json!({"aud": "https://other"}))));
        assert!(!ok(assertion(serde_json::json!({"iss": "other"}))));
        assert!(!ok(assertion(serde_json::json!({"sub": "other"}))));
        // exp: required, future, not absurdly far, an integer.
        assert!(!ok(assertion(serde_json::json!({"exp": null}))));
        assert!(!ok(assertion(serde_json::json!({"exp": 1000}))));
        assert!(ok(assertion(
            serde_json::json!({"exp": 1000 + ASSERTION_MAX_LIFETIME_SECS})
        )));
        assert!(!ok(assertion(
            serde_json::json!({"exp": 1001 + ASSERTION_MAX_LIFETIME_SECS})
        )));
        assert!(!ok(assertion(serde_json::json!({"exp": "1060"}))));
        // nbf and iat: optional, never in the future beyond the skew.
        assert!(ok(assertion(
            serde_json::json!({"nbf": 1000 + ASSERTION_SKEW_SECS})
        )));
        assert!(!ok(assertion(
            serde_json::json!({"nbf": 1001 + ASSERTION_SKEW_SECS})
        )));
        assert!(ok(assertion(serde_json::json!({"iat": 990}))));
        assert!(!ok(assertion(serde_json::json!({"iat": 1_000_000_000}))));
        assert!(!ok(assertion(serde_json::json!({"iat": "soon"}))));
        // jti: required.
        assert!(!ok(assertion(serde_json::json!({"jti": null}))));
        assert!(!ok(assertion(serde_json::json!({"jti": ""}))));
    }

    #[test]
    fn previous_secret_works_until_the_overlap_ends_then_never() {
        let h = SecretHasher::new(b"k".to_vec());
        let c = client(&h, "new-secret", Some(("old-secret", 1_000)));
        assert!(evaluate_secret(&h, "new-secret", &c, 999));
        assert!(evaluate_secret(&h, "old-secret", &c, 999));
        assert!(!evaluate_secret(&h, "old-secret", &c, 1_000));
        assert!(!evaluate_secret(&h, "old-secret", &c, 5_000));
        assert!(evaluate_secret(&h, "new-secret", &c, 5_000));
        assert!(!evaluate_secret(&h, "other", &c, 999));
    }

    #[test]
    fn without_rotation_only_the_current_secret_works() {
        let h = SecretHasher::new(b"k".to_vec());
        let c = client(&h, "only", None);
        assert!(evaluate_secret(&h, "only", &c, 0));
        assert!(!evaluate_secret(&h, "", &c, 0));
    }
}
