//! `lanyard audit export`: the audit trail of a tenant, filtered, streamed to stdout.

use super::output::{stream_to_stdout, ExportFormat};
use super::{m, Ctx};
use clap::Subcommand;
use lanyard_idp::manage::governance;
use lanyard_idp::session::service::export;

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Stream audit events in time order to stdout as CSV or JSON lines. Users are named by
    /// username, sessions by sid; times are RFC 3339 UTC.
    #[command(after_help = "Example:\n  \
        lanyard audit export --tenant acme --format jsonl --kind session.ended --since 2026-12-01T00:00:00Z")]
    Export {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Only events about this user (username).
        #[arg(long)]
        user: Option<String>,
        /// Only events of this session (sid).
        #[arg(long)]
        session: Option<String>,
        /// Only events of this kind (e.g. session.ended, policy.changed).
        #[arg(long)]
        kind: Option<String>,
        /// From this time on (RFC 3339 or unix seconds).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Before this time (RFC 3339 or unix seconds).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Export {
            tenant,
            format,
            user,
            session,
            kind,
            since,
            until,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let filter = governance::event_filter(
                &ctx.state.db,
                &t,
                governance::EventQuery {
                    user,
                    session,
                    kind,
                    since,
                    until,
                },
            )
            .await
            .map_err(m)?;
            stream_to_stdout(export::events(
                ctx.state.clone(),
                t,
                format.service(),
                filter,
            ))
            .await
        }
    }
}
