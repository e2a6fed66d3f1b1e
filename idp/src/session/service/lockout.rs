//! Account locks and each tenant's security settings (response chains, throttle thresholds):
//! lock a user (every session ends through the termination path, reason `account_locked`; the
//! user gets the "account locked" mail and the admins are told, all in the lock's transaction),
//! unlock, and read the lock in force.

use super::end::{end_in, end_scope, Ender, Scope, PAGE};
use crate::app::AppState;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::events::mail;
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::chain::{parse_chains, Chain};
use crate::session::lock::{decide_lock, decide_new_lock, AccountLock, LockDecision};
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use crate::throttle::ThrottlePolicy;
use sea_orm::ConnectionTrait;
use serde_json::json;

/// A tenant's security settings as stored (defaults when it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub chains: Vec<Chain>,
    pub throttle: ThrottlePolicy,
}

/// Read a tenant's security settings. A stored value that does not parse is an error naming the
/// tenant and the field, never a silent default.
pub async fn security<C: ConnectionTrait>(db: &C, tenant: &Tenant) -> Result<Security> {
    let Some(row) = store::lockout::find_security(db, &tenant.id).await? else {
        return Ok(Security::default());
    };
    let chains = parse_chains(&row.response_chains).map_err(|e| {
        internal(format!(
            "tenant {}: stored response_chains is invalid ({e})",
            tenant.slug
        ))
    })?;
    let throttle: ThrottlePolicy = serde_json::from_str(&row.login_throttle).map_err(|e| {
        internal(format!(
            "tenant {}: stored login_throttle is invalid ({e})",
            tenant.slug
        ))
    })?;
    throttle.validate().map_err(|e| {
        internal(format!(
            "tenant {}: stored login_throttle.{} {}",
            tenant.slug, e.field, e.rule
        ))
    })?;
    Ok(Security { chains, throttle })
}

/// Store a tenant's security settings (already validated by the caller), audited.
pub async fn save_security(
    state: &AppState,
    tenant: &Tenant,
    s: &Security,
    actor: &str,
) -> Result<()> {
    let now_ms = state.clock.now_ms();
    let chains = serde_json::to_string(&s.chains).map_err(|e| internal(e.to_string()))?;
    let throttle = serde_json::to_string(&s.throttle).map_err(|e| internal(e.to_string()))?;
    let txn = state.db.begin().await?;
    store::lockout::save_security(
        &txn,
        store::lockout::SecurityRow {
            tenant_id: tenant.id.clone(),
            response_chains: chains,
            login_throttle: throttle,
            updated_at: now_ms.div_euclid(1000),
        },
    )
    .await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "tenant.security_changed",
            actor,
            outcome: "ok",
            detail: Some(json!({ "response_chains": s.chains, "login_throttle": s.throttle })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// The lock in force on a user at `now`.
pub async fn lock_state<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    now: i64,
) -> Result<LockDecision> {
    let row = store::lockout::find_lock(db, tenant_id, user_id).await?;
    Ok(decide_lock(row.map(to_lock).as_ref(), now))
}

fn to_lock(r: store::lockout::LockRow) -> AccountLock {
    AccountLock {
        locked_at: r.locked_at,
        until: r.locked_until,
    }
}

/// Every lock in force in a tenant, by user id (for listings).
pub async fn locks_in_force<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    now: i64,
) -> Result<std::collections::HashMap<String, (LockDecision, String)>> {
    Ok(store::lockout::list_locks(db, tenant_id)
        .await?
        .into_iter()
        .filter_map(|r| {
            let reason = r.reason.clone();
            let id = r.user_id.clone();
            let d = decide_lock(Some(&to_lock(r)), now);
            d.is_locked().then_some((id, (d, reason)))
        })
        .collect())
}

/// Why an account is locked: who or what locked it.
#[derive(Debug, Clone)]
pub struct LockCause<'a> {
    /// `admin`, `response_chain:impossible_travel`, ...
    pub reason: &'a str,
    /// In words, for the mails.
    pub why: &'a str,
    pub actor: &'a str,
    pub ctx: Option<&'a RequestContext>,
}

