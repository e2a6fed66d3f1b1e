//! Tenants: create (with fresh signing keys), look up, show with the policy in force, change the
//! session policy, and delete (every session ended through the termination path first).

use super::{conflict, invalid, ManageError, Result};
use crate::app::AppState;
use crate::events::termination::{self, Ender, Scope};
use crate::keys::SUPPORTED_ALGS;
use crate::model::Tenant;
use crate::session::{EndReason, PolicyLayer};
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
            created_at: now,
        },
    )
    .await?;
    store::policies::replace_layer(
        &txn,
        &id,
        "tenant",
        "",
        &policy.to_settings(),
        now,
        "system",
    )
    .await?;
    // A new tenant's first keys sign at once, also on a node whose clock is a little behind:
    // backdated activation (`keys::decide_activation`, ADR 0016).
    for alg in SUPPORTED_ALGS {
        let activate_at = crate::keys::decide_activation(false, now, 0);
        super::tokens::insert_key(&txn, &id, alg, now, activate_at).await?;
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

/// Change only the tenant-layer fields `policy` sets (the others keep their values), and apply
/// the change to live sessions at once.
pub async fn set_policy(
    state: &AppState,
    tenant: &Tenant,
    policy: PolicyLayer,
    actor: &str,
) -> Result<crate::session::service::policy::PolicyChanged> {
    use crate::session::service::policy::{change_layer, FieldChange};
    let changes: Vec<FieldChange> = policy
        .to_settings()
        .into_iter()
        .map(|(k, v)| FieldChange::Set(k.to_string(), v))
        .collect();
    Ok(change_layer(
        state,
        tenant,
        &crate::session::LayerRef::tenant(),
        &changes,
        actor,
    )
    .await?)
}

/// A tenant as an operator reads it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub created_at: i64,
    /// What the tenant layer of the policy sets (`key`, `value`); unset fields take the
    /// built-in defaults.
    pub policy: std::collections::BTreeMap<String, String>,
    /// The tenant-wide session policy in force (before group and client rules), with the layer
    /// behind each value.
    pub effective_policy: Vec<crate::session::policy::FieldValue>,
}

pub async fn list_tenants(db: &DatabaseConnection, public_url: &str) -> Result<Vec<TenantView>> {
    let mut out = Vec::new();
    for row in store::tenants::list(db).await? {
        out.push(view(db, row, public_url).await?);
    }
    Ok(out)
}

pub async fn show_tenant(
    db: &DatabaseConnection,
    public_url: &str,
    slug: &str,
) -> Result<TenantView> {
    let row = store::tenants::find_by_slug(db, slug)
        .await?
        .ok_or_else(|| ManageError::not_found("tenant", slug))?;
    view(db, row, public_url).await
}

async fn view(
    db: &DatabaseConnection,
    row: store::tenants::Tenant,
    public_url: &str,
) -> Result<TenantView> {
    use crate::session::service::policy::{effective, load_layers};
    let created_at = row.created_at;
    let t = Tenant::from_row(row, public_url);
    let layers = load_layers(db, &t).await?;
    let policy = layers
        .iter()
        .find(|(r, _)| *r == crate::session::LayerRef::tenant())
        .map(|(_, l)| {
            l.to_settings()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        })
        .unwrap_or_default();
    Ok(TenantView {
        effective_policy: effective(&layers, &Default::default(), &[]).fields(),
        slug: t.slug,
        name: t.name,
        issuer: t.issuer,
        created_at,
        policy,
    })
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
