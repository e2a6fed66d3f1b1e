//! `lanyard-load`: a load benchmark for any OpenID Connect provider on this machine.
//!
//! Finds the provider by its issuer (discovery), then for each scenario and concurrency runs
//! workers for a warm-up and a measured window, and reports successful requests per second,
//! errors and latency percentiles. See `conformance/LOAD.md` for usage and recorded figures.

mod cpu;
mod form;
mod login;
mod oauth;
mod report;
mod runner;
mod scenario;
mod stats;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use url::Url;

use crate::oauth::ClientCredentials;
use crate::report::RunReport;
use crate::runner::Bounds;
use crate::scenario::Scenario;
use crate::target::{Target, User};

/// Measured window when neither `--duration` nor `--requests` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Cap on the measured window when only `--requests` is given, so every run ends.
const REQUESTS_ONLY_CAP: Duration = Duration::from_secs(300);
/// Largest accepted `--concurrency`.
const MAX_CONCURRENCY: usize = 1024;

/// Which scenarios to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScenarioChoice {
    Login,
    LoginPublic,
    Refresh,
    ClientCredentials,
    Introspect,
    IntrospectUser,
    Userinfo,
    Sso,
    All,
}

/// Load benchmark for an OpenID Connect provider reachable on a loopback address.
#[derive(Debug, Parser)]
#[command(name = "lanyard-load", version)]
struct Cli {
    /// Issuer URL; endpoints are taken from its discovery document.
    #[arg(long)]
    issuer: Url,
    /// Confidential client (client_secret_basic) used by every scenario but login-public.
    #[arg(long)]
    client_id: String,
    #[arg(long, env = "LANYARD_LOAD_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Public client (auth method none + PKCE) for the login-public scenario.
    #[arg(long)]
    public_client_id: Option<String>,
    #[arg(long)]
    username: String,
    #[arg(long, env = "LANYARD_LOAD_PASSWORD", hide_env_values = true)]
    password: String,
    /// Redirect URI registered for the clients. Nothing needs to listen there: the bench stops
    /// at the redirect and reads the code from its URL.
    #[arg(long, default_value = "http://127.0.0.1:8765/callback")]
    redirect_uri: String,
    #[arg(long, value_enum, default_value = "all")]
    scenario: ScenarioChoice,
    /// Concurrent workers; several values (`16,64`) run each scenario at each.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    concurrency: Vec<usize>,
    /// Measured seconds per scenario (default 10; 300 at most when only --requests is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop each scenario after this many measured operations.
    #[arg(long)]
    requests: Option<u64>,
    /// Warm-up seconds before each measured window; its samples are dropped.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM) for an https issuer.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Free text naming the provider in the JSON report (e.g. "lanyard", "oidc-provider").
    #[arg(long)]
    label: Option<String>,
    /// Permit a non-loopback issuer and endpoints. Off by default: this is a load generator.
    #[arg(long)]
    allow_remote: bool,
    /// The provider's process id: its CPU time (from /proc/PID/stat) over each measured window
    /// is reported, per operation and as operations per CPU-second.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl Cli {
    fn bounds(&self) -> anyhow::Result<Bounds> {
        let seconds = |name: &str, s: f64| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| anyhow::anyhow!("--{name} must be a non-negative number of seconds"))
        };
        let duration = match (self.duration, self.requests) {
            (Some(d), _) => seconds("duration", d)?,
            (None, Some(_)) => REQUESTS_ONLY_CAP,
            (None, None) => DEFAULT_DURATION,
        };
        if self.requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        Ok(Bounds {
            warmup: seconds("warmup", self.warmup)?,
            duration,
            max_requests: self.requests,
        })
    }

    fn scenarios(&self) -> Vec<Scenario> {
        match self.scenario {
            ScenarioChoice::Login => vec![Scenario::Login],
            ScenarioChoice::LoginPublic => vec![Scenario::LoginPublic],
            ScenarioChoice::Refresh => vec![Scenario::Refresh],
            ScenarioChoice::ClientCredentials => vec![Scenario::ClientCredentials],
            ScenarioChoice::Introspect => vec![Scenario::Introspect],
            ScenarioChoice::IntrospectUser => vec![Scenario::IntrospectUser],
            ScenarioChoice::Userinfo => vec![Scenario::Userinfo],
            ScenarioChoice::Sso => vec![Scenario::Sso],
            ScenarioChoice::All => Scenario::all(self.public_client_id.is_some()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let bounds = cli.bounds()?;
    if let Some(bad) = cli
        .concurrency
        .iter()
        .find(|c| **c == 0 || **c > MAX_CONCURRENCY)
    {
        bail!("--concurrency {bad} is outside 1..={MAX_CONCURRENCY}");
    }
    if !cli.allow_remote && !target::is_loopback(&cli.issuer) {
        bail!(
            "refusing to load {}: not a loopback address (pass --allow-remote to permit)",
            cli.issuer
        );
    }
    let redirect_uri = Url::parse(&cli.redirect_uri).context("--redirect-uri")?;
    let server = cli.server_pid.map(cpu::CpuMeter::new).transpose()?;

    let pool = cli.concurrency.iter().copied().max().unwrap_or(1);
    let http = target::build_http_client(pool, cli.ca_file.as_deref())?;
    let endpoints = target::discover(&http, &cli.issuer, cli.allow_remote).await?;
    let target = Arc::new(Target {
        http,
        endpoints,
        redirect_uri: redirect_uri.to_string(),
        user: User {
            username: cli.username.clone(),
            password: cli.password.clone(),
        },
        confidential: ClientCredentials::confidential(
            cli.client_id.clone(),
            cli.client_secret.clone(),
        ),
        public: cli.public_client_id.clone().map(ClientCredentials::public),
        allow_remote: cli.allow_remote,
    });

    println!(
        "issuer {}  warm-up {:.1}s  window {:.1}s{}",
        target.endpoints.issuer,
        bounds.warmup.as_secs_f64(),
        bounds.duration.as_secs_f64(),
        bounds
            .max_requests
            .map(|n| format!(" or {n} operations"))
            .unwrap_or_default(),
    );
    println!("{}", report::table_header());
    let mut results = Vec::new();
    // Exit status 2 when a scenario could not be set up or never succeeded, so scripts notice.
    let mut all_measured = true;
    for scenario in cli.scenarios() {
        for &concurrency in &cli.concurrency {
            let result = runner::run_scenario(
                target.clone(),
                scenario,
                concurrency,
                bounds,
                server.as_ref(),
            )
            .await?;
            println!("{}", report::table_row(&result));
            all_measured &= result.succeeded_at_all();
            results.push(result);
        }
    }

    if let Some(path) = &cli.json {
        let run = RunReport {
            tool: concat!("lanyard-load ", env!("CARGO_PKG_VERSION")),
            label: cli.label.clone(),
            issuer: target.endpoints.issuer.clone(),
            warmup_s: bounds.warmup.as_secs_f64(),
            duration_s: bounds.duration.as_secs_f64(),
            max_requests: bounds.max_requests,
            results,
        };
        let json = serde_json::to_string_pretty(&run)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if all_measured {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
