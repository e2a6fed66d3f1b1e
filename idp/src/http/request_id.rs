//! Request ids and per-request telemetry: every request gets a short random id, a tracing span
//! carrying it, an `X-Request-Id` response header, one `http.request` log line (`admin.request`
//! for the admin API) and one sample of `lanyard_http_request_duration_seconds` labelled by
//! normalised route (never the raw path).
//!
//! The id is always generated here, never taken from the request: forwarded headers are not
//! trusted (there is no trusted-proxy setting yet), and a client-chosen id could forge or collide
//! with other requests' log lines. Code rendering an error page reads the id with [`current`] (a
//! task-local of the request's future), so the "Reference" a user reports is the id in that
//! request's log line.

use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header carrying the id.
pub const HEADER: &str = "x-request-id";

/// Route label of a request no route matched: one value, so unknown paths cannot grow the
/// metric's label set.
pub const UNMATCHED: &str = "unmatched";

/// 48 random bits as 12 hex digits: short enough to read out or type from a screenshot, enough
/// to tell apart the requests of a day.
pub fn new_id() -> String {
    hex::encode(crate::crypto::random_bytes(6))
}

/// The id of the request being handled, if this runs inside one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Run `f` as part of the request `id` (what the middleware does for every request).
pub async fn scope<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// A bounded label for the method: extension methods all count as `other`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Scrapes and probes are logged at debug so they do not drown the requests people make.
fn is_probe(route: &str) -> bool {
    matches!(route, "/metrics" | "/healthz" | "/readyz")
}

/// The middleware (see the module documentation).
pub struct RequestTelemetry;

impl<E: Endpoint> Middleware<E> for RequestTelemetry {
    type Output = RequestTelemetryEndpoint<E>;
    fn transform(&self, ep: E) -> Self::Output {
        RequestTelemetryEndpoint { inner: ep }
    }
}

pub struct RequestTelemetryEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestTelemetryEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let id = new_id();
        let method = method_label(req.method());
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method,
            route = tracing::field::Empty,
        );
        let started = Instant::now();
        // An error becomes its response here, so the header and the log line cover it too.
        let mut resp = match scope(id.clone(), self.inner.call(req).instrument(span.clone())).await
        {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let elapsed = started.elapsed().as_secs_f64();
        // The router leaves the pattern it matched (`/t/:slug/token`) on the response.
        let route = resp
            .data::<PathPattern>()
            .map(|p| p.0.to_string())
            .unwrap_or_else(|| UNMATCHED.to_string());
        let status = resp.status().as_u16();
        span.record("route", route.as_str());
        metrics::histogram!(
            "lanyard_http_request_duration_seconds",
            "route" => route.clone(),
            "method" => method,
            "status" => status.to_string(),
        )
        .record(elapsed);
        // Admin API calls are security events of their own; the action they caused is logged
        // as `admin.action` with the same request id.
        let event = if route.starts_with("/api/") {
            "admin.request"
        } else {
            "http.request"
        };
        span.in_scope(|| {
            let duration_ms = (elapsed * 1000.0).round() as u64;
            if is_probe(&route) {
                tracing::debug!(event, status, duration_ms, "request");
            } else if status >= 500 {
                tracing::warn!(event, status, duration_ms, "request");
            } else {
                tracing::info!(event, status, duration_ms, "request");
            }
        });
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(HEADER, v);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_hex_and_differ() {
        let a = new_id();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
    }

    #[tokio::test]
    async fn current_is_the_scoped_id_and_none_outside() {
        assert_eq!(current(), None);
        let inside = scope("abc123".into(), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("abc123"));
    }

    #[test]
    fn methods_are_a_bounded_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }
}
