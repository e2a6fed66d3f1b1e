//! Lanyard's database schema: one migration per schema change, never edited after release.
//!
//! Times are stored as `BIGINT` Unix seconds (milliseconds where a column name says `_ms`), so
//! SQLite and PostgreSQL compare and index them identically. Lists are JSON text.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261201_000002_operator;
mod m20261201_000003_governance;
mod m20261201_000005_governance2;
mod m20261201_000006_dpop;
mod m20261201_000007_risk;
mod m20261201_000008_portal;
mod m20261201_000009_mail;
mod m20261201_000010_offline;
mod m20261201_000011_admin;
mod m20261201_000012_lockout;
mod m20261201_000013_usernames;
mod m20261201_000015_preferences;
mod m20261202_000016_end_batch_index;
mod m20261203_000017_drop_outbox_leased_by_index;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261201_000002_operator::Migration),
            Box::new(m20261201_000003_governance::Migration),
            Box::new(m20261201_000005_governance2::Migration),
            Box::new(m20261201_000006_dpop::Migration),
            Box::new(m20261201_000007_risk::Migration),
            Box::new(m20261201_000008_portal::Migration),
            Box::new(m20261201_000009_mail::Migration),
            Box::new(m20261201_000010_offline::Migration),
            Box::new(m20261201_000011_admin::Migration),
            Box::new(m20261201_000012_lockout::Migration),
            Box::new(m20261201_000013_usernames::Migration),
            Box::new(m20261201_000015_preferences::Migration),
            Box::new(m20261202_000016_end_batch_index::Migration),
            Box::new(m20261203_000017_drop_outbox_leased_by_index::Migration),
        ]
    }
}
