//! UserInfo endpoint (OIDC Core §5.3): GET or POST, bearer token in the header or (POST) body
//! (RFC 6750 §2.1, §2.2), or a DPoP-bound token with its proof (RFC 9449 §7). Tokens are checked
//! against live state.

use super::{load_tenant, read_params};
use crate::app::{AppState, State};
use crate::error::{Rejection, Result};
use crate::http::respond;
use crate::model::Tenant;
use crate::session::service as sessions;
use crate::store;
use crate::tokens::{self, claims};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::{json, Map, Value};

/// A live access token's claims.
#[derive(Debug)]
pub struct LiveAccess {
    pub claims: Map<String, Value>,
    /// The token's user, when it belongs to a session (already loaded for the liveness check).
    pub user: Option<store::users::User>,
    /// The token's session, when it has one (live when this was checked).
    pub session: Option<crate::session::Session>,
    /// Whether the token's client is public (its requests come from the user's device).
    pub public_client: bool,
}

/// Verify an access token and check it against live state: not revoked, its session still live,
/// its refresh family (if any) not revoked, its user still active, its client still registered
/// and enabled. `Ok(None)` = inactive.
pub async fn check_access_token(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    now_ms: i64,
) -> Result<Option<LiveAccess>> {
    let now = now_ms.div_euclid(1000);
    let keys = state.keys.get(&state.read, &tenant.id, now_ms).await?;
    let Ok(v) = state.verified.verify(&keys, token, now) else {
        return Ok(None);
    };
    if v.typ.as_deref() != Some(tokens::TYP_ACCESS)
        || tokens::claim_str(&v.claims, "iss") != Some(tenant.issuer.as_str())
    {
        return Ok(None);
    }
    if v.claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_none_or(|e| e <= now)
    {
        return Ok(None);
    }
    let Some(jti) = tokens::claim_str(&v.claims, "jti") else {
        return Ok(None);
    };
    // The client it was issued to must still exist and not be disabled (an operator's disable
    // or delete ends its tokens at once).
    let Some(cid) = tokens::claim_str(&v.claims, "client_id") else {
        return Ok(None);
    };
    let public_client = match super::load_client(state, tenant, cid).await? {
        Some(c) if !c.disabled => c.is_public(),
        _ => return Ok(None),
    };
    // The register row with its session, family and user, in one read.
    let view = store::grants::find_access_view(&state.read, &tenant.id, jti).await?;
    let view = match view {
        Some(r) if r.access.revoked => return Ok(None),
        Some(r) => r,
        // Unregistered: only client_credentials tokens (no sid) are issued without a row.
        None if !v.claims.contains_key("sid") => {
            return Ok(Some(LiveAccess {
                claims: v.claims,
                user: None,
                session: None,
                public_client,
            }));
        }
        None => return Ok(None),
    };
    let active = |u: Option<store::users::User>| u.filter(|u| u.status == store::users::ACTIVE);
    let mut user = None;
    let mut session = None;
    if view.access.session_id.is_some() {
        let Some(s) = view
            .session
            .map(|row| sessions::resolve::live_row(row, now))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        // The joined user is the session's (`store::grants::find_access_view`).
        let Some(u) = active(view.user.clone()) else {
            return Ok(None);
        };
        user = Some(u);
        session = Some(s);
    }
    if view.access.family_id.is_some() {
        match &view.family {
            Some(f) if f.state == store::grants::FAMILY_ACTIVE => {}
            _ => return Ok(None),
        }
        // Refreshed from an `offline_access` family after its session ended: no session, but
        // the user (then the family's) must still be active (OIDC Core §11).
        if view.access.session_id.is_none() {
            match active(view.user) {
                Some(u) => user = Some(u),
                None => return Ok(None),
            }
        }
    }
    Ok(Some(LiveAccess {
        claims: v.claims,
        user,
        session,
        public_client,
    }))
}

/// UserInfo from a public client runs on the user's device: its request is checked against the
/// session's binding; a session that was ended or must re-authenticate serves nothing.
async fn governed(
    state: &AppState,
    tenant: &Tenant,
    live: &LiveAccess,
    ctx: &crate::http::RequestContext,
) -> Result<bool> {
    let (Some(s), true) = (&live.session, live.public_client) else {
        return Ok(true);
    };
    let seen = sessions::guard::observe_device_request(ctx);
    Ok(
        match sessions::guard::guard(state, tenant, s.clone(), &seen, ctx).await? {
            Some(s) => s.mode() != Some(crate::session::Mode::ReauthRequired),
            None => false,
        },
    )
}

/// How the access token came: as a bearer token (RFC 6750) or under the DPoP scheme (RFC 9449
/// §7.1). Scheme names are case-insensitive (RFC 9110 §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

fn authorization(req: &Request) -> Option<(Scheme, String)> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim().to_string()))
}

