//! The application state shared by every handler, and the composed HTTP routes.

use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::SecretHasher;
use crate::http::cookies::CookiePolicy;
use crate::keys::KeyCache;
use crate::templates::Templates;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything a request needs; built once by the composition root.
#[derive(Debug)]
pub struct AppState {
    /// Every write, and reads that must see this request's own transaction.
    pub db: DatabaseConnection,
    /// Hot-path reads of committed state (see `store::connect_reader`).
    pub read: DatabaseConnection,
    pub config: Config,
    pub clock: SharedClock,
    pub hasher: SecretHasher,
    pub keys: KeyCache,
    /// Refresh rotations committed in groups.
    pub group_commit: crate::store::group_commit::GroupCommit,
    /// Tenants and clients, cached for two seconds.
    pub cache: crate::cache::Cache,
    /// Access-token signatures already verified (never their liveness).
    pub verified: crate::tokens::verified::VerifiedTokens,
    pub templates: Templates,
    pub cookies: CookiePolicy,
    /// Identifies this process in outbox claims.
    pub node_id: String,
    /// Wakes the local dispatcher when a transaction wrote deliveries.
    pub outbox_notify: Arc<Notify>,
    /// HTTP client for back-channel deliveries (redirects never followed, destinations checked
    /// after resolution: `http::destination`).
    pub http: reqwest::Client,
    /// The GeoIP database (`LANYARD_GEOIP_DATABASE`), opened once at start.
    pub geoip: Option<Arc<crate::http::geo::GeoIpDb>>,
}

pub type State = Arc<AppState>;

impl AppState {
    pub async fn new(
        db: DatabaseConnection,
        config: Config,
        clock: SharedClock,
    ) -> anyhow::Result<State> {
        let read =
            crate::store::connect_reader(&config.database_url, config.database_max_connections)
                .await?;
        let key = crate::store::hashing_key(&db).await?;
        let templates =
            Templates::load(config.templates_dir.as_deref()).map_err(anyhow::Error::msg)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_millis(config.delivery.timeout_ms))
            .connect_timeout(std::time::Duration::from_millis(config.delivery.timeout_ms))
            .pool_max_idle_per_host(16)
            // Every destination is resolved and checked by this resolver and connected to as
            // checked (SSRF, `http::destination`); a proxy would resolve it elsewhere.
            .dns_resolver(Arc::new(crate::http::destination::CheckedResolver::new(
                config.allow_private_destinations.clone(),
            )))
            .no_proxy()
            .user_agent(concat!("lanyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let geoip = match &config.geoip_database {
            Some(p) => Some(Arc::new(crate::http::geo::GeoIpDb::open(p).map_err(
                |e| anyhow::anyhow!("configuration error: LANYARD_GEOIP_DATABASE: {e}"),
            )?)),
            None => None,
        };
        Ok(Arc::new(AppState {
            geoip,
            cookies: CookiePolicy {
                secure: config.is_https(),
            },
            group_commit: crate::store::group_commit::GroupCommit::start(db.clone()),
            db,
            read,
            config,
            clock,
            hasher: SecretHasher::new(key),
            keys: KeyCache::default(),
            cache: crate::cache::Cache::default(),
            verified: Default::default(),
            templates,
            node_id: crate::crypto::random_id(),
            outbox_notify: Arc::new(Notify::new()),
            http,
        }))
    }
}
