//! The admin area's live session dashboard: every live session of a tenant with its user, apps,
//! device, location and status, filtered as an admin types it, with counts per app and per
//! status over everything that matches (the list itself is capped, the counts are not).

use super::governance::parse_ip_range;
use super::{invalid, ManageError, Result};
use crate::app::AppState;
use crate::model::Tenant;
use crate::session::cohort::Selector;
use crate::session::Mode;
use crate::store;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Most sessions one dashboard lists (the counts cover all of them).
pub const MAX_SHOWN: usize = 200;

/// Sessions read per query while walking the tenant's live sessions.
const PAGE: u64 = 500;

/// The dashboard's filters as typed (empty strings are "no filter").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DashboardQuery {
    pub user: Option<String>,
    pub group: Option<String>,
    pub client: Option<String>,
    pub device: Option<String>,
    pub ip_range: Option<String>,
    /// A session mode: `normal`, `read_only` or `reauth_required`.
    pub status: Option<String>,
}

impl DashboardQuery {
    fn cleaned(v: &Option<String>) -> Option<String> {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Resolve to the cohort selector the session store understands, and the status wanted.
    /// A range or status that does not parse is an error the page shows.
    pub fn selector(&self) -> Result<(Selector, Option<Mode>)> {
        let status = match Self::cleaned(&self.status) {
            None => None,
            Some(s) => Some(Mode::parse(&s).ok_or_else(|| {
                invalid(format!(
                    "status must be normal, read_only or reauth_required, not '{s}'"
                ))
            })?),
        };
        Ok((
            Selector {
                user: Self::cleaned(&self.user),
                group: Self::cleaned(&self.group),
                client: Self::cleaned(&self.client),
                device: Self::cleaned(&self.device),
                ip_range: Self::cleaned(&self.ip_range)
                    .map(|r| parse_ip_range("IP range", &r))
                    .transpose()?,
                ..Default::default()
            },
            status,
        ))
    }
}

/// One live session as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveSession {
    pub sid: String,
    pub username: Option<String>,
    /// Public client ids of the apps that took part, sorted.
    pub apps: Vec<String>,
    pub device_id: Option<String>,
    /// "Firefox 128 on Linux", or the name the user gave the device.
    pub device: Option<String>,
    pub ip: String,
    pub country: Option<String>,
    pub acr: String,
    pub mode: Mode,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_active_at: i64,
    pub expires_at: i64,
    /// A binding mismatch recorded under the `alert` response.
    pub binding_alert: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Count {
    pub name: String,
    pub sessions: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub query: DashboardQuery,
    /// Every live session that matches.
    pub total: u64,
    /// The most recently active of them, at most [`MAX_SHOWN`].
    pub sessions: Vec<LiveSession>,
    pub per_app: Vec<Count>,
    pub per_status: Vec<Count>,
    pub users: u64,
}

/// The tenant's live sessions matching `q` at `now` (seconds).
pub async fn live_sessions(
    state: &AppState,
    tenant: &Tenant,
    q: &DashboardQuery,
    now: i64,
) -> Result<Dashboard> {
    let (selector, status) = q.selector()?;
    let filter = filter_for(state, tenant, &selector, now).await?;
    let clients: HashMap<String, String> = store::clients::list(&state.read, &tenant.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.client_id))
        .collect();
    let mut rows: Vec<(store::sessions::SessionRow, Mode, Vec<String>)> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store::sessions::list_active_page(
            &state.read,
            &tenant.id,
            &filter,
            after.as_deref(),
            PAGE,
        )
        .await?;
        let Some(last) = page.last().map(|r| r.id.clone()) else {
            break;
        };
        let mut picked = Vec::new();
        for r in page {
            if !selector.matches_ip(&r.ip) {
                continue;
            }
            // A stored mode that does not parse is a broken row, never "normal".
            let mode = Mode::parse(&r.mode).ok_or_else(|| {
                ManageError::Internal(crate::error::internal(format!(
                    "session {}: unknown mode '{}'",
                    r.sid, r.mode
                )))
            })?;
            if status.is_some_and(|s| s != mode) {
                continue;
            }
            picked.push((r, mode));
        }
        let ids: Vec<String> = picked.iter().map(|(r, _)| r.id.clone()).collect();
        let mut apps: HashMap<String, Vec<String>> = HashMap::new();
        if !ids.is_empty() {
            for (sid, c) in
                store::sessions::list_participants_many(&state.read, &tenant.id, &ids).await?
            {
                if let Some(name) = clients.get(&c) {
                    apps.entry(sid).or_default().push(name.clone());
                }
            }
        }
        for (r, mode) in picked {
            let mut a = apps.remove(&r.id).unwrap_or_default();
            a.sort();
            a.dedup();
            rows.push((r, mode, a));
        }
        after = Some(last);
    }
    let total = rows.len() as u64;
    let mut per_app: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_status: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut user_ids: Vec<String> = Vec::new();
    for (r, mode, apps) in &rows {
        for a in apps {
            *per_app.entry(a.clone()).or_default() += 1;
        }
        *per_status.entry(mode.as_str()).or_default() += 1;
        user_ids.push(r.user_id.clone());
    }
    user_ids.sort();
    user_ids.dedup();
    rows.sort_by(|a, b| {
        b.0.last_active_at
            .cmp(&a.0.last_active_at)
            .then_with(|| a.0.sid.cmp(&b.0.sid))
    });
    rows.truncate(MAX_SHOWN);
    let shown_users: Vec<String> = rows.iter().map(|(r, _, _)| r.user_id.clone()).collect();
    let names: HashMap<String, String> =
        store::users::list_by_ids(&state.read, &tenant.id, &shown_users)
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
    let mut devices: HashMap<String, String> = HashMap::new();
    for (r, _, _) in &rows {
        if let Some(d) = &r.device_id {
            if devices.contains_key(d) {
                continue;
            }
            if let Some(row) = store::sessions::find_device(&state.read, &tenant.id, d).await? {
                let label =
                    crate::session::device::label(row.name.as_deref(), &row.browser, &row.os);
                devices.insert(d.clone(), label);
            }
        }
    }
    let sessions = rows
        .into_iter()
        .map(|(r, mode, apps)| LiveSession {
            username: names.get(&r.user_id).cloned(),
            device: r.device_id.as_ref().and_then(|d| devices.get(d).cloned()),
            expires_at: r.idle_deadline.min(r.absolute_deadline),
            binding_alert: r.binding_alert.is_some(),
            sid: r.sid,
            apps,
            device_id: r.device_id,
            ip: r.ip,
            country: r.country,
            acr: r.acr,
            mode,
            auth_time: r.auth_time,
            created_at: r.created_at,
            last_active_at: r.last_active_at,
        })
        .collect();
    Ok(Dashboard {
        query: q.clone(),
        total,
        sessions,
        per_app: per_app
            .into_iter()
            .map(|(name, sessions)| Count { name, sessions })
            .collect(),
        per_status: per_status
            .into_iter()
            .map(|(name, sessions)| Count {
                name: name.to_string(),
                sessions,
            })
            .collect(),
        users: user_ids.len() as u64,
    })
}

