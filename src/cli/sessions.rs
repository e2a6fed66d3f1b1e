//! `lanyard session ...` (also `lanyard sessions ...`), `lanyard device ...`, `lanyard
//! deliveries ...`: what is live, what happened, ending it (one session or a cohort), and
//! exporting it.

use super::output::{
    print_json, print_list, stream_to_stdout, Cell, Column, ExportFormat, Format, OutputArgs,
};
use super::{m, s, Ctx, ACTOR};
use clap::{ArgGroup, Subcommand};
use lanyard_idp::manage::{self, governance, sessions};
use lanyard_idp::session::service::cohort::CohortReport;
use lanyard_idp::session::service::{cohort, export};

/// The selector flags of `session revoke`, by argument id.
const SELECTORS: [&str; 7] = [
    "user",
    "group",
    "client",
    "device",
    "ip_range",
    "attribute",
    "auth_before",
];

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
    /// End one session by its sid, or every live session a cohort selector covers (selectors
    /// Re-evaluate one session now: its policy (timeouts, limits, binding, second factor) is
    /// resolved again; what it now requires takes effect at its next refresh or authorization.
    Resync {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        sid: String,
    },
    /// Force a session's mode: read_only (new tokens keep only safe scopes), reauth_required
    /// (the user signs in again before anything new is issued) or normal.
    SetMode {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        sid: String,
        /// normal, read_only or reauth_required.
        mode: String,
    },
    /// combine with AND; `--dry-run` reports what would end and ends nothing).
    #[command(
        group(ArgGroup::new("what").required(true).multiple(true)
            .args(["sid", "user", "group", "client", "device", "ip_range", "attribute", "auth_before"])),
        after_help = "Examples:\n  \
            lanyard session revoke --tenant acme SID\n  \
            lanyard sessions revoke --tenant acme --group contractors --client payroll --dry-run\n  \
            lanyard sessions revoke --tenant acme --ip-range 10.0.0.0/8 --auth-before 2026-12-01T09:00:00Z"
    )]
    Revoke {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// One session to end (its sid); not combined with selectors.
        #[arg(conflicts_with_all = SELECTORS, conflicts_with = "dry_run")]
        sid: Option<String>,
        /// Sessions of this user (username).
        #[arg(long)]
        user: Option<String>,
        /// Sessions of members of this group.
        #[arg(long)]
        group: Option<String>,
        /// Sessions this client (client_id) took part in.
        #[arg(long)]
        client: Option<String>,
        /// Sessions on this device (device id).
        #[arg(long)]
        device: Option<String>,
        /// Sessions that logged in from this network (CIDR; a bare address is one host).
        #[arg(long, value_name = "CIDR")]
        ip_range: Option<String>,
        /// Sessions of users with this attribute.
        #[arg(long, value_name = "KEY=VALUE")]
        attribute: Option<String>,
        /// Sessions authenticated strictly before this time (RFC 3339 or unix seconds).
        #[arg(long, value_name = "TIME")]
        auth_before: Option<String>,
        /// Report what the selectors cover; end nothing.
        #[arg(long)]
        dry_run: bool,
        /// How a cohort's report prints (a single sid always prints JSON).
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stream every session (or only active ones), oldest first, to stdout as CSV or JSON lines.
    /// Users are named by username; times are RFC 3339 UTC.
    Export {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Only sessions still active.
        #[arg(long)]
        active: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeviceCmd {
    /// List devices with their trust score (0-100), most recently seen first.
    List {
        /// The tenant (slug).
        #[arg(long)]
        tenant: String,
        /// Only devices this user has had sessions on (username).
        #[arg(long)]
        user: Option<String>,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[command(flatten)]
        output: OutputArgs,
    },
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

const DEVICE_COLUMNS: &[Column] = &[
    ("ID", "id", Cell::Text),
    ("NAME", "name", Cell::Text),
    ("BROWSER", "browser", Cell::Text),
    ("OS", "os", Cell::Text),
    ("LAST_SEEN", "last_seen", Cell::Secs),
    ("LAST_IP", "last_ip", Cell::Text),
    ("COUNTRY", "last_country", Cell::Text),
    ("TRUST", "trust", Cell::Text),
    ("SCORE", "trust_score", Cell::Text),
    ("POSTURE", "posture", Cell::Text),
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
        SessionCmd::Resync { tenant, sid } => {
            let t = ctx.tenant(&tenant).await?;
            print_json(
                &manage::revocation::resync_session(&ctx.state, &t, &sid, ACTOR)
                    .await
                    .map_err(m)?,
            )
        }
        SessionCmd::SetMode { tenant, sid, mode } => {
            let t = ctx.tenant(&tenant).await?;
            let changed = manage::revocation::set_session_mode(&ctx.state, &t, &sid, &mode, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sid": sid, "mode": mode, "changed": changed }))
        }
        SessionCmd::Revoke {
            tenant,
            sid: Some(sid),
            ..
        } => {
            let t = ctx.tenant(&tenant).await?;
            let ended = manage::revoke_session(&ctx.state, &t, &sid, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": u64::from(ended) }))
        }
        SessionCmd::Revoke {
            tenant,
            sid: None,
            user,
            group,
            client,
            device,
            ip_range,
            attribute,
            auth_before,
            dry_run,
            output,
        } => {
            let selector = governance::selector(governance::SelectorInput {
                user,
                group,
                client,
                device,
                ip_range,
                attribute,
                auth_before,
            })
            .map_err(m)?;
            let t = ctx.tenant(&tenant).await?;
            let report = cohort::run(&ctx.state, &t, &selector, !dry_run, ACTOR)
                .await
                .map_err(s)?;
            print_report(&report, output.format())
        }
        SessionCmd::Export {
            tenant,
            format,
            active,
        } => {
            let t = ctx.tenant(&tenant).await?;
            stream_to_stdout(export::sessions(
                ctx.state.clone(),
                t,
                format.service(),
                active,
            ))
            .await
        }
    }
}

/// A cohort report: JSON as it is; for people, the counts, then who and which relying parties.
fn print_report(r: &CohortReport, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return print_json(r);
    }
    if r.dry_run {
        println!(
            "Dry run: nothing was ended. Run it again without --dry-run to end these sessions."
        );
    }
    let sel = &r.selector;
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in [
        ("user", &sel.user),
        ("group", &sel.group),
        ("client", &sel.client),
        ("device", &sel.device),
    ] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    if let Some(n) = &sel.ip_range {
        parts.push(format!("ip_range={n}"));
    }
    if let Some((k, v)) = &sel.attribute {
        parts.push(format!("attribute={k}={v}"));
    }
    if let Some(t) = sel
        .auth_before
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    {
        parts.push(format!("auth_before={}", t.format("%Y-%m-%d %H:%M:%SZ")));
    }
    let verb = if r.dry_run { "would end" } else { "ended" };
    println!("selector                {}", parts.join(" "));
    println!("sessions {verb:<14} {}", r.sessions);
    println!("users                   {}", r.users_total);
    println!("relying parties         {}", r.clients.len());
    println!("back-channel logouts    {}", r.backchannel_deliveries);
    if !r.users.is_empty() {
        println!("\nUSER");
        for u in &r.users {
            println!("{u}");
        }
        let more = r.users_total.saturating_sub(r.users.len() as u64);
        if more > 0 {
            println!("... and {more} more");
        }
    }
    if !r.clients.is_empty() {
        println!("\nCLIENT");
        for c in &r.clients {
            println!("{c}");
        }
    }
    Ok(())
}

pub async fn run_device(ctx: &Ctx, cmd: DeviceCmd) -> anyhow::Result<()> {
    match cmd {
        DeviceCmd::List {
            tenant,
            user,
            limit,
            output,
        } => {
            let t = ctx.tenant(&tenant).await?;
            let list = sessions::list_devices(&ctx.state, &t, user.as_deref(), limit)
                .await
                .map_err(m)?;
            print_list(&list, DEVICE_COLUMNS, output.format())
        }
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
            let changed = manage::retry_delivery(&ctx.state, &t, &id, ACTOR)
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "retried": changed }))
        }
    }
}
