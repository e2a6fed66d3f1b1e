//! `lanyard bench-seed` (hidden): inserts active sessions straight through the store, so the
//! logout-propagation benchmark (`lanyard-logout-bench`) and the fault tests can end thousands of
//! sessions without thousands of real logins (argon2id costs ~20 ms each).
//!
//! The sessions are ordinary rows (state `active`, deadlines from the tenant policy, no device)
//! whose cookie nobody holds; each lists the given clients as participants, exactly as if they
//! had received tokens in it, so ending them goes through the one termination path. The sid of
//! session `i` is `{sid_prefix}{i}`, so an RP under test can tell which session a logout token
//! names and which clients are owed one. With `--ended` the rows are stored already ended (the
//! growth measurement of `conformance/LOAD.md`: a million stored sessions, most of them over).
//! Not for production data.

use anyhow::{bail, Context};
use lanyard_idp::app::AppState;
use lanyard_idp::store::{self, TransactionTrait};
use serde::Serialize;

/// `lanyard bench-seed --tenant T --username U --clients A,B --sessions N [--spread] [--sid-prefix P] [--batch B] [--ended]`
#[derive(clap::Args, Debug, Clone)]
pub struct BenchSeedArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// The user who holds every seeded session (must exist).
    #[arg(long)]
    pub username: String,
    /// Participating clients (client_id), comma-separated or repeated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub clients: Vec<String>,
    /// How many sessions to insert.
    #[arg(long)]
    pub sessions: u64,
    /// Session i gets only client `i mod len(clients)` as participant (default: every client).
    #[arg(long)]
    pub spread: bool,
    /// The sid of session i is `{sid_prefix}{i}` (default: a random prefix ending in '-').
    #[arg(long)]
    pub sid_prefix: Option<String>,
    /// Sessions per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: u64,
    /// Insert the sessions already ended (a user logout at the time of seeding), for measuring
    /// how the rates hold up as ended sessions pile up.
    #[arg(long)]
    pub ended: bool,
}

/// What `bench-seed` prints (one JSON object).
#[derive(Debug, Serialize)]
pub struct Seeded {
    pub sessions_created: u64,
    pub participants: u64,
    /// The `sub` the logout tokens will carry.
    pub user_id: String,
    pub sid_prefix: String,
}

/// Insert `args.sessions` active sessions for the user, `args.batch` per transaction.
pub async fn run(state: &AppState, args: &BenchSeedArgs) -> anyhow::Result<Seeded> {
    let public = &state.config.public_url;
    let tenant = lanyard_idp::manage::tenant(&state.db, public, &args.tenant)
        .await
        .map_err(|e| anyhow::anyhow!(lanyard_idp::manage::describe(&e)))?;
    let user = store::users::find_by_username(&state.db, &tenant.id, &args.username)
        .await?
        .with_context(|| format!("no user '{}'", args.username))?;
    let mut client_ids = Vec::with_capacity(args.clients.len());
    for c in &args.clients {
        let row = store::clients::find_by_client_id(&state.db, &tenant.id, c)
            .await?
            .with_context(|| format!("no client '{c}'"))?;
        client_ids.push(row.id);
    }
    if client_ids.is_empty() {
        bail!("--clients must name at least one client");
    }
    let prefix = args
        .sid_prefix
        .clone()
        .unwrap_or_else(|| format!("{}-", lanyard_idp::crypto::random_id()));
    let policy = lanyard_idp::session::service::policy::show(state, &tenant, Some(&user.id), None)
        .await
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    let batch = args.batch.max(1);
    let mut created = 0u64;
    let mut participants = 0u64;
    while created < args.sessions {
        let now = state.clock.now();
        let clocks = lanyard_idp::session::clocks::initial_clocks(
            policy.idle_timeout_secs.value,
            policy.absolute_timeout_secs.value,
            None,
            now,
        );
        let end = (created + batch).min(args.sessions);
        let txn = state.db.begin().await?;
        for i in created..end {
            let id = lanyard_idp::crypto::random_id();
            store::sessions::insert(
                &txn,
                store::sessions::SessionRow {
                    id: id.clone(),
                    tenant_id: tenant.id.clone(),
                    sid: format!("{prefix}{i}"),
                    cookie_hash: state
                        .hasher
                        .hash("session", &lanyard_idp::crypto::random_token()),
                    user_id: user.id.clone(),
                    device_id: None,
                    auth_time: now,
                    acr: "1".into(),
                    amr: r#"["pwd"]"#.into(),
                    ip: "127.0.0.1".into(),
                    user_agent: "lanyard bench-seed".into(),
                    created_at: now,
                    last_active_at: now,
                    idle_deadline: clocks.idle_deadline,
                    absolute_deadline: clocks.absolute_deadline,
                    state: if args.ended {
                        store::sessions::ENDED
                    } else {
                        store::sessions::ACTIVE
                    }
                    .into(),
                    ended_at: args.ended.then_some(now),
                    end_reason: args
                        .ended
                        .then(|| lanyard_idp::session::EndReason::UserLogout.as_str().into()),
                    end_batch: None,
                    mode: "normal".into(),
                    idle_timeout_secs: clocks.idle_timeout_secs,
                    absolute_timeout_secs: clocks.absolute_timeout_secs,
                    scheduled_end_at: None,
                    policy_snapshot: policy.to_snapshot(),
                    country: None,
                    mode_reason: None,
                    mfa_at: None,
                    binding_alert: None,
                    geo_lat_e6: None,
                    geo_lon_e6: None,
                    geo_at: None,
                    seen_ctx: None,
                    seen_ctx_at: None,
                },
            )
            .await?;
            let chosen: &[String] = if args.spread {
                let k = (i % client_ids.len() as u64) as usize;
                &client_ids[k..=k]
            } else {
                &client_ids
            };
            for client in chosen {
                store::sessions::upsert_participant(&txn, &tenant.id, &id, client, now).await?;
                participants += 1;
            }
        }
        txn.commit().await?;
        created = end;
    }
    Ok(Seeded {
        sessions_created: created,
        participants,
        user_id: user.id,
        sid_prefix: prefix,
    })
}
