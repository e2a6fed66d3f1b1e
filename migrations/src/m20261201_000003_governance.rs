//! Session governance I: layered policies stored one field per row, groups and user attributes
//! as tables, and the session's resolved policy (timeouts, scheduled end, snapshot) on the row.
//!
//! Policy settings are key/value rows (`policy_settings`), so a field is added by code alone and
//! renamed by a one-line `UPDATE policy_settings SET key = 'new' WHERE key = 'old'` in a later
//! migration; a row whose key or value the code cannot parse is an error naming the tenant and
//! the field, never a silent default.
//!
//! Data carried over: each tenant's JSON `policy` column becomes its tenant layer, each user's
//! JSON `groups` column becomes `groups` + `group_members` rows; both columns are then dropped so
//! there is one source of truth. Live sessions get the timeouts of their tenant's policy.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000003_governance"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}
fn s(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).string().not_null().to_owned()
}
fn s_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).string().null().to_owned()
}
fn text(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().not_null().to_owned()
}
fn int(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().not_null().to_owned()
}
fn pk(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .string()
        .not_null()
        .primary_key()
        .to_owned()
}

fn table(name: &str, cols: Vec<ColumnDef>) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(a(name));
    for mut c in cols {
        t.col(&mut c);
    }
    t.to_owned()
}

fn index(table: &str, name: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(a(table));
    for c in cols {
        i.col(a(c));
    }
    if unique {
        i.unique();
    }
    i.to_owned()
}

