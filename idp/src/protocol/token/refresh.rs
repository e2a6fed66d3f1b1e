//! The refresh-token grant (RFC 6749 §6) with rotation, a grace window for a client's retry and
//! reuse detection (RFC 9700 §4.14.2).
//!
//! Races resolve in the database: every write of a family's tokens first takes the governing
//! session's row lock, then the family's (`store::sessions::lock_active`,
//! `store::grants::lock_active_family`), so concurrent presentations of one token are applied one
//! after another, each seeing what the one before committed. A presentation that loses the race
//! to rotate is decided again from the committed state: inside the grace window that is a retry
//! (the successor is still unused), not a replay. Whatever revokes the family commits first, and
//! nothing issued after it (no 200 once the family is revoked).

use super::{issue, observed_for};
use crate::app::AppState;
use crate::error::{Error, Rejection, Result};
use crate::events::audit::{self, Event};
use crate::http::{Params, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service::{self as sessions, Ender};
use crate::session::{EndReason, Liveness};
use crate::store::{self, TransactionTrait};
use crate::tokens::dpop;
use crate::tokens::refresh::{
    decide_refresh, decide_reuse_record, RefreshDecision, RefreshFacts, ReuseRecord, TokenState,
    REUSE_REASON,
};
use issue::Grant;
use serde_json::json;

/// How often a presentation that lost the race to rotate is decided again. One retry suffices
/// for any number of racing requests (the winner's rotation is committed before the losers hear
/// of it); the bound only guards against a token that keeps changing under us.
const ATTEMPTS: usize = 3;

/// What one attempt came to.
enum Attempt {
    Issued(serde_json::Value),
    /// Another request rotated the token first: decide again from what it committed.
    Raced,
}

/// RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2).
pub(super) async fn grant(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    p: &Params,
    ctx: &RequestContext,
    proof: Option<&dpop::Proof>,
) -> Result<serde_json::Value> {
    let presented = p
        .get("refresh_token")
        .ok_or(Rejection::Malformed("refresh_token"))?;
    let hash = state.hasher.hash("refresh", presented);
    for attempt in 1..=ATTEMPTS {
        let last = attempt == ATTEMPTS;
        // The first attempt reads from the reader pool: what it decides is applied only if the
        // presented token is still active when the rotation commits (`store::group_commit`), so
        // a stale read loses the race instead of winning it. A retry after a lost race reads
        // from the writer, which has seen what the winner committed.
        let db = if attempt == 1 { &state.read } else { &state.db };
        match once(state, db, tenant, client, p, ctx, proof, &hash, last).await? {
            Attempt::Issued(body) => return Ok(body),
            Attempt::Raced => continue,
        }
    }
    Err(Rejection::RefreshReplayed.into())
}

#[allow(clippy::too_many_arguments)]
async fn once(
    state: &AppState,
    db: &sea_orm::DatabaseConnection,
    tenant: &Tenant,
    client: &Client,
    p: &Params,
    ctx: &RequestContext,
    proof: Option<&dpop::Proof>,
    hash: &str,
    last: bool,
) -> Result<Attempt> {
    // The token, its family, the family's session and its user: one read.
    let view = store::grants::find_refresh_view(db, &tenant.id, hash)
        .await?
        .ok_or(Rejection::RefreshInvalid)?;
    let token = view.token;
    let family = view.family.ok_or(Rejection::RefreshInvalid)?;
    // RFC 9449 §5: a refresh token bound to a key is used only with a proof of that key. Checked
    // first: a thief without the key is refused without touching the family (another client's
    // token is refused by `decide_refresh` as ever).
    if family.client_id == client.id {
        dpop::decide_key_binding(family.dpop_jkt.as_deref(), proof.map(|p| p.jkt.as_str()))
            .map_err(Rejection::from)?;
    }
    let session = view.session.map(sessions::resolve::parse).transpose()?;
    let session_live = session
        .as_ref()
        .is_some_and(|s| s.liveness(ctx.now) == Liveness::Live);
    let user = view.user;
    let rotated = token.state == store::grants::RT_ROTATED;
    let successor = if rotated {
        store::grants::find_refresh_by_generation(db, &tenant.id, &family.id, token.generation + 1)
            .await?
    } else {
        None
    };
    let facts = RefreshFacts {
        token: if rotated {
            TokenState::Rotated {
                at: token.rotated_at.unwrap_or(token.created_at),
            }
        } else {
            TokenState::Active
        },
        idle_deadline: token.idle_deadline,
        family_active: family.state == store::grants::FAMILY_ACTIVE,
        family_client_id: &family.client_id,
        family_absolute_deadline: family.absolute_deadline,
        successor_unused: successor
            .as_ref()
            .map(|s| s.state == store::grants::RT_ACTIVE),
        session_active: session_live,
        offline: family.offline,
        user_active: user
            .as_ref()
            .is_some_and(|u| u.status == store::users::ACTIVE),
    };
    let decision = decide_refresh(
        &facts,
        &client.id,
        client.lifetimes.refresh_reuse_grace_secs,
        ctx.now,
    );
    match decision {
        RefreshDecision::Reject(r) => {
            if !facts.family_active && family.client_id == client.id {
                // A token of a family already revoked for reuse: one more refused presentation
                // for its reuse record (a family revoked for another reason has none).
                count_refusal(state, tenant, &family.id).await?;
            }
            return Err(r.into());
        }
        RefreshDecision::RevokeFamily => {
            replay_detected(state, tenant, &family, session.as_ref(), ctx).await?;
            return Err(Rejection::RefreshReplayed.into());
        }
        RefreshDecision::Rotate | RefreshDecision::ReissueWithinGrace => {}
    }
    let Some(user) = user else {
        return Err(Rejection::RefreshInvalid.into());
    };
    // While its session lives, the session governs the refresh (binding, mode, step-down); an
    // `offline_access` family whose session has ended refreshes on its own (OIDC Core §11).
    let gate = match session.filter(|_| session_live) {
        Some(session) => {
            let seen = observed_for(client, p, ctx);
            Some(
                sessions::guard::gate(state, tenant, session, &seen, ctx)
                    .await?
                    .map_err(Error::Rejected)?,
            )
        }
        None if family.offline => None,
        None => return Err(Rejection::SessionEnded.into()),
    };
    let session = gate.as_ref().map(|g| g.session.clone());
    let scope = match p.get("scope") {
        // §6: a narrower scope may be requested; never a wider one.
        Some(s) => {
            let granted: Vec<&str> = family.scope.split(' ').collect();
            if !s.split(' ').all(|x| granted.contains(&x)) {
                return Err(Rejection::InvalidScope.into());
            }
            s.to_string()
        }
        None => family.scope.clone(),
    };
    let scope = match &gate {
        Some(g) => g.scope(&scope),
        None => scope,
    };
    let amr: Vec<String> = serde_json::from_str(&family.amr)
        .map_err(|e| crate::error::internal(format!("refresh family: stored amr: {e}")))?;
    // The level the session holds now (a second factor decays after `mfa_max_age_secs`), named
    // as the family's authorization named it.
    let numeric = matches!(family.acr.as_str(), "1" | "2");
    let acr = match &gate {
        Some(g) => g.level.acr_as(numeric),
        None => family.acr.as_str(),
    };
    let grant = Grant {
        tenant,
        client,
        sub: &user.id,
        scope: &scope,
        sid: session.as_ref().map(|s| s.sid.as_str()),
        auth_time: Some(family.auth_time),
        acr: Some(acr),
        amr,
        nonce: None,
        with_id_token: scope.split(' ').any(|s| s == "openid"),
        session_mode: gate.as_ref().and_then(|g| g.session_mode()),
        dpop_jkt: proof.map(|p| p.jkt.as_str()),
    };
    let minted = issue::mint(state, &grant, ctx.now_ms).await?;
    // RFC 9449 §5: a refresh token issued to a public client that shows a proof is bound to the
    // proof's key; a family begun without a proof is bound by its first refresh with one
    // (conditional: a concurrent refresh that bound it to another key wins, this one is refused).
    if family.dpop_jkt.is_none() {
        if let Some(jkt) = dpop::decide_refresh_binding(client.is_public(), proof) {
            if !store::grants::mark_family_dpop_bound(&state.db, &tenant.id, &family.id, &jkt)
                .await?
            {
                return Err(Rejection::DpopKeyMismatch.into());
            }
        }
    }
    let next = crate::crypto::random_token();

    let next_generation = token.generation + 1;
    let next_row = store::grants::RefreshRow {
        token_hash: state.hasher.hash("refresh", &next),
        tenant_id: tenant.id.clone(),
        family_id: family.id.clone(),
        generation: next_generation,
        state: store::grants::RT_ACTIVE.into(),
        created_at: ctx.now,
        idle_deadline: ctx.now + client.lifetimes.refresh_idle_secs,
        rotated_at: None,
    };
    let access_row = store::grants::AccessTokenRow {
        jti: minted.jti.clone(),
        tenant_id: tenant.id.clone(),
        client_id: client.id.clone(),
        session_id: session.as_ref().map(|s| s.id.clone()),
        family_id: Some(family.id.clone()),
        expires_at: minted.expires_at,
        revoked: false,
    };
    let event = audit::row(
        Event {
            tenant_id: &tenant.id,
            kind: "refresh.rotated",
            session_id: session.as_ref().map(|s| s.id.as_str()),
            user_id: Some(&user.id),
            client_id: Some(&client.client_id),
            actor: "client",
            outcome: "ok",
            detail: Some(json!({
                "generation": next_generation,
                "offline": session.is_none(),
            })),
        },
        Some(ctx),
        ctx.now_ms,
    );
    // Activity moves the idle deadline; recent enough recorded activity needs no write.
    let touch = session
        .as_ref()
        .and_then(|s| sessions::touch_due(s, ctx.now));
    let session_id = session.as_ref().map(|s| s.id.clone());
    match decision {
        RefreshDecision::ReissueWithinGrace => {
            let txn = state.db.begin().await?;
            // Session, then family: the lock order of every grant writer (module doc).
            if let Some(sid) = &session_id {
                if !sessions::hold_active_in(&txn, &tenant.id, sid).await? {
                    txn.rollback().await?;
                    return Err(Rejection::SessionEnded.into());
                }
            }
            if !store::grants::lock_active_family(&txn, &tenant.id, &family.id).await? {
                // Revoked while we decided: refused, and nothing is issued after a revocation.
                txn.rollback().await?;
                return Err(Rejection::RefreshInvalid.into());
            }
            // Read under the lock: a concurrent retry may have replaced the successor (still
            // unused, so it is replaced in turn); if the successor was used, this is a reuse.
            let current = store::grants::find_refresh_by_generation(
                &txn,
                &tenant.id,
                &family.id,
                next_generation,
            )
            .await?
            .filter(|s| s.state == store::grants::RT_ACTIVE);
            let replaced = match &current {
                Some(s) => store::grants::delete_refresh(&txn, &tenant.id, &s.token_hash).await?,
                None => false,
            };
            if !replaced {
                txn.rollback().await?;
                replay_detected(state, tenant, &family, session.as_ref(), ctx).await?;
                return Err(Rejection::RefreshReplayed.into());
            }
            store::grants::insert_refresh(&txn, next_row).await?;
            store::grants::insert_access(&txn, access_row).await?;
            if let Some(t) = &touch {
                sessions::touch_in(&txn, &tenant.id, t).await?;
            }
            store::audit::insert(&txn, event).await?;
            txn.commit().await?;
        }
        _ => {
            let rotation = store::group_commit::Rotation {
                tenant_id: tenant.id.clone(),
                presented_hash: hash.to_string(),
                session_id,
                now: ctx.now,
                next: next_row,
                access: access_row,
                touch: touch.map(|t| (t.session_id, t.at, t.idle_deadline)),
                event,
            };
            match state.group_commit.rotate(rotation).await? {
                store::group_commit::Rotated::Committed => {}
                store::group_commit::Rotated::FamilyRevoked => {
                    return Err(Rejection::RefreshInvalid.into())
                }
                store::group_commit::Rotated::SessionEnded => {
                    return Err(Rejection::SessionEnded.into())
                }
                // A concurrent request rotated it first: decided again from what it committed
                // (within the grace window a retry; otherwise two parties hold this token).
                store::group_commit::Rotated::Lost if !last => return Ok(Attempt::Raced),
                store::group_commit::Rotated::Lost => {
                    replay_detected(state, tenant, &family, session.as_ref(), ctx).await?;
                    return Err(Rejection::RefreshReplayed.into());
                }
            }
        }
    }
    Ok(Attempt::Issued(issue::response_body(
        &minted,
        Some(&next),
        &scope,
        client.lifetimes.access_token_secs,
    )))
}

/// The id of a family's one `refresh.reuse_detected` event: deterministic, so however many
/// requests race there is one event (a second insert would collide) to count them in.
fn reuse_event_id(family_id: &str) -> String {
    format!("reuse-{family_id}")
}

/// Reuse detected (RFC 9700 §4.14.2): revoke the family (committed even though the request
/// fails) and record it once; by the session's policy the revoking request also ends the whole
/// session through the termination path. A request that finds the family revoked already only
/// adds to the record's count.
async fn replay_detected(
    state: &AppState,
    tenant: &Tenant,
    family: &store::grants::FamilyRow,
    session: Option<&crate::session::Session>,
    ctx: &RequestContext,
) -> Result<()> {
    let txn = state.db.begin().await?;
    let revoked_now =
        store::grants::mark_family_revoked(&txn, &tenant.id, &family.id, REUSE_REASON, ctx.now)
            .await?;
    match decide_reuse_record(revoked_now, None) {
        ReuseRecord::Open => {
            let mut row = audit::row(
                Event {
                    tenant_id: &tenant.id,
                    kind: "refresh.reuse_detected",
                    session_id: family.session_id.as_deref(),
                    user_id: Some(&family.user_id),
                    client_id: Some(&family.client_id),
                    actor: "client",
                    outcome: "family_revoked",
                    detail: Some(json!({"family": family.id, "refused_presentations": 1})),
                },
                Some(ctx),
                ctx.now_ms,
            );
            row.id = reuse_event_id(&family.id);
            store::audit::insert(&txn, row).await?;
            txn.commit().await?;
        }
        ReuseRecord::Count | ReuseRecord::Nothing => {
            txn.rollback().await?;
            return count_refusal(state, tenant, &family.id).await;
        }
    }
    metrics::counter!("lanyard_refresh_reuse_detected_total", "tenant" => tenant.slug.clone())
        .increment(1);
    tracing::warn!(
        event = "refresh.reuse_detected",
        tenant = %tenant.slug,
        client = %family.client_id,
        family = %family.id,
        "refresh token reused; family revoked"
    );
    if let Some(s) = session.filter(|s| s.is_active()) {
        let policy = sessions::policy::session_policy(state, tenant, s).await?;
        if policy.refresh_reuse_ends_session.value {
            sessions::end_one(
                state,
                &tenant.id,
                &s.id,
                EndReason::RefreshReplay,
                &Ender::new("system", Some(ctx)),
                ctx.now_ms,
            )
            .await?;
        }
    }
    Ok(())
}

/// One more refused presentation of a family revoked for reuse, counted in its one
/// `refresh.reuse_detected` event under the family's row lock (ADR 0015).
async fn count_refusal(state: &AppState, tenant: &Tenant, family_id: &str) -> Result<()> {
    let txn = state.db.begin().await?;
    if !store::grants::lock_family(&txn, &tenant.id, family_id).await? {
        txn.rollback().await?;
        return Ok(());
    }
    let reason = store::grants::find_family(&txn, &tenant.id, family_id)
        .await?
        .and_then(|f| f.revoke_reason);
    if decide_reuse_record(false, reason.as_deref()) != ReuseRecord::Count {
        txn.rollback().await?;
        return Ok(());
    }
    let id = reuse_event_id(family_id);
    let Some(event) = store::audit::find(&txn, &tenant.id, &id).await? else {
        txn.rollback().await?;
        return Ok(());
    };
    let mut detail: serde_json::Value = serde_json::from_str(&event.detail)
        .map_err(|e| crate::error::internal(format!("reuse event {id}: stored detail: {e}")))?;
    let count = detail
        .get("refused_presentations")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            crate::error::internal(format!(
                "reuse event {id}: stored detail has no refused_presentations"
            ))
        })?;
    detail["refused_presentations"] = json!(count + 1);
    store::audit::update_detail(&txn, &tenant.id, &id, detail.to_string()).await?;
    txn.commit().await?;
    Ok(())
}
