//! Users' second factors: TOTP secrets and recovery codes (stored as HMACs). State changes are
//! conditional, so a code used twice at once is accepted once.

use super::entities::user_factor;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub use user_factor::Model as FactorRow;

pub const TOTP: &str = "totp";
pub const RECOVERY: &str = "recovery_code";
pub const PENDING: &str = "pending";
pub const ACTIVE: &str = "active";
pub const USED: &str = "used";

pub async fn insert<C: ConnectionTrait>(db: &C, f: FactorRow) -> Result<(), DbErr> {
    let am: user_factor::ActiveModel = f.into();
    user_factor::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn insert_many<C: ConnectionTrait>(db: &C, rows: Vec<FactorRow>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    user_factor::Entity::insert_many(rows.into_iter().map(user_factor::ActiveModel::from))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A user's factors of one kind and state, oldest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    kind: &str,
    state: &str,
) -> Result<Vec<FactorRow>, DbErr> {
    user_factor::Entity::find()
        .filter(user_factor::Column::TenantId.eq(tenant_id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::Kind.eq(kind))
        .filter(user_factor::Column::State.eq(state))
        .order_by_asc(user_factor::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    id: &str,
) -> Result<Option<FactorRow>, DbErr> {
    user_factor::Entity::find()
        .filter(user_factor::Column::TenantId.eq(tenant_id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::Id.eq(id))
        .one(db)
        .await
}

/// Delete a user's factors of one kind (all states when `state` is None).
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    kind: &str,
    state: Option<&str>,
) -> Result<u64, DbErr> {
    let mut q = user_factor::Entity::delete_many()
        .filter(user_factor::Column::TenantId.eq(tenant_id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::Kind.eq(kind));
    if let Some(s) = state {
        q = q.filter(user_factor::Column::State.eq(s));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// Record an accepted TOTP step, only if it is later than the last one (a concurrent use of the
/// same code loses here). Also activates a pending factor.
pub async fn mark_step<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    step: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::LastStep, Expr::value(step))
        .col_expr(user_factor::Column::State, Expr::value(ACTIVE))
        .col_expr(user_factor::Column::UsedAt, Expr::value(now))
        .filter(user_factor::Column::TenantId.eq(tenant_id))
        .filter(user_factor::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(user_factor::Column::LastStep.is_null())
                .add(user_factor::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Spend a recovery code by its HMAC: true exactly once.
pub async fn mark_recovery_used<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user_factor::Entity::update_many()
        .col_expr(user_factor::Column::State, Expr::value(USED))
        .col_expr(user_factor::Column::UsedAt, Expr::value(now))
        .filter(user_factor::Column::TenantId.eq(tenant_id))
        .filter(user_factor::Column::UserId.eq(user_id))
        .filter(user_factor::Column::Kind.eq(RECOVERY))
        .filter(user_factor::Column::State.eq(ACTIVE))
        .filter(user_factor::Column::Secret.eq(hash))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}
