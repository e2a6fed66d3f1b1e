//! Signing keys of a tenant (private JWKs; see `keys::` for their lifecycle).

use super::entities::signing_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub use signing_key::Model as KeyRow;

pub async fn insert<C: ConnectionTrait>(db: &C, k: KeyRow) -> Result<KeyRow, DbErr> {
    let am: signing_key::ActiveModel = k.into();
    am.insert(db).await
}

/// Every key not yet removed, oldest first.
pub async fn list_live<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    now: i64,
) -> Result<Vec<KeyRow>, DbErr> {
    signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant_id))
        .filter(
            sea_orm::Condition::any()
                .add(signing_key::Column::RemoveAt.is_null())
                .add(signing_key::Column::RemoveAt.gt(now)),
        )
        .order_by_asc(signing_key::Column::ActivateAt)
        .order_by_asc(signing_key::Column::CreatedAt)
        .all(db)
        .await
}

/// Schedule retirement of a key (it stays published until `remove_at`).
pub async fn mark_retiring<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kid: &str,
    retire_at: i64,
    remove_at: i64,
) -> Result<bool, DbErr> {
    let r = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetireAt, Expr::value(retire_at))
        .col_expr(signing_key::Column::RemoveAt, Expr::value(remove_at))
        .filter(signing_key::Column::TenantId.eq(tenant_id))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::RetireAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
