//! A user's own preferences, kept apart from the attributes policy rules select on (a user may
//! change these themselves; they must never move the user between policy layers). First: the
//! time zone the portal shows times in (an IANA name, OIDC Core §5.1 `zoneinfo`).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000015_preferences"
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
                    .table(a("user_preferences"))
                    .col(
                        ColumnDef::new(a("user_id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    .col(ColumnDef::new(a("zoneinfo")).string().null())
                    .col(ColumnDef::new(a("updated_at")).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("user_preferences")).to_owned())
            .await
    }
}