/// Names resolved to ids; an unknown name is an error (a typo never silently matches nothing).
async fn filter_for(
    state: &AppState,
    tenant: &Tenant,
    s: &Selector,
    now: i64,
) -> Result<store::sessions::SessionFilter> {
    let user_id = match &s.user {
        Some(u) => Some(
            store::users::find_by_username(&state.read, &tenant.id, u)
                .await?
                .ok_or_else(|| ManageError::not_found("user", u))?
                .id,
        ),
        None => None,
    };
    let client_row_id = match &s.client {
        Some(c) => Some(
            store::clients::find_by_client_id(&state.read, &tenant.id, c)
                .await?
                .ok_or_else(|| ManageError::not_found("client", c))?
                .id,
        ),
        None => None,
    };
    if let Some(g) = &s.group {
        if store::policies::find_group(&state.read, &tenant.id, g)
            .await?
            .is_none()
        {
            return Err(ManageError::not_found("group", g));
        }
    }
    Ok(store::sessions::SessionFilter {
        session_id: None,
        user_id,
        device_id: s.device.clone(),
        client_row_id,
        group: s.group.clone(),
        attribute: None,
        auth_before: None,
        live_at: Some(now),
    })
}

/// A device as the session page shows it: what it is and how far it is trusted now.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceDetail {
    pub id: String,
    /// "Firefox 128 on Linux", or the name the user gave the device.
    pub label: String,
    /// `unknown` | `trusted` | `compromised`.
    pub trust: String,
    pub compromised: bool,
    /// 0 to 100 (`session::trust`).
    pub trust_score: u8,
    pub category: String,
    /// Live sessions on this device (all users).
    pub live_sessions: u64,
}

/// One session, everything an admin needs to judge it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionDetail {
    pub sid: String,
    pub username: Option<String>,
    /// `None` once the session has ended.
    pub mode: Option<Mode>,
    pub mode_reason: Option<String>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    /// The context bound at sign-in (RFC 9700 §4.13 binding; NIST SP 800-63B §7.1).
    pub bound_ip: String,
    pub bound_user_agent: String,
    pub bound_country: Option<String>,
    /// The context a binding alert was last raised for.
    pub binding_alert: Option<String>,
    pub device: Option<DeviceDetail>,
    pub acr: String,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub mfa_at: Option<i64>,
    pub created_at: i64,
    pub last_active_at: i64,
    pub expires_at: i64,
    /// Public client ids of the apps that took part, sorted.
    pub apps: Vec<String>,
    /// Apps among them with a back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.2).
    pub backchannel_apps: Vec<String>,
    /// Live sessions of the same user (this one included, when live).
    pub user_live_sessions: u64,
    pub events: Vec<super::sessions::EventView>,
    pub deliveries: Vec<super::sessions::DeliveryView>,
}

