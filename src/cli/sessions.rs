//! `lanyard session ...`, `lanyard device ...`, `lanyard deliveries ...`: what is live, what
//! happened, and ending it.

use super::output::{print_json, print_list, Cell, Column, OutputArgs};
use super::{m, Ctx, ACTOR};
use clap::Subcommand;
use lanyard_idp::manage::{self, sessions};

#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// List sessions (newest first).
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// Only this user's sessions (username).
        #[arg(long)]
        user: Option<String>,
        /// Only sessions still active.
        #[arg(long)]
        active: bool,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// One session's audit timeline (oldest first).
    Events {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        sid: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// End one session by its sid.
    Revoke {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        sid: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeviceCmd {
    /// Mark a device compromised and end every session on it.
    Revoke {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        device_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeliveriesCmd {
    /// List deliveries: pending, in_flight, retry (with last error), delivered (with latency), dead.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// pending, in_flight, retry, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        /// Only deliveries for this session (sid).
        #[arg(long)]
        session: Option<String>,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Deliver a dead or retrying delivery again now.
    Retry {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

const SESSION_COLUMNS: &[Column] = &[
    ("SID", "sid", Cell::Text),
    ("USER", "username", Cell::Text),
    ("STATE", "state", Cell::Text),
    ("STARTED", "created_at", Cell::Secs),
    ("LAST_ACTIVE", "last_active_at", Cell::Secs),
    ("IP", "ip", Cell::Text),
    ("DEVICE", "device_id", Cell::Text),
    ("END_REASON", "end_reason", Cell::Text),
];

const EVENT_COLUMNS: &[Column] = &[
    ("AT", "at_ms", Cell::Millis),
    ("KIND", "kind", Cell::Text),
    ("USER", "username", Cell::Text),
    ("CLIENT", "client_id", Cell::Text),
    ("ACTOR", "actor", Cell::Text),
    ("OUTCOME", "outcome", Cell::Text),
    ("IP", "ip", Cell::Text),
];

const DELIVERY_COLUMNS: &[Column] = &[
    ("ID", "id", Cell::Text),
    ("SID", "sid", Cell::Text),
    ("CLIENT", "client_id", Cell::Text),
    ("STATE", "state", Cell::Text),
    ("ATTEMPTS", "attempts", Cell::Text),
    ("LATENCY_MS", "latency_ms", Cell::Text),
    ("NEXT_ATTEMPT", "next_attempt_at_ms", Cell::Millis),
    ("LAST_ERROR", "last_error", Cell::Text),
];

pub async fn run_session(ctx: &Ctx, cmd: SessionCmd) -> anyhow::Result<()> {
    let db = &ctx.state.db;
    match cmd {
        SessionCmd::List {
            tenant,
            user,
            active,
            limit,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let list = sessions::list_sessions(db, &t, user.as_deref(), active, limit)
                .await
                .map_err(m)?;
            print_list(&list, SESSION_COLUMNS, output.format())
        }
        SessionCmd::Events {
            tenant,
            sid,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let list = sessions::session_events(db, &t, &sid).await.map_err(m)?;
            print_list(&list, EVENT_COLUMNS, output.format())
        }
        SessionCmd::Revoke { tenant, sid } => {
            let t = ctx.tenant(&tenant).await?;
            let ended = manage::revoke_session(&ctx.state, &t, &sid, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": u64::from(ended) }))
        }
    }
}

pub async fn run_device(ctx: &Ctx, cmd: DeviceCmd) -> anyhow::Result<()> {
    match cmd {
        DeviceCmd::Revoke { tenant, device_id } => {
            let t = ctx.tenant(&tenant).await?;
            let n = manage::revoke_device(&ctx.state, &t, &device_id, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))
        }
    }
}

pub async fn run_deliveries(ctx: &Ctx, cmd: DeliveriesCmd) -> anyhow::Result<()> {
    match cmd {
        DeliveriesCmd::List {
            tenant,
            state,
            session,
            limit,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let list = sessions::list_deliveries(
                &ctx.state.db,
                &t,
                state.as_deref(),
                session.as_deref(),
                limit,
            )
            .await
            .map_err(m)?;
            print_list(&list, DELIVERY_COLUMNS, output.format())
        }
        DeliveriesCmd::Retry { tenant, id } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = manage::retry_delivery(&ctx.state, &t, &id)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "retried": changed }))
        }
    }
}
