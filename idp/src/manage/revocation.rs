//! Ending access: disable / enable a user, and end sessions by user, device, session or tenant,
//! every one through the termination path; retrying a back-channel delivery.

use super::{ManageError, Result};
use crate::app::AppState;
use crate::events::audit::{self, Event};
use crate::events::termination::{self, Ender, Scope};
use crate::model::Tenant;
use crate::session::EndReason;
use crate::store;

/// Disable a user (the HR-termination case) and end every session they hold.
pub async fn disable_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<u64> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))?;
    let now_ms = state.clock.now_ms();
    if store::users::mark_status(
        &state.db,
        &tenant.id,
        &user.id,
        store::users::ACTIVE,
        store::users::DISABLED,
        now_ms / 1000,
    )
    .await?
    {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "user.disabled",
                user_id: Some(&user.id),
                actor,
                outcome: "ok",
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::User(&user.id),
        EndReason::UserDisabled,
        &Ender { actor, ctx: None },
    )
    .await
    .map_err(ManageError::from)
}

pub async fn enable_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<bool> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))?;
    let now_ms = state.clock.now_ms();
    let changed = store::users::mark_status(
        &state.db,
        &tenant.id,
        &user.id,
        store::users::DISABLED,
        store::users::ACTIVE,
        now_ms / 1000,
    )
    .await?;
    if changed {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "user.enabled",
                user_id: Some(&user.id),
                actor,
                outcome: "ok",
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    Ok(changed)
}

/// End every session of a user.
pub async fn revoke_user_sessions(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<u64> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))?;
    let n = termination::end_sessions(
        state,
        &tenant.id,
        Scope::User(&user.id),
        EndReason::AdminRevoked,
        &Ender { actor, ctx: None },
    )
    .await
    .map_err(ManageError::from)?;
    // One user-level record of the decision and who made it, beside the per-session ones.
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "user.sessions_revoked",
            user_id: Some(&user.id),
            actor,
            outcome: "ok",
            detail: Some(serde_json::json!({ "sessions_ended": n })),
            ..Default::default()
        },
        None,
        state.clock.now_ms(),
    )
    .await?;
    Ok(n)
}

/// End every session on a device and mark the device compromised.
pub async fn revoke_device(
    state: &AppState,
    tenant: &Tenant,
    device_id: &str,
    actor: &str,
) -> Result<u64> {
    if store::sessions::find_device(&state.db, &tenant.id, device_id)
        .await?
        .is_none()
    {
        return Err(ManageError::not_found("device", device_id));
    }
    store::sessions::mark_device_trust(&state.db, &tenant.id, device_id, "compromised").await?;
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::Device(device_id),
        EndReason::DeviceRevoked,
        &Ender { actor, ctx: None },
    )
    .await
    .map_err(ManageError::from)
}

/// End one session, by its public `sid`.
pub async fn revoke_session(
    state: &AppState,
    tenant: &Tenant,
    sid: &str,
    actor: &str,
) -> Result<bool> {
    let s = store::sessions::find_by_sid(&state.db, &tenant.id, sid)
        .await?
        .ok_or_else(|| ManageError::not_found("session", sid))?;
    termination::end_session(
        state,
        &tenant.id,
        &s.id,
        EndReason::AdminRevoked,
        &Ender { actor, ctx: None },
        state.clock.now_ms(),
    )
    .await
    .map_err(ManageError::from)
}

/// End every session of the tenant.
pub async fn revoke_tenant_sessions(state: &AppState, tenant: &Tenant, actor: &str) -> Result<u64> {
    termination::end_sessions(
        state,
        &tenant.id,
        Scope::Tenant,
        EndReason::TenantRevoked,
        &Ender { actor, ctx: None },
    )
    .await
    .map_err(ManageError::from)
}

/// Retry a dead (or waiting) back-channel delivery now.
pub async fn retry_delivery(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    actor: &str,
) -> Result<bool> {
    let now_ms = state.clock.now_ms();
    let ok = store::outbox::mark_pending_again(&state.db, &tenant.id, id, now_ms).await?;
    if ok {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "delivery.retried",
                actor,
                outcome: "ok",
                detail: Some(serde_json::json!({ "delivery": id })),
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
        state.outbox_notify.notify_one();
    }
    Ok(ok)
}

