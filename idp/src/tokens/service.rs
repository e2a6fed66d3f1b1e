//! Token-side services that own their transaction: issuing an authorization code.

use crate::app::AppState;
use crate::error::Result;
use crate::http::RequestContext;
use crate::model::{Client, Tenant};
use crate::protocol::authorize::AuthRequest;
use crate::session::service as sessions;
use crate::session::Session;
use crate::store::{self, TransactionTrait};
use crate::tokens::code::CODE_TTL_SECS;

/// Issue a code bound to client, redirect URI, PKCE challenge and session (RFC 6749 §4.1.2), in
/// one transaction with the session's participation and activity, consuming the request. `acr`
/// is the level the session holds now (after any step-up), named as the RP asked.
/// Returns the code (stored only as a hash).
#[allow(clippy::too_many_arguments)]
pub async fn issue_code(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: Option<&str>,
    r: &AuthRequest,
    s: &Session,
    acr: &str,
    ctx: &RequestContext,
) -> Result<String> {
    let code = crate::crypto::random_token();
    let txn = state.db.begin().await?;
    store::grants::insert_code(
        &txn,
        store::grants::CodeRow {
            code_hash: state.hasher.hash("code", &code),
            tenant_id: tenant.id.clone(),
            client_id: client.id.clone(),
            session_id: s.id.clone(),
            user_id: s.user_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            scope: r.scope.clone(),
            nonce: r.nonce.clone(),
            code_challenge: r.code_challenge.clone(),
            auth_time: s.auth.time,
            acr: acr.to_string(),
            amr: serde_json::to_string(&s.auth.amr)?,
            created_at: ctx.now,
            expires_at: ctx.now + CODE_TTL_SECS,
            state: store::grants::CODE_ISSUED.into(),
            family_id: None,
            access_jti: None,
            dpop_jkt: r.dpop_jkt.clone(),
        },
    )
    .await?;
    sessions::participate_in(&txn, &tenant.id, &s.id, &client.id, ctx.now).await?;
    // Using the session at the authorization endpoint is activity, always recorded.
    let t = s
        .clone()
        .touch(ctx.now)
        .map_err(|e| crate::error::internal(e.to_string()))?;
    sessions::touch_in(
        &txn,
        &tenant.id,
        &sessions::Touch {
            session_id: t.id,
            at: ctx.now,
            idle_deadline: t.clocks.idle_deadline,
        },
    )
    .await?;
    // A request answered at once from the session was never remembered.
    if let Some(id) = request_id {
        store::grants::delete_request(&txn, &tenant.id, id).await?;
    }
    txn.commit().await?;
    Ok(code)
}
