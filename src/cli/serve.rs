//! `lanyard serve`: bind the port first (a taken port fails before anything is written or
//! printed), then migrate, seed the demo tenant on an empty database, and serve.

use super::{m, open};
use anyhow::Context;
use lanyard_idp::config::Config;
use lanyard_idp::manage;
use poem::listener::{
    AcceptorExt, BoxAcceptor, Listener, RustlsCertificate, RustlsConfig, TcpListener,
};
use poem::Server;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    crate::init_tracing(config.log_format)?;
    let bind = config.bind.clone();
    let acceptor = bind_listener(&config).await?;
    let demo = config.demo;
    let state = open(config).await?;
    let banner = if demo {
        manage::seed_demo(&state).await.map_err(m)?
    } else {
        None
    };
    let banner = match banner {
        Some(seeded) => Some(seeded),
        None => manage::demo::existing_demo_hint(&state).await.map_err(m)?,
    };
    if let Some(text) = banner {
        println!("{text}");
    }
    let _tasks = lanyard_idp::server::spawn_background(&state);
    // Observability: `/metrics` on its own address when LANYARD_METRICS_BIND is set.
    let _metrics = lanyard_idp::server::spawn_metrics_listener(&state).await?;
    let app = lanyard_idp::server::app(state.clone(), lanyard_admin::extend(state.clone()));
    tracing::info!(bind = %bind, public_url = %state.config.public_url, "lanyard listening");
    println!(
        "Lanyard listening on {bind} (public URL {})",
        state.config.public_url
    );
    Server::new_with_acceptor(acceptor).run(app).await?;
    Ok(())
}

/// Bind the listening socket (and load the TLS certificate), before anything else happens.
async fn bind_listener(config: &Config) -> anyhow::Result<BoxAcceptor> {
    let bind = config.bind.clone();
    let cannot = || format!("LANYARD_BIND: cannot listen on {bind}");
    let acceptor = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => {
            let cert = std::fs::read(c)
                .with_context(|| format!("LANYARD_TLS_CERT: cannot read {}", c.display()))?;
            let key = std::fs::read(k)
                .with_context(|| format!("LANYARD_TLS_KEY: cannot read {}", k.display()))?;
            TcpListener::bind(bind.clone())
                .rustls(RustlsConfig::new().fallback(RustlsCertificate::new().cert(cert).key(key)))
                .into_acceptor()
                .await
                .map(|a| a.boxed())
                .with_context(cannot)?
        }
        _ => TcpListener::bind(bind.clone())
            .into_acceptor()
            .await
            .map(|a| a.boxed())
            .with_context(cannot)?,
    };
    Ok(acceptor)
}
