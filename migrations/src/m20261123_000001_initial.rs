//! The initial schema: tenants, users, clients, keys, devices, sessions, grants, audit, outbox.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_initial"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}
/// Required string (VARCHAR without length: TEXT on SQLite, VARCHAR on PostgreSQL).
fn s(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).string().not_null().to_owned()
}
fn s_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).string().null().to_owned()
}
fn text(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().not_null().to_owned()
}
fn text_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().null().to_owned()
}
fn int(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().not_null().to_owned()
}
fn int_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().null().to_owned()
}
fn boolean(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).boolean().not_null().to_owned()
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

const TABLES: &[&str] = &[
    "settings",
    "tenants",
    "users",
    "clients",
    "signing_keys",
    "devices",
    "sessions",
    "session_participants",
    "auth_requests",
    "auth_codes",
    "refresh_families",
    "refresh_tokens",
    "access_tokens",
    "audit_events",
    "outbox",
    "login_throttle",
    "admin_tokens",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = vec![
            // Process-wide secrets shared by every node (HMAC keys for cookies and secrets).
            table("settings", vec![pk("key"), text("value")]),
            table(
                "tenants",
                vec![
                    pk("id"),
                    s("slug"),
                    s("name"),
                    text("policy"),
                    int("created_at"),
                ],
            ),
            table(
                "users",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("username"),
                    s_null("email"),
                    boolean("email_verified"),
                    s_null("name"),
                    text("password_hash"),
                    s("status"),
                    text("groups"),
                    int("created_at"),
                    int("updated_at"),
                ],
            ),
            table(
                "clients",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("client_id"),
                    s_null("secret_hash"),
                    s("auth_method"),
                    text("redirect_uris"),
                    text("post_logout_redirect_uris"),
                    text("grant_types"),
                    s_null("backchannel_logout_uri"),
                    s_null("frontchannel_logout_uri"),
                    s("id_token_alg"),
                    text_null("jwks"),
                    boolean("first_party"),
                    text("lifetimes"),
                    int("created_at"),
                ],
            ),
            table(
                "signing_keys",
                vec![
                    pk("kid"),
                    s("tenant_id"),
                    s("alg"),
                    text("private_jwk"),
                    text("public_jwk"),
                    int("created_at"),
                    int("activate_at"),
                    int_null("retire_at"),
                    int_null("remove_at"),
                ],
            ),
            table(
                "devices",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("token_hash"),
                    text("user_agent"),
                    s("browser"),
                    s("os"),
                    s_null("name"),
                    int("first_seen"),
                    int("last_seen"),
                    s("last_ip"),
                    s("trust"),
                ],
            ),
            table(
                "sessions",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("sid"),
                    s("cookie_hash"),
                    s("user_id"),
                    s_null("device_id"),
                    int("auth_time"),
                    s("acr"),
                    text("amr"),
                    s("ip"),
                    text("user_agent"),
                    int("created_at"),
                    int("last_active_at"),
                    int("idle_deadline"),
                    int("absolute_deadline"),
                    s("state"),
                    int_null("ended_at"),
                    s_null("end_reason"),
                    // Which termination batch ended the session (exactly-once bookkeeping).
                    s_null("end_batch"),
                ],
            ),
            table(
                "session_participants",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("session_id"),
                    s("client_id"),
                    int("first_at"),
                    int("last_at"),
                ],
            ),
            table(
                "auth_requests",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    text("params"),
                    int("created_at"),
                    int("expires_at"),
                ],
            ),
            table(
                "auth_codes",
                vec![
                    pk("code_hash"),
                    s("tenant_id"),
                    s("client_id"),
                    s("session_id"),
                    s("user_id"),
                    text("redirect_uri"),
                    text("scope"),
                    text_null("nonce"),
                    s_null("code_challenge"),
                    int("auth_time"),
                    s("acr"),
                    text("amr"),
                    int("created_at"),
                    int("expires_at"),
                    s("state"),
                    s_null("family_id"),
                    s_null("access_jti"),
                ],
            ),
            table(
                "refresh_families",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("client_id"),
                    s_null("session_id"),
                    s("user_id"),
                    text("scope"),
                    int("auth_time"),
                    s("acr"),
                    text("amr"),
                    s("state"),
                    int("created_at"),
                    int("absolute_deadline"),
                    int_null("revoked_at"),
                    s_null("revoke_reason"),
                ],
            ),
            table(
                "refresh_tokens",
                vec![
                    pk("token_hash"),
                    s("tenant_id"),
                    s("family_id"),
                    int("generation"),
                    s("state"),
                    int("created_at"),
                    int("idle_deadline"),
                    int_null("rotated_at"),
                ],
            ),
            table(
                "access_tokens",
                vec![
                    pk("jti"),
                    s("tenant_id"),
                    s("client_id"),
                    s_null("session_id"),
                    s_null("family_id"),
                    int("expires_at"),
                    boolean("revoked"),
                ],
            ),
            table(
                "audit_events",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    int("at_ms"),
                    s("kind"),
                    s_null("session_id"),
                    s_null("user_id"),
                    s_null("client_id"),
                    s_null("ip"),
                    text_null("user_agent"),
                    s("actor"),
                    s("outcome"),
                    text("detail"),
                ],
            ),
            table(
                "outbox",
                vec![
                    pk("id"),
                    s("tenant_id"),
                    s("kind"),
                    s("session_id"),
                    s("client_id"),
                    text("target"),
                    text("payload"),
                    s("state"),
                    int("attempts"),
                    int("created_at_ms"),
                    int("next_attempt_at_ms"),
                    int_null("lease_until_ms"),
                    s_null("leased_by"),
                    text_null("last_error"),
                    int_null("delivered_at_ms"),
                ],
            ),
            table(
                "login_throttle",
                vec![
                    pk("key"),
                    int("failures"),
                    int("window_start"),
                    int("locked_until"),
                ],
            ),
            table(
                "admin_tokens",
                vec![
                    pk("id"),
                    s("token_hash"),
                    s_null("tenant_id"),
                    s("name"),
                    int("created_at"),
                    boolean("revoked"),
                ],
            ),
        ];
        for t in tables {
            manager.create_table(t).await?;
        }
        let indexes = vec![
            index("tenants", "ux_tenants_slug", &["slug"], true),
            index(
                "users",
                "ux_users_tenant_username",
                &["tenant_id", "username"],
                true,
            ),
            index(
                "clients",
                "ux_clients_tenant_client",
                &["tenant_id", "client_id"],
                true,
            ),
            index("signing_keys", "ix_keys_tenant", &["tenant_id"], false),
            index("devices", "ux_devices_token", &["token_hash"], true),
            index("sessions", "ux_sessions_cookie", &["cookie_hash"], true),
            index("sessions", "ux_sessions_sid", &["tenant_id", "sid"], true),
            index(
                "sessions",
                "ix_sessions_user",
                &["tenant_id", "user_id", "state"],
                false,
            ),
            index(
                "sessions",
                "ix_sessions_device",
                &["tenant_id", "device_id", "state"],
                false,
            ),
            index(
                "sessions",
                "ix_sessions_idle",
                &["state", "idle_deadline"],
                false,
            ),
            index(
                "sessions",
                "ix_sessions_abs",
                &["state", "absolute_deadline"],
                false,
            ),
            index(
                "session_participants",
                "ux_participants",
                &["session_id", "client_id"],
                true,
            ),
            index(
                "refresh_families",
                "ix_families_session",
                &["session_id"],
                false,
            ),
            index("refresh_tokens", "ix_rt_family", &["family_id"], false),
            index("access_tokens", "ix_at_session", &["session_id"], false),
            index("access_tokens", "ix_at_family", &["family_id"], false),
            index(
                "audit_events",
                "ix_audit_tenant_at",
                &["tenant_id", "at_ms"],
                false,
            ),
            index("audit_events", "ix_audit_session", &["session_id"], false),
            // Claims walk (state = X, next_attempt_at_ms ascending): a range of this index in order.
            index(
                "outbox",
                "ix_outbox_due",
                &["state", "next_attempt_at_ms"],
                false,
            ),
            index(
                "outbox",
                "ix_outbox_lease",
                &["state", "lease_until_ms"],
                false,
            ),
            index(
                "outbox",
                "ix_outbox_session",
                &["tenant_id", "session_id"],
                false,
            ),
            index("outbox", "ix_outbox_leased_by", &["leased_by"], false),
            index(
                "admin_tokens",
                "ux_admin_tokens_hash",
                &["token_hash"],
                true,
            ),
        ];
        for i in indexes {
            manager.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
