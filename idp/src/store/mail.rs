//! Mail links ("this wasn't me" in a new-device notice) and each tenant's mail settings.
//!
//! A link row holds no secret: the link carries the row id and an HMAC of it (computed with the
//! deployment's hashing key when the mail is sent), so nothing in the database, the outbox
//! included, lets anyone build a working link. Using a link is a conditional update
//! (`used_at IS NULL AND expires_at > now`), so a link works once even when two requests race.

use super::entities::{mail_link, tenant_mail_settings};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use mail_link::Model as MailLinkRow;
pub use tenant_mail_settings::Model as MailSettingsRow;

/// The purpose of a new-device notice's link.
pub const NOT_ME: &str = "not_me";

pub async fn insert_link<C: ConnectionTrait>(db: &C, row: MailLinkRow) -> Result<(), DbErr> {
    let am: mail_link::ActiveModel = row.into();
    mail_link::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find_link<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<MailLinkRow>, DbErr> {
    mail_link::Entity::find()
        .filter(mail_link::Column::TenantId.eq(tenant_id))
        .filter(mail_link::Column::Id.eq(id))
        .one(db)
        .await
}

/// Use a link: only once, only before it expires. Returns whether this call used it.
pub async fn mark_link_used<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let r = mail_link::Entity::update_many()
        .col_expr(mail_link::Column::UsedAt, Expr::value(now))
        .filter(mail_link::Column::TenantId.eq(tenant_id))
        .filter(mail_link::Column::Id.eq(id))
        .filter(mail_link::Column::UsedAt.is_null())
        .filter(mail_link::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn find_settings<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Option<MailSettingsRow>, DbErr> {
    tenant_mail_settings::Entity::find()
        .filter(tenant_mail_settings::Column::TenantId.eq(tenant_id))
        .one(db)
        .await
}

/// Insert or replace a tenant's mail settings.
pub async fn save_settings<C: ConnectionTrait>(db: &C, row: MailSettingsRow) -> Result<(), DbErr> {
    let am: tenant_mail_settings::ActiveModel = row.into();
    tenant_mail_settings::Entity::insert(am)
        .on_conflict(
            OnConflict::column(tenant_mail_settings::Column::TenantId)
                .update_columns([
                    tenant_mail_settings::Column::MailFrom,
                    tenant_mail_settings::Column::AdminEmail,
                    tenant_mail_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
