//! What an operator reads about sessions: the session list, one session's audit timeline, and
//! back-channel deliveries, each naming users by username and clients by their public
//! `client_id` (never internal row ids).

use super::{ManageError, Result};
use crate::model::Tenant;
use crate::store;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::HashMap;

/// Most rows one list returns.
pub const MAX_LIST: u64 = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub sid: String,
    /// `None` when the user has since been deleted.
    pub username: Option<String>,
    pub device_id: Option<String>,
    pub state: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_active_at: i64,
    pub idle_deadline: i64,
    pub absolute_deadline: i64,
    pub ip: String,
    pub user_agent: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub at_ms: i64,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// The delivery's id (what `deliveries retry` takes).
    pub id: String,
    pub sid: Option<String>,
    pub client_id: String,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// Milliseconds from the session's end to delivery.
    pub latency_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// Usernames by user row id.
async fn usernames(
    db: &DatabaseConnection,
    tenant: &Tenant,
    ids: impl IntoIterator<Item = String>,
) -> Result<HashMap<String, String>> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(store::users::list_by_ids(db, &tenant.id, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

/// Public client ids by client row id.
async fn client_ids(db: &DatabaseConnection, tenant: &Tenant) -> Result<HashMap<String, String>> {
    Ok(store::clients::list(db, &tenant.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.client_id))
        .collect())
}

/// Sessions, newest first; of one user when `username` is given.
pub async fn list_sessions(
    db: &DatabaseConnection,
    tenant: &Tenant,
    username: Option<&str>,
    active_only: bool,
    limit: u64,
) -> Result<Vec<SessionView>> {
    let user_id = match username {
        Some(u) => Some(super::users::find(db, tenant, u).await?.id),
        None => None,
    };
    let rows = store::sessions::list(
        db,
        &tenant.id,
        user_id.as_deref(),
        active_only,
        limit.min(MAX_LIST),
    )
    .await?;
    let names = usernames(db, tenant, rows.iter().map(|s| s.user_id.clone())).await?;
    Ok(rows
        .into_iter()
        .map(|s| SessionView {
            username: names.get(&s.user_id).cloned(),
            sid: s.sid,
            device_id: s.device_id,
            state: s.state,
            auth_time: s.auth_time,
            created_at: s.created_at,
            last_active_at: s.last_active_at,
            idle_deadline: s.idle_deadline,
            absolute_deadline: s.absolute_deadline,
            ip: s.ip,
            user_agent: s.user_agent,
            ended_at: s.ended_at,
            end_reason: s.end_reason,
        })
        .collect())
}

/// One session's audit timeline, oldest first.
pub async fn session_events(
    db: &DatabaseConnection,
    tenant: &Tenant,
    sid: &str,
) -> Result<Vec<EventView>> {
    let s = store::sessions::find_by_sid(db, &tenant.id, sid)
        .await?
        .ok_or_else(|| ManageError::not_found("session", sid))?;
    let rows = store::audit::list_for_session(db, &tenant.id, &s.id).await?;
    let names = usernames(db, tenant, rows.iter().filter_map(|e| e.user_id.clone())).await?;
    let clients = client_ids(db, tenant).await?;
    rows.into_iter()
        .map(|e| {
            // A stored detail that is not JSON is a broken row, not an empty one.
            let detail = serde_json::from_str(&e.detail)?;
            Ok(EventView {
                username: e.user_id.as_ref().and_then(|u| names.get(u).cloned()),
                // Events name clients by public id; a few older ones carry the row id.
                client_id: e.client_id.map(|c| clients.get(&c).cloned().unwrap_or(c)),
                at_ms: e.at_ms,
                kind: e.kind,
                actor: e.actor,
                outcome: e.outcome,
                ip: e.ip,
                user_agent: e.user_agent,
                detail,
            })
        })
        .collect()
}

/// Back-channel deliveries, newest first; filtered by state and by session (`sid`).
pub async fn list_deliveries(
    db: &DatabaseConnection,
    tenant: &Tenant,
    state: Option<&str>,
    sid: Option<&str>,
    limit: u64,
) -> Result<Vec<DeliveryView>> {
    if let Some(s) = state {
        let known = [
            store::outbox::PENDING,
            store::outbox::IN_FLIGHT,
            store::outbox::RETRY,
            store::outbox::DELIVERED,
            store::outbox::DEAD,
        ];
        if !known.contains(&s) {
            return Err(super::invalid(format!(
                "state must be one of {}",
                known.join(", ")
            )));
        }
    }
    let session_id = match sid {
        Some(sid) => Some(
            store::sessions::find_by_sid(db, &tenant.id, sid)
                .await?
                .ok_or_else(|| ManageError::not_found("session", sid))?
                .id,
        ),
        None => None,
    };
    let rows = store::outbox::list(
        db,
        &tenant.id,
        state,
        session_id.as_deref(),
        limit.min(MAX_LIST),
    )
    .await?;
    let clients = client_ids(db, tenant).await?;
    let mut sids: HashMap<String, String> = HashMap::new();
    for d in &rows {
        if !sids.contains_key(&d.session_id) {
            if let Some(s) = store::sessions::find(db, &tenant.id, &d.session_id).await? {
                sids.insert(d.session_id.clone(), s.sid);
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|d| DeliveryView {
            latency_ms: d.delivered_at_ms.map(|at| at - d.created_at_ms),
            sid: sids.get(&d.session_id).cloned(),
            client_id: clients.get(&d.client_id).cloned().unwrap_or_else(|| {
                // The client was deleted; the payload still names it.
                serde_json::from_str::<serde_json::Value>(&d.payload)
                    .ok()
                    .and_then(|p| p.get("client_id")?.as_str().map(str::to_string))
                    .unwrap_or_default()
            }),
            id: d.id,
            target: d.target,
            state: d.state,
            attempts: d.attempts,
            created_at_ms: d.created_at_ms,
            next_attempt_at_ms: d.next_attempt_at_ms,
            delivered_at_ms: d.delivered_at_ms,
            last_error: d.last_error,
        })
        .collect())
}

/// A tenant's devices with their trust scores, most recently seen first; with `username`,
/// the devices that user has had sessions on.
pub async fn list_devices(
    state: &crate::app::AppState,
    tenant: &Tenant,
    username: Option<&str>,
    limit: u64,
) -> Result<Vec<crate::session::service::devices::DeviceView>> {
    let user_id = match username {
        Some(u) => Some(super::users::find(&state.db, tenant, u).await?.id),
        None => None,
    };
    Ok(crate::session::service::devices::list(
        state,
        tenant,
        user_id.as_deref(),
        limit.min(MAX_LIST),
    )
    .await?)
}
