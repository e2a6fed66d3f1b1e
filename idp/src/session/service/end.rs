//! The one path every session end takes (DESIGN.md "Ending a session").
//!
//! In one transaction per page of sessions: mark them ended with their reason (conditionally, so
//! concurrent enders resolve in the database, and stamped with a batch id so exactly the sessions
//! this call ended are picked up), revoke their refresh-token families and registered access
//! tokens, write one outbox delivery per participating client with a back-channel logout URI
//! (decided by `session::fanout`), and append `session.ended` for each. Set-based statements keep ending 10,000 sessions a matter of
//! a few dozen statements. After commit the local dispatcher is woken; other nodes find the rows
//! by polling (ADR 0002).
//!
//! [`end_in`] runs inside a caller's transaction (admission evicts inside the login
//! transaction); the caller then commits and calls [`Ended::notify`].

use crate::app::AppState;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::session::fanout::{decide_fanout, EndedRef, Fanout, LogoutTarget};
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::collections::HashMap;

pub const KIND_BACKCHANNEL: &str = "backchannel_logout";

/// Sessions ended per transaction in bulk revocations.
pub const PAGE: u64 = 500;

/// Who ended a session, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Ender<'a> {
    pub actor: &'a str,
    pub ctx: Option<&'a RequestContext>,
    /// Merged into each `session.ended` event's detail (e.g. the session that caused an eviction).
    pub detail: Option<Value>,
    /// Leave `offline_access` families even though the reason would revoke them (a credential
    /// change under `credential_change_ends_offline = false`).
    pub keep_offline: bool,
}

impl<'a> Ender<'a> {
    pub fn new(actor: &'a str, ctx: Option<&'a RequestContext>) -> Self {
        Self {
            actor,
            ctx,
            detail: None,
            keep_offline: false,
        }
    }
}

/// What an end did.
#[derive(Debug, Default)]
pub struct Ended {
    /// The public `sid`s of the sessions this call ended (others had already ended).
    pub sids: Vec<String>,
    /// The fan-out, including front-channel frames for the browser that ended its own session.
    pub fanout: Fanout,
}

impl Ended {
    pub fn count(&self) -> u64 {
        self.sids.len() as u64
    }

    /// Wake the local dispatcher when deliveries were written (call after commit).
    pub fn notify(&self, state: &AppState) {
        if !self.fanout.backchannel.is_empty() {
            state.outbox_notify.notify_one();
        }
    }
}

/// Whether this end revokes `offline_access` families as well (`EndReason::ends_offline_grants`).
pub(super) fn offline_too(reason: EndReason, by: &Ender<'_>) -> bool {
    reason.ends_offline_grants() && !by.keep_offline
}

pub(super) async fn issuer_of<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant_id: &str,
) -> Result<String> {
    let tenant = store::tenants::find(db, tenant_id)
        .await?
        .ok_or_else(|| internal("tenant gone"))?;
    Ok(state.config.issuer(&tenant.slug))
}

