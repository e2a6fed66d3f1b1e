//! Composing the HTTP server: tenant protocol routes, static assets, health, metrics, security
//! headers, and the background tasks (outbox dispatcher, session sweeper).

use crate::app::State;
use crate::http::headers::SecurityHeaders;
use crate::templates::{FAVICON_SVG, LOGGED_OUT_JS, STYLESHEET};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{get, handler, Endpoint, EndpointExt, IntoResponse, Response, Route};
use std::sync::OnceLock;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the Prometheus recorder once per process.
pub fn metrics_handle() -> Option<PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
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

#[handler]
fn favicon() -> Response {
    Response::builder()
        .content_type("image/svg+xml")
        .header("cache-control", "public, max-age=86400")
        .body(FAVICON_SVG)
}

#[handler]
async fn root(state: Data<&State>) -> Response {
    let tenants = crate::store::tenants::list(&state.db)
        .await
        .unwrap_or_default();
    let list: Vec<String> = tenants
        .iter()
        .map(|t| format!("{}/t/{}", state.config.public_url, t.slug))
        .collect();
    crate::http::respond::json(
        StatusCode::OK,
        &serde_json::json!({ "service": "lanyard", "issuers": list }),
    )
}

/// The full application: protocol routes plus whatever the composition root adds (admin area).
pub fn app(state: State, extend: impl FnOnce(Route) -> Route) -> impl Endpoint {
    let _ = metrics_handle();
    extend(crate::protocol::routes())
        .at("/", get(root))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_endpoint))
        .at("/static/lanyard.css", get(stylesheet))
        .at("/static/logged_out.js", get(logged_out_js))
        .at("/favicon.ico", get(favicon))
        .with(SecurityHeaders)
        .data(state)
}

/// Start the dispatcher and the sweeper.
pub fn spawn_background(state: &State) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(crate::events::dispatcher::run(state.clone())),
        tokio::spawn(crate::events::sweeper::run(state.clone())),
    ]
}
