//! Token-side services that own their transaction: issuing an authorization code.

use crate::app::AppState;
use crate::error::Result;
use crate::http::RequestContext;
use crate::model::{Client, Tenant};
use crate::protocol::authorize::AuthRequest;
use crate::session::Session;
use crate::store;
use crate::tokens::code::CODE_TTL_SECS;

/// How the authorization request being answered reached its code.
#[derive(Debug, Clone, Copy)]
pub enum Answered<'a> {
    /// At once, by a live session that already takes part in the client: the request was never
    /// stored, and the participation exists (the code exchange records its use again).
    ByParticipatingSession,
    /// Step by step from the remembered request with this id (consumed with the code).
    Remembered(&'a str),
}

/// Issue a code bound to client, redirect URI, PKCE challenge and session (RFC 6749 §4.1.2), in
/// one transaction (shared with concurrent ones) with the session's activity, its participation in the client (unless it
/// already takes part) and the consumption of a remembered request. `acr` is the level the
/// session holds now (after any step-up), named as the RP asked.
/// Returns the code (stored only as a hash).
#[allow(clippy::too_many_arguments)]
pub async fn issue_code(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    answered: Answered<'_>,
    r: &AuthRequest,
    s: &Session,
    acr: &str,
    ctx: &RequestContext,
) -> Result<String> {
    let code = crate::crypto::random_token();
    // Using the session at the authorization endpoint is activity, always recorded.
    let t = s
        .clone()
        .touch(ctx.now)
        .map_err(|e| crate::error::internal(e.to_string()))?;
    let issue = store::group_commit::CodeIssue {
        code: store::grants::CodeRow {
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
        touch: (ctx.now, t.clocks.idle_deadline),
        participate: matches!(answered, Answered::Remembered(_)),
        consumed_request: match answered {
            Answered::Remembered(id) => Some(id.to_string()),
            Answered::ByParticipatingSession => None,
        },
    };
    // Committed with the codes issued meanwhile (`store::group_commit`).
    state.group_commit.issue(issue).await?;
    Ok(code)
}
