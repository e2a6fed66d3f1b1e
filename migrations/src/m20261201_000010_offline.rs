//! `offline_access` gets its meaning (OIDC Core §11, Back-Channel Logout §2.7): a refresh family
//! granted `offline_access` is marked `offline` and outlives the session it was granted in when
//! that session ends by logout or timeout. Existing families are marked from their scope.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_offline"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("refresh_families"))
                    .add_column(
                        ColumnDef::new(Alias::new("offline"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        // Scopes are space-separated (RFC 6749 §3.3); pad so a whole-word match is a LIKE.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE refresh_families SET offline = TRUE \
                 WHERE (' ' || scope || ' ') LIKE '% offline_access %'",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_families_user")
                    .table(Alias::new("refresh_families"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("user_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_refresh_families_user")
                    .table(Alias::new("refresh_families"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("refresh_families"))
                    .drop_column(Alias::new("offline"))
                    .to_owned(),
            )
            .await
    }
}