/// What a lock did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub lock: LockDecision,
    pub sessions_ended: u64,
    pub user_mailed: bool,
    pub admin_mailed: bool,
}

/// Lock a user for `for_secs` (None: until an administrator unlocks). A longer lock in force
/// stands. In one transaction: the lock, `user.locked` and `admin.notified` audit events, the
/// user's and the admin address's mails, and the end of the user's sessions (reason
/// `account_locked`); then any further sessions and the user's offline grants.
pub async fn lock(
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    for_secs: Option<i64>,
    cause: &LockCause<'_>,
) -> Result<Locked> {
    let now_ms = state.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let current = lock_state(&state.db, &tenant.id, &user.id, now).await?;
    let until = decide_new_lock(current, for_secs.map(|s| now + s));
    // The first statement writes (SQLite takes its write lock up front, as `end_in` needs).
    let txn = state.db.begin().await?;
    store::lockout::save_lock(
        &txn,
        store::lockout::LockRow {
            user_id: user.id.clone(),
            tenant_id: tenant.id.clone(),
            locked_at: now,
            locked_until: until,
            reason: cause.reason.into(),
            actor: cause.actor.into(),
        },
    )
    .await?;
    let user_mailed =
        mail::notify_account_locked(&txn, state, tenant, user, until, cause.why, now_ms).await?;
    let admin_mailed =
        mail::notify_admins_account_locked(&txn, state, tenant, user, until, cause.why, now_ms)
            .await?;
    let ids = store::sessions::list_active_ids(&txn, &tenant.id, Some(&user.id), None, None, PAGE)
        .await?;
    let by = Ender {
        actor: cause.actor,
        ctx: cause.ctx,
        detail: Some(json!({ "lock_reason": cause.reason })),
        keep_offline: false,
    };
    let ended = end_in(
        &txn,
        state,
        &tenant.id,
        &ids,
        EndReason::AccountLocked,
        &by,
        now_ms,
    )
    .await?;
    let detail = json!({
        "reason": cause.reason,
        "until": until,
        "sessions_ended": ended.count(),
        "user_mailed": user_mailed,
        "admin_mailed": admin_mailed,
    });
    for (kind, outcome) in [("user.locked", "ok"), ("admin.notified", "account_locked")] {
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind,
                user_id: Some(&user.id),
                actor: cause.actor,
                outcome,
                detail: Some(detail.clone()),
                ..Default::default()
            },
            cause.ctx,
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    ended.notify(state);
    if user_mailed || admin_mailed {
        state.outbox_notify.notify_one();
    }
    // Sessions past the first page, and the user's `offline_access` grants from sessions that
    // ended earlier: a locked account keeps no access anywhere.
    let total = ended.count()
        + end_scope(
            state,
            &tenant.id,
            Scope::User(&user.id),
            EndReason::AccountLocked,
            &by,
        )
        .await?;
    tracing::warn!(event = "admin.notified", reason = "account_locked", tenant = %tenant.slug, lock_reason = cause.reason, sessions = total, "an account was locked");
    Ok(Locked {
        lock: until.map_or(LockDecision::UntilUnlocked, LockDecision::Until),
        sessions_ended: total,
        user_mailed,
        admin_mailed,
    })
}

/// Remove a user's lock (expired or not). Returns whether a lock was in force.
pub async fn unlock(
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    actor: &str,
) -> Result<bool> {
    let now_ms = state.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let txn = state.db.begin().await?;
    let was = lock_state(&txn, &tenant.id, &user.id, now).await?;
    let removed = store::lockout::delete_lock(&txn, &tenant.id, &user.id).await?;
    if removed {
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind: "user.unlocked",
                user_id: Some(&user.id),
                actor,
                outcome: if was.is_locked() { "ok" } else { "expired" },
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(was.is_locked())
}
