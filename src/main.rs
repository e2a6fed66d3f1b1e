//! `lanyard`: the composition root. Parses the command line, loads configuration, and either
//! serves or runs one administrative command (`cli/`). Create and change commands print one JSON
//! object on stdout; list and show commands print a table at a terminal and JSON otherwise.

mod bench_seed;
mod cli;

use clap::Parser;
use lanyard_idp::config::{Config, LogFormat};

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LANYARD_LOG")
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

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
