//! `lanyard-logout-bench`: how fast Lanyard propagates a logout to every relying party.
//!
//! Starts the `lanyard` binary on a fresh database (SQLite or PostgreSQL), registers clients whose
//! back-channel logout URIs point at in-process RP listeners, seeds sessions with the hidden
//! `lanyard bench-seed` command, then measures from outside, through the admin API:
//!
//! * `user`: revoking one user's sessions (default 25, session i with RP i) — time from the admin
//!   call to the last RP receiving its logout token, p50/p99 over many runs;
//! * `tenant`: one tenant-wide revocation of N sessions across 10 RPs — time until all N×10
//!   tokens arrived, and the server's peak resident memory at each N (flat = streaming);
//! * `cohort`: the same N sessions ended by a cohort revocation selecting their user.
//!
//! Every token is verified afterwards (signature against the tenant JWKS and every claim); invalid,
//! missing and duplicate counts are reported. See `conformance/LOGOUT_BENCH.md`.

mod rp;
mod scenario;
mod server;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    User,
    Tenant,
    /// Like `tenant`, but through the cohort revocation (`POST .../sessions/revoke` selecting
    /// the seeded user), so the selector path is measured too. Not part of `all`.
    Cohort,
    All,
}

/// Logout-propagation benchmark for Lanyard (loopback only).
#[derive(Debug, Parser)]
#[command(name = "lanyard-logout-bench", version)]
struct Cli {
    /// The `lanyard` binary to start (a release build: `cargo build --release -p lanyard`).
    #[arg(long, default_value = "target/release/lanyard")]
    lanyard_bin: PathBuf,
    /// `sqlite:` (any path; a fresh file is made per measurement) or `postgres://user@host/db`
    /// (a fresh database is created per measurement on that server and dropped afterwards).
    #[arg(long, default_value = "sqlite://lanyard-bench.db")]
    database_url: String,
    #[arg(long, value_enum, default_value = "all")]
    scenario: Which,
    /// Measured runs of the `user` scenario.
    #[arg(long, default_value_t = 100)]
    runs: u32,
    /// Unmeasured runs first (connection pools, key cache).
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Sessions (and RPs) of the revoked user in the `user` scenario.
    #[arg(long, default_value_t = 25)]
    user_sessions: u64,
    /// Session counts of the `tenant` scenario, each on a fresh server and database.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    sizes: Vec<u64>,
    /// RPs in the `tenant` scenario; every session has all of them as participants.
    #[arg(long, default_value_t = 10)]
    tenant_rps: usize,
    /// Extra environment for the server, `KEY=VALUE` (e.g. LANYARD_DELIVERY_CONCURRENCY=128).
    #[arg(long = "server-env")]
    server_env: Vec<String>,
    /// Put every RP's logout URI on one listener (one origin, so Lanyard's per-destination limit
    /// applies to all of them together) instead of one listener per RP.
    #[arg(long)]
    one_rp_host: bool,
    /// Give up on a measurement after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some logout tokens were invalid or missing (see above)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let mut server_env = Vec::new();
    for kv in &cli.server_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--server-env wants KEY=VALUE, got {kv}"))?;
        server_env.push((k.to_string(), v.to_string()));
    }
    let bench = scenario::Bench::new(
        cli.lanyard_bin.clone(),
        cli.database_url.clone(),
        server_env,
        std::time::Duration::from_secs(cli.timeout_secs),
        if cli.one_rp_host {
            1
        } else {
            (cli.user_sessions as usize).max(cli.tenant_rps)
        },
    )
    .await?;
    println!(
        "lanyard-logout-bench: {} on {}, {}",
        cli.lanyard_bin.display(),
        scenario::backend(&cli.database_url),
        if cli.one_rp_host {
            "every RP on one host"
        } else {
            "each RP on its own host (port)"
        }
    );
    let mut ok = true;
    if matches!(cli.scenario, Which::User | Which::All) {
        ok &= bench
            .user_revocation(cli.user_sessions, cli.warmup, cli.runs)
            .await?;
    }
    if matches!(cli.scenario, Which::Tenant | Which::All) {
        for &n in &cli.sizes {
            ok &= bench.tenant_revocation(n, cli.tenant_rps, false).await?;
        }
    }
    if cli.scenario == Which::Cohort {
        for &n in &cli.sizes {
            ok &= bench.tenant_revocation(n, cli.tenant_rps, true).await?;
        }
    }
    Ok(ok)
}
