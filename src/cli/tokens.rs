//! `lanyard keys ...` and `lanyard admin-token ...`: signing keys and admin API tokens.

use super::output::{print_json, print_list, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::Subcommand;
use lanyard_idp::manage::{self, tokens};

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Publish new signing keys now; they sign after --activate-in seconds and the current keys
    /// stay published until every token they signed has expired.
    Rotate {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// Seconds until the new keys sign: at least 120, beyond the 60 s clock skew allowed
        /// between nodes (the current keys sign meanwhile).
        #[arg(long, default_value_t = 3600)]
        activate_in: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminTokenCmd {
    /// Create an admin API token (printed once), for one tenant or (without --tenant) all.
    Create {
        #[arg(long)]
        tenant: Option<String>,
        /// A name unique among the live tokens of its scope (to list and revoke it by).
        name: String,
    },
    /// List admin tokens: name, tenant, created, revoked (never the token).
    List {
        /// Only this tenant's tokens (default: every token).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke an admin token by name; it stops working at once.
    Revoke {
        /// The token's tenant (omit for an all-tenant token).
        #[arg(long)]
        tenant: Option<String>,
        name: String,
    },
}

const COLUMNS: &[Column] = &[
    ("NAME", "name", Cell::Text),
    ("TENANT", "tenant", Cell::Text),
    ("CREATED", "created_at", Cell::Secs),
    ("REVOKED", "revoked", Cell::Text),
];

pub async fn run_keys(ctx: &Ctx, cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Rotate {
            tenant,
            activate_in,
        } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &manage::rotate_keys(&ctx.state.db, &t, activate_in, ctx.now)
                    .await
                    .map_err(m)?,
            )
        }
    }
}

pub async fn run_admin_token(ctx: &Ctx, cmd: AdminTokenCmd) -> anyhow::Result<()> {
    let state = &ctx.state;
    let scope = |slug: Option<String>| async move {
        match slug {
            Some(s) => ctx.tenant(&s).await.map(Some),
            None => Ok(None),
        }
    };
    match cmd {
        AdminTokenCmd::Create { tenant, name } => {
            let t = scope(tenant).await?;
            let token = manage::create_admin_token(
                &state.db,
                &state.hasher,
                t.as_ref(),
                &name,
                ACTOR,
                ctx.now,
            )
            .await
            .map_err(m)?;
            print_json(
                &serde_json::json!({ "name": name, "tenant": t.map(|t| t.slug), "token": token }),
            )
        }
        AdminTokenCmd::List { tenant, output } => {
            let t = scope(tenant).await?;
            let list = tokens::list_admin_tokens(&state.db, t.as_ref())
                .await
                .map_err(m)?;
            print_list(&list, COLUMNS, output.format())
        }
        AdminTokenCmd::Revoke { tenant, name } => {
            let t = scope(tenant).await?;
            let n = tokens::revoke_admin_token(&state.db, t.as_ref(), &name, ACTOR, ctx.now)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "revoked": name, "tokens": n }))
        }
    }
}
