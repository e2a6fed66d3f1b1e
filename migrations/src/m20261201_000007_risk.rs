//! Risk signals: where and when a session was last seen (impossible travel compares each new
//! sighting with it). Coordinates are integer micro-degrees so SQLite and PostgreSQL store
//! them exactly alike.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000007_risk"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

const SESSION_COLUMNS: [&str; 3] = ["geo_lat_e6", "geo_lon_e6", "geo_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in SESSION_COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("sessions"))
                        .add_column(ColumnDef::new(a(c)).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in SESSION_COLUMNS {
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
