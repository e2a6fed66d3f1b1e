//! What the admin area reads about a tenant's people and their activity: the audit search
//! (newest first, a page at a time, each event in words), the user directory with each user's
//! live sessions and admin role, and one user's profile with devices and sessions.

use super::governance::{event_filter, EventQuery};
use super::sessions::{list_devices, list_sessions, SessionView, MAX_LIST};
use super::users::{list_users, show_user, UserView};
use super::{invalid, Result};
use crate::account::{decode_cursor, describe_event, encode_cursor};
use crate::app::AppState;
use crate::error::internal;
use crate::model::Tenant;
use crate::session::service::devices::DeviceView;
use crate::store;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Events per page of the audit search.
pub const AUDIT_PAGE: u64 = 50;

/// One audit event as an admin reads it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub kind: String,
    /// The event in plain words (`account::describe_event`).
    pub what: String,
    pub failed: bool,
    pub actor: String,
    pub outcome: String,
    pub username: Option<String>,
    pub sid: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
}

/// A page of the audit search and the cursor of the next (older) page.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}

/// The events `q` selects, newest first, a page at a time. `before` is the cursor a previous
/// page returned; a malformed one is refused. Unknown users and sessions are `NotFound`.
pub async fn search_events(
    state: &AppState,
    tenant: &Tenant,
    q: EventQuery,
    before: Option<&str>,
) -> Result<AuditPage> {
    let cursor = match before {
        None => None,
        Some(c) => {
            Some(decode_cursor(c).ok_or_else(|| invalid("that page of events does not exist"))?)
        }
    };
    let filter = event_filter(&state.db, tenant, q).await?;
    let mut rows = store::audit::list_page_newest(
        &state.read,
        &tenant.id,
        &filter,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        AUDIT_PAGE + 1,
    )
    .await?;
    let more = rows.len() as u64 > AUDIT_PAGE;
    rows.truncate(AUDIT_PAGE as usize);
    let next = if more {
        rows.last().map(|r| encode_cursor(r.at_ms, &r.id))
    } else {
        None
    };
    let mut user_ids: Vec<String> = rows.iter().filter_map(|r| r.user_id.clone()).collect();
    user_ids.sort();
    user_ids.dedup();
    let names: HashMap<String, String> =
        store::users::list_by_ids(&state.read, &tenant.id, &user_ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
    let mut session_ids: Vec<String> = rows.iter().filter_map(|r| r.session_id.clone()).collect();
    session_ids.sort();
    session_ids.dedup();
    let sids: HashMap<String, String> = if session_ids.is_empty() {
        HashMap::new()
    } else {
        store::sessions::list_by_ids(&state.read, &tenant.id, &session_ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s.sid))
            .collect()
    };
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let detail: serde_json::Value = serde_json::from_str(&r.detail)
            .map_err(|e| internal(format!("audit event {}: stored detail: {e}", r.id)))?;
        let (what, failed) = describe_event(&r.kind, &r.outcome, &detail);
        entries.push(AuditEntry {
            at_ms: r.at_ms,
            what,
            failed,
            username: r.user_id.as_ref().and_then(|u| names.get(u)).cloned(),
            sid: r.session_id.as_ref().and_then(|s| sids.get(s)).cloned(),
            kind: r.kind,
            actor: r.actor,
            outcome: r.outcome,
            client_id: r.client_id,
            ip: r.ip.filter(|i| !i.is_empty()),
        });
    }
    Ok(AuditPage { entries, next })
}

/// One user of the directory.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryEntry {
    pub user: UserView,
    pub admin: bool,
    pub live_sessions: u64,
}

/// Whether a stored session row is live at `now` (active, no deadline passed).
fn is_live(s: &SessionView, now: i64) -> bool {
    s.state == store::sessions::ACTIVE && s.idle_deadline > now && s.absolute_deadline > now
}

/// Every user of the tenant with their admin role and live session count.
pub async fn list_directory(
    state: &AppState,
    tenant: &Tenant,
    now: i64,
) -> Result<Vec<DirectoryEntry>> {
    let admins: HashSet<String> = store::admins::list(&state.db, &tenant.id)
        .await?
        .into_iter()
        .map(|a| a.user_id)
        .collect();
    let mut live: HashMap<String, u64> = HashMap::new();
    for s in list_sessions(&state.db, tenant, None, true, MAX_LIST).await? {
        if let (true, Some(u)) = (is_live(&s, now), s.username.clone()) {
            *live.entry(u).or_default() += 1;
        }
    }
    Ok(list_users(&state.db, tenant, now)
        .await?
        .into_iter()
        .map(|user| DirectoryEntry {
            admin: admins.contains(&user.sub),
            live_sessions: live.get(&user.username).copied().unwrap_or(0),
            user,
        })
        .collect())
}

/// One user as the admin area shows them.
#[derive(Debug, Clone, Serialize)]
pub struct UserProfile {
    pub user: UserView,
    pub admin: bool,
    pub devices: Vec<DeviceView>,
    /// Live sessions, newest first.
    pub sessions: Vec<SessionView>,
}

/// The user called `username`, their devices and live sessions (`NotFound` when none).
pub async fn user_profile(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    now: i64,
) -> Result<UserProfile> {
    let user = show_user(&state.db, tenant, username, now).await?;
    let admin = super::admins::is_admin(&state.db, &tenant.id, &user.sub).await?;
    let devices = list_devices(state, tenant, Some(username), MAX_LIST).await?;
    let sessions = list_sessions(&state.db, tenant, Some(username), true, MAX_LIST)
        .await?
        .into_iter()
        .filter(|s| is_live(s, now))
        .collect();
    Ok(UserProfile {
        user,
        admin,
        devices,
        sessions,
    })
}
