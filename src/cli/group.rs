//! `lanyard group ...`: the groups of a tenant (what group policy rules and cohorts select by).
//! Membership is set per user (`user create|update --group`).

use super::output::{print_json, print_list, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::Subcommand;
use lanyard_idp::manage::governance;

#[derive(Subcommand, Debug)]
pub enum GroupCmd {
    /// Create a group (users join it with `user update --group`).
    Create {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// 1-64 characters of letters, digits, '-', '_' and '.'.
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the groups with their member counts.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete a group, its memberships and its policy rule; former members' live sessions are
    /// re-resolved at once.
    Delete {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        name: String,
    },
}

const COLUMNS: &[Column] = &[
    ("NAME", "name", Cell::Text),
    ("MEMBERS", "members", Cell::Text),
    ("DESCRIPTION", "description", Cell::Text),
    ("CREATED", "created_at", Cell::Secs),
];

pub async fn run(ctx: &Ctx, cmd: GroupCmd) -> anyhow::Result<()> {
    match cmd {
        GroupCmd::Create {
            tenant,
            name,
            description,
        } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &governance::create_group(&ctx.state, &t, &name, description.as_deref(), ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        GroupCmd::List { tenant, output } => {
            let t = ctx.tenant(&tenant).await?;
            let groups = governance::list_groups(&ctx.state.db, &t)
                .await
                .map_err(m)?;
            print_list(&groups, COLUMNS, output.format())
        }
        GroupCmd::Delete { tenant, name } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &governance::delete_group(&ctx.state, &t, &name, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
    }
}
