//! Token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; OIDC Core §3.1.3, §12).
//!
//! Pipeline: tenant -> parameters (no duplicates) -> client authentication -> DPoP proof
//! (RFC 9449 §5; `protocol::dpop`) -> grant type -> decide (pure rules in `tokens::code` /
//! `tokens::refresh` / `tokens::dpop`) -> one transaction applying the decision (also on the
//! refusal path: a replay's revocation is committed) -> JSON response.

use super::issue::{self, Grant};
use crate::app::{AppState, State};
use crate::error::{Error, Rejection, Result};
use crate::events::audit::{self, Event};
use crate::http::{respond, Params, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service as sessions;
use crate::store::{self, TransactionTrait};
use crate::tokens::code::{decide_redemption, CodeDecision, CodeFacts, CodeState, Redemption};
use crate::tokens::dpop;
mod refresh;

use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = super::context(&state, req);
    let (tenant, params, client) =
        match super::read_client_request(&state, &slug, req, body, "token", ctx.now).await {
            Ok(v) => v,
            Err(resp) => {
                // Refused before the grant type was read. Not counted when the tenant may not
                // exist (404: no such tenant; 5xx: possibly its lookup failing), so the slug
                // label only ever holds real tenants.
                let outcome = match resp.status().as_u16() {
                    401 => "invalid_client",
                    s if s == 404 || s >= 500 => return resp,
                    _ => "invalid_request",
                };
                count_grant(&slug, "unknown", outcome);
                return resp;
            }
        };
    let proof_header = super::dpop::proof_header(req);
    let sent_proof = !matches!(proof_header, Ok(None));
    let result = match dpop_proof(&state, &tenant, &client, proof_header, &ctx).await {
        Err(e) => Err(e),
        Ok(proof) => {
            let proof = proof.as_ref();
            match params.get("grant_type") {
                None => Err(Rejection::Malformed("grant_type").into()),
                Some(g @ ("authorization_code" | "refresh_token" | "client_credentials"))
                    if !client.allows_grant(g) =>
                {
                    Err(Rejection::UnauthorizedGrant.into())
                }
                Some("authorization_code") => {
                    authorization_code(&state, &tenant, &client, &params, &ctx, proof).await
                }
                Some("refresh_token") => {
                    refresh::grant(&state, &tenant, &client, &params, &ctx, proof).await
                }
                Some("client_credentials") => {
                    client_credentials(&state, &tenant, &client, &params, &ctx, proof).await
                }
                Some(_) => Err(Rejection::UnsupportedGrantType.into()),
            }
        }
    };
    let grant_type = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        Some(_) => "unsupported",
        None => "missing",
    };
    let resp = match result {
        Ok(body) => {
            count_grant(&tenant.slug, grant_type, "ok");
            respond::no_store(respond::json(StatusCode::OK, &body))
        }
        Err(Error::Rejected(r)) => {
            count_grant(&tenant.slug, grant_type, r.oauth().error);
            respond::oauth_json(&r, false)
        }
        Err(e) => {
            count_grant(&tenant.slug, grant_type, "server_error");
            respond::server_error(&e)
        }
    };
    if sent_proof {
        super::dpop::with_nonce(resp, &state, &tenant, &ctx)
    } else {
        resp
    }
}

/// RFC 9449 §5: the request's DPoP proof, checked (`use_dpop_nonce` / `invalid_dpop_proof` when
/// it fails); none is allowed unless the client registered `dpop_bound_access_tokens` (§5.2).
async fn dpop_proof(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    header: std::result::Result<Option<String>, dpop::ProofRejection>,
    ctx: &RequestContext,
) -> Result<Option<dpop::Proof>> {
    let proof = match header {
        Ok(None) if client.dpop_bound_access_tokens => {
            return Err(Rejection::DpopProofRequired.into())
        }
        Ok(None) => return Ok(None),
        Ok(Some(p)) => Ok(p),
        Err(e) => Err(e),
    };
    let site = super::dpop::Site {
        endpoint: "token",
        method: "POST",
        access_token: None,
        client_id: Some(&client.client_id),
    };
    match super::dpop::check_proof(state, tenant, proof.as_deref().map_err(|e| *e), &site, ctx)
        .await?
    {
        Ok(p) => Ok(Some(p)),
        Err(why) => Err(Rejection::from(why).into()),
    }
}