/// What a re-sync did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resynced {
    pub sessions_reresolved: u64,
    pub sessions_ended: u64,
}

/// Force one session (by sid) to be re-evaluated now.
pub async fn resync_session(
    state: &AppState,
    tenant: &Tenant,
    sid: &str,
    actor: &str,
) -> Result<Resynced> {
    let s = crate::session::service::resolve::find_by_sid(state, &tenant.id, sid)
        .await?
        .filter(|s| s.is_active())
        .ok_or_else(|| ManageError::not_found("active session", sid))?;
    let (r, e) = crate::session::service::policy::resync(
        state,
        tenant,
        crate::session::service::policy::Reresolve::Session(s.id),
        actor,
    )
    .await?;
    Ok(Resynced {
        sessions_reresolved: r,
        sessions_ended: e,
    })
}

/// Force every session of a user to be re-evaluated now.
pub async fn resync_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<Resynced> {
    let u = super::users::find(&state.db, tenant, username).await?;
    let (r, e) = crate::session::service::policy::resync(
        state,
        tenant,
        crate::session::service::policy::Reresolve::Users(vec![u.id]),
        actor,
    )
    .await?;
    Ok(Resynced {
        sessions_reresolved: r,
        sessions_ended: e,
    })
}

/// Force a session's mode: `read_only`, `reauth_required` (the user must sign in again before
/// anything new is issued) or back to `normal`.
pub async fn set_session_mode(
    state: &AppState,
    tenant: &Tenant,
    sid: &str,
    mode: &str,
    actor: &str,
) -> Result<bool> {
    let mode = crate::session::Mode::parse(mode).ok_or_else(|| {
        ManageError::Invalid(format!(
            "mode '{mode}' is not normal, read_only or reauth_required"
        ))
    })?;
    let s = crate::session::service::resolve::find_by_sid(state, &tenant.id, sid)
        .await?
        .filter(|s| s.is_active())
        .ok_or_else(|| ManageError::not_found("active session", sid))?;
    Ok(crate::session::service::guard::set_mode(state, tenant, &s, mode, actor).await?)
}

/// What locking a user did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockedUser {
    pub username: String,
    /// `until` (with `locked_until`) or `until_unlocked`.
    pub lock: &'static str,
    pub locked_until: Option<i64>,
    pub sessions_ended: u64,
    pub user_mailed: bool,
    pub admin_mailed: bool,
}

/// Lock a user for `for_secs` (None: until an administrator unlocks): every session ends
/// (reason `account_locked`), sign-in is refused, the user and the tenant's admin address are
/// mailed (`session::service::lockout::lock`).
pub async fn lock_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    for_secs: Option<i64>,
    actor: &str,
) -> Result<LockedUser> {
    use crate::session::lock::{LockDecision, MAX_LOCK_SECS};
    use crate::session::service::lockout::{lock, LockCause};
    if let Some(s) = for_secs {
        if !(1..=MAX_LOCK_SECS).contains(&s) {
            return Err(super::invalid(
                "a lock lasts 1 s to 366 days (omit the duration for a manual lock)",
            ));
        }
    }
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))?;
    let why = format!("an administrator ({actor}) locked it");
    let done = lock(
        state,
        tenant,
        &user,
        for_secs,
        &LockCause {
            reason: "admin",
            why: &why,
            actor,
            ctx: None,
        },
    )
    .await?;
    Ok(LockedUser {
        username: user.username,
        lock: match done.lock {
            LockDecision::Until(_) => "until",
            _ => "until_unlocked",
        },
        locked_until: done.lock.until(),
        sessions_ended: done.sessions_ended,
        user_mailed: done.user_mailed,
        admin_mailed: done.admin_mailed,
    })
}

/// Unlock a user. Returns whether a lock was in force.
pub async fn unlock_user(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<bool> {
    let user = store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))?;
    Ok(crate::session::service::lockout::unlock(state, tenant, &user, actor).await?)
}
