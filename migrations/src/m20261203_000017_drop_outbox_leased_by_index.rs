//! Drop `ix_outbox_leased_by`. It served one read: the rows a claim had just stamped, read back
//! by their claim token. A claim now gets its rows from the claiming `UPDATE ... RETURNING`
//! (`store::outbox::claim_rows`), and outcomes are written by primary key, so nothing reads by
//! `leased_by` any more, while every claim still paid for moving the row's entry in the index.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000017_drop_outbox_leased_by_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_outbox_leased_by")
                    .table(Alias::new("outbox"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_leased_by")
                    .table(Alias::new("outbox"))
                    .col(Alias::new("leased_by"))
                    .to_owned(),
            )
            .await
    }
}
