//! Composing the HTTP server: tenant protocol routes, static assets, the root page, health,
//! metrics (on the main address or a separate one), request telemetry, the 404 page, security
//! headers, and the background tasks (outbox dispatcher, session sweeper, metric gauges).

use crate::app::{AppState, State};
use crate::error::Result;
use crate::http::headers::SecurityHeaders;
use crate::http::request_id::RequestTelemetry;
use crate::store;
use crate::templates::{FAVICON_SVG, LOGGED_OUT_JS, STYLESHEET};
use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use std::sync::OnceLock;
use std::time::Duration;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often the gauges of stored state are recomputed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(5);

/// Request durations: a few milliseconds (cached discovery) to seconds (argon2 under load).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Session end to logout delivered: well under a second normally, minutes to hours when an RP
/// is down and retries back off.
const DELIVERY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
];

/// Install the Prometheus recorder once per process. Durations are real histograms (buckets),
/// so several nodes' series can be summed; quantile summaries could not be.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("lanyard_http_request_duration_seconds".into()),
                    HTTP_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("lanyard_delivery_latency_seconds".into()),
                        DELIVERY_BUCKETS,
                    )
                })
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

#[handler]
fn metrics_endpoint() -> Response {
    match metrics_handle() {
        Some(h) => Response::builder()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(state: Data<&State>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css")
        .header("cache-control", "public, max-age=3600")
        .body(STYLESHEET)
}

#[handler]
fn logged_out_js() -> Response {
    Response::builder()
        .content_type("application/javascript")
        .header("cache-control", "public, max-age=3600")
        .body(LOGGED_OUT_JS)
}

/// Says the service is up and what it is, without naming tenants: the list of issuers is for
/// operators (`lanyard tenant list`), not for anyone who finds the host.
#[handler]
fn root(state: Data<&State>) -> Response {
    match state.templates.render(
        "root.html",
        serde_json::json!({ "public_url": state.config.public_url }),
    ) {
        Ok(body) => crate::http::respond::html(StatusCode::OK, body),
        Err(e) => crate::protocol::page_error(&state, None, crate::error::internal(e)),
    }
}

/// Unknown paths get [`crate::protocol::not_found`] instead of poem's plain-text 404.
async fn with_not_found<E: Endpoint>(
    ep: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    let state = req.data::<State>().cloned();
    let path = req.uri().path().to_string();
    match (ep.call(req).await, state) {
        (Err(e), Some(state)) if e.is::<poem::error::NotFoundError>() => {
            Ok(crate::protocol::not_found(&state, &path))
        }
        (r, _) => r.map(IntoResponse::into_response),
    }
}

/// `/favicon.ico`: a small SVG (browsers ask for it on every page; a 404 would be a console error).
#[handler]
fn favicon() -> Response {
    Response::builder()
        .content_type("image/svg+xml")
        .header("cache-control", "public, max-age=86400")
        .body(FAVICON_SVG)
}

/// The full application: protocol routes plus whatever the composition root adds (admin area).
/// `/metrics` is here unless `metrics_bind` moves it to [`spawn_metrics_listener`].
pub fn app(state: State, extend: impl FnOnce(Route) -> Route) -> impl Endpoint {
    let _ = metrics_handle();
    let mut routes = extend(crate::protocol::routes())
        .at("/", get(root))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/static/lanyard.css", get(stylesheet))
        .at("/static/logged_out.js", get(logged_out_js))
        .at("/favicon.ico", get(favicon));
    if state.config.metrics_bind.is_none() {
        routes = routes.at("/metrics", get(metrics_endpoint));
    }
    let hsts = state.config.public_url.starts_with("https://");
    routes
        .around(with_not_found)
        .with(crate::http::header_limits::HeaderLimits)
        .with(SecurityHeaders { hsts })
        .with(RequestTelemetry)
        .data(state)
}

/// When `metrics_bind` is set, listen there now (a taken port fails start-up instead of later)
/// and serve `/metrics` alone, in plain HTTP: bind it to a private interface. `None` when the
/// metrics are served on the main address.
pub async fn spawn_metrics_listener(
    state: &State,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let Some(bind) = state.config.metrics_bind.clone() else {
        return Ok(None);
    };
    let _ = metrics_handle();
    let acceptor = TcpListener::bind(bind.clone())
        .into_acceptor()
        .await
        .with_context(|| format!("LANYARD_METRICS_BIND: cannot listen on {bind}"))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(ToString::to_string))
        .unwrap_or(bind);
    let app = Route::new()
        .at("/metrics", get(metrics_endpoint))
        .with(RequestTelemetry);
    tracing::info!(metrics_bind = %addr, "metrics listening");
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    })))
}

/// Start the dispatcher, the wake-up listener, the sweeper, the gauge refresher and the release
/// of idle password-hashing memory.
pub fn spawn_background(state: &State) -> Vec<tokio::task::JoinHandle<()>> {
    crate::events::mail::log_startup(state);
    // The dummy password hash for unknown usernames, ready before the first login.
    tokio::spawn(crate::passwords::warm());
    vec![
        tokio::spawn(crate::events::dispatcher::run(state.clone())),
        tokio::spawn(crate::events::wakeup::run(state.clone())),
        tokio::spawn(crate::events::sweeper::run(state.clone())),
        tokio::spawn(run_gauges(state.clone())),
        tokio::spawn(crate::passwords::run_release_idle()),
    ]
}

/// Recompute the gauges every few seconds until the process ends.
async fn run_gauges(state: State) {
    let mut tick = tokio::time::interval(GAUGE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = refresh_gauges(&state).await {
            tracing::warn!(error = %e, "refreshing metric gauges failed");
        }
        // Histograms are drained into their buckets here too, not only when scraped.
        if let Some(h) = metrics_handle() {
            h.run_upkeep();
        }
    }
}

/// Set the gauges that describe stored state from count queries: active sessions per tenant,
/// deliveries not yet delivered per kind and state, and the age of the oldest one still owed.
/// The numbers are the database's, so every node sharing it reports the same values (aggregate
/// them with `max`, not `sum`).
pub async fn refresh_gauges(state: &AppState) -> Result<()> {
    let db = &state.read;
    let tenants = store::tenants::list(db).await?;
    let active = store::sessions::count_active_by_tenant(db).await?;
    for t in &tenants {
        // A tenant whose last session ended is set to 0, not left at its last value.
        let n = active
            .iter()
            .find(|(id, _)| *id == t.id)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("lanyard_active_sessions", "tenant" => t.slug.clone()).set(n as f64);
    }
    let depth = store::outbox::count_undelivered_by_kind_and_state(db).await?;
    let mut kinds: Vec<String> = depth.iter().map(|(k, _, _)| k.clone()).collect();
    kinds.push(crate::events::termination::KIND_BACKCHANNEL.to_string());
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        for st in [
            store::outbox::PENDING,
            store::outbox::IN_FLIGHT,
            store::outbox::RETRY,
            store::outbox::DEAD,
        ] {
            let n = depth
                .iter()
                .find(|(k, s, _)| *k == kind && s == st)
                .map_or(0, |(_, _, n)| *n);
            metrics::gauge!("lanyard_outbox_depth", "kind" => kind.clone(), "state" => st)
                .set(n as f64);
        }
    }
    let oldest = store::outbox::oldest_owed_created_at_ms(db).await?;
    let age_secs = oldest.map_or(0.0, |at| (state.clock.now_ms() - at).max(0) as f64 / 1000.0);
    metrics::gauge!("lanyard_outbox_oldest_owed_seconds").set(age_secs);
    Ok(())
}
