//! The one path every session end takes (DESIGN.md "Ending a session").
//!
//! In one transaction: mark the session ended with its reason (conditionally, so concurrent
//! enders resolve in the database), revoke its refresh-token families, write one outbox delivery
//! per participating client with a back-channel logout URI, and append `session.ended`. After
//! commit the local dispatcher is woken; other nodes find the rows by polling.

use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use serde_json::json;

pub const KIND_BACKCHANNEL: &str = "backchannel_logout";

/// Who ended a session, for the audit trail.
#[derive(Debug, Clone)]
pub struct Ender<'a> {
    pub actor: &'a str,
    pub ctx: Option<&'a RequestContext>,
}

/// End one session. Returns false when it had already ended.
pub async fn end_session(state: &AppState, tenant_id: &str, session_id: &str, reason: EndReason, by: &Ender<'_>, now_ms: i64) -> Result<bool> {
    let Some(session) = store::sessions::find(&state.db, tenant_id, session_id).await? else {
        return Ok(false);
    };
    let now = now_ms.div_euclid(1000);
    let txn = state.db.begin().await?;
    // First statement writes, so SQLite takes the write lock up front (no upgrade deadlock).
    if !store::sessions::mark_ended(&txn, tenant_id, session_id, reason.as_str(), now).await? {
        txn.rollback().await?;
        return Ok(false);
    }
    let families = store::grants::mark_session_families_revoked(&txn, tenant_id, session_id, reason.as_str(), now).await?;
    let participants = store::sessions::list_participants(&txn, tenant_id, session_id).await?;
    let clients = if participants.is_empty() {
        Vec::new()
    } else {
        store::clients::list_by_ids(&txn, tenant_id, participants).await?
    };
    let mut deliveries = 0;
    for c in clients.iter() {
        let Some(uri) = c.backchannel_logout_uri.as_deref() else { continue };
        store::outbox::insert(
            &txn,
            store::outbox::DeliveryRow {
                id: crate::crypto::random_id(),
                tenant_id: tenant_id.to_string(),
                kind: KIND_BACKCHANNEL.into(),
                session_id: session_id.to_string(),
                client_id: c.id.clone(),
                target: uri.to_string(),
                payload: json!({ "sub": session.user_id, "sid": session.sid, "client_id": c.client_id }).to_string(),
                state: store::outbox::PENDING.into(),
                attempts: 0,
                created_at_ms: now_ms,
                next_attempt_at_ms: now_ms,
                lease_until_ms: None,
                leased_by: None,
                last_error: None,
                delivered_at_ms: None,
            },
        )
        .await?;
        deliveries += 1;
    }
    audit::record(
        &txn,
        Event {
            tenant_id,
            kind: "session.ended",
            session_id: Some(session_id),
            user_id: Some(&session.user_id),
            actor: by.actor,
            outcome: reason.as_str(),
            detail: Some(json!({ "reason": reason.as_str(), "families_revoked": families, "backchannel_deliveries": deliveries })),
            ..Default::default()
        },
        by.ctx,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    if deliveries > 0 {
        state.outbox_notify.notify_one();
    }
    metrics::counter!("lanyard_sessions_ended_total", "reason" => reason.as_str()).increment(1);
    Ok(true)
}

/// Which sessions a bulk revocation covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    User(&'a str),
    Device(&'a str),
    Tenant,
}

/// End every active session in scope, streaming ids page by page (memory stays flat however many
/// sessions there are). Returns how many this call ended.
pub async fn end_sessions(state: &AppState, tenant_id: &str, scope: Scope<'_>, reason: EndReason, by: &Ender<'_>) -> Result<u64> {
    let (user, device) = match scope {
        Scope::User(u) => (Some(u), None),
        Scope::Device(d) => (None, Some(d)),
        Scope::Tenant => (None, None),
    };
    let mut after: Option<String> = None;
    let mut ended = 0;
    loop {
        let ids = store::sessions::list_active_ids(&state.db, tenant_id, user, device, after.as_deref(), 500).await?;
        let Some(last) = ids.last().cloned() else { break };
        for id in ids {
            let now_ms = state.clock.now_ms();
            if end_session(state, tenant_id, &id, reason, by, now_ms).await? {
                ended += 1;
            }
        }
        after = Some(last);
    }
    Ok(ended)
}
