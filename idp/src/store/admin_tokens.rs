//! Admin API tokens (stored hashed), created by the CLI.

use super::entities::admin_token;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

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
