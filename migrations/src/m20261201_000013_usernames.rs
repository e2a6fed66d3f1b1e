//! Usernames are stored in their PRECIS `UsernameCaseMapped` form (RFC 8265 §3.4) beside their
//! UTS #39 skeleton (§4), unique per tenant, so no two users of a tenant look alike (ADR 0014).
//!
//! Existing rows are mapped here (width, lower case, NFC) and given their skeleton. The mapping
//! is a frozen copy of `lanyard_idp::username` as of this release: a migration never changes
//! after release, even when the rule does. When two existing users of one tenant map to the
//! same name or skeleton the migration stops and names them, since choosing which one keeps the
//! name is the operator's call (rename or delete one with the previous release, then upgrade).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000013_usernames"
    }
}

/// Width mapping (RFC 8265 §3.3.1 rule 1), lower case (rule 3), NFC (rule 4).
fn map_username(raw: &str) -> String {
    let widened: String = raw
        .chars()
        .flat_map(|c| {
            let cp = u32::from(c);
            if (0xFF00..=0xFFEF).contains(&cp) || cp == 0x3000 || cp == 0x20A9 {
                c.to_string().nfkc().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    widened.to_lowercase().nfc().collect()
}

fn skeleton(mapped: &str) -> String {
    unicode_security::confusable_detection::skeleton(mapped).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("users"))
                    .add_column(
                        ColumnDef::new(Alias::new("username_skeleton"))
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let rows = db
            .query_all(Statement::from_string(
                db.get_database_backend(),
                "SELECT id, tenant_id, username FROM users ORDER BY tenant_id, created_at, id",
            ))
            .await?;
        let mut mapped = Vec::with_capacity(rows.len());
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut clashes = Vec::new();
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let tenant_id: String = row.try_get("", "tenant_id")?;
            let username: String = row.try_get("", "username")?;
            let name = map_username(&username);
            let skel = skeleton(&name);
            for key in [format!("n:{name}"), format!("s:{skel}")] {
                if let Some(first) = seen.get(&(tenant_id.clone(), key.clone())) {
                    clashes.push(format!(
                        "tenant {tenant_id}: '{username}' looks like '{first}'"
                    ));
                } else {
                    seen.insert((tenant_id.clone(), key), username.clone());
                }
            }
            mapped.push((id, name, skel));
        }
        if !clashes.is_empty() {
            clashes.dedup();
            return Err(DbErr::Migration(format!(
                "usernames that would be confusable after normalisation (RFC 8265, UTS #39); \
                 rename or delete one of each pair and migrate again: {}",
                clashes.join("; ")
            )));
        }
        for (id, name, skel) in mapped {
            manager
                .exec_stmt(
                    Query::update()
                        .table(Alias::new("users"))
                        .value(Alias::new("username"), name)
                        .value(Alias::new("username_skeleton"), skel)
                        .and_where(Expr::col(Alias::new("id")).eq(id))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_users_tenant_skeleton")
                    .table(Alias::new("users"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("username_skeleton"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_tenant_skeleton")
                    .table(Alias::new("users"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("users"))
                    .drop_column(Alias::new("username_skeleton"))
                    .to_owned(),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_names_map_as_the_profile_does() {
        assert_eq!(map_username("ALICE"), "alice");
        assert_eq!(map_username("ａｌｉｃｅ"), "alice");
        assert_eq!(map_username("e\u{301}"), "\u{E9}");
        assert_eq!(skeleton("\u{430}lice"), skeleton("alice"));
    }
}
