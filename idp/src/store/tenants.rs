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

/// What deleting a tenant left behind on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Back-channel logout deliveries still owed (kept so the dispatcher can finish them).
    pub deliveries_owed: u64,
}

/// Delete a tenant and every row it owns, in the caller's transaction. Two things stay: the
/// back-channel deliveries still owed (the sessions were ended first, and their relying parties
/// must still hear of it), and the signing keys that sign those logout tokens, which are marked
/// removed from `keys_removed_at` on (so nothing verifies against them after that). With nothing
/// owed, the keys go at once.
pub async fn delete_all<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    keys_removed_at: i64,
) -> Result<Option<Deleted>, DbErr> {
    use super::entities::*;
    use sea_orm::sea_query::Expr;
    // The tenant row first: a write up front takes SQLite's write lock before any read.
    let r = tenant::Entity::delete_many()
        .filter(tenant::Column::Id.eq(tenant_id))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Ok(None);
    }
    macro_rules! purge {
        ($($m:ident),*) => {$(
            $m::Entity::delete_many()
                .filter($m::Column::TenantId.eq(tenant_id))
                .exec(db)
                .await?;
        )*};
    }
    purge!(
        user,
        client,
        device,
        session,
        session_participant,
        auth_request,
        auth_code,
        refresh_family,
        refresh_token,
        access_token,
        audit_event,
        admin_token,
        policy_layer,
        policy_setting,
        group,
        group_member,
        user_attribute,
        user_factor,
        mail_link
    );
    tenant_mail_settings::Entity::delete_many()
        .filter(tenant_mail_settings::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    outbox::Entity::delete_many()
        .filter(outbox::Column::TenantId.eq(tenant_id))
        .filter(outbox::Column::State.is_in([super::outbox::DELIVERED, super::outbox::DEAD]))
        .exec(db)
        .await?;
    use sea_orm::PaginatorTrait;
    let owed = outbox::Entity::find()
        .filter(outbox::Column::TenantId.eq(tenant_id))
        .count(db)
        .await?;
    if owed == 0 {
        purge!(signing_key);
    } else {
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::RemoveAt, Expr::value(keys_removed_at))
            .filter(signing_key::Column::TenantId.eq(tenant_id))
            .exec(db)
            .await?;
    }
    Ok(Some(Deleted {
        deliveries_owed: owed,
    }))
}
