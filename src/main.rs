//! `lanyard`: the composition root. Parses the command line, loads configuration, and either
//! serves or runs one administrative command. Create commands print one JSON object on stdout.

mod bench_seed;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use lanyard_idp::app::{AppState, State};
use lanyard_idp::clock::{Clock, SystemClock};
use lanyard_idp::config::{Config, LogFormat};
use lanyard_idp::manage::{self, NewClient};
use lanyard_idp::model::Lifetimes;
use lanyard_idp::session::PolicyLayer;
use lanyard_idp::store;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "lanyard",
    version,
    about = "An OpenID Connect provider that governs every session from grant to revocation"
)]
struct Cli {
    /// Configuration file (default: ./lanyard.toml if present). LANYARD_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve HTTP (the default): applies migrations and seeds the demo tenant on an empty database.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Tenants (issuers).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Users of a tenant.
    #[command(subcommand)]
    User(UserCmd),
    /// Relying parties of a tenant.
    #[command(subcommand)]
    Client(Box<ClientCmd>),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Sessions.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Back-channel logout deliveries.
    #[command(subcommand)]
    Deliveries(DeliveriesCmd),
    /// Admin API tokens.
    #[command(subcommand)]
    AdminToken(AdminTokenCmd),
    /// Benchmark tooling: insert active sessions directly (not for production data).
    BenchSeed(bench_seed::BenchSeedArgs),
}

