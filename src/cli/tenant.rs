//! `lanyard tenant ...`: create, list, show, set-policy, set-mail-from, set-admin-email,
//! show-security, set-response-chains, set-throttle, revoke-sessions, delete.

use super::output::{print_json, print_list, print_object, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::{Args, Subcommand};
use lanyard_idp::manage;
use lanyard_idp::session::PolicyLayer;

#[derive(Subcommand, Debug)]
pub enum TenantCmd {
    /// Create a tenant with fresh signing keys; its issuer is {public_url}/t/SLUG.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Change a tenant's session policy (fields not given keep their values). The old spelling of
    /// `lanyard policy set --tenant SLUG ...`, which sets every field of every layer.
    SetPolicy {
        slug: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Set the From address of the tenant's e-mail ('' falls back to LANYARD_MAIL_FROM).
    SetMailFrom { slug: String, address: String },
    /// Set the address told when a user reports a sign-in as not theirs ('' removes it).
    SetAdminEmail { slug: String, address: String },
    /// Show the tenant's security settings: response chains and login-throttle thresholds.
    ShowSecurity { slug: String },
    /// Replace the tenant's response chains with the JSON list in FILE ('-' reads standard
    /// input; '[]' removes them). The format is in the README, "Response chains".
    SetResponseChains { slug: String, file: String },
    /// Change login-throttle thresholds (the others keep their values), e.g.
    /// `--set account_free_failures=10 --set ip_max_failures=50`.
    SetThrottle {
        slug: String,
        /// FIELD=SECONDS_OR_COUNT (repeat for several).
        #[arg(long = "set", value_name = "FIELD=N", required = true)]
        set: Vec<String>,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one tenant with its session policy (as set, and in force).
    Show {
        slug: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// End every session of the tenant (logout propagated to every RP).
    RevokeSessions { slug: String },
    /// Delete a tenant and everything it owns; every session is ended first (RPs are told).
    Delete {
        slug: String,
        /// Confirm: the tenant's users, clients, keys, sessions and audit trail are deleted.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Idle timeout of SSO sessions, seconds (default 3600).
    #[arg(long)]
    session_idle_timeout: Option<i64>,
    /// Absolute lifetime of SSO sessions, seconds (default 43200).
    #[arg(long)]
    session_absolute_timeout: Option<i64>,
    /// Whether a refresh-token replay ends the whole session (default true).
    #[arg(long)]
    refresh_reuse_ends_session: Option<bool>,
}

impl PolicyArgs {
    fn layer(&self) -> PolicyLayer {
        PolicyLayer {
            idle_timeout_secs: self.session_idle_timeout,
            absolute_timeout_secs: self.session_absolute_timeout,
            refresh_reuse_ends_session: self.refresh_reuse_ends_session,
            ..Default::default()
        }
    }
}

const COLUMNS: &[Column] = &[
    ("SLUG", "slug", Cell::Text),
    ("NAME", "name", Cell::Text),
    ("ISSUER", "issuer", Cell::Text),
    ("CREATED", "created_at", Cell::Secs),
];

pub async fn run(ctx: &Ctx, cmd: TenantCmd) -> anyhow::Result<()> {
    let db = &ctx.state.db;
    let public = &ctx.state.config.public_url;
    match cmd {
        TenantCmd::Create { slug, name, policy } => print_json(
            &manage::create_tenant(db, public, &slug, name.as_deref(), policy.layer(), ctx.now)
                .await
                .map_err(m)?,
        ),
        TenantCmd::SetPolicy { slug, policy } => {
            let t = ctx.tenant(&slug).await?;
            let changed = manage::set_policy(&ctx.state, &t, policy.layer(), ACTOR)
                .await
                .map_err(m)?;
            print_json(&changed)
        }
        TenantCmd::SetMailFrom { slug, address } => {
            let t = ctx.tenant(&slug).await?;
            let a = Some(Some(address).filter(|a| !a.is_empty()));
            print_json(
                &manage::mail::set(&ctx.state, &t, a, None, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        TenantCmd::SetAdminEmail { slug, address } => {
            let t = ctx.tenant(&slug).await?;
            let a = Some(Some(address).filter(|a| !a.is_empty()));
            print_json(
                &manage::mail::set(&ctx.state, &t, None, a, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        TenantCmd::ShowSecurity { slug } => {
            let t = ctx.tenant(&slug).await?;
            print_json(&manage::security::show(&ctx.state, &t).await.map_err(m)?)
        }
        TenantCmd::SetResponseChains { slug, file } => {
            let raw = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?
            };
            let t = ctx.tenant(&slug).await?;
            print_json(
                &manage::security::set_chains(&ctx.state, &t, &raw, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        TenantCmd::SetThrottle { slug, set } => {
            let mut changes = serde_json::Map::new();
            for kv in &set {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--set {kv}: expected FIELD=N"))?;
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--set {kv}: {v} is not a whole number"))?;
                changes.insert(k.trim().to_string(), serde_json::json!(n));
            }
            let t = ctx.tenant(&slug).await?;
            print_json(
                &manage::security::set_throttle(
                    &ctx.state,
                    &t,
                    &serde_json::Value::Object(changes),
                    ACTOR,
                )
                .await
                .map_err(m)?,
            )
        }
        TenantCmd::List { output } => print_list(
            &manage::tenants::list_tenants(db, public).await.map_err(m)?,
            COLUMNS,
            output.format(),
        ),
        TenantCmd::Show { slug, output } => print_object(
            &manage::tenants::show_tenant(db, public, &slug)
                .await
                .map_err(m)?,
            output.format(),
        ),
        TenantCmd::RevokeSessions { slug } => {
            let t = ctx.tenant(&slug).await?;
            let n = manage::revoke_tenant_sessions(&ctx.state, &t, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))
        }
        TenantCmd::Delete { slug, yes } => {
            let t = ctx.tenant(&slug).await?;
            if !yes {
                anyhow::bail!(
                    "deleting tenant '{slug}' ends every session and deletes its users, clients, keys and audit trail; add --yes to confirm"
                );
            }
            print_json(
                &manage::tenants::delete_tenant(&ctx.state, &t, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
    }
}
