//! Users of a tenant.

use super::entities::user;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

pub use user::Model as User;

pub const ACTIVE: &str = "active";
pub const DISABLED: &str = "disabled";

pub async fn insert<C: ConnectionTrait>(db: &C, u: User) -> Result<User, DbErr> {
    let am: user::ActiveModel = u.into();
    am.insert(db).await
}

/// The user a typed name denotes. Names are stored in their PRECIS form (RFC 8265 §3.4), and
/// the typed name is mapped the same way here, so every lookup (login, CLI, admin API, cohort
/// selectors) agrees that `ALICE` is `alice`. A name no stored name can equal finds nobody.
pub async fn find_by_username<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    username: &str,
) -> Result<Option<User>, DbErr> {
    let Some(stored) = crate::username::lookup_form(username) else {
        return Ok(None);
    };
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Username.eq(stored))
        .one(db)
        .await
}

/// The user whose name looks like one with this UTS #39 skeleton, if any.
pub async fn find_by_skeleton<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    skeleton: &str,
) -> Result<Option<User>, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::UsernameSkeleton.eq(skeleton))
        .one(db)
        .await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<User>, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .one(db)
        .await
}

pub async fn list<C: ConnectionTrait>(db: &C, tenant_id: &str) -> Result<Vec<User>, DbErr> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await
}

/// Conditional status change; returns whether the row changed.
pub async fn mark_status<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    from: &str,
    to: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::Status, Expr::value(to))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Status.eq(from))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Users by id (for showing names beside ids).
pub async fn list_by_ids<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<User>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await
}

/// Serialise work on one user across connections and nodes: a write to the user's row takes
/// its row lock on PostgreSQL (held to commit) and the write lock on SQLite. Used first in the
/// login transaction so concurrent logins of one user are admitted one after another.
pub async fn lock_for_admission<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::Status, Expr::col(user::Column::Status).into())
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The profile fields an operator may change (groups live in `store::policies`).
#[derive(Debug, Clone)]
pub struct ProfileUpdate {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Replace e-mail and name; returns whether the user exists.
pub async fn update_profile<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    p: ProfileUpdate,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(p.email))
        .col_expr(user::Column::Name, Expr::value(p.name))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn update_password_hash<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    password_hash: String,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        // A new password is what a required change asked for.
        .col_expr(user::Column::MustChangePassword, Expr::value(false))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Make the user's next login ask for a new password (they reported a sign-in as not theirs).
pub async fn mark_must_change_password<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = user::Entity::update_many()
        .col_expr(user::Column::MustChangePassword, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn delete<C: ConnectionTrait>(db: &C, tenant_id: &str, id: &str) -> Result<bool, DbErr> {
    let r = user::Entity::delete_many()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// The user's own time zone (an IANA name), if they chose one.
pub async fn find_zoneinfo<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Option<String>, DbErr> {
    use super::entities::user_preference;
    Ok(user_preference::Entity::find_by_id(user_id.to_string())
        .filter(user_preference::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .and_then(|p| p.zoneinfo))
}

/// Set (or clear) the user's time zone.
pub async fn set_zoneinfo<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    zoneinfo: Option<&str>,
    now: i64,
) -> Result<(), DbErr> {
    use super::entities::user_preference;
    use sea_orm::sea_query::OnConflict;
    let row = user_preference::ActiveModel {
        user_id: sea_orm::Set(user_id.to_string()),
        tenant_id: sea_orm::Set(tenant_id.to_string()),
        zoneinfo: sea_orm::Set(zoneinfo.map(str::to_string)),
        updated_at: sea_orm::Set(now),
    };
    user_preference::Entity::insert(row)
        .on_conflict(
            OnConflict::column(user_preference::Column::UserId)
                .update_columns([
                    user_preference::Column::Zoneinfo,
                    user_preference::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
