//! Tenants: create (with fresh signing keys), look up, show with the policy in force, change the
//! session policy, and delete (every session ended through the termination path first).

use super::{conflict, invalid, ManageError, Result};
use crate::app::AppState;
use crate::events::termination::{self, Ender, Scope};
use crate::keys::SUPPORTED_ALGS;
use crate::model::Tenant;
use crate::session::{EffectivePolicy, EndReason, PolicyLayer};
use crate::store::{self, TransactionTrait};
use sea_orm::DatabaseConnection;
use serde::Serialize;

pub fn valid_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

#[derive(Debug, Serialize)]
pub struct CreatedTenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub issuer: String,
}

pub async fn create_tenant(
    db: &DatabaseConnection,
    public_url: &str,
    slug: &str,
    name: Option<&str>,
    policy: PolicyLayer,
    now: i64,
) -> Result<CreatedTenant> {
    if !valid_slug(slug) {
        return Err(invalid(
            "tenant slug must be 1-63 characters of a-z, 0-9 and '-', not starting with '-'",
        ));
    }
    if store::tenants::find_by_slug(db, slug).await?.is_some() {
        return Err(conflict(format!("tenant '{slug}' already exists")));
    }
    let id = crate::crypto::random_id();
    let txn = db.begin().await?;
    let t = store::tenants::insert(
        &txn,
        store::tenants::Tenant {
            id: id.clone(),
            slug: slug.to_string(),
            name: name.unwrap_or(slug).to_string(),
            policy: serde_json::to_string(&policy)?,
            created_at: now,
        },
    )
    .await?;
    for alg in SUPPORTED_ALGS {
        super::tokens::insert_key(&txn, &id, alg, now).await?;
    }
    txn.commit().await?;
    Ok(CreatedTenant {
        issuer: format!("{public_url}/t/{slug}"),
        id: t.id,
        slug: t.slug,
        name: t.name,
    })
}

/// The tenant with this slug.
pub async fn tenant(db: &DatabaseConnection, public_url: &str, slug: &str) -> Result<Tenant> {
    store::tenants::find_by_slug(db, slug)
        .await?
        .map(|t| Tenant::from_row(t, public_url))
        .ok_or_else(|| ManageError::not_found("tenant", slug))
}

pub async fn set_policy(
    db: &DatabaseConnection,
    tenant: &Tenant,
    policy: PolicyLayer,
) -> Result<()> {
    store::tenants::update_policy(db, &tenant.id, serde_json::to_string(&policy)?).await?;
    Ok(())
}

/// A tenant as an operator reads it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub created_at: i64,
    /// What the tenant's policy sets (unset fields take the built-in defaults).
    pub policy: PolicyLayer,
    /// The session policy in force.
    pub effective_policy: EffectivePolicy,
}

pub async fn list_tenants(db: &DatabaseConnection, public_url: &str) -> Result<Vec<TenantView>> {
    Ok(store::tenants::list(db)
        .await?
        .into_iter()
        .map(|row| view(row, public_url))
        .collect())
}

pub async fn show_tenant(
    db: &DatabaseConnection,
    public_url: &str,
    slug: &str,
) -> Result<TenantView> {
    store::tenants::find_by_slug(db, slug)
        .await?
        .map(|row| view(row, public_url))
        .ok_or_else(|| ManageError::not_found("tenant", slug))
}

fn view(row: store::tenants::Tenant, public_url: &str) -> TenantView {
    let created_at = row.created_at;
    let t = Tenant::from_row(row, public_url);
    TenantView {
        effective_policy: t.policy(),
        slug: t.slug,
        name: t.name,
        issuer: t.issuer,
        created_at,
        policy: t.policy_layer,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeletedTenant {
    pub deleted: String,
    pub sessions_ended: u64,
    /// Back-channel logout deliveries still owed; the dispatcher finishes them.
    pub deliveries_pending: u64,
}

/// Delete a tenant: first end every session through the termination path (so every relying
/// party hears of it), then delete its users, clients, sessions, grants, audit trail and admin
/// tokens in one transaction. Owed logout deliveries and the keys that sign them stay until the
/// dispatcher has had its chance (`delivery.max_age_secs`); see `store::tenants::delete_all`.
pub async fn delete_tenant(
    state: &AppState,
    tenant: &Tenant,
    actor: &str,
) -> Result<DeletedTenant> {
    let sessions_ended = termination::end_sessions(
        state,
        &tenant.id,
        Scope::Tenant,
        EndReason::TenantRevoked,
        &Ender { actor, ctx: None },
    )
    .await?;
    let now = state.clock.now();
    let keys_removed_at = now.saturating_add(state.config.delivery.max_age_secs);
    let txn = state.db.begin().await?;
    let Some(deleted) = store::tenants::delete_all(&txn, &tenant.id, keys_removed_at).await? else {
        txn.rollback().await?;
        return Err(ManageError::not_found("tenant", &tenant.slug));
    };
    txn.commit().await?;
    state.cache.forget_tenant(&tenant.slug);
    tracing::info!(
        event = "tenant.deleted",
        tenant = %tenant.slug,
        actor,
        sessions_ended,
        deliveries_pending = deleted.deliveries_owed,
        "tenant deleted"
    );
    Ok(DeletedTenant {
        deleted: tenant.slug.clone(),
        sessions_ended,
        deliveries_pending: deleted.deliveries_owed,
    })
}
