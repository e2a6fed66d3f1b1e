//! Session governance II: what a session is bound to beyond IP and user agent (the country of
//! its login address), why it is in its current mode, when the second factor was last used, and
//! the last binding alert (so one alert per new context, not one per request). Users gain their
//! second factors (TOTP secret, recovery codes stored hashed) and the last TOTP time step used
//! (RFC 6238 §5.2: a code is accepted once).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000005_governance2"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

async fn add(manager: &SchemaManager<'_>, table: &str, col: ColumnDef) -> Result<(), DbErr> {
    let mut col = col;
    manager
        .alter_table(
            Table::alter()
                .table(a(table))
                .add_column(&mut col)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in [
            ColumnDef::new(a("country")).string().null().to_owned(),
            ColumnDef::new(a("mode_reason")).string().null().to_owned(),
            ColumnDef::new(a("mfa_at")).big_integer().null().to_owned(),
            ColumnDef::new(a("binding_alert")).text().null().to_owned(),
        ] {
            add(manager, "sessions", c).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(a("user_factors"))
                    .col(ColumnDef::new(a("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    .col(ColumnDef::new(a("user_id")).string().not_null())
                    // totp | recovery_code
                    .col(ColumnDef::new(a("kind")).string().not_null())
                    // pending (enrolment not yet confirmed) | active | used (recovery codes)
                    .col(ColumnDef::new(a("state")).string().not_null())
                    // TOTP: the base32 secret (stored like signing keys, ADR 0005); recovery
                    // code: its HMAC.
                    .col(ColumnDef::new(a("secret")).text().not_null())
                    // TOTP: the last accepted time step.
                    .col(ColumnDef::new(a("last_step")).big_integer().null())
                    .col(ColumnDef::new(a("created_at")).big_integer().not_null())
                    .col(ColumnDef::new(a("used_at")).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_factors_user")
                    .table(a("user_factors"))
                    .col(a("tenant_id"))
                    .col(a("user_id"))
                    .col(a("kind"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("user_factors")).to_owned())
            .await?;
        for c in ["country", "mode_reason", "mfa_at", "binding_alert"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("sessions"))
                        .drop_column(a(c))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