/// One session of the tenant by its public `sid`, at `now` (seconds).
pub async fn session_detail(
    state: &AppState,
    tenant: &Tenant,
    sid: &str,
    now: i64,
) -> Result<SessionDetail> {
    let s = crate::session::service::resolve::find_by_sid(state, &tenant.id, sid)
        .await?
        .ok_or_else(|| ManageError::not_found("session", sid))?;
    let live = |f: store::sessions::SessionFilter| async move {
        let mut n = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page = store::sessions::list_active_page(
                &state.read,
                &tenant.id,
                &f,
                after.as_deref(),
                PAGE,
            )
            .await?;
            let Some(last) = page.last().map(|r| r.id.clone()) else {
                break;
            };
            n += page.len() as u64;
            after = Some(last);
        }
        Ok::<u64, ManageError>(n)
    };
    let user_live_sessions = live(store::sessions::SessionFilter {
        user_id: Some(s.user_id.clone()),
        live_at: Some(now),
        ..Default::default()
    })
    .await?;
    let device = match &s.device_id {
        None => None,
        Some(d) => match store::sessions::find_device(&state.read, &tenant.id, d).await? {
            None => None,
            Some(row) => {
                let h = crate::session::service::devices::history(&row, None)?;
                let score = crate::session::trust::evaluate_device_trust(&h, now);
                let live_sessions = live(store::sessions::SessionFilter {
                    device_id: Some(d.clone()),
                    live_at: Some(now),
                    ..Default::default()
                })
                .await?;
                Some(DeviceDetail {
                    label: crate::session::device::label(
                        row.name.as_deref(),
                        &row.browser,
                        &row.os,
                    ),
                    compromised: h.compromised,
                    trust_score: score.score,
                    id: row.id,
                    trust: row.trust,
                    category: row.category,
                    live_sessions,
                })
            }
        },
    };
    let clients = store::clients::list(&state.read, &tenant.id).await?;
    let mut apps = Vec::new();
    let mut backchannel_apps = Vec::new();
    for p in store::sessions::list_participants(&state.read, &tenant.id, &s.id).await? {
        if let Some(c) = clients.iter().find(|c| c.id == p) {
            apps.push(c.client_id.clone());
            if c.backchannel_logout_uri.is_some() {
                backchannel_apps.push(c.client_id.clone());
            }
        }
    }
    apps.sort();
    apps.dedup();
    backchannel_apps.sort();
    backchannel_apps.dedup();
    let username =
        store::users::list_by_ids(&state.read, &tenant.id, std::slice::from_ref(&s.user_id))
            .await?
            .into_iter()
            .next()
            .map(|u| u.username);
    let events = super::sessions::session_events(&state.read, tenant, sid).await?;
    let deliveries = super::sessions::list_deliveries(
        &state.read,
        tenant,
        None,
        Some(sid),
        super::sessions::MAX_LIST,
    )
    .await?;
    let (mode, ended_at, end_reason) = match s.state {
        crate::session::SessionState::Active { mode } => (Some(mode), None, None),
        crate::session::SessionState::Ended { at, reason } => {
            (None, Some(at), Some(reason.as_str().to_string()))
        }
    };
    Ok(SessionDetail {
        sid: s.sid,
        username,
        mode,
        mode_reason: s.mode_reason,
        ended_at,
        end_reason,
        bound_ip: s.binding.ip,
        bound_user_agent: s.binding.user_agent,
        bound_country: s.binding.country,
        binding_alert: s.binding_alert,
        device,
        acr: s.auth.acr,
        amr: s.auth.amr,
        auth_time: s.auth.time,
        mfa_at: s.mfa_at,
        created_at: s.created_at,
        last_active_at: s.last_active_at,
        expires_at: s.clocks.idle_deadline.min(s.clocks.absolute_deadline),
        apps,
        backchannel_apps,
        user_live_sessions,
        events,
        deliveries,
    })
}

/// A cheap signature of a tenant's sessions that changes when one starts, ends or changes
/// mode: what the admin area's live updates poll.
pub async fn change_signature(state: &AppState, tenant: &Tenant) -> Result<String> {
    let rows = store::sessions::count_by_state_and_mode(&state.read, &tenant.id).await?;
    Ok(rows
        .iter()
        .map(|(s, m, n)| format!("{s}/{m}={n}"))
        .collect::<Vec<_>>()
        .join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(status: Option<&str>, ip: Option<&str>) -> DashboardQuery {
        DashboardQuery {
            status: status.map(str::to_string),
            ip_range: ip.map(str::to_string),
            user: Some("  ".into()),
            ..Default::default()
        }
    }

    #[test]
    fn blank_filters_are_no_filters() {
        let (s, status) = q(None, None).selector().unwrap();
        assert_eq!(s, Selector::default());
        assert_eq!(status, None);
    }

    #[test]
    fn status_and_range_are_parsed_or_refused() {
        let (s, status) = q(Some("read_only"), Some("10.0.0.0/8")).selector().unwrap();
        assert_eq!(status, Some(Mode::ReadOnly));
        assert!(s.matches_ip("10.1.2.3") && !s.matches_ip("192.168.0.1"));
        assert!(q(Some("sleepy"), None).selector().is_err());
        assert!(q(None, Some("10.0.0.0/99")).selector().is_err());
    }
}
