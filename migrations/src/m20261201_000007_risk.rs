//! Risk signals: where and when a session was last seen (impossible travel compares each new
//! sighting with it; coordinates are integer micro-degrees so SQLite and PostgreSQL store them
//! exactly alike), the last request context (duplicate-session detection), and the history a device's trust score is computed from (login counters,
//! country changes, the last posture a trusted proxy reported).

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
/// The last request context (hash of IP and user agent) and when: duplicate-session detection.
const SESSION_CONTEXT: [(&str, bool); 2] = [("seen_ctx", true), ("seen_ctx_at", false)];
const DEVICE_COUNTERS: [&str; 3] = ["logins_ok", "logins_failed", "country_changes"];
const DEVICE_TEXT: [&str; 2] = ["last_country", "posture"];

async fn add(manager: &SchemaManager<'_>, table: &str, mut col: ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(a(table))
                .add_column(&mut col)
                .to_owned(),
        )
        .await
}

async fn drop(manager: &SchemaManager<'_>, table: &str, col: &str) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(a(table))
                .drop_column(a(col))
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in SESSION_COLUMNS {
            add(
                manager,
                "sessions",
                ColumnDef::new(a(c)).big_integer().null().to_owned(),
            )
            .await?;
        }
        for (c, text) in SESSION_CONTEXT {
            let mut col = ColumnDef::new(a(c));
            if text {
                col.text();
            } else {
                col.big_integer();
            }
            add(manager, "sessions", col.null().to_owned()).await?;
        }
        for c in DEVICE_COUNTERS {
            add(
                manager,
                "devices",
                ColumnDef::new(a(c))
                    .integer()
                    .not_null()
                    .default(0)
                    .to_owned(),
            )
            .await?;
        }
        for c in DEVICE_TEXT {
            add(
                manager,
                "devices",
                ColumnDef::new(a(c)).text().null().to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in SESSION_COLUMNS
            .iter()
            .chain(SESSION_CONTEXT.iter().map(|(c, _)| c))
        {
            drop(manager, "sessions", c).await?;
        }
        for c in DEVICE_COUNTERS.iter().chain(DEVICE_TEXT.iter()) {
            drop(manager, "devices", c).await?;
        }
        Ok(())
    }
}