/// The key a token is bound to (RFC 9449 §6.1 `cnf.jkt`).
fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let tenant = match load_tenant(&state, &slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return respond::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        Err(e) => return respond::server_error(&e),
    };
    let header_token = authorization(req);
    let body_token = if req.method() == poem::http::Method::POST
        && req
            .content_type()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        match read_params(req, body).await {
            Ok(p) => p.get("access_token").map(str::to_string),
            Err(r) => return respond::bearer_error(&r),
        }
    } else {
        None
    };
    // RFC 6750 §2: exactly one method.
    let (scheme, token) = match (header_token, body_token) {
        (Some(_), Some(_)) => return respond::bearer_error(&Rejection::Malformed("two tokens")),
        (Some(t), None) => t,
        (None, Some(t)) => (Scheme::Bearer, t),
        (None, None) => {
            let mut r = respond::json(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"}));
            let h = r.headers_mut();
            h.insert(
                "www-authenticate",
                poem::http::HeaderValue::from_static("Bearer realm=\"lanyard\""),
            );
            // RFC 9449 §7.1: the DPoP scheme is offered too, with its algorithms.
            if let Ok(v) = poem::http::HeaderValue::from_str(&super::dpop::challenge(None)) {
                h.append("www-authenticate", v);
            }
            return r;
        }
    };
    let ctx = super::context(&state, req);
    let proof = match scheme {
        Scheme::Bearer => None,
        Scheme::Dpop => match dpop_proof(&state, &tenant, req, &token, &ctx).await {
            Ok(Ok(p)) => Some(p),
            Ok(Err(resp)) => return resp,
            Err(e) => return respond::server_error(&e),
        },
    };
    let live = match check_access_token(&state, &tenant, &token, ctx.now_ms).await {
        Ok(Some(l)) => l,
        Ok(None) if proof.is_some() => {
            return super::dpop::resource_error(&Rejection::InvalidToken)
        }
        Ok(None) => return respond::bearer_error(&Rejection::InvalidToken),
        Err(e) => return respond::server_error(&e),
    };
    // RFC 9449 §7.1: a DPoP-bound token is accepted only under the DPoP scheme with a proof of
    // its key (never as a bearer token); a bearer token is not accepted under the DPoP scheme.
    match (bound_key(&live.claims), &proof) {
        (None, None) => {}
        (Some(k), Some(p)) if crate::crypto::constant_time_eq(k.as_bytes(), p.jkt.as_bytes()) => {}
        _ => return super::dpop::resource_error(&Rejection::InvalidToken),
    }
    match governed(&state, &tenant, &live, &ctx).await {
        Ok(true) => {}
        Ok(false) => return respond::bearer_error(&Rejection::InvalidToken),
        Err(e) => return respond::server_error(&e),
    }
    let (Some(sub), Some(scope)) = (
        tokens::claim_str(&live.claims, "sub"),
        tokens::claim_str(&live.claims, "scope"),
    ) else {
        return respond::bearer_error(&Rejection::InvalidToken);
    };
    if !scope.split(' ').any(|s| s == "openid") {
        return respond::bearer_error(&Rejection::InvalidToken);
    }
    let user = match live.user {
        Some(u) if u.id == sub => u,
        _ => return respond::bearer_error(&Rejection::InvalidToken),
    };
    let groups = if scope.split(' ').any(|s| s == "groups") {
        match store::policies::list_user_groups(&state.read, &tenant.id, &user.id).await {
            Ok(g) => g,
            Err(e) => return respond::server_error(&e.into()),
        }
    } else {
        Vec::new()
    };
    let c = claims::userinfo(
        &claims::UserClaims {
            sub: &user.id,
            username: &user.username,
            name: user.name.as_deref(),
            email: user.email.as_deref(),
            email_verified: user.email_verified,
            updated_at: user.updated_at,
            groups: &groups,
        },
        scope,
    );
    let resp = respond::no_store(respond::json(StatusCode::OK, &Value::Object(c)));
    if proof.is_some() {
        super::dpop::with_nonce(resp, &state, &tenant, &ctx)
    } else {
        resp
    }
}

/// RFC 9449 §7.1: under the DPoP scheme the request carries one proof for this method and URI
/// with `ath` of the token. Refusals are 401 under the DPoP scheme; a missing or stale nonce is
/// `use_dpop_nonce` with the nonce to use (§9).
async fn dpop_proof(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    token: &str,
    ctx: &crate::http::RequestContext,
) -> Result<std::result::Result<crate::tokens::dpop::Proof, Response>> {
    let proof = match super::dpop::proof_header(req) {
        Ok(None) => {
            return Ok(Err(super::dpop::resource_error(
                &Rejection::DpopProofRequired,
            )))
        }
        Ok(Some(p)) => Ok(p),
        Err(e) => Err(e),
    };
    let site = super::dpop::Site {
        endpoint: "userinfo",
        method: req.method().as_str(),
        access_token: Some(token),
        client_id: None,
    };
    match super::dpop::check_proof(state, tenant, proof.as_deref().map_err(|e| *e), &site, ctx)
        .await?
    {
        Ok(p) => Ok(Ok(p)),
        Err(why) => {
            let resp = super::dpop::resource_error(&why.into());
            Ok(Err(super::dpop::with_nonce(resp, state, tenant, ctx)))
        }
    }
}
