//! Devices as risk sees them: the trust score (`session::trust`) computed from a device's
//! stored history, the failed-login counter a wrong password from a known browser bumps, and
//! the listing administrators see (API and CLI).

use crate::app::AppState;
use crate::error::{internal, Result};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::trust::{evaluate_device_trust, parse_posture, DeviceHistory, TrustScore};
use crate::store::{self, sessions::DeviceRow};
use serde::Serialize;

/// A device as an administrator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub name: Option<String>,
    pub browser: String,
    pub os: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub last_ip: String,
    pub last_country: Option<String>,
    /// `unknown` | `trusted` | `compromised`.
    pub trust: String,
    pub posture: Option<String>,
    pub logins_ok: u32,
    pub logins_failed: u32,
    pub country_changes: u32,
    /// 0 to 100 (`session::trust`).
    pub trust_score: u8,
    /// What the score is made of, part by part.
    pub trust_parts: Vec<crate::session::trust::Part>,
}

fn counter(d: &DeviceRow, field: &str, v: i32) -> Result<u32> {
    u32::try_from(v).map_err(|_| internal(format!("device {}: stored {field} is invalid", d.id)))
}

/// The history a stored device gives the score. `posture_now`, when a trusted proxy reported
/// one on this request, replaces the stored one.
pub fn history(d: &DeviceRow, posture_now: Option<&str>) -> Result<DeviceHistory> {
    let trusted = match d.trust.as_str() {
        "unknown" => false,
        "trusted" => true,
        super::begin::COMPROMISED => false,
        _ => {
            return Err(internal(format!(
                "device {}: stored trust is invalid",
                d.id
            )))
        }
    };
    Ok(DeviceHistory {
        first_seen: d.first_seen,
        logins_ok: counter(d, "logins_ok", d.logins_ok)?,
        logins_failed: counter(d, "logins_failed", d.logins_failed)?,
        country_changes: counter(d, "country_changes", d.country_changes)?,
        trusted,
        compromised: d.trust == super::begin::COMPROMISED,
        posture: parse_posture(posture_now.or(d.posture.as_deref()).unwrap_or("")),
    })
}

/// The score of the browser's device at a login: its stored history (a browser without a
/// device cookie is a new device, first seen now), with the posture reported now.
pub fn score_at_login(d: Option<&DeviceRow>, ctx: &RequestContext) -> Result<TrustScore> {
    let h = match d {
        Some(d) => history(d, ctx.posture.as_deref())?,
        None => DeviceHistory {
            first_seen: ctx.now,
            posture: parse_posture(ctx.posture.as_deref().unwrap_or("")),
            ..Default::default()
        },
    };
    Ok(evaluate_device_trust(&h, ctx.now))
}

/// The device whose cookie this browser carries, if it is one Lanyard knows.
pub async fn of_browser(
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
) -> Result<Option<DeviceRow>> {
    match ctx.cookies.get(&state.cookies.device_name(&tenant.slug)) {
        Some(token) => {
            let hash = state.hasher.hash("device", token);
            Ok(store::sessions::find_device_by_token_hash(&state.db, &tenant.id, &hash).await?)
        }
        None => Ok(None),
    }
}

/// A wrong password (or an inactive account) from a browser with a known device: counted
/// against that device until its next successful login.
pub async fn record_failed_login(
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
) -> Result<()> {
    if let Some(d) = of_browser(state, tenant, ctx).await? {
        store::sessions::mark_device_failed(&state.db, &tenant.id, &d.id).await?;
    }
    Ok(())
}

/// A tenant's devices (optionally those a user has had sessions on), with their scores now.
pub async fn list(
    state: &AppState,
    tenant: &Tenant,
    user_id: Option<&str>,
    limit: u64,
) -> Result<Vec<DeviceView>> {
    let now = state.clock.now_ms().div_euclid(1000);
    let rows = store::sessions::list_devices(&state.read, &tenant.id, user_id, limit).await?;
    rows.into_iter()
        .map(|d| {
            let h = history(&d, None)?;
            let score = evaluate_device_trust(&h, now);
            Ok(DeviceView {
                trust_score: score.score,
                trust_parts: score.parts,
                logins_ok: h.logins_ok,
                logins_failed: h.logins_failed,
                country_changes: h.country_changes,
                id: d.id,
                name: d.name,
                browser: d.browser,
                os: d.os,
                first_seen: d.first_seen,
                last_seen: d.last_seen,
                last_ip: d.last_ip,
                last_country: d.last_country,
                trust: d.trust,
                posture: d.posture,
            })
        })
        .collect()
}
