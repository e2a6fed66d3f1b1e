//! Tenant admins: which users hold the admin role of their tenant.

use super::entities::tenant_admin;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use tenant_admin::Model as TenantAdmin;

/// Grant the role; `false` when the user already held it (nothing written).
pub async fn grant<C: ConnectionTrait>(db: &C, row: TenantAdmin) -> Result<bool, DbErr> {
    if find(db, &row.tenant_id, &row.user_id).await?.is_some() {
        return Ok(false);
    }
    let am: tenant_admin::ActiveModel = row.into();
    am.insert(db).await?;
    Ok(true)
}

/// Revoke the role; whether the user held it.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let r = tenant_admin::Entity::delete_many()
        .filter(tenant_admin::Column::TenantId.eq(tenant_id))
        .filter(tenant_admin::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<TenantAdmin>, DbErr> {
    tenant_admin::Entity::find()
        .filter(tenant_admin::Column::TenantId.eq(tenant_id))
        .filter(tenant_admin::Column::UserId.eq(user_id))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(db: &C, tenant_id: &str) -> Result<Vec<TenantAdmin>, DbErr> {
    tenant_admin::Entity::find()
        .filter(tenant_admin::Column::TenantId.eq(tenant_id))
        .all(db)
        .await
}
