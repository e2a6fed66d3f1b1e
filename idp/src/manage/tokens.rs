//! Signing keys (creation and rotation with overlap) and admin API tokens (create, list, revoke).

use super::{conflict, invalid, ManageError, Result};
use crate::crypto::SecretHasher;
use crate::events::audit::{self, Event};
use crate::keys::{self, SUPPORTED_ALGS};
use crate::model::Tenant;
use crate::store::{self, TransactionTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use std::collections::HashMap;

/// Store a new key of `alg`, published from `now` and signing from `activate_at`.
pub(crate) async fn insert_key<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    alg: &str,
    now: i64,
    activate_at: i64,
) -> Result<String> {
    let g = keys::generate(alg)?;
    store::keys::insert(
        db,
        store::keys::KeyRow {
            kid: g.kid.clone(),
            tenant_id: tenant_id.to_string(),
            alg: g.alg.to_string(),
            private_jwk: g.private_jwk.clone(),
            public_jwk: g.public_jwk.clone(),
            created_at: now,
            activate_at,
            retire_at: None,
            remove_at: None,
        },
    )
    .await?;
    Ok(g.kid)
}

#[derive(Debug, Serialize)]
pub struct RotatedKey {
    pub alg: String,
    pub kid: String,
    pub activate_at: i64,
    pub retires: Option<String>,
}

/// Publish a new key per algorithm, active after `activate_in` seconds; the current keys retire
/// then and stay published until their tokens have expired. A delay within the clock skew
/// between nodes is refused (`keys::MIN_ACTIVATION_DELAY_SECS`): a node whose clock is behind
/// would have no key it may sign with, and relying parties could get tokens signed by a key
/// they never had the chance to fetch.
pub async fn rotate_keys(
    db: &DatabaseConnection,
    tenant: &Tenant,
    activate_in: i64,
    now: i64,
) -> Result<Vec<RotatedKey>> {
    if activate_in < keys::MIN_ACTIVATION_DELAY_SECS {
        return Err(invalid(format!(
            "--activate-in must be at least {} seconds (beyond the {} s clock skew allowed between nodes)",
            keys::MIN_ACTIVATION_DELAY_SECS,
            keys::NODE_CLOCK_SKEW_SECS
        )));
    }
    let live = store::keys::list_live(db, &tenant.id, now).await?;
    let txn = db.begin().await?;
    let mut out = Vec::new();
    for alg in SUPPORTED_ALGS {
        // The current key of this alg: newest activated and not already retiring.
        let current = live
            .iter()
            .filter(|k| k.alg == *alg && k.activate_at <= now && k.retire_at.is_none())
            .max_by_key(|k| k.activate_at);
        let any_live = live.iter().any(|k| k.alg == *alg);
        let plan = keys::resolve_rotation(
            current.map(|k| (k.kid.as_str(), k.retire_at)),
            any_live,
            now,
            activate_in,
        );
        let kid = insert_key(&txn, &tenant.id, alg, now, plan.activate_at).await?;
        if let Some((old, retire_at, remove_at)) = &plan.retire {
            store::keys::mark_retiring(&txn, &tenant.id, old, *retire_at, *remove_at).await?;
        }
        out.push(RotatedKey {
            alg: alg.to_string(),
            kid,
            activate_at: plan.activate_at,
            retires: plan.retire.map(|r| r.0),
        });
    }
    txn.commit().await?;
    Ok(out)
}

fn validate_token_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(invalid("admin token names are 1-64 characters"));
    }
    Ok(())
}

