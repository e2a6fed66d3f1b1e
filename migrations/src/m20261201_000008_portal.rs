//! The self-service portal: a device's category as its user states it (personal, shared or
//! kiosk). Existing devices are personal until someone says otherwise.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000008_portal"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("devices"))
                    .add_column(
                        ColumnDef::new(Alias::new("category"))
                            .string()
                            .not_null()
                            .default("personal"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("devices"))
                    .drop_column(Alias::new("category"))
                    .to_owned(),
            )
            .await
    }
}