/// A fresh random id for carried-over rows (hex of 16 bytes from the database's own generator
/// would differ per dialect; the row ids only need to be unique).
fn row_id(prefix: &str, n: usize, salt: &str) -> String {
    format!("{prefix}-{salt}-{n}")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            // One row per layer: the tenant default, a group rule, an attribute rule, a client rule.
            table(
                "policy_layers",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    // tenant | group | attribute | client
                    s("kind"),
                    // '' for the tenant layer, the group name, `key=value`, or the client's row id.
                    s("subject"),
                    // Bumped on every change, so a change can be told apart and audited.
                    int("version"),
                    int("updated_at"),
                    s("updated_by"),
                ],
            ),
            table(
                "policy_settings",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("layer_id"),
                    s("key"),
                    text("value"),
                ],
            ),
            table(
                "groups",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("name"),
                    s_null("description"),
                    int("created_at"),
                ],
            ),
            table(
                "group_members",
                vec![pk("id"), s("tenant_id"), s("group_name"), s("user_id")],
            ),
            table(
                "user_attributes",
                vec![pk("id"), s("tenant_id"), s("user_id"), s("key"), s("value")],
            ),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = vec![
            index(
                "policy_layers",
                "ux_policy_layers_subject",
                &["tenant_id", "kind", "subject"],
                true,
            ),
            index(
                "policy_settings",
                "ux_policy_settings_key",
                &["layer_id", "key"],
                true,
            ),
            index(
                "policy_settings",
                "ix_policy_settings_tenant",
                &["tenant_id"],
                false,
            ),
            index("groups", "ux_groups_name", &["tenant_id", "name"], true),
            index(
                "group_members",
                "ux_group_members",
                &["tenant_id", "group_name", "user_id"],
                true,
            ),
            index(
                "group_members",
                "ix_group_members_user",
                &["tenant_id", "user_id"],
                false,
            ),
            index(
                "user_attributes",
                "ux_user_attributes",
                &["tenant_id", "user_id", "key"],
                true,
            ),
            index(
                "user_attributes",
                "ix_user_attributes_kv",
                &["tenant_id", "key", "value"],
                false,
            ),
        ];
        for i in indexes {
            manager.create_index(i).await?;
        }

        // The session's resolved policy, so the hot path (touch on refresh) needs no policy reads.
        let session_cols = vec![
            ColumnDef::new(a("mode"))
                .string()
                .not_null()
                .default("normal")
                .to_owned(),
            ColumnDef::new(a("idle_timeout_secs"))
                .big_integer()
                .not_null()
                .default(3600)
                .to_owned(),
            ColumnDef::new(a("absolute_timeout_secs"))
                .big_integer()
                .not_null()
                .default(43200)
                .to_owned(),
            ColumnDef::new(a("scheduled_end_at"))
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(a("policy_snapshot"))
                .text()
                .not_null()
                .default("{}")
                .to_owned(),
        ];
        // SQLite adds one column per ALTER TABLE.
        for mut c in session_cols {
            manager
                .alter_table(
                    Table::alter()
                        .table(a("sessions"))
                        .add_column(&mut c)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(index(
                "sessions",
                "ix_sessions_scheduled",
                &["state", "scheduled_end_at"],
                false,
            ))
            .await?;

        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let salt = format!("m3{}", std::process::id());

        // Tenant policies (JSON) become tenant layers, one setting per field.
        let tenants = db
            .query_all(Statement::from_string(
                backend,
                "SELECT id, policy, created_at FROM tenants".to_string(),
            ))
            .await?;
        let mut n = 0;
        for row in tenants {
            let id: String = row.try_get("", "id")?;
            let policy: String = row.try_get("", "policy")?;
            let created_at: i64 = row.try_get("", "created_at")?;
            let layer = row_id("layer", n, &salt);
            n += 1;
            db.execute(Statement::from_sql_and_values(
                backend,
                sql(backend, "INSERT INTO policy_layers (id, tenant_id, kind, subject, version, updated_at, updated_by) VALUES (?, ?, 'tenant', '', 1, ?, 'migration')"),
                [layer.clone().into(), id.clone().into(), created_at.into()],
            ))
            .await?;
            let fields = parse_old_policy(&id, &policy)?;
            for (key, value) in fields {
                let sid = row_id("setting", n, &salt);
                n += 1;
                let timeout = matches!(key.as_str(), "idle_timeout_secs" | "absolute_timeout_secs");
                if let (true, Ok(secs)) = (timeout, value.parse::<i64>()) {
                    // Live sessions carry their tenant's timeouts from now on.
                    db.execute(Statement::from_sql_and_values(
                        backend,
                        sql(
                            backend,
                            &format!("UPDATE sessions SET {key} = ? WHERE tenant_id = ?"),
                        ),
                        [Value::from(secs), id.clone().into()],
                    ))
                    .await?;
                }
                db.execute(Statement::from_sql_and_values(
                    backend,
                    sql(backend, "INSERT INTO policy_settings (id, tenant_id, layer_id, key, value) VALUES (?, ?, ?, ?, ?)"),
                    [sid.into(), id.clone().into(), layer.clone().into(), key.into(), value.into()],
                ))
                .await?;
            }
        }

        // Users' JSON group lists become group rows and memberships.
        let users = db
            .query_all(Statement::from_string(
                backend,
                "SELECT id, tenant_id, groups, created_at FROM users".to_string(),
            ))
            .await?;
        let mut seen: std::collections::HashSet<(String, String)> = Default::default();
        for row in users {
            let uid: String = row.try_get("", "id")?;
            let tid: String = row.try_get("", "tenant_id")?;
            let groups: String = row.try_get("", "groups")?;
            let created_at: i64 = row.try_get("", "created_at")?;
            let list = parse_group_list(&uid, &groups)?;
            for g in list {
                if seen.insert((tid.clone(), g.clone())) {
                    db.execute(Statement::from_sql_and_values(
                        backend,
                        sql(backend, "INSERT INTO groups (id, tenant_id, name, description, created_at) VALUES (?, ?, ?, NULL, ?)"),
                        [row_id("group", n, &salt).into(), tid.clone().into(), g.clone().into(), created_at.into()],
                    ))
                    .await?;
                    n += 1;
                }
                db.execute(Statement::from_sql_and_values(
                    backend,
                    sql(backend, "INSERT INTO group_members (id, tenant_id, group_name, user_id) VALUES (?, ?, ?, ?)"),
                    [row_id("member", n, &salt).into(), tid.clone().into(), g.into(), uid.clone().into()],
                ))
                .await?;
                n += 1;
            }
        }

        for (t, c) in [("tenants", "policy"), ("users", "groups")] {
            manager
                .alter_table(Table::alter().table(a(t)).drop_column(a(c)).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Carried-over data cannot be folded back without loss; restore from a backup instead.
        Err(DbErr::Migration(
            "m20261201_000003_governance cannot be reverted; restore a backup".into(),
        ))
    }
}

/// `?` placeholders for SQLite, `$n` for PostgreSQL.
fn sql(backend: sea_orm_migration::sea_orm::DatabaseBackend, q: &str) -> String {
    if backend != sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
        return q.to_string();
    }
    let mut out = String::with_capacity(q.len() + 8);
    let mut i = 0;
    for ch in q.chars() {
        if ch == '?' {
            i += 1;
            out.push_str(&format!("${i}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// The old tenant policy JSON: `{"idle_timeout_secs": n|null, "absolute_timeout_secs": n|null,
/// "refresh_reuse_ends_session": b|null}`. Anything else is refused, naming the tenant.
fn parse_old_policy(tenant: &str, json: &str) -> Result<Vec<(String, String)>, DbErr> {
    let bad = |why: &str| DbErr::Migration(format!("tenant {tenant}: stored policy: {why}"));
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(&e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not an object"))?;
    let mut out = Vec::new();
    for (k, val) in obj {
        match (k.as_str(), val) {
            (_, serde_json::Value::Null) => {}
            ("idle_timeout_secs" | "absolute_timeout_secs", serde_json::Value::Number(n)) => {
                let n = n.as_i64().filter(|n| *n > 0).ok_or_else(|| bad(k))?;
                out.push((k.clone(), n.to_string()));
            }
            ("refresh_reuse_ends_session", serde_json::Value::Bool(b)) => {
                out.push((k.clone(), b.to_string()));
            }
            _ => return Err(bad(&format!("field {k}"))),
        }
    }
    Ok(out)
}

fn parse_group_list(user: &str, json: &str) -> Result<Vec<String>, DbErr> {
    let list: Vec<String> = serde_json::from_str(json)
        .map_err(|e| DbErr::Migration(format!("user {user}: stored groups: {e}")))?;
    let mut list: Vec<String> = list.into_iter().filter(|g| !g.is_empty()).collect();
    list.sort();
    list.dedup();
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_policies_carry_over_or_name_the_field() {
        assert_eq!(parse_old_policy("t", "{}").unwrap(), vec![]);
        let v = parse_old_policy(
            "t",
            r#"{"idle_timeout_secs":60,"absolute_timeout_secs":null,"refresh_reuse_ends_session":false}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                ("idle_timeout_secs".to_string(), "60".to_string()),
                (
                    "refresh_reuse_ends_session".to_string(),
                    "false".to_string()
                )
            ]
        );
        let e = parse_old_policy("acme", r#"{"idle_timeout_secs":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("acme") && e.to_string().contains("idle_timeout_secs"));
        assert!(parse_old_policy("t", "nope").is_err());
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        use sea_orm_migration::sea_orm::DatabaseBackend;
        assert_eq!(sql(DatabaseBackend::Sqlite, "a ? b ?"), "a ? b ?");
        assert_eq!(sql(DatabaseBackend::Postgres, "a ? b ?"), "a $1 b $2");
    }
}