/// Create an admin API token; scoped to one tenant or (None) all tenants. Returns the token once.
/// A name is unique among the live tokens of its scope, so it can be revoked by name. Audited
/// as `admin_token.created` with the actor and the token's name (never the token).
pub async fn create_admin_token(
    db: &DatabaseConnection,
    hasher: &SecretHasher,
    tenant: Option<&Tenant>,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<String> {
    validate_token_name(name)?;
    let scope = tenant.map(|t| t.id.as_str());
    if store::admin_tokens::find_live_by_name(db, scope, name)
        .await?
        .is_some()
    {
        return Err(conflict(format!(
            "a live admin token named '{name}' already exists{}",
            tenant
                .map(|t| format!(" for tenant '{}'", t.slug))
                .unwrap_or_else(|| " for all tenants".into())
        )));
    }
    let token = format!("lya_{}", crate::crypto::random_token());
    let txn = db.begin().await?;
    store::admin_tokens::insert(
        &txn,
        store::admin_tokens::AdminTokenRow {
            id: crate::crypto::random_id(),
            token_hash: hasher.hash("admin_token", &token),
            tenant_id: tenant.map(|t| t.id.clone()),
            name: name.to_string(),
            created_at: now,
            revoked: false,
        },
    )
    .await?;
    record(&txn, tenant, "admin_token.created", name, actor, now).await?;
    txn.commit().await?;
    Ok(token)
}

/// The audit event of a token's creation or revocation. A tenant's token goes into that
/// tenant's trail; an all-tenant token belongs to no tenant's trail (every audit event is a
/// tenant's), so it is written to the operator log only, as every operator action also is
/// (`admin.action`).
async fn record<C: ConnectionTrait>(
    db: &C,
    tenant: Option<&Tenant>,
    kind: &str,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<()> {
    match tenant {
        Some(t) => {
            audit::record(
                db,
                Event {
                    tenant_id: &t.id,
                    kind,
                    actor,
                    outcome: "ok",
                    detail: Some(serde_json::json!({ "token": name })),
                    ..Default::default()
                },
                None,
                now.saturating_mul(1000),
            )
            .await?
        }
        None => tracing::info!(
            event = "admin.action",
            action = kind,
            actor,
            token = name,
            scope = "all_tenants",
            "admin action"
        ),
    }
    Ok(())
}

/// An admin token as an operator sees it: never the token (only its hash is stored anyway).
#[derive(Debug, Clone, Serialize)]
pub struct AdminTokenView {
    pub name: String,
    /// The tenant it acts on; `None` for an all-tenant token.
    pub tenant: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
}

/// Admin tokens: of one tenant (`Some`), or every token of every scope (`None`).
pub async fn list_admin_tokens(
    db: &DatabaseConnection,
    tenant: Option<&Tenant>,
) -> Result<Vec<AdminTokenView>> {
    let rows = match tenant {
        Some(t) => store::admin_tokens::list(db, Some(&t.id)).await?,
        None => store::admin_tokens::list_all(db).await?,
    };
    let slugs: HashMap<String, String> = store::tenants::list(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.slug))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| AdminTokenView {
            tenant: r.tenant_id.map(|id| slugs.get(&id).cloned().unwrap_or(id)),
            name: r.name,
            created_at: r.created_at,
            revoked: r.revoked,
        })
        .collect())
}

/// Revoke the live token with this name in the scope (a tenant, or None for all-tenant tokens).
/// It stops working at once: every admin API call looks the token up. Audited as
/// `admin_token.revoked` with the actor and the token's name.
pub async fn revoke_admin_token(
    db: &DatabaseConnection,
    tenant: Option<&Tenant>,
    name: &str,
    actor: &str,
    now: i64,
) -> Result<u64> {
    let txn = db.begin().await?;
    let n = store::admin_tokens::mark_revoked_by_name(&txn, tenant.map(|t| t.id.as_str()), name)
        .await?;
    if n == 0 {
        return Err(ManageError::not_found("live admin token", name));
    }
    record(&txn, tenant, "admin_token.revoked", name, actor, now).await?;
    txn.commit().await?;
    Ok(n)
}

/// Who a presented admin token is: its scope (`tenant_id`: `None` = every tenant).
#[derive(Debug, Clone)]
pub struct AdminIdentity {
    pub name: String,
    pub tenant_id: Option<String>,
}

/// The live admin token presented, if it is one. Looked up by its keyed hash, so the comparison
/// is an index lookup of an HMAC and leaks nothing about stored tokens.
pub async fn authenticate_admin_token(
    db: &DatabaseConnection,
    hasher: &SecretHasher,
    token: &str,
) -> Result<Option<AdminIdentity>> {
    let hash = hasher.hash("admin_token", token);
    Ok(store::admin_tokens::find_by_hash(db, &hash)
        .await?
        .map(|r| AdminIdentity {
            name: r.name,
            tenant_id: r.tenant_id,
        }))
}
