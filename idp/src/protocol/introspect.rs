//! Token introspection (RFC 7662), answered from live state: the access token of an ended session
//! or revoked family is `active: false` at once.

use super::userinfo::check_access_token;
use crate::app::{AppState, State};
use crate::error::{Rejection, Result};
use crate::http::respond;
use crate::model::Tenant;
use crate::session::service as sessions;
use crate::store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::{json, Value};

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let now_ms = state.clock.now_ms();
    let (tenant, params, client) =
        match super::read_client_request(&state, &slug, req, body, "introspect", now_ms / 1000)
            .await
        {
            Ok(v) => v,
            Err(resp) => return resp,
        };
    // §2.1: the protected resource must be authorized; public clients cannot keep that promise.
    if client.is_public() {
        return respond::oauth_json(&Rejection::UnauthorizedGrant, false);
    }
    let Some(token) = params.get("token") else {
        return respond::oauth_json(&Rejection::Malformed("token"), false);
    };
    let hint = params.get("token_type_hint");
    // §2.1: the hint orders the search; a token not found as that type is looked up as the
    // other ("MUST extend its search across all of its supported token types").
    let result = if hint == Some("refresh_token") {
        match introspect_refresh(&state, &tenant, &client.id, token, now_ms).await {
            Ok(Value::Null) => introspect_access(&state, &tenant, token, now_ms).await,
            other => other,
        }
    } else {
        match introspect_access(&state, &tenant, token, now_ms).await {
            Ok(Value::Null) => introspect_refresh(&state, &tenant, &client.id, token, now_ms).await,
            other => other,
        }
    };
    match result {
        Ok(Value::Null) => {
            respond::no_store(respond::json(StatusCode::OK, &json!({"active": false})))
        }
        Ok(v) => respond::no_store(respond::json(StatusCode::OK, &v)),
        Err(e) => respond::server_error(&e),
    }
}

async fn introspect_access(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    now_ms: i64,
) -> Result<Value> {
    let Some(live) = check_access_token(state, tenant, token, now_ms).await? else {
        return Ok(Value::Null);
    };
    let mut v = json!({ "active": true, "token_type": "Bearer" });
    for k in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
        "sid",
        "auth_time",
        "acr",
        "session_mode",
    ] {
        if let Some(c) = live.claims.get(k) {
            v[k] = c.clone();
        }
    }
    // RFC 9449 §6.2: a DPoP-bound token is reported with its type and key.
    if let Some(cnf) = live.claims.get("cnf") {
        v["token_type"] = json!("DPoP");
        v["cnf"] = cnf.clone();
    }
    // Live state wins over the token's claim: a session made read-only (or required to
    // re-authenticate) after the token was issued is reported as it is now.
    if let Some(m) = live.session.as_ref().and_then(|s| s.mode()) {
        match m {
            crate::session::Mode::Normal => {
                if let Some(o) = v.as_object_mut() {
                    o.remove("session_mode");
                }
            }
            m => v["session_mode"] = json!(m.as_str()),
        }
    }
    Ok(v)
}

/// A refresh token is only ever presented by the client it was issued to, so only that client
/// learns anything about it: to every other caller it is `active: false` (RFC 7662 §4: the
/// server may answer differently per caller, and must not disclose tokens to parties with no
/// business knowing them).
async fn introspect_refresh(
    state: &AppState,
    tenant: &Tenant,
    caller_row_id: &str,
    token: &str,
    now_ms: i64,
) -> Result<Value> {
    let now = now_ms.div_euclid(1000);
    let hash = state.hasher.hash("refresh", token);
    let Some(rt) = store::grants::find_refresh(&state.read, &tenant.id, &hash).await? else {
        return Ok(Value::Null);
    };
    let Some(f) = store::grants::find_family(&state.read, &tenant.id, &rt.family_id).await? else {
        return Ok(Value::Null);
    };
    if f.client_id != caller_row_id {
        return Ok(Value::Null);
    }
    if rt.state != store::grants::RT_ACTIVE
        || f.state != store::grants::FAMILY_ACTIVE
        || now >= rt.idle_deadline
        || now >= f.absolute_deadline
    {
        return Ok(Value::Null);
    }
    // A disabled or deleted client's refresh tokens are inactive at once.
    let client = match store::clients::find(&state.read, &tenant.id, &f.client_id).await? {
        Some(c) if !c.disabled => c,
        _ => return Ok(Value::Null),
    };
    let sid = match &f.session_id {
        Some(s) => sessions::resolve::live(state, &tenant.id, s, now)
            .await?
            .map(|s| s.sid),
        None => None,
    };
    // An `offline_access` family outlives its session (OIDC Core §11), not its user.
    if sid.is_none() {
        if !f.offline {
            return Ok(Value::Null);
        }
        match store::users::find(&state.read, &tenant.id, &f.user_id).await? {
            Some(u) if u.status == store::users::ACTIVE => {}
            _ => return Ok(Value::Null),
        }
    }
    let mut v = json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": f.scope,
        "client_id": client.client_id,
        "sub": f.user_id,
        "iss": tenant.issuer,
        "iat": rt.created_at,
        "exp": rt.idle_deadline.min(f.absolute_deadline),
    });
    if let Some(sid) = sid {
        v["sid"] = json!(sid);
    }
    // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    if let Some(jkt) = &f.dpop_jkt {
        v["cnf"] = json!({ "jkt": jkt });
    }
    Ok(v)
}
