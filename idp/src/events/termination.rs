//! The one path every session end takes (DESIGN.md "Ending a session").
//!
//! In one transaction per page of sessions: mark them ended with their reason (conditionally, so
//! concurrent enders resolve in the database, and stamped with a batch id so exactly the sessions
//! this call ended are picked up), revoke their refresh-token families, write one outbox delivery
//! per participating client with a back-channel logout URI, and append `session.ended` for each.
//! Set-based statements keep ending 10,000 sessions a matter of a few dozen statements. After
//! commit the local dispatcher is woken; other nodes find the rows by polling (ADR 0002).

use crate::app::AppState;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use serde_json::json;
use std::collections::HashMap;

pub const KIND_BACKCHANNEL: &str = "backchannel_logout";

/// Sessions ended per transaction in bulk revocations.
const PAGE: u64 = 500;

/// Who ended a session, for the audit trail.
#[derive(Debug, Clone)]
pub struct Ender<'a> {
    pub actor: &'a str,
    pub ctx: Option<&'a RequestContext>,
}

/// End one session. Returns false when it had already ended.
pub async fn end_session(
    state: &AppState,
    tenant_id: &str,
    session_id: &str,
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<bool> {
    Ok(end_session_batch(
        state,
        tenant_id,
        &[session_id.to_string()],
        reason,
        by,
        now_ms,
    )
    .await?
        == 1)
}

/// End every still-active session among `ids` in one transaction. Returns how many it ended.
pub async fn end_session_batch(
    state: &AppState,
    tenant_id: &str,
    ids: &[String],
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let tenant = store::tenants::find(&state.db, tenant_id)
        .await?
        .ok_or_else(|| internal("tenant gone"))?;
    let issuer = state.config.issuer(&tenant.slug);
    let now = now_ms.div_euclid(1000);
    let batch = crate::crypto::random_id();
    let txn = state.db.begin().await?;
    // First statement writes, so SQLite takes the write lock up front (no upgrade deadlock).
    if store::sessions::mark_ended_many(&txn, tenant_id, ids, reason.as_str(), &batch, now).await?
        == 0
    {
        txn.rollback().await?;
        return Ok(0);
    }
    let ended = store::sessions::list_ended_in_batch(&txn, tenant_id, &batch).await?;
    let ended_ids: Vec<String> = ended.iter().map(|s| s.id.clone()).collect();
    store::grants::mark_sessions_families_revoked(
        &txn,
        tenant_id,
        &ended_ids,
        reason.as_str(),
        now,
    )
    .await?;
    let pairs = store::sessions::list_participants_many(&txn, tenant_id, &ended_ids).await?;
    let mut client_ids: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
    client_ids.sort();
    client_ids.dedup();
    let clients: HashMap<String, store::clients::ClientRow> = if client_ids.is_empty() {
        HashMap::new()
    } else {
        store::clients::list_by_ids(&txn, tenant_id, client_ids)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect()
    };
    let mut by_session: HashMap<&str, Vec<&store::clients::ClientRow>> = HashMap::new();
    for (sid, cid) in &pairs {
        if let Some(c) = clients.get(cid) {
            if c.backchannel_logout_uri.is_some() {
                by_session.entry(sid.as_str()).or_default().push(c);
            }
        }
    }
    let mut deliveries = Vec::new();
    let mut events = Vec::with_capacity(ended.len());
    for s in &ended {
        let owed = by_session
            .get(s.id.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for c in owed {
            deliveries.push(store::outbox::DeliveryRow {
                id: crate::crypto::random_id(),
                tenant_id: tenant_id.to_string(),
                kind: KIND_BACKCHANNEL.into(),
                session_id: s.id.clone(),
                client_id: c.id.clone(),
                target: c.backchannel_logout_uri.clone().unwrap_or_default(),
                // Everything the dispatcher needs to mint the token without reading more rows.
                payload: json!({ "iss": issuer, "sub": s.user_id, "sid": s.sid, "client_id": c.client_id, "alg": c.id_token_alg }).to_string(),
                state: store::outbox::PENDING.into(),
                attempts: 0,
                created_at_ms: now_ms,
                next_attempt_at_ms: now_ms,
                lease_until_ms: None,
                leased_by: None,
                last_error: None,
                delivered_at_ms: None,
            });
        }
        events.push(audit::row(
            Event {
                tenant_id,
                kind: "session.ended",
                session_id: Some(&s.id),
                user_id: Some(&s.user_id),
                actor: by.actor,
                outcome: reason.as_str(),
                detail: Some(
                    json!({ "reason": reason.as_str(), "backchannel_deliveries": owed.len() }),
                ),
                ..Default::default()
            },
            by.ctx,
            now_ms,
        ));
    }
    let owed = deliveries.len();
    store::outbox::insert_many(&txn, deliveries).await?;
    store::audit::insert_many(&txn, events).await?;
    txn.commit().await?;
    if owed > 0 {
        state.outbox_notify.notify_one();
    }
    metrics::counter!("lanyard_sessions_ended_total", "reason" => reason.as_str())
        .increment(ended.len() as u64);
    Ok(ended.len() as u64)
}

/// Which sessions a bulk revocation covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    User(&'a str),
    Device(&'a str),
    Tenant,
}

/// End every active session in scope, a page per transaction, streaming ids from the database
/// (memory stays flat however many sessions there are). Returns how many this call ended.
pub async fn end_sessions(
    state: &AppState,
    tenant_id: &str,
    scope: Scope<'_>,
    reason: EndReason,
    by: &Ender<'_>,
) -> Result<u64> {
    let (user, device) = match scope {
        Scope::User(u) => (Some(u), None),
        Scope::Device(d) => (None, Some(d)),
        Scope::Tenant => (None, None),
    };
    let mut after: Option<String> = None;
    let mut ended = 0;
    loop {
        let ids = store::sessions::list_active_ids(
            &state.db,
            tenant_id,
            user,
            device,
            after.as_deref(),
            PAGE,
        )
        .await?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        ended +=
            end_session_batch(state, tenant_id, &ids, reason, by, state.clock.now_ms()).await?;
        after = Some(last);
    }
    Ok(ended)
}
