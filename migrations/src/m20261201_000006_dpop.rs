//! DPoP (RFC 9449): the key a refresh family (§5) and an authorization code (§10) are bound to,
//! as the JWK SHA-256 thumbprint (`jkt`, RFC 7638); a client's `dpop_bound_access_tokens`
//! registration (§5.2); and the register of DPoP proofs already seen (§11.1), shared by every
//! node and swept once a proof is too old to be accepted anyway.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_dpop"
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
        add(
            manager,
            "refresh_families",
            ColumnDef::new(a("dpop_jkt")).string().null().to_owned(),
        )
        .await?;
        add(
            manager,
            "auth_codes",
            ColumnDef::new(a("dpop_jkt")).string().null().to_owned(),
        )
        .await?;
        add(
            manager,
            "clients",
            ColumnDef::new(a("dpop_bound_access_tokens"))
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("dpop_proofs"))
                    .col(ColumnDef::new(a("tenant_id")).string().not_null())
                    // HMAC of the proof's key thumbprint and `jti`: a proof is seen once.
                    .col(ColumnDef::new(a("proof_hash")).string().not_null())
                    // After this Unix second the proof's `iat` is out of the window anyway.
                    .col(ColumnDef::new(a("expires_at")).big_integer().not_null())
                    .primary_key(Index::create().col(a("tenant_id")).col(a("proof_hash")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_dpop_proofs_expires")
                    .table(a("dpop_proofs"))
                    .col(a("expires_at"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("dpop_proofs")).to_owned())
            .await?;
        drop(manager, "clients", "dpop_bound_access_tokens").await?;
        drop(manager, "auth_codes", "dpop_jkt").await?;
        drop(manager, "refresh_families", "dpop_jkt").await?;
        Ok(())
    }
}