/// End every still-active session among `ids` inside `txn` (which must not have read before:
/// the first statement writes, so SQLite takes its write lock up front).
pub async fn end_in<C: ConnectionTrait>(
    txn: &C,
    state: &AppState,
    tenant_id: &str,
    ids: &[String],
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<Ended> {
    if ids.is_empty() {
        return Ok(Ended::default());
    }
    let now = now_ms.div_euclid(1000);
    let batch = crate::crypto::random_id();
    if store::sessions::mark_ended_many(txn, tenant_id, ids, reason.as_str(), &batch, now).await?
        == 0
    {
        return Ok(Ended::default());
    }
    let issuer = issuer_of(txn, state, tenant_id).await?;
    let ended = store::sessions::list_ended_refs_in_batch(txn, tenant_id, &batch).await?;
    let ended_ids: Vec<String> = ended.iter().map(|(id, _, _)| id.clone()).collect();
    store::grants::mark_sessions_families_revoked(
        txn,
        tenant_id,
        &ended_ids,
        offline_too(reason, by),
        reason.as_str(),
        now,
    )
    .await?;
    // The access tokens issued in them are dead too (RFC 9700 §4.14): introspection already
    // answers from the session's state, and the register says so as well, including for a grant
    // that committed just before this end took the session's lock.
    store::grants::mark_sessions_access_revoked(txn, tenant_id, &ended_ids, None).await?;
    let pairs = store::sessions::list_participants_many(txn, tenant_id, &ended_ids).await?;
    let refs: Vec<EndedRef<'_>> = ended
        .iter()
        .map(|(id, sid, user_id)| EndedRef { id, sid, user_id })
        .collect();
    let fanout = owe_logouts(txn, tenant_id, &issuer, &refs, &pairs, now_ms).await?;
    let owed = fanout.owed_counts();
    let events: Vec<store::audit::EventRow> = refs
        .iter()
        .map(|s| {
            let mut detail = json!({
                "reason": reason.as_str(),
                "backchannel_deliveries": owed.get(s.id).copied().unwrap_or(0),
            });
            if let (Some(Value::Object(extra)), Some(d)) = (&by.detail, detail.as_object_mut()) {
                d.extend(extra.clone());
            }
            audit::row(
                Event {
                    tenant_id,
                    kind: "session.ended",
                    session_id: Some(s.id),
                    user_id: Some(s.user_id),
                    actor: by.actor,
                    outcome: reason.as_str(),
                    detail: Some(detail),
                    ..Default::default()
                },
                by.ctx,
                now_ms,
            )
        })
        .collect();
    store::audit::insert_many(txn, events).await?;
    metrics::counter!("lanyard_sessions_ended_total", "reason" => reason.as_str())
        .increment(refs.len() as u64);
    Ok(Ended {
        sids: ended.into_iter().map(|(_, sid, _)| sid).collect(),
        fanout,
    })
}

/// Decide the logout fan-out of `ended` sessions to their participants `pairs` and write one
/// outbox delivery per back-channel logout owed (Back-Channel Logout 1.0 §2.5). Returns the
/// fan-out (its front-channel frames are for the browser's page).
pub(super) async fn owe_logouts<C: ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    issuer: &str,
    ended: &[EndedRef<'_>],
    pairs: &[(String, String)],
    now_ms: i64,
) -> Result<Fanout> {
    let mut client_ids: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
    client_ids.sort();
    client_ids.dedup();
    let clients = if client_ids.is_empty() {
        Vec::new()
    } else {
        store::clients::list_by_ids(txn, tenant_id, client_ids).await?
    };
    let targets: HashMap<&str, LogoutTarget<'_>> = clients
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                LogoutTarget {
                    row_id: &c.id,
                    client_id: &c.client_id,
                    backchannel_uri: c.backchannel_logout_uri.as_deref(),
                    frontchannel_uri: c.frontchannel_logout_uri.as_deref(),
                    id_token_alg: &c.id_token_alg,
                },
            )
        })
        .collect();
    let fanout = decide_fanout(issuer, ended, pairs, &targets);
    let deliveries: Vec<store::outbox::DeliveryRow> = fanout
        .backchannel
        .iter()
        .map(|o| store::outbox::DeliveryRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant_id.to_string(),
            kind: KIND_BACKCHANNEL.into(),
            session_id: o.session_id.clone(),
            client_id: o.client_row_id.clone(),
            target: o.target.clone(),
            payload: o.payload.clone(),
            state: store::outbox::PENDING.into(),
            attempts: 0,
            created_at_ms: now_ms,
            next_attempt_at_ms: now_ms,
            lease_until_ms: None,
            leased_by: None,
            last_error: None,
            delivered_at_ms: None,
        })
        .collect();
    store::outbox::insert_many(txn, deliveries).await?;
    Ok(fanout)
}

