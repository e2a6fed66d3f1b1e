//! Throttling of failed client authentication at the token, introspection and revocation
//! endpoints, per client_id (NIST SP 800-63B-4 §3.2.2 applied to client secrets and
//! assertions): too many failures within the tenant's window refuse the client_id for a while,
//! before its credentials are looked at (HTTP 429 with `Retry-After`; ADR 0013). Only failures
//! of a registered client count, so unknown ids do not fill the table.

use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::model::Tenant;
use crate::session::service::lockout;
use crate::store;
use crate::throttle::{self, Counter};
use serde_json::json;

fn key(tenant: &Tenant, client_id: &str) -> String {
    format!("client:{}:{client_id}", tenant.id)
}

async fn load<C: sea_orm::ConnectionTrait>(db: &C, key: &str) -> Result<Counter> {
    Ok(store::throttle::find(db, key)
        .await?
        .map(|r| Counter {
            failures: r.failures,
            window_start: r.window_start,
            locked_until: r.locked_until,
        })
        .unwrap_or_default())
}

/// `Some(seconds)` when the client_id is refused now.
pub async fn check(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    now: i64,
) -> Result<Option<i64>> {
    // Every client-authenticated request asks: from memory for a second (`cache`), else from
    // the reader pool, so on SQLite it does not queue behind the one writer connection.
    let k = key(tenant, client_id);
    let now_ms = now.saturating_mul(1000);
    let c = match state.cache.client_throttle(&k, now_ms) {
        Some(c) => c,
        None => {
            let c = load(&state.read, &k).await?;
            state.cache.put_client_throttle(&k, c, now_ms);
            c
        }
    };
    if throttle::evaluate_attempt(&c, now) {
        return Ok(None);
    }
    metrics::counter!("lanyard_client_auth_throttled_total", "tenant" => tenant.slug.clone())
        .increment(1);
    Ok(Some(throttle::retry_after(&c, now)))
}

/// Count a failed authentication of a registered client; the failure that crosses the limit
/// is audited (`client.throttled`).
pub async fn record_failure(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    now: i64,
) -> Result<()> {
    let rule = lockout::security(&state.db, tenant)
        .await?
        .throttle
        .client();
    let k = key(tenant, client_id);
    let c = load(&state.db, &k).await?;
    let n = throttle::after_failure(&c, &rule, now);
    store::throttle::save(
        &state.db,
        store::throttle::ThrottleRow {
            key: k.clone(),
            failures: n.failures,
            window_start: n.window_start,
            locked_until: n.locked_until,
        },
    )
    .await?;
    state.cache.forget_client_throttle(&k);
    if n.locked_until > now && c.locked_until <= now {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "client.throttled",
                actor: "system",
                outcome: "refused",
                detail: Some(json!({ "client_id": client_id, "until": n.locked_until })),
                ..Default::default()
            },
            None,
            now.saturating_mul(1000),
        )
        .await?;
        tracing::warn!(event = "client.throttled", tenant = %tenant.slug, client_id, "client authentication throttled");
    }
    Ok(())
}
