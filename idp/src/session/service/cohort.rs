//! Cohort revocation: preview (dry run) and revoke the live sessions a selector covers.
//!
//! Both walk the same pages of the same query with the same in-process IP check, and report the
//! same shape (sessions, users, relying parties, back-channel deliveries), so a dry run and the
//! real run that follows it agree exactly when nothing changed in between. The real run ends one
//! page per transaction through the termination path (reason `cohort_revoked`), which keeps
//! 10,000 sessions as fast as any other bulk logout.

use super::end::{end_many, Ender, PAGE};
use crate::app::AppState;
use crate::error::{not_found, Result};
use crate::events::audit::{self, Event};
use crate::model::Tenant;
use crate::session::cohort::Selector;
use crate::session::EndReason;
use crate::store;
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

/// Names listed in a report are capped; the counts are exact.
const MAX_LISTED: usize = 1000;

/// Who and what a cohort covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CohortReport {
    pub dry_run: bool,
    pub selector: Selector,
    pub sessions: u64,
    /// Distinct users (usernames, sorted, at most 1000 listed).
    pub users: Vec<String>,
    pub users_total: u64,
    /// Relying parties that took part in the sessions (public client ids, sorted).
    pub clients: Vec<String>,
    /// Back-channel logout tokens the revocation sends.
    pub backchannel_deliveries: u64,
}

/// Turn a selector into the database filter (names resolved to ids; unknown names are errors,
/// so a typo never matches nothing silently).
async fn filter_for(
    state: &AppState,
    tenant: &Tenant,
    s: &Selector,
    now: i64,
) -> Result<store::sessions::SessionFilter> {
    let user_id = match &s.user {
        Some(u) => Some(
            store::users::find_by_username(&state.db, &tenant.id, u)
                .await?
                .ok_or_else(|| not_found(format!("no user '{u}'")))?
                .id,
        ),
        None => None,
    };
    let client_row_id = match &s.client {
        Some(c) => Some(
            store::clients::find_by_client_id(&state.db, &tenant.id, c)
                .await?
                .ok_or_else(|| not_found(format!("no client '{c}'")))?
                .id,
        ),
        None => None,
    };
    if let Some(g) = &s.group {
        if store::policies::find_group(&state.db, &tenant.id, g)
            .await?
            .is_none()
        {
            return Err(not_found(format!("no group '{g}'")));
        }
    }
    Ok(store::sessions::SessionFilter {
        session_id: None,
        user_id,
        device_id: s.device.clone(),
        client_row_id,
        group: s.group.clone(),
        attribute: s.attribute.clone(),
        auth_before: s.auth_before,
        live_at: Some(now),
    })
}

/// Dry run (`revoke = false`) or revocation of a cohort.
pub async fn run(
    state: &AppState,
    tenant: &Tenant,
    selector: &Selector,
    revoke: bool,
    actor: &str,
) -> Result<CohortReport> {
    selector
        .validate()
        .map_err(|e| crate::error::invalid(e.to_string()))?;
    let now_ms = state.clock.now_ms();
    let filter = filter_for(state, tenant, selector, now_ms / 1000).await?;
    let clients: HashMap<String, store::clients::ClientRow> =
        store::clients::list(&state.db, &tenant.id)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut client_names: BTreeSet<String> = BTreeSet::new();
    let mut report = CohortReport {
        dry_run: !revoke,
        selector: selector.clone(),
        ..Default::default()
    };
    let by = Ender {
        actor,
        ctx: None,
        detail: Some(json!({ "cohort": selector })),
        keep_offline: false,
    };
    let mut after: Option<String> = None;
    loop {
        let rows = store::sessions::list_active_page(
            &state.db,
            &tenant.id,
            &filter,
            after.as_deref(),
            PAGE,
        )
        .await?;
        let Some(last) = rows.last().map(|r| r.id.clone()) else {
            break;
        };
        let picked: Vec<&store::sessions::SessionRow> =
            rows.iter().filter(|r| selector.matches_ip(&r.ip)).collect();
        let ids: Vec<String> = picked.iter().map(|r| r.id.clone()).collect();
        if !ids.is_empty() {
            let pairs =
                store::sessions::list_participants_many(&state.db, &tenant.id, &ids).await?;
            for (_, c) in &pairs {
                if let Some(c) = clients.get(c) {
                    client_names.insert(c.client_id.clone());
                    if c.backchannel_logout_uri.is_some() {
                        report.backchannel_deliveries += 1;
                    }
                }
            }
            for r in &picked {
                users.insert(r.user_id.clone());
            }
            report.sessions += ids.len() as u64;
            if revoke {
                end_many(
                    state,
                    &tenant.id,
                    &ids,
                    EndReason::CohortRevoked,
                    &by,
                    state.clock.now_ms(),
                )
                .await?;
            }
        }
        after = Some(last);
    }
    report.users_total = users.len() as u64;
    let listed: Vec<String> = users.into_iter().take(MAX_LISTED).collect();
    let names: HashMap<String, String> = store::users::list_by_ids(&state.db, &tenant.id, &listed)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let mut usernames: Vec<String> = listed
        .iter()
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
        .collect();
    usernames.sort();
    report.users = usernames;
    report.clients = client_names.into_iter().collect();
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: if revoke {
                "sessions.cohort_revoked"
            } else {
                "sessions.cohort_previewed"
            },
            actor,
            outcome: "ok",
            detail: Some(json!({
                "selector": selector, "sessions": report.sessions,
                "users": report.users_total, "clients": report.clients,
            })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    Ok(report)
}
