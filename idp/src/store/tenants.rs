//! Tenants: issuers with their own users, clients, keys and session policy.

use super::entities::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub use tenant::Model as Tenant;

pub async fn insert<C: ConnectionTrait>(db: &C, t: Tenant) -> Result<Tenant, DbErr> {
    let am: tenant::ActiveModel = t.into();
    am.insert(db).await
}

pub async fn find_by_slug<C: ConnectionTrait>(db: &C, slug: &str) -> Result<Option<Tenant>, DbErr> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<Tenant>, DbErr> {
    tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await
}

pub async fn count<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    tenant::Entity::find().count(db).await
}

pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Tenant>, DbErr> {
    tenant::Entity::find_by_id(id.to_string()).one(db).await
}