#[derive(Subcommand, Debug)]
enum TenantCmd {
    /// Create a tenant with fresh signing keys; its issuer is {public_url}/t/SLUG.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Change a tenant's session policy (fields not given keep their current values).
    SetPolicy {
        slug: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List tenants.
    List,
    /// End every session of the tenant (logout propagated to every RP).
    RevokeSessions { slug: String },
}

#[derive(Args, Debug, Clone, Default)]
struct PolicyArgs {
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

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// Create a user.
    Create {
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user and end all their sessions everywhere.
    Disable {
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// Re-enable a disabled user.
    Enable {
        #[arg(long)]
        tenant: String,
        username: String,
    },
    /// End every session of a user.
    RevokeSessions {
        #[arg(long)]
        tenant: String,
        username: String,
    },
}

#[derive(Subcommand, Debug)]
enum ClientCmd {
    /// Register a client. Prints client_id and, for confidential clients, the secret.
    Create(ClientArgs),
}

#[derive(Args, Debug)]
struct ClientArgs {
    #[arg(long)]
    tenant: String,
    client_id: String,
    /// Client secret (at least 16 characters); generated when omitted.
    #[arg(long, conflicts_with = "public")]
    secret: Option<String>,
    /// A public client (no secret; PKCE required).
    #[arg(long)]
    public: bool,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    #[arg(long)]
    frontchannel_logout_uri: Option<String>,
    /// authorization_code, refresh_token, client_credentials (default: the first two).
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// Skip the consent page (the tenant's own application).
    #[arg(long)]
    first_party: bool,
    /// client_secret_basic (default), client_secret_post, private_key_jwt, none.
    #[arg(long)]
    token_endpoint_auth_method: Option<String>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    id_token_signed_response_alg: Option<String>,
    /// JWK Set (JSON) with the client's public keys, for private_key_jwt.
    #[arg(long)]
    jwks: Option<String>,
    #[arg(long)]
    access_token_lifetime: Option<i64>,
    #[arg(long)]
    id_token_lifetime: Option<i64>,
    #[arg(long)]
    refresh_token_absolute_lifetime: Option<i64>,
    #[arg(long)]
    refresh_token_idle_lifetime: Option<i64>,
    /// Seconds a rotated refresh token may be retried while its successor is unused (default 0).
    #[arg(long)]
    refresh_reuse_grace: Option<i64>,
}

#[derive(Subcommand, Debug)]
enum KeysCmd {
    /// Publish new signing keys now; they sign after --activate-in seconds and the current keys
    /// stay published until every token they signed has expired.
    Rotate {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 3600)]
        activate_in: i64,
    },
}

#[derive(Subcommand, Debug)]
enum SessionCmd {
    /// List sessions (newest first).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        active: bool,
    },
    /// End one session by its sid.
    Revoke {
        #[arg(long)]
        tenant: String,
        sid: String,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// Mark a device compromised and end every session on it.
    Revoke {
        #[arg(long)]
        tenant: String,
        device_id: String,
    },
}

#[derive(Subcommand, Debug)]
enum DeliveriesCmd {
    /// List deliveries: pending, in_flight, retry (with last error), delivered (with latency), dead.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        state: Option<String>,
    },
    /// Deliver a dead or retrying delivery again now.
    Retry {
        #[arg(long)]
        tenant: String,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum AdminTokenCmd {
    /// Create an admin API token (printed once), for one tenant or all.
    Create {
        #[arg(long)]
        tenant: Option<String>,
        name: String,
    },
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// Logs go to stderr, filtered by `LANYARD_LOG` (default `info`), as text or JSON, coloured
/// only on a terminal (a journal or a file gets no escape codes). A filter that does not parse,
/// or names a target without a level, stops start-up with one line instead of being replaced
/// silently by a default.
fn init_tracing(format: LogFormat) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let filter = match std::env::var("LANYARD_LOG") {
        Ok(spec) => log_filter(&spec).map_err(|e| anyhow::anyhow!("LANYARD_LOG: {e}"))?,
        Err(std::env::VarError::NotPresent) => tracing_subscriber::EnvFilter::new("info"),
        Err(std::env::VarError::NotUnicode(_)) => bail!("LANYARD_LOG: not valid UTF-8"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Parse a `LANYARD_LOG` filter. Every directive is a level (`debug`) or `target=level`: a
/// bare word that is not a level would be taken as a target enabled at `trace` (so `warning`
/// or `verbose` would silence everything else), which is never what was meant.
fn log_filter(spec: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !d.contains('=')
            && d.parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
        {
            return Err(format!(
                "invalid filter {spec:?}: {d:?} is not a level (error, warn, info, debug, trace, off); write TARGET=LEVEL to set a target's level"
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(spec)
        .map_err(|e| format!("invalid filter {spec:?}: {e}"))
}

fn main() {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn open(config: Config) -> anyhow::Result<State> {
    let db = store::connect(&config.database_url)
        .await
        .with_context(|| "cannot open the database (LANYARD_DATABASE_URL)")?;
    store::migrate(&db).await.context("migrations failed")?;
    AppState::new(db, config, Arc::new(SystemClock)).await
}

fn m(e: lanyard_idp::error::Error) -> anyhow::Error {
    anyhow::anyhow!(manage::describe(&e))
}

async fn run(cmd: Command, config: Config) -> anyhow::Result<()> {
    if matches!(cmd, Command::Serve) {
        init_tracing(config.log_format)?;
        return serve(config).await;
    }
    let public = config.public_url.clone();
    let state = open(config).await?;
    let now = SystemClock.now();
    let tenant = |slug: String| {
        let state = state.clone();
        let public = public.clone();
        async move { manage::tenant(&state.db, &public, &slug).await.map_err(m) }
    };
    match cmd {
        Command::Serve => {}
        Command::Migrate => println!("migrations applied"),
        Command::Tenant(TenantCmd::Create { slug, name, policy }) => print_json(
            &manage::create_tenant(
                &state.db,
                &public,
                &slug,
                name.as_deref(),
                policy.layer(),
                now,
            )
            .await
            .map_err(m)?,
        )?,
        Command::Tenant(TenantCmd::SetPolicy { slug, policy }) => {
            let t = tenant(slug).await?;
            let changed = manage::set_policy(&state, &t, policy.layer(), "cli")
                .await
                .map_err(m)?;
            print_json(&changed)?
        }
        Command::Tenant(TenantCmd::List) => {
            let list: Vec<_> = store::tenants::list(&state.db).await?.into_iter()
                .map(|t| serde_json::json!({ "slug": t.slug, "name": t.name, "issuer": format!("{public}/t/{}", t.slug) }))
                .collect();
            print_json(&list)?
        }
        Command::Tenant(TenantCmd::RevokeSessions { slug }) => {
            let t = tenant(slug).await?;
            let n = manage::revoke_tenant_sessions(&state, &t, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))?
        }
        Command::User(UserCmd::Create {
            tenant: slug,
            username,
            email,
            groups,
            password,
            password_stdin,
        }) => {
            let t = tenant(slug).await?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s.lines().next().unwrap_or_default().to_string()
            } else {
                password.unwrap_or_default()
            };
            print_json(
                &manage::create_user(
                    &state.db,
                    &t,
                    &username,
                    email.as_deref(),
                    &groups,
                    &password,
                    now,
                )
                .await
                .map_err(m)?,
            )?
        }
        Command::User(UserCmd::Disable {
            tenant: slug,
            username,
        }) => {
            let t = tenant(slug).await?;
            let n = manage::disable_user(&state, &t, &username, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "disabled": username, "sessions_ended": n }))?
        }
        Command::User(UserCmd::Enable {
            tenant: slug,
            username,
        }) => {
            let t = tenant(slug).await?;
            let changed = manage::enable_user(&state, &t, &username, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "enabled": username, "changed": changed }))?
        }
        Command::User(UserCmd::RevokeSessions {
            tenant: slug,
            username,
        }) => {
            let t = tenant(slug).await?;
            let n = manage::revoke_user_sessions(&state, &t, &username, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))?
        }
        Command::Client(c) => {
            let ClientCmd::Create(a) = *c;
            {
                let t = tenant(a.tenant.clone()).await?;
                let d = Lifetimes::default();
                let lifetimes = Lifetimes {
                    access_token_secs: a.access_token_lifetime.unwrap_or(d.access_token_secs),
                    id_token_secs: a.id_token_lifetime.unwrap_or(d.id_token_secs),
                    refresh_absolute_secs: a
                        .refresh_token_absolute_lifetime
                        .unwrap_or(d.refresh_absolute_secs),
                    refresh_idle_secs: a.refresh_token_idle_lifetime.unwrap_or(d.refresh_idle_secs),
                    refresh_reuse_grace_secs: a
                        .refresh_reuse_grace
                        .unwrap_or(d.refresh_reuse_grace_secs),
                };
                if lifetimes.access_token_secs <= 0
                    || lifetimes.id_token_secs <= 0
                    || lifetimes.refresh_absolute_secs <= 0
                    || lifetimes.refresh_idle_secs <= 0
                    || lifetimes.refresh_reuse_grace_secs < 0
                {
                    bail!("lifetimes must be positive (grace may be 0)");
                }
                let c = NewClient {
                    client_id: a.client_id,
                    secret: a.secret,
                    public: a.public || a.token_endpoint_auth_method.as_deref() == Some("none"),
                    auth_method: a.token_endpoint_auth_method,
                    redirect_uris: a.redirect_uris,
                    post_logout_redirect_uris: a.post_logout_redirect_uris,
                    backchannel_logout_uri: a.backchannel_logout_uri,
                    frontchannel_logout_uri: a.frontchannel_logout_uri,
                    grant_types: a.grant_types,
                    first_party: a.first_party,
                    id_token_alg: a.id_token_signed_response_alg,
                    jwks: a.jwks,
                    lifetimes,
                };
                print_json(
                    &manage::create_client(&state.db, &state.hasher, &t, c, now)
                        .await
                        .map_err(m)?,
                )?
            }
        }
        Command::Keys(KeysCmd::Rotate {
            tenant: slug,
            activate_in,
        }) => {
            let t = tenant(slug).await?;
            print_json(
                &manage::rotate_keys(&state.db, &t, activate_in, now)
                    .await
                    .map_err(m)?,
            )?
        }
        Command::Session(SessionCmd::List {
            tenant: slug,
            user,
            active,
        }) => {
            let t = tenant(slug).await?;
            let user_id = match user {
                Some(u) => Some(
                    store::users::find_by_username(&state.db, &t.id, &u)
                        .await?
                        .with_context(|| format!("no user '{u}'"))?
                        .id,
                ),
                None => None,
            };
            let rows =
                store::sessions::list(&state.db, &t.id, user_id.as_deref(), active, 1000).await?;
            let list: Vec<_> = rows.into_iter().map(|s| serde_json::json!({
                "sid": s.sid, "user_id": s.user_id, "device_id": s.device_id, "state": s.state, "auth_time": s.auth_time,
                "ip": s.ip, "idle_deadline": s.idle_deadline, "absolute_deadline": s.absolute_deadline, "end_reason": s.end_reason,
            })).collect();
            print_json(&list)?
        }
        Command::Session(SessionCmd::Revoke { tenant: slug, sid }) => {
            let t = tenant(slug).await?;
            let ended = manage::revoke_session(&state, &t, &sid, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": u64::from(ended) }))?
        }
        Command::Device(DeviceCmd::Revoke {
            tenant: slug,
            device_id,
        }) => {
            let t = tenant(slug).await?;
            let n = manage::revoke_device(&state, &t, &device_id, "cli")
                .await
                .map_err(m)?;
            print_json(&serde_json::json!({ "sessions_ended": n }))?
        }
        Command::Deliveries(DeliveriesCmd::List {
            tenant: slug,
            state: st,
        }) => {
            let t = tenant(slug).await?;
            let rows = store::outbox::list(&state.db, &t.id, st.as_deref(), None, 1000).await?;
            let list: Vec<_> = rows.into_iter().map(|d| serde_json::json!({
                "id": d.id, "target": d.target, "state": d.state, "attempts": d.attempts,
                "latency_ms": d.delivered_at_ms.map(|a| a - d.created_at_ms), "last_error": d.last_error,
                "next_attempt_at_ms": d.next_attempt_at_ms,
            })).collect();
            print_json(&list)?
        }
        Command::Deliveries(DeliveriesCmd::Retry { tenant: slug, id }) => {
            let t = tenant(slug).await?;
            let changed = manage::retry_delivery(&state, &t, &id).await.map_err(m)?;
            print_json(&serde_json::json!({ "retried": changed }))?
        }
        Command::BenchSeed(args) => print_json(&bench_seed::run(&state, &args).await?)?,
        Command::AdminToken(AdminTokenCmd::Create { tenant: slug, name }) => {
            let t = match slug {
                Some(s) => Some(tenant(s).await?),
                None => None,
            };
            let token =
                manage::create_admin_token(&state.db, &state.hasher, t.as_ref(), &name, now)
                    .await
                    .map_err(m)?;
            print_json(
                &serde_json::json!({ "name": name, "tenant": t.map(|t| t.slug), "token": token }),
            )?
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind.clone();
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some((
            std::fs::read(c)
                .with_context(|| format!("LANYARD_TLS_CERT: cannot read {}", c.display()))?,
            std::fs::read(k)
                .with_context(|| format!("LANYARD_TLS_KEY: cannot read {}", k.display()))?,
        )),
        _ => None,
    };
    let demo = config.demo;
    let state = open(config).await?;
    if demo {
        if let Some(text) = manage::seed_demo(&state).await.map_err(m)? {
            println!("{text}");
        }
    }
    let _tasks = lanyard_idp::server::spawn_background(&state);
    // Observability: `/metrics` on its own address when LANYARD_METRICS_BIND is set.
    let _metrics = lanyard_idp::server::spawn_metrics_listener(&state).await?;
    let app = lanyard_idp::server::app(state.clone(), lanyard_admin::extend(state.clone()));
    use poem::listener::{AcceptorExt, Listener, RustlsCertificate, RustlsConfig, TcpListener};
    use poem::Server;
    // Bind before announcing, so a taken port fails loudly instead of after a false "listening".
    let acceptor = match tls {
        Some((cert, key)) => TcpListener::bind(bind.clone())
            .rustls(RustlsConfig::new().fallback(RustlsCertificate::new().cert(cert).key(key)))
            .into_acceptor()
            .await
            .map(|a| a.boxed())
            .with_context(|| format!("LANYARD_BIND: cannot listen on {bind}"))?,
        None => TcpListener::bind(bind.clone())
            .into_acceptor()
            .await
            .map(|a| a.boxed())
            .with_context(|| format!("LANYARD_BIND: cannot listen on {bind}"))?,
    };
    tracing::info!(bind = %bind, public_url = %state.config.public_url, "lanyard listening");
    println!(
        "Lanyard listening on {bind} (public URL {})",
        state.config.public_url
    );
    Server::new_with_acceptor(acceptor).run(app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn log_filters_name_levels_or_fail_clearly() {
        assert!(log_filter("info").is_ok());
        assert!(log_filter("info,lanyard_idp=debug").is_ok());
        assert!(log_filter("warn,sea_orm=off").is_ok());
        let e = log_filter("lanyard_idp=loud").unwrap_err();
        assert!(e.contains("lanyard_idp=loud"), "{e}");
        let e = log_filter("verbose").unwrap_err();
        assert!(e.contains("\"verbose\" is not a level"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
