//! Tenant admins: granting and revoking the admin role that opens `/t/{tenant}/admin` to a user
//! of that tenant (and only that tenant: the role is a row of the tenant's own). Every change is
//! an audit event in the same transaction as the change.

use super::{ManageError, Result};
use crate::app::AppState;
use crate::events::audit::{self, Event};
use crate::model::Tenant;
use crate::store::{self, TransactionTrait};
use sea_orm::ConnectionTrait;
use serde::Serialize;

/// One admin of a tenant, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct AdminView {
    pub user_id: String,
    pub username: String,
    pub granted_by: String,
    pub granted_at: i64,
}

async fn user_named(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
) -> Result<store::users::User> {
    store::users::find_by_username(&state.db, &tenant.id, username)
        .await?
        .ok_or_else(|| ManageError::not_found("user", username))
}

/// Give `username` the admin role of `tenant`; `false` when they already had it.
pub async fn grant_admin(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<bool> {
    let user = user_named(state, tenant, username).await?;
    let now_ms = state.clock.now_ms();
    let tx = state.db.begin().await?;
    let granted = store::admins::grant(
        &tx,
        store::admins::TenantAdmin {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            user_id: user.id.clone(),
            granted_by: actor.to_string(),
            granted_at: now_ms / 1000,
        },
    )
    .await?;
    if granted {
        audit::record(
            &tx,
            Event {
                tenant_id: &tenant.id,
                kind: "admin.granted",
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
    tx.commit().await?;
    Ok(granted)
}

/// Take the admin role away; `false` when the user did not have it.
pub async fn revoke_admin(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    actor: &str,
) -> Result<bool> {
    let user = user_named(state, tenant, username).await?;
    let now_ms = state.clock.now_ms();
    let tx = state.db.begin().await?;
    let revoked = store::admins::revoke(&tx, &tenant.id, &user.id).await?;
    if revoked {
        audit::record(
            &tx,
            Event {
                tenant_id: &tenant.id,
                kind: "admin.revoked",
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
    tx.commit().await?;
    Ok(revoked)
}

/// Whether the user holds the admin role of the tenant.
pub async fn is_admin<C: ConnectionTrait>(db: &C, tenant_id: &str, user_id: &str) -> Result<bool> {
    Ok(store::admins::find(db, tenant_id, user_id).await?.is_some())
}

/// The tenant's admins, by username.
pub async fn list_admins(state: &AppState, tenant: &Tenant) -> Result<Vec<AdminView>> {
    let rows = store::admins::list(&state.db, &tenant.id).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.user_id.clone()).collect();
    let users = store::users::list_by_ids(&state.db, &tenant.id, &ids).await?;
    let mut out: Vec<AdminView> = rows
        .into_iter()
        .filter_map(|r| {
            let u = users.iter().find(|u| u.id == r.user_id)?;
            Some(AdminView {
                user_id: r.user_id,
                username: u.username.clone(),
                granted_by: r.granted_by,
                granted_at: r.granted_at,
            })
        })
        .collect();
    out.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(out)
}
