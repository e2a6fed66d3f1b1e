//! Claims of the tokens Lanyard signs, built from plain inputs (no I/O, explicit time).

use crate::clock::UnixTime;
use serde_json::{json, Map, Value};

/// Inputs of an ID token (OIDC Core §2, §3.1.3.6).
#[derive(Debug, Clone)]
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: UnixTime,
    pub acr: &'a str,
    pub amr: &'a [String],
    /// None for an `offline_access` refresh after the session ended (Front-/Back-Channel
    /// Logout: `sid` names a session; there is none to name).
    pub sid: Option<&'a str>,
    pub at_hash: Option<String>,
    pub now: UnixTime,
    pub ttl: i64,
}

pub fn id_token(i: &IdTokenInput<'_>) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".into(), i.issuer.into());
    c.insert("sub".into(), i.sub.into());
    c.insert("aud".into(), i.client_id.into());
    c.insert("azp".into(), i.client_id.into());
    c.insert("iat".into(), i.now.into());
    c.insert("exp".into(), (i.now + i.ttl).into());
    c.insert("auth_time".into(), i.auth_time.into());
    c.insert("acr".into(), i.acr.into());
    c.insert("amr".into(), json!(i.amr));
    if let Some(sid) = i.sid {
        c.insert("sid".into(), sid.into());
    }
    if let Some(n) = i.nonce {
        c.insert("nonce".into(), n.into());
    }
    if let Some(h) = &i.at_hash {
        c.insert("at_hash".into(), h.clone().into());
    }
    c
}

/// Inputs of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone)]
pub struct AccessTokenInput<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub jti: &'a str,
    pub sid: Option<&'a str>,
    pub auth_time: Option<UnixTime>,
    pub acr: Option<&'a str>,
    /// Lanyard's `session_mode` claim: present when the session is read-only (or must
    /// re-authenticate), so resource servers can refuse writes.
    pub session_mode: Option<&'a str>,
    /// RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to.
    pub dpop_jkt: Option<&'a str>,
    pub now: UnixTime,
    pub ttl: i64,
}

pub fn access_token(i: &AccessTokenInput<'_>) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".into(), i.issuer.into());
    c.insert("sub".into(), i.sub.into());
    // RFC 9068 §3: without a resource indicator the audience is the client's own API surface;
    // Lanyard's userinfo endpoint accepts tokens whose `iss` is the tenant.
    c.insert("aud".into(), i.client_id.into());
    c.insert("client_id".into(), i.client_id.into());
    c.insert("iat".into(), i.now.into());
    c.insert("exp".into(), (i.now + i.ttl).into());
    c.insert("jti".into(), i.jti.into());
    c.insert("scope".into(), i.scope.into());
    if let Some(s) = i.sid {
        c.insert("sid".into(), s.into());
    }
    if let Some(t) = i.auth_time {
        c.insert("auth_time".into(), t.into());
    }
    if let Some(a) = i.acr {
        c.insert("acr".into(), a.into());
    }
    if let Some(m) = i.session_mode {
        c.insert("session_mode".into(), m.into());
    }
    // RFC 9449 §6.1 with RFC 7800 §3.1: `cnf` names the key the token is bound to.
    if let Some(jkt) = i.dpop_jkt {
        c.insert("cnf".into(), serde_json::json!({ "jkt": jkt }));
    }
    c
}

/// Back-Channel Logout 1.0 §2.4 logout token. `exp` is short: the token is delivered at once
/// and a fresh one (new `jti`) is minted for every retry.
pub fn logout_token(
    issuer: &str,
    client_id: &str,
    sub: &str,
    sid: &str,
    jti: &str,
    now: UnixTime,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("iss".into(), issuer.into());
    c.insert("aud".into(), client_id.into());
    c.insert("iat".into(), now.into());
    c.insert("exp".into(), (now + 120).into());
    c.insert("jti".into(), jti.into());
    c.insert("sub".into(), sub.into());
    c.insert("sid".into(), sid.into());
    c.insert(
        "events".into(),
        json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
    );
    c
}

/// What userinfo may reveal about a user.
#[derive(Debug, Clone)]
pub struct UserClaims<'a> {
    pub sub: &'a str,
    pub username: &'a str,
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub updated_at: UnixTime,
    pub groups: &'a [String],
}

/// Claims by scope (OIDC Core §5.4).
pub fn userinfo(u: &UserClaims<'_>, scope: &str) -> Map<String, Value> {
    let scopes: Vec<&str> = scope.split(' ').collect();
    let mut c = Map::new();
    c.insert("sub".into(), u.sub.into());
    if scopes.contains(&"profile") {
        c.insert("preferred_username".into(), u.username.into());
        c.insert("name".into(), u.name.unwrap_or(u.username).into());
        c.insert("updated_at".into(), u.updated_at.into());
    }
    if scopes.contains(&"email") {
        if let Some(e) = u.email {
            c.insert("email".into(), e.into());
            c.insert("email_verified".into(), u.email_verified.into());
        }
    }
    if scopes.contains(&"groups") {
        c.insert("groups".into(), json!(u.groups));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_has_every_required_claim() {
        let amr = vec!["pwd".to_string()];
        let c = id_token(&IdTokenInput {
            issuer: "https://op/t/a",
            sub: "u",
            client_id: "c",
            nonce: Some("n"),
            auth_time: 90,
            acr: "1",
            amr: &amr,
            sid: Some("s"),
            at_hash: Some("h".into()),
            now: 100,
            ttl: 300,
        });
        for k in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "at_hash",
        ] {
            assert!(c.contains_key(k), "{k}");
        }
        assert_eq!(c["exp"], 400);
    }

    #[test]
    fn id_token_without_nonce_omits_it() {
        let c = id_token(&IdTokenInput {
            issuer: "i",
            sub: "u",
            client_id: "c",
            nonce: None,
            auth_time: 1,
            acr: "1",
            amr: &[],
            sid: Some("s"),
            at_hash: None,
            now: 1,
            ttl: 1,
        });
        assert!(!c.contains_key("nonce"));
    }

    #[test]
    fn logout_token_matches_back_channel_2_4() {
        let c = logout_token("iss", "c", "u", "s", "j", 100);
        assert_eq!(
            c["events"],
            json!({"http://schemas.openid.net/event/backchannel-logout": {}})
        );
        assert!(!c.contains_key("nonce"));
        assert!(c["exp"].as_i64().unwrap() > 100);
        for k in ["iss", "aud", "iat", "jti", "sub", "sid"] {
            assert!(c.contains_key(k), "{k}");
        }
    }

    #[test]
    fn userinfo_reveals_only_what_scopes_allow() {
        let u = UserClaims {
            sub: "u",
            username: "alice",
            name: None,
            email: Some("a@x"),
            email_verified: true,
            updated_at: 5,
            groups: &[],
        };
        let c = userinfo(&u, "openid");
        assert_eq!(c.len(), 1);
        let c = userinfo(&u, "openid email");
        assert_eq!(c["email"], "a@x");
        assert!(!c.contains_key("name"));
        let c = userinfo(&u, "openid profile");
        assert_eq!(c["name"], "alice");
        assert_eq!(c["preferred_username"], "alice");
    }
}
