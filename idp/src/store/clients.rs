//! Registered relying parties of a tenant.

use super::entities::client;
use sea_orm::sea_query::Expr;
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

/// The registration fields an operator may change (everything but identity and secrets).
#[derive(Debug, Clone)]
pub struct ClientUpdate {
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub first_party: bool,
    pub lifetimes: String,
}

/// Replace the changeable registration fields; returns whether the client exists.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    u: ClientUpdate,
) -> Result<bool, DbErr> {
    let r = client::Entity::update_many()
        .col_expr(client::Column::RedirectUris, Expr::value(u.redirect_uris))
        .col_expr(
            client::Column::PostLogoutRedirectUris,
            Expr::value(u.post_logout_redirect_uris),
        )
        .col_expr(
            client::Column::BackchannelLogoutUri,
            Expr::value(u.backchannel_logout_uri),
        )
        .col_expr(
            client::Column::FrontchannelLogoutUri,
            Expr::value(u.frontchannel_logout_uri),
        )
        .col_expr(client::Column::FirstParty, Expr::value(u.first_party))
        .col_expr(client::Column::Lifetimes, Expr::value(u.lifetimes))
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Conditional change of the `disabled` flag; returns whether the row changed.
pub async fn mark_disabled<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    disabled: bool,
) -> Result<bool, DbErr> {
    let r = client::Entity::update_many()
        .col_expr(client::Column::Disabled, Expr::value(disabled))
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.eq(id))
        .filter(client::Column::Disabled.eq(!disabled))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Install a new secret hash, keeping the current one as the previous secret until `until`
/// (`None`: the current one stops working now). Conditional on the current hash, so two
/// concurrent rotations cannot both believe they replaced the same secret.
pub async fn mark_secret_rotated<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    current_hash: &str,
    new_hash: &str,
    previous_until: Option<i64>,
) -> Result<bool, DbErr> {
    let previous = previous_until.map(|_| current_hash.to_string());
    let r = client::Entity::update_many()
        .col_expr(client::Column::SecretHash, Expr::value(new_hash))
        .col_expr(client::Column::PreviousSecretHash, Expr::value(previous))
        .col_expr(
            client::Column::PreviousSecretUntil,
            Expr::value(previous_until),
        )
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.eq(id))
        .filter(client::Column::SecretHash.eq(current_hash))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn delete<C: ConnectionTrait>(db: &C, tenant_id: &str, id: &str) -> Result<bool, DbErr> {
    let r = client::Entity::delete_many()
        .filter(client::Column::TenantId.eq(tenant_id))
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
