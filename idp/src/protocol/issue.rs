//! Minting tokens for a grant: the access token (RFC 9068 JWT, ES256), the ID token (the client's
//! registered algorithm) and the JSON token response (RFC 6749 §5.1). Signing only; the caller
//! writes what was minted in its transaction.

use crate::app::AppState;
use crate::error::{internal, Result};
use crate::model::{Client, Tenant};
use crate::tokens::{self, claims};
use serde_json::{json, Value};

/// What a grant carries into its tokens.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub tenant: &'a Tenant,
    pub client: &'a Client,
    pub sub: &'a str,
    pub scope: &'a str,
    pub sid: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub acr: Option<&'a str>,
    pub amr: Vec<String>,
    pub nonce: Option<&'a str>,
    pub with_id_token: bool,
    /// `read_only` or `reauth_required` when the session is not in its normal mode.
    pub session_mode: Option<&'a str>,
    /// The DPoP key the access token is bound to (RFC 9449 §5, §6.1).
    pub dpop_jkt: Option<&'a str>,
}

#[derive(Debug)]
pub struct Minted {
    pub access_token: String,
    pub jti: String,
    pub expires_at: i64,
    pub id_token: Option<String>,
    /// Bound to a DPoP key: `token_type` is `DPoP` (RFC 9449 §5).
    pub dpop_bound: bool,
}

pub async fn mint(state: &AppState, g: &Grant<'_>, now_ms: i64) -> Result<Minted> {
    let now = now_ms.div_euclid(1000);
    let keys = state.keys.get(&state.read, &g.tenant.id, now_ms).await?;
    let at_key = keys
        .resolve_signing_key("ES256", now)
        .ok_or_else(|| internal("no ES256 signing key"))?;
    let jti = crate::crypto::random_id();
    let ttl = g.client.lifetimes.access_token_secs;
    let access_token = tokens::sign(
        at_key,
        tokens::TYP_ACCESS,
        claims::access_token(&claims::AccessTokenInput {
            issuer: &g.tenant.issuer,
            sub: g.sub,
            client_id: &g.client.client_id,
            scope: g.scope,
            jti: &jti,
            sid: g.sid,
            auth_time: g.auth_time,
            acr: g.acr,
            session_mode: g.session_mode,
            dpop_jkt: g.dpop_jkt,
            now,
            ttl,
        }),
    )?;
    let id_token = if g.with_id_token {
        let alg = g.client.id_token_alg.as_str();
        let key = keys
            .resolve_signing_key(alg, now)
            .ok_or_else(|| internal("no signing key for client alg"))?;
        let c = claims::id_token(&claims::IdTokenInput {
            issuer: &g.tenant.issuer,
            sub: g.sub,
            client_id: &g.client.client_id,
            nonce: g.nonce,
            auth_time: g.auth_time.unwrap_or(now),
            acr: g.acr.unwrap_or(crate::session::stepup::ACR_PWD),
            amr: &g.amr,
            sid: g.sid,
            at_hash: Some(crate::crypto::left_half_hash(alg, &access_token)),
            now,
            ttl: g.client.lifetimes.id_token_secs,
        });
        Some(tokens::sign(key, tokens::TYP_JWT, c)?)
    } else {
        None
    };
    Ok(Minted {
        access_token,
        jti,
        expires_at: now + ttl,
        id_token,
        dpop_bound: g.dpop_jkt.is_some(),
    })
}

/// The RFC 6749 §5.1 response body.
pub fn response_body(m: &Minted, refresh_token: Option<&str>, scope: &str, ttl: i64) -> Value {
    let mut v = json!({
        "access_token": m.access_token,
        // RFC 9449 §5: a DPoP-bound access token is of type DPoP.
        "token_type": if m.dpop_bound { "DPoP" } else { "Bearer" },
        "expires_in": ttl,
        "scope": scope,
    });
    if let Some(id) = &m.id_token {
        v["id_token"] = json!(id);
    }
    if let Some(rt) = refresh_token {
        v["refresh_token"] = json!(rt);
    }
    v
}