/// End every still-active session among `ids` in one transaction of its own.
pub async fn end_many(
    state: &AppState,
    tenant_id: &str,
    ids: &[String],
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<Ended> {
    if ids.is_empty() {
        return Ok(Ended::default());
    }
    let txn = state.db.begin().await?;
    let ended = end_in(&txn, state, tenant_id, ids, reason, by, now_ms).await?;
    txn.commit().await?;
    ended.notify(state);
    Ok(ended)
}

/// End one session. `Ended::count` is 0 when it had already ended.
pub async fn end_one(
    state: &AppState,
    tenant_id: &str,
    session_id: &str,
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<Ended> {
    end_many(
        state,
        tenant_id,
        &[session_id.to_string()],
        reason,
        by,
        now_ms,
    )
    .await
}

/// End every active session matching `filter`, a page per transaction, streaming ids from the
/// database (memory stays flat however many sessions there are). `keep` can refuse a row the
/// filter selected (cohort IP ranges). Returns how many this call ended.
pub async fn end_matching(
    state: &AppState,
    tenant_id: &str,
    filter: &store::sessions::SessionFilter,
    keep: &(dyn Fn(&store::sessions::SessionRow) -> bool + Sync),
    reason: EndReason,
    by: &Ender<'_>,
) -> Result<u64> {
    let mut after: Option<String> = None;
    let mut total = 0;
    loop {
        let rows =
            store::sessions::list_active_page(&state.db, tenant_id, filter, after.as_deref(), PAGE)
                .await?;
        let Some(last) = rows.last().map(|r| r.id.clone()) else {
            break;
        };
        let ids: Vec<String> = rows
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.id.clone())
            .collect();
        total += end_many(state, tenant_id, &ids, reason, by, state.clock.now_ms())
            .await?
            .count();
        after = Some(last);
    }
    Ok(total)
}

/// Which sessions a bulk revocation covers.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    User(&'a str),
    Device(&'a str),
    Tenant,
}

/// End every active session in scope. Returns how many this call ended.
pub async fn end_scope(
    state: &AppState,
    tenant_id: &str,
    scope: Scope<'_>,
    reason: EndReason,
    by: &Ender<'_>,
) -> Result<u64> {
    let filter = match scope {
        Scope::User(u) => store::sessions::SessionFilter {
            user_id: Some(u.into()),
            ..Default::default()
        },
        Scope::Device(d) => store::sessions::SessionFilter {
            device_id: Some(d.into()),
            ..Default::default()
        },
        Scope::Tenant => store::sessions::SessionFilter::default(),
    };
    let ended = end_matching(state, tenant_id, &filter, &|_| true, reason, by).await?;
    if offline_too(reason, by) {
        let offline = match scope {
            Scope::User(u) => store::grants::OfflineScope::User(u),
            Scope::Device(d) => store::grants::OfflineScope::Device(d),
            Scope::Tenant => store::grants::OfflineScope::Tenant,
        };
        revoke_offline(state, tenant_id, offline, reason, by).await?;
    }
    Ok(ended)
}

/// Revoke the `offline_access` families in scope whose sessions ended earlier (by logout or
/// timeout, which leave them), with an audit event when there were any. Returns how many.
pub async fn revoke_offline(
    state: &AppState,
    tenant_id: &str,
    scope: store::grants::OfflineScope<'_>,
    reason: EndReason,
    by: &Ender<'_>,
) -> Result<u64> {
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    let n = store::grants::mark_offline_families_revoked(
        &txn,
        tenant_id,
        scope,
        reason.as_str(),
        now_ms.div_euclid(1000),
    )
    .await?;
    if n > 0 {
        let user_id = match scope {
            store::grants::OfflineScope::User(u) => Some(u),
            _ => None,
        };
        audit::record(
            &txn,
            Event {
                tenant_id,
                kind: "grants.offline_revoked",
                user_id,
                actor: by.actor,
                outcome: reason.as_str(),
                detail: Some(json!({ "families": n })),
                ..Default::default()
            },
            by.ctx,
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(n)
}
