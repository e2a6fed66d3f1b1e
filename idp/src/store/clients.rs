//! Registered relying parties of a tenant.

use super::entities::client;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub use client::Model as ClientRow;

pub async fn insert<C: ConnectionTrait>(db: &C, c: ClientRow) -> Result<ClientRow, DbErr> {
    let am: client::ActiveModel = c.into();
    am.insert(db).await
}

/// By the public `client_id`.
pub async fn find_by_client_id<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    client_id: &str,
) -> Result<Option<ClientRow>, DbErr> {
    client::Entity::find()
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::ClientId.eq(client_id))
        .one(db)
        .await
}

/// By the internal row id.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<ClientRow>, DbErr> {
    client::Entity::find()
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.eq(id))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(db: &C, tenant_id: &str) -> Result<Vec<ClientRow>, DbErr> {
    client::Entity::find()
        .filter(client::Column::TenantId.eq(tenant_id))
        .order_by_asc(client::Column::ClientId)
        .all(db)
        .await
}

pub async fn list_by_ids<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    ids: Vec<String>,
) -> Result<Vec<ClientRow>, DbErr> {
    client::Entity::find()
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.is_in(ids))
        .all(db)
        .await
}
