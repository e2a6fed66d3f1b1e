//! Tenant admins: users with the admin role in their tenant, who sign in to the admin area at
//! `/t/{tenant}/admin` with their own Lanyard session (`lanyard user grant-admin`). One row per
//! (tenant, user); revoking the role deletes it. Who granted it and when is kept for the audit
//! trail (the grant is also an audit event).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_admin"
    }
}

fn a(s: &str) -> Alias {
    Alias::new(s)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("tenant_admins"))
                    .col(ColumnDef::new(a("id")).string().not_null().primary_key())
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    .col(ColumnDef::new(a("user_id")).string().not_null())
                    .col(ColumnDef::new(a("granted_by")).string().not_null())
                    .col(ColumnDef::new(a("granted_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_tenant_admins_user")
                    .table(a("tenant_admins"))
                    .col(a("tenant_id"))
                    .col(a("user_id"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("tenant_admins")).to_owned())
            .await
    }
}
