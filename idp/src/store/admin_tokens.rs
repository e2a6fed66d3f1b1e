//! Admin API tokens (stored hashed), created by the CLI or the admin API.
//!
//! Tokens are named; a name is unique among the live tokens of one scope (a tenant, or all
//! tenants), so an operator can revoke a token by the name they gave it.

use super::entities::admin_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub use admin_token::Model as AdminTokenRow;

pub async fn insert<C: ConnectionTrait>(db: &C, t: AdminTokenRow) -> Result<(), DbErr> {
    let am: admin_token::ActiveModel = t.into();
    admin_token::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find_by_hash<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
) -> Result<Option<AdminTokenRow>, DbErr> {
    admin_token::Entity::find()
        .filter(admin_token::Column::TokenHash.eq(token_hash))
        .filter(admin_token::Column::Revoked.eq(false))
        .one(db)
        .await
}

/// The scope filter: one tenant's tokens, or (None) the all-tenant tokens.
fn in_scope(tenant_id: Option<&str>) -> sea_orm::Condition {
    match tenant_id {
        Some(t) => sea_orm::Condition::all().add(admin_token::Column::TenantId.eq(t)),
        None => sea_orm::Condition::all().add(admin_token::Column::TenantId.is_null()),
    }
}

/// Tokens of one scope (`Some(tenant)` or `None` for all-tenant tokens), oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<&str>,
) -> Result<Vec<AdminTokenRow>, DbErr> {
    admin_token::Entity::find()
        .filter(in_scope(tenant_id))
        .order_by_asc(admin_token::Column::CreatedAt)
        .order_by_asc(admin_token::Column::Name)
        .all(db)
        .await
}

/// Every token, of every scope, oldest first (the operator's view).
pub async fn list_all<C: ConnectionTrait>(db: &C) -> Result<Vec<AdminTokenRow>, DbErr> {
    admin_token::Entity::find()
        .order_by_asc(admin_token::Column::CreatedAt)
        .order_by_asc(admin_token::Column::Name)
        .all(db)
        .await
}

/// Whether a live token of this name exists in the scope.
pub async fn find_live_by_name<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<&str>,
    name: &str,
) -> Result<Option<AdminTokenRow>, DbErr> {
    admin_token::Entity::find()
        .filter(in_scope(tenant_id))
        .filter(admin_token::Column::Name.eq(name))
        .filter(admin_token::Column::Revoked.eq(false))
        .one(db)
        .await
}

/// Revoke the live tokens of this name in the scope; returns how many.
pub async fn mark_revoked_by_name<C: ConnectionTrait>(
    db: &C,
    tenant_id: Option<&str>,
    name: &str,
) -> Result<u64, DbErr> {
    let r = admin_token::Entity::update_many()
        .col_expr(admin_token::Column::Revoked, Expr::value(true))
        .filter(in_scope(tenant_id))
        .filter(admin_token::Column::Name.eq(name))
        .filter(admin_token::Column::Revoked.eq(false))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}
