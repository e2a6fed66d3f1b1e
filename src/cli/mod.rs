//! The command line: one module per concept (tenants, users, clients, sessions, policy, groups,
//! audit, tokens), each holding its arguments and the code that runs them on `lanyard_idp::manage`
//! or on the session service.

pub mod audit;
pub mod client;
pub mod group;
pub mod output;
pub mod policy;
pub mod serve;
pub mod sessions;
pub mod tenant;
pub mod tokens;
pub mod user;

use crate::bench_seed;
use anyhow::Context;
use clap::{Parser, Subcommand};
use lanyard_idp::app::{AppState, State};
use lanyard_idp::clock::{Clock, SystemClock};
use lanyard_idp::config::Config;
use lanyard_idp::manage::{self, ManageError};
use lanyard_idp::model::Tenant;
use lanyard_idp::store;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "lanyard",
    version,
    about = "An OpenID Connect provider that governs every session from grant to revocation",
    after_help = "Without a command, `lanyard` serves. Every command but `serve`, `migrate` and `tenant create` needs an \
existing database (LANYARD_DATABASE_URL, default ./lanyard.db)."
)]
pub struct Cli {
    /// Configuration file (default: ./lanyard.toml if present). LANYARD_* variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP (the default): binds the port, applies migrations and seeds the demo tenant on
    /// an empty database.
    Serve,
    /// Create the database if needed, apply migrations and exit.
    Migrate,
    /// Tenants (issuers).
    #[command(subcommand)]
    Tenant(tenant::TenantCmd),
    /// Users of a tenant.
    #[command(subcommand)]
    User(user::UserCmd),
    /// Relying parties (clients) of a tenant.
    #[command(subcommand)]
    Client(Box<client::ClientCmd>),
    /// Signing keys.
    #[command(subcommand)]
    Keys(tokens::KeysCmd),
    /// Sessions: list, timelines, revoke one or a cohort, export.
    #[command(subcommand, visible_alias = "sessions")]
    Session(sessions::SessionCmd),
    /// Session policy: the tenant default and group, attribute and client rules.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    /// Groups of a tenant (what policy rules and cohorts select by).
    #[command(subcommand)]
    Group(group::GroupCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Devices.
    #[command(subcommand)]
    Device(sessions::DeviceCmd),
    /// Back-channel logout deliveries.
    #[command(subcommand)]
    Deliveries(sessions::DeliveriesCmd),
    /// Admin API tokens.
    #[command(subcommand)]
    AdminToken(tokens::AdminTokenCmd),
    /// Benchmark tooling: insert active sessions directly (not for production data).
    #[command(hide = true)]
    BenchSeed(bench_seed::BenchSeedArgs),
    /// Benchmark tooling: how many argon2id verifications per second this machine completes at
    /// the parameters new password hashes get, one thread per core (the ceiling for logins).
    #[command(hide = true)]
    BenchHash {
        /// How long to measure.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// What every administrative command works with.
pub struct Ctx {
    pub state: State,
    pub now: i64,
}

/// The actor recorded in the audit trail for CLI changes.
pub const ACTOR: &str = "cli";

impl Ctx {
    pub async fn tenant(&self, slug: &str) -> anyhow::Result<Tenant> {
        manage::tenant(&self.state.db, &self.state.config.public_url, slug)
            .await
            .map_err(m)
    }
}

/// A manage error as the one line the operator sees.
pub fn m(e: ManageError) -> anyhow::Error {
    anyhow::anyhow!(manage::describe(&e))
}

/// A session-service error as the one line the operator sees (mapped by variant, as `m`).
pub fn s(e: lanyard_idp::error::Error) -> anyhow::Error {
    m(e.into())
}

pub async fn run(cmd: Command, config: Config) -> anyhow::Result<()> {
    match cmd {
        Command::Serve => return serve::serve(config).await,
        Command::Migrate => {
            open(config).await?;
            println!("migrations applied");
            return Ok(());
        }
        // Needs no database: it measures the machine.
        Command::BenchHash { seconds } => {
            let window = std::time::Duration::from_secs(seconds.max(1));
            let rate =
                tokio::task::spawn_blocking(move || lanyard_idp::passwords::verify_rate(window))
                    .await?
                    .map_err(|e| anyhow::anyhow!(e))?;
            return output::print_json(&rate);
        }
        _ => {}
    }
    // `tenant create` is how a scripted setup starts, so it may create the database; everything
    // else works on tenants that must already exist.
    if !matches!(cmd, Command::Tenant(tenant::TenantCmd::Create { .. })) {
        refuse_missing_sqlite_file(&config.database_url)?;
    }
    let state = open(config).await?;
    let ctx = Ctx {
        now: SystemClock.now(),
        state,
    };
    match cmd {
        Command::Serve | Command::Migrate | Command::BenchHash { .. } => Ok(()),
        Command::Tenant(c) => tenant::run(&ctx, c).await,
        Command::User(c) => user::run(&ctx, c).await,
        Command::Client(c) => client::run(&ctx, *c).await,
        Command::Keys(c) => tokens::run_keys(&ctx, c).await,
        Command::Session(c) => sessions::run_session(&ctx, c).await,
        Command::Policy(c) => policy::run(&ctx, c).await,
        Command::Group(c) => group::run(&ctx, c).await,
        Command::Audit(c) => audit::run(&ctx, c).await,
        Command::Device(c) => sessions::run_device(&ctx, c).await,
        Command::Deliveries(c) => sessions::run_deliveries(&ctx, c).await,
        Command::AdminToken(c) => tokens::run_admin_token(&ctx, c).await,
        Command::BenchSeed(args) => output::print_json(&bench_seed::run(&ctx.state, &args).await?),
    }
}

/// Connect, migrate and build the application state.
pub async fn open(config: Config) -> anyhow::Result<State> {
    let db = store::connect_sized(&config.database_url, config.database_max_connections)
        .await
        .context("cannot open the database (LANYARD_DATABASE_URL)")?;
    store::migrate(&db).await.context("migrations failed")?;
    AppState::new(db, config, Arc::new(SystemClock)).await
}

/// Administrative commands work on an existing database: opening a SQLite URL with `mode=rwc`
/// would quietly create an empty file, and the command would then fail on a missing tenant.
fn refuse_missing_sqlite_file(url: &str) -> anyhow::Result<()> {
    match sqlite_file(url) {
        Some(path) if !path.exists() => anyhow::bail!(
            "no database at {} (LANYARD_DATABASE_URL): start `lanyard serve` or run `lanyard migrate` (or `lanyard tenant create`) first, or point LANYARD_DATABASE_URL at the existing one",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// The file a `sqlite:` URL names; `None` for other databases and in-memory SQLite.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://lanyard.db?mode=rwc"),
            Some(PathBuf::from("lanyard.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/l.db"),
            Some(PathBuf::from("/var/lib/l.db"))
        );
        assert_eq!(sqlite_file("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn a_missing_file_is_refused_in_one_line_naming_it() {
        let e = refuse_missing_sqlite_file("sqlite:///nonexistent/dir/x.db?mode=rwc")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/nonexistent/dir/x.db"), "{e}");
        assert!(!e.contains('\n'));
    }
}
