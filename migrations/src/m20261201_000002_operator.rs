//! Operator controls on clients: a `disabled` flag (a disabled client's tokens stop working at
//! once) and the previous secret hash with the instant it stops working (secret rotation with an
//! overlap, so a deployment can roll the new secret out before the old one dies).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_operator"
    }
}

/// One column per statement: SQLite's ALTER TABLE adds one column at a time.
fn add(col: ColumnDef) -> TableAlterStatement {
    let mut col = col;
    Table::alter()
        .table(Alias::new("clients"))
        .add_column(&mut col)
        .to_owned()
}

fn drop(name: &str) -> TableAlterStatement {
    Table::alter()
        .table(Alias::new("clients"))
        .drop_column(Alias::new(name))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            ColumnDef::new(Alias::new("disabled"))
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Alias::new("previous_secret_hash"))
                .string()
                .null()
                .to_owned(),
            // Unix seconds; the previous secret is refused from this instant on.
            ColumnDef::new(Alias::new("previous_secret_until"))
                .big_integer()
                .null()
                .to_owned(),
        ];
        for c in columns {
            manager.alter_table(add(c)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for c in ["previous_secret_until", "previous_secret_hash", "disabled"] {
            manager.alter_table(drop(c)).await?;
        }
        Ok(())
    }
}
