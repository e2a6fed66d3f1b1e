//! lanyard-conformance: drives any OpenID provider from outside over HTTP through the OpenID
//! Foundation's OP test plans (re-implemented, same module names) and Lanyard's own
//! session-governance plan, then prints a table per module and exits non-zero on any failure.

mod clock;
mod ctx;
mod flow;
mod html;
mod http;
mod jwt;
mod listener;
mod logout_token;
mod op;
mod plans;
mod report;
mod setup;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Randomness;
use crate::ctx::{Ctx, IdleTarget, User};
use crate::op::{Client, ClientAuth, Op};
use crate::report::ModuleReport;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SetupKind {
    /// Provision tenant, clients and user through the `lanyard` CLI.
    Lanyard,
}

#[derive(Parser)]
#[command(name = "lanyard-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print the URIs to register for the clients at the OP (use the same --listen when running).
    PrintRegistration {
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: String,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// Issuer of the OP under test (discovery is fetched from it).
    #[arg(long)]
    issuer: Option<String>,
    /// Client 1: confidential, client_secret_basic.
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long, env = "CONFORMANCE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Client 2: confidential, registered for client_secret_post (cross-client and secret-post modules).
    #[arg(long)]
    client2_id: Option<String>,
    #[arg(long, env = "CONFORMANCE_CLIENT2_SECRET", hide_env_values = true)]
    client2_secret: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "CONFORMANCE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Plans to run (repeatable); default: all.
    #[arg(long = "plan")]
    plans: Vec<String>,
    /// Only these modules (repeatable); default: all of the selected plans.
    #[arg(long = "module")]
    modules: Vec<String>,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for the OP's TLS.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Address of the RP listener (redirect, post-logout, back/front-channel URIs).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The OP ends idle sessions after N seconds (enables the idle-timeout module).
    #[arg(long)]
    idle_timeout_secs: Option<u64>,
    /// How long to wait for a back-channel retry after answering 503.
    #[arg(long, default_value_t = 90)]
    retry_wait_secs: u64,
    /// Provision everything at the OP before running.
    #[arg(long, value_enum)]
    setup: Option<SetupKind>,
    #[arg(long, default_value = "lanyard")]
    lanyard_bin: String,
    /// Lanyard's public URL (the tenant issuer is {url}/t/{slug}).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    lanyard_url: String,
}

fn print_registration(listen: &str) {
    let base = format!("http://{listen}");
    println!("Register at the OP (run the runner with --listen {listen}):");
    println!(
        "  client 1 (--client-id): confidential, token_endpoint_auth_method client_secret_basic"
    );
    println!(
        "  client 2 (--client2-id): confidential, token_endpoint_auth_method client_secret_post"
    );
    println!("  both: grant types authorization_code, refresh_token; response type code");
    println!("  redirect_uri               {base}/{}", listener::CALLBACK);
    println!(
        "  post_logout_redirect_uri   {base}/{}",
        listener::POST_LOGOUT
    );
    println!("  backchannel_logout_uri     {base}/{}  (client 1, backchannel_logout_session_required=true)", listener::BACKCHANNEL);
    println!("  frontchannel_logout_uri    {base}/{}  (client 1, frontchannel_logout_session_required=true)", listener::FRONTCHANNEL);
}

fn required(v: Option<String>, flag: &str) -> Result<String> {
    v.with_context(|| format!("{flag} is required (or use --setup lanyard)"))
}

fn selected(args: &RunArgs) -> Result<Vec<(&'static str, Vec<&'static str>)>> {
    let all = plans::all();
    for p in &args.plans {
        if !all.iter().any(|(n, _)| n == p) {
            bail!(
                "unknown plan {p}; known: {}",
                all.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|(n, _)| args.plans.is_empty() || args.plans.iter().any(|p| p == n))
        .map(|(n, ms)| {
            let ms = ms
                .iter()
                .copied()
                .filter(|m| args.modules.is_empty() || args.modules.iter().any(|x| x == m))
                .collect();
            (n, ms)
        })
        .filter(|(_, ms): &(_, Vec<_>)| !ms.is_empty())
        .collect())
}

async fn run(args: RunArgs) -> Result<bool> {
    let trust = http::Trust::from_pem_file(args.ca_file.as_deref())?;
    let http = trust.backend()?;
    let rng = Randomness;
    let rp = listener::start(&args.listen).await?;
    eprintln!("RP listener at {}", rp.base);
    let plan_list = selected(&args)?;

    let (issuer, client, client2, user, idle) = match args.setup {
        Some(SetupKind::Lanyard) => {
            let s = setup::LanyardSetup {
                bin: args.lanyard_bin.clone(),
                public_url: args.lanyard_url.clone(),
                idle_secs: args.idle_timeout_secs.unwrap_or(10),
            };
            let p = s.provision(&rp, rng)?;
            (p.issuer, p.client, Some(p.client2), p.user, Some(p.idle))
        }
        None => {
            let client = Client {
                id: required(args.client_id.clone(), "--client-id")?,
                secret: required(args.client_secret.clone(), "--client-secret")?,
                auth: ClientAuth::Basic,
            };
            let client2 = match (args.client2_id.clone(), args.client2_secret.clone()) {
                (Some(id), Some(secret)) => Some(Client {
                    id,
                    secret,
                    auth: ClientAuth::Post,
                }),
                _ => None,
            };
            let user = User {
                username: required(args.username.clone(), "--username")?,
                password: required(args.password.clone(), "--password")?,
            };
            let issuer = required(args.issuer.clone(), "--issuer")?;
            let idle = args.idle_timeout_secs.map(|secs| IdleTarget {
                issuer: issuer.clone(),
                client: client.clone(),
                user: user.clone(),
                idle_secs: secs,
            });
            (issuer, client, client2, user, idle)
        }
    };
    eprintln!("OP issuer {issuer}");

    let mut reports: Vec<ModuleReport> = Vec::new();
    let op = match Op::discover(&http, &issuer).await {
        Ok(op) => op,
        Err(e) => {
            let mut reason = format!("discovery failed: {e:#}");
            if reason.contains("CaUsedAsEndEntity") {
                reason.push_str(" (hint: --ca-file holds a CA certificate that is also the server's; use a self-signed leaf with basicConstraints CA:FALSE, or a CA that signed the server certificate)");
            }
            for (plan, modules) in &plan_list {
                for m in modules {
                    let mut c = report::Checks::default();
                    c.fail(reason.clone());
                    reports.push(ModuleReport::new(plan, m, c, 0));
                }
            }
            return finish(&args, &reports);
        }
    };
    let ctx = Ctx {
        op,
        client,
        client2,
        user,
        rp,
        trust,
        http,
        rng,
        idle,
    };
    let opts = plans::Options {
        retry_wait: Duration::from_secs(args.retry_wait_secs),
    };
    for (plan, modules) in &plan_list {
        for m in modules {
            let r = plans::run_module(plan, m, &ctx, opts).await;
            let detail = if r.reasons.is_empty() {
                String::new()
            } else {
                format!(" — {}", r.reasons.join("; "))
            };
            eprintln!("{:>7}  {m}{detail}", r.result.label());
            reports.push(r);
        }
    }
    finish(&args, &reports)
}

fn finish(args: &RunArgs, reports: &[ModuleReport]) -> Result<bool> {
    println!("{}", report::render_table(reports));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(reports)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(!report::any_failed(reports))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::PrintRegistration { listen }) = &cli.command {
        print_registration(listen);
        return std::process::ExitCode::SUCCESS;
    }
    match run(cli.run).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
