//! E-mail: a flag on users that makes their next login ask for a new password (set when they
//! report a sign-in as not theirs), the "this wasn't me" links sent in new-device notices (only
//! their id is stored; the link carries an HMAC of it), and each tenant's mail settings (the
//! From address and an address that hears of reported sign-ins).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000009_mail"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(a("users"))
                    .add_column(
                        ColumnDef::new(a("must_change_password"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("mail_links"))
                    .col(ColumnDef::new(a("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    // not_me (a new-device notice's "this wasn't me")
                    .col(ColumnDef::new(a("purpose")).string().not_null())
                    .col(ColumnDef::new(a("user_id")).string().not_null())
                    .col(ColumnDef::new(a("session_id")).string().not_null())
                    .col(ColumnDef::new(a("device_id")).string().null())
                    .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("expires_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("used_at")).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("tenant_mail_settings"))
                    .col(
                        ColumnDef::new(a("tenant_id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("mail_from")).string().null())
                    .col(ColumnDef::new(a("admin_email")).string().null())
                    .col(ColumnDef::new(a("updated_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["tenant_mail_settings", "mail_links"] {
            manager
                .drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(a("users"))
                    .drop_column(a("must_change_password"))
                    .to_owned(),
            )
            .await
    }
}