/// `lanyard_token_grants_total`: outcome is `ok` or the RFC 6749 §5.2 error code; every label
/// comes from a fixed set (or an existing tenant's slug), never from raw input.
fn count_grant(tenant: &str, grant_type: &'static str, outcome: &'static str) {
    metrics::counter!(
        "lanyard_token_grants_total",
        "tenant" => tenant.to_string(),
        "grant_type" => grant_type,
        "outcome" => outcome,
    )
    .increment(1);
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and replay handling (§4.1.2).
async fn authorization_code(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    p: &Params,
    ctx: &RequestContext,
    proof: Option<&dpop::Proof>,
) -> Result<serde_json::Value> {
    let code = p.get("code").ok_or(Rejection::Malformed("code"))?;
    let code_hash = state.hasher.hash("code", code);
    let row = store::grants::find_code(&state.read, &tenant.id, &code_hash)
        .await?
        .ok_or(Rejection::CodeInvalid)?;
    let facts = CodeFacts {
        state: if row.state == store::grants::CODE_ISSUED {
            CodeState::Issued
        } else {
            CodeState::Redeemed
        },
        client_id: &row.client_id,
        redirect_uri: &row.redirect_uri,
        code_challenge: row.code_challenge.as_deref(),
        expires_at: row.expires_at,
    };
    let redemption = Redemption {
        client_id: &client.id,
        redirect_uri: p.get("redirect_uri"),
        code_verifier: p.get("code_verifier"),
    };
    match decide_redemption(&facts, &redemption, ctx.now) {
        CodeDecision::Reject(r) => return Err(r.into()),
        CodeDecision::RevokeIssued => {
            revoke_code_issue(state, tenant, &row, ctx).await?;
            return Err(Rejection::CodeReplayed.into());
        }
        CodeDecision::Redeem => {}
    }
    // RFC 9449 §10.1: a code bound by `dpop_jkt` is redeemed only with a proof of that key
    // (refused before redemption, so the client holding the key can still use it).
    dpop::decide_key_binding(row.dpop_jkt.as_deref(), proof.map(|p| p.jkt.as_str()))
        .map_err(Rejection::from)?;
    let session = sessions::resolve::live(state, &tenant.id, &row.session_id, ctx.now)
        .await?
        .ok_or(Rejection::SessionEnded)?;
    // The code was issued moments ago through the browser; the exchange comes from the RP (a
    // public client's from the user's device): the binding is checked as far as it shows.
    let seen = observed_for(client, p, ctx);
    let gate = sessions::guard::gate(state, tenant, session, &seen, ctx)
        .await?
        .map_err(Error::Rejected)?;
    let session = gate.session.clone();
    let scope = gate.scope(&row.scope);
    let user = store::users::find(&state.read, &tenant.id, &row.user_id)
        .await?
        .ok_or(Rejection::CodeInvalid)?;
    if user.status != store::users::ACTIVE {
        return Err(Rejection::UserInactive.into());
    }
    let amr: Vec<String> = serde_json::from_str(&row.amr)
        .map_err(|e| crate::error::internal(format!("code: stored amr: {e}")))?;
    let grant = Grant {
        tenant,
        client,
        sub: &user.id,
        scope: &scope,
        sid: Some(&session.sid),
        auth_time: Some(row.auth_time),
        acr: Some(&row.acr),
        amr,
        nonce: row.nonce.as_deref(),
        with_id_token: scope.split(' ').any(|s| s == "openid"),
        session_mode: gate.session_mode(),
        dpop_jkt: proof.map(|p| p.jkt.as_str()),
    };
    let minted = issue::mint(state, &grant, ctx.now_ms).await?;
    let refresh = client
        .allows_grant("refresh_token")
        .then(crate::crypto::random_token);
    let family_id = refresh.as_ref().map(|_| crate::crypto::random_id());

    // RFC 6749 §4.1.2, RFC 9700 §4.14: nothing may be issued into a session that has ended. The
    // session was live when read above, but an end (an admin's revoke-all, a logout) may be
    // running now: the redemption locks the session's row before it marks the code, so either
    // the end sees this grant and revokes it, or this sees the end and refuses (the code stays
    // unused). Concurrent redemptions commit together (`store::group_commit`).
    let first = match (&refresh, &family_id) {
        (Some(rt), Some(fid)) => Some((
            store::grants::FamilyRow {
                id: fid.clone(),
                tenant_id: tenant.id.clone(),
                client_id: client.id.clone(),
                session_id: Some(session.id.clone()),
                user_id: user.id.clone(),
                scope: row.scope.clone(),
                auth_time: row.auth_time,
                acr: row.acr.clone(),
                amr: row.amr.clone(),
                state: store::grants::FAMILY_ACTIVE.into(),
                created_at: ctx.now,
                absolute_deadline: ctx.now + client.lifetimes.refresh_absolute_secs,
                revoked_at: None,
                revoke_reason: None,
                offline: crate::tokens::refresh::grants_offline(&row.scope),
                dpop_jkt: dpop::decide_refresh_binding(client.is_public(), proof),
            },
            refresh_row(state, tenant, fid, rt, 0, client, ctx.now),
        )),
        _ => None,
    };
    let redemption = store::group_commit::Redemption {
        tenant_id: tenant.id.clone(),
        code_hash: code_hash.clone(),
        session_id: session.id.clone(),
        refresh: first,
        access: access_row(
            tenant,
            client,
            &minted,
            Some(&session.id),
            family_id.as_deref(),
        ),
        client_row_id: client.id.clone(),
        now: ctx.now,
        event: audit::row(
            Event {
                tenant_id: &tenant.id,
                kind: "token.issued",
                session_id: Some(&session.id),
                user_id: Some(&user.id),
                client_id: Some(&client.client_id),
                actor: "client",
                outcome: "ok",
                detail: Some(json!({"grant": "authorization_code"})),
            },
            Some(ctx),
            ctx.now_ms,
        ),
    };
    match state.group_commit.redeem(redemption).await? {
        store::group_commit::Redeemed::Committed => {}
        store::group_commit::Redeemed::SessionEnded => return Err(Rejection::SessionEnded.into()),
        // Someone redeemed it between our read and now: that is a replay.
        store::group_commit::Redeemed::Replayed => {
            if let Some(row) = store::grants::find_code(&state.db, &tenant.id, &code_hash).await? {
                revoke_code_issue(state, tenant, &row, ctx).await?;
            }
            return Err(Rejection::CodeReplayed.into());
        }
    }
    Ok(issue::response_body(
        &minted,
        refresh.as_deref(),
        &scope,
        client.lifetimes.access_token_secs,
    ))
}

/// What a token request shows of the end user's context for the binding check: a public client
/// runs on the user's device (its requests carry the user's IP and user agent); a confidential
/// client's server may relay them as `end_user_ip` and `end_user_agent`; otherwise nothing is
/// known and the binding is not evaluated for this request.
fn observed_for(client: &Client, p: &Params, ctx: &RequestContext) -> sessions::guard::Observed {
    if client.is_public() {
        sessions::guard::observe_device_request(ctx)
    } else {
        sessions::guard::observe_relayed(p.get("end_user_ip"), p.get("end_user_agent"))
    }
}

/// RFC 6749 §4.1.2: a code used twice revokes the tokens it issued. Committed before refusing.
async fn revoke_code_issue(
    state: &AppState,
    tenant: &Tenant,
    row: &store::grants::CodeRow,
    ctx: &RequestContext,
) -> Result<()> {
    let txn = state.db.begin().await?;
    if let Some(f) = &row.family_id {
        store::grants::mark_family_revoked(&txn, &tenant.id, f, "code_replayed", ctx.now).await?;
    }
    if let Some(j) = &row.access_jti {
        store::grants::mark_access_revoked(&txn, &tenant.id, j).await?;
    }
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "code.replayed",
            session_id: Some(&row.session_id),
            user_id: Some(&row.user_id),
            actor: "client",
            outcome: "revoked",
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The first refresh token of a family (stored only as a hash).
fn refresh_row(
    state: &AppState,
    tenant: &Tenant,
    family_id: &str,
    token: &str,
    generation: i64,
    client: &Client,
    now: i64,
) -> store::grants::RefreshRow {
    store::grants::RefreshRow {
        token_hash: state.hasher.hash("refresh", token),
        tenant_id: tenant.id.clone(),
        family_id: family_id.to_string(),
        generation,
        state: store::grants::RT_ACTIVE.into(),
        created_at: now,
        idle_deadline: now + client.lifetimes.refresh_idle_secs,
        rotated_at: None,
    }
}

/// The record of an issued access token (its `jti`), by which it is revoked.
fn access_row(
    tenant: &Tenant,
    client: &Client,
    m: &issue::Minted,
    session_id: Option<&str>,
    family_id: Option<&str>,
) -> store::grants::AccessTokenRow {
    store::grants::AccessTokenRow {
        jti: m.jti.clone(),
        tenant_id: tenant.id.clone(),
        client_id: client.id.clone(),
        session_id: session_id.map(str::to_string),
        family_id: family_id.map(str::to_string),
        expires_at: m.expires_at,
        revoked: false,
    }
}

/// RFC 6749 §4.4: confidential clients only.
async fn client_credentials(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    p: &Params,
    ctx: &RequestContext,
    proof: Option<&dpop::Proof>,
) -> Result<serde_json::Value> {
    if client.is_public() {
        return Err(Rejection::UnauthorizedGrant.into());
    }
    let scope = p
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty() && *s != "openid" && *s != "offline_access")
        .collect::<Vec<_>>()
        .join(" ");
    let grant = Grant {
        tenant,
        client,
        sub: &client.client_id,
        scope: &scope,
        sid: None,
        auth_time: None,
        acr: None,
        amr: vec![],
        nonce: None,
        with_id_token: false,
        session_mode: None,
        dpop_jkt: proof.map(|p| p.jkt.as_str()),
    };
    // Not registered: a client_credentials token has no session or family whose end could
    // deactivate it, so introspection needs no row unless it is revoked (RFC 7009), which
    // then writes one. This keeps the grant free of database writes.
    let minted = issue::mint(state, &grant, ctx.now_ms).await?;
    Ok(issue::response_body(
        &minted,
        None,
        &scope,
        client.lifetimes.access_token_secs,
    ))
}
