//! Lockout and brute-force protection: account locks (until a time, or until an administrator
//! unlocks), each tenant's security settings (response chains and login-throttle thresholds, as
//! JSON text validated by the application), and the occurrences of risk signals per user that
//! response chains count within their windows.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000012_lockout"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("account_locks"))
                    .col(
                        ColumnDef::new(a("user_id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    .col(ColumnDef::new(a("locked_at")).big_integer().not_null())
                    // NULL: until an administrator unlocks.
                    .col(ColumnDef::new(a("locked_until")).big_integer().null())
                    .col(ColumnDef::new(a("reason")).string().not_null())
                    .col(ColumnDef::new(a("actor")).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("tenant_security"))
                    .col(
                        ColumnDef::new(a("tenant_id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("response_chains")).text().not_null())
                    .col(ColumnDef::new(a("login_throttle")).text().not_null())
                    .col(ColumnDef::new(a("updated_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("signal_occurrences"))
                    .col(ColumnDef::new(a("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    .col(ColumnDef::new(a("user_id")).string().not_null())
                    .col(ColumnDef::new(a("signal")).string().not_null())
                    .col(ColumnDef::new(a("at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_signal_occurrences_user")
                    .table(a("signal_occurrences"))
                    .col(a("tenant_id"))
                    .col(a("user_id"))
                    .col(a("signal"))
                    .col(a("at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["signal_occurrences", "tenant_security", "account_locks"] {
            manager
                .drop_table(Table::drop().table(a(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}
