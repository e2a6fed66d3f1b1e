//! `lanyard`: the composition root. Parses the command line, loads configuration, and either
//! serves or runs one administrative command (`cli/`). Create and change commands print one JSON
//! object on stdout; list and show commands print a table at a terminal and JSON otherwise.

mod bench_seed;
mod cli;

use anyhow::bail;
use clap::Parser;
use lanyard_idp::config::{Config, LogFormat};

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

/// The allocator of the `lanyard` process (ADR 0017).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = cli::Cli::parse();
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
    let command = cli.command.unwrap_or(cli::Command::Serve);
    if let Err(e) = runtime.block_on(cli::run(command, config)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
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
