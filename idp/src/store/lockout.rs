//! Account locks, each tenant's security settings (response chains, login-throttle thresholds)
//! and the risk-signal occurrences response chains count.

use super::entities::{account_lock, device, session, signal_occurrence, tenant_security};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use account_lock::Model as LockRow;
pub use signal_occurrence::Model as OccurrenceRow;
pub use tenant_security::Model as SecurityRow;

/// The lock row of a user, if any (it may have expired: `session::lock` decides).
pub async fn find_lock<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<LockRow>, DbErr> {
    account_lock::Entity::find_by_id(user_id.to_string())
        .filter(account_lock::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Every lock row of a tenant (expired ones included).
pub async fn list_locks<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Vec<LockRow>, DbErr> {
    account_lock::Entity::find()
        .filter(account_lock::Column::TenantId.eq(tenant_id))
        .all(db)
        .await
}

/// Insert or replace a user's lock (a new lock replaces an older one, whichever is longer: the
/// caller decides).
pub async fn save_lock<C: ConnectionTrait>(db: &C, row: LockRow) -> Result<(), DbErr> {
    let am: account_lock::ActiveModel = row.into();
    account_lock::Entity::insert(am)
        .on_conflict(
            OnConflict::column(account_lock::Column::UserId)
                .update_columns([
                    account_lock::Column::LockedAt,
                    account_lock::Column::LockedUntil,
                    account_lock::Column::Reason,
                    account_lock::Column::Actor,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Remove a user's lock. Returns whether there was one.
pub async fn delete_lock<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let r = account_lock::Entity::delete_many()
        .filter(account_lock::Column::TenantId.eq(tenant_id))
        .filter(account_lock::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}

pub async fn find_security<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Option<SecurityRow>, DbErr> {
    tenant_security::Entity::find_by_id(tenant_id.to_string())
        .one(db)
        .await
}

/// Insert or replace a tenant's security settings.
pub async fn save_security<C: ConnectionTrait>(db: &C, row: SecurityRow) -> Result<(), DbErr> {
    let am: tenant_security::ActiveModel = row.into();
    tenant_security::Entity::insert(am)
        .on_conflict(
            OnConflict::column(tenant_security::Column::TenantId)
                .update_columns([
                    tenant_security::Column::ResponseChains,
                    tenant_security::Column::LoginThrottle,
                    tenant_security::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn insert_occurrence<C: ConnectionTrait>(
    db: &C,
    row: OccurrenceRow,
) -> Result<(), DbErr> {
    let am: signal_occurrence::ActiveModel = row.into();
    signal_occurrence::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The times of a user's occurrences of `signal` at or after `since`, newest first (at most
/// `limit`).
pub async fn list_occurrences<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    signal: &str,
    since: i64,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    let rows = signal_occurrence::Entity::find()
        .filter(signal_occurrence::Column::TenantId.eq(tenant_id))
        .filter(signal_occurrence::Column::UserId.eq(user_id))
        .filter(signal_occurrence::Column::Signal.eq(signal))
        .filter(signal_occurrence::Column::At.gte(since))
        .order_by_desc(signal_occurrence::Column::At)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.at).collect())
}

/// How many occurrences a tenant holds (tests and the cross-tenant check).
pub async fn count_occurrences<C: ConnectionTrait>(db: &C, tenant_id: &str) -> Result<u64, DbErr> {
    signal_occurrence::Entity::find()
        .filter(signal_occurrence::Column::TenantId.eq(tenant_id))
        .count(db)
        .await
}

/// Whether `user_id` has had a session (any state) on device `device_id`: the device has
/// signed this account in before (its failures count apart from unknown devices').
pub async fn has_signed_in_on_device<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    device_id: &str,
) -> Result<bool, DbErr> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::DeviceId.eq(device_id))
        .count(db)
        .await?
        > 0)
}

/// Store the posture a trusted proxy reported for a device on a later request. Returns
/// whether it changed.
pub async fn mark_device_posture<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    posture: &str,
) -> Result<bool, DbErr> {
    let r = device::Entity::update_many()
        .col_expr(device::Column::Posture, Expr::value(posture))
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .filter(
            sea_orm::Condition::any()
                .add(device::Column::Posture.is_null())
                .add(device::Column::Posture.ne(posture)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
