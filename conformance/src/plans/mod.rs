//! The test plans: names, module lists, and running a module into a `ModuleReport`.

pub mod basic;
pub mod basic_tokens;
pub mod channels;
pub mod config;
pub mod governance;
pub mod logout;

use std::time::{Duration, Instant};

use crate::ctx::Ctx;
use crate::report::{Checks, ModuleReport};

pub const BASIC: &str = "oidcc-basic-certification-test-plan";
pub const CONFIG: &str = "oidcc-config-certification-test-plan";
pub const RP_LOGOUT: &str = "oidcc-rp-initiated-logout-certification-test-plan";
pub const BACKCHANNEL: &str = "oidcc-backchannel-rp-initiated-logout-certification-test-plan";
pub const FRONTCHANNEL: &str = "oidcc-frontchannel-rp-initiated-logout-certification-test-plan";
pub const SESSION: &str = "oidcc-session-management-certification-test-plan";
pub const GOVERNANCE: &str = "lanyard-session-governance-plan";

/// Every plan in run order with its modules.
pub fn all() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        (CONFIG, config::MODULES),
        (BASIC, basic::MODULES),
        (RP_LOGOUT, logout::MODULES),
        (BACKCHANNEL, channels::BACKCHANNEL),
        (FRONTCHANNEL, channels::FRONTCHANNEL),
        (SESSION, channels::SESSION),
        (GOVERNANCE, governance::MODULES),
    ]
}

/// Options that only some modules use.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long the retry module waits for the OP's second back-channel delivery.
    pub retry_wait: Duration,
}

async fn dispatch(
    plan: &str,
    module: &str,
    ctx: &Ctx,
    c: &mut Checks,
    opts: Options,
) -> anyhow::Result<()> {
    match plan {
        CONFIG => config::run(module, ctx, c).await,
        BASIC => basic::run(module, ctx, c).await,
        RP_LOGOUT => logout::run(module, ctx, c).await,
        BACKCHANNEL | FRONTCHANNEL | SESSION => channels::run(module, ctx, c).await,
        GOVERNANCE => governance::run(module, ctx, c, opts.retry_wait).await,
        other => anyhow::bail!("unknown plan {other}"),
    }
}

/// Runs one module; an error ends it as a failure carrying the error chain.
pub async fn run_module(plan: &str, module: &str, ctx: &Ctx, opts: Options) -> ModuleReport {
    let started = Instant::now();
    let mut c = Checks::default();
    if let Err(e) = dispatch(plan, module, ctx, &mut c, opts).await {
        c.fail(format!("{e:#}"));
    }
    ModuleReport::new(plan, module, c, started.elapsed().as_millis())
}
