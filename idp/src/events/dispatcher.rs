//! The outbox dispatcher: delivers back-channel logout tokens (Back-Channel Logout 1.0 §2.5).
//!
//! ```text
//!   pending ──claim (lease)──▶ in_flight ──200/204──▶ delivered
//!      ▲                         │  │
//!      │      5xx/429/timeout    │  └──4xx, or attempts/age exhausted──▶ dead ──admin retry──▶ pending
//!      └──── retry (at T) ◀──────┘
//!   in_flight whose lease expired (node crashed) is due again and re-claimed.
//! ```
//! Deliveries are claimed in batches no larger than the free concurrency, so memory stays flat
//! however many are owed. Every attempt mints a fresh logout token (new `jti`, fresh `iat`/`exp`).

use crate::app::State;
use crate::config::DeliveryConfig;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::model::{Client, Tenant};
use crate::store;
use crate::tokens;
use rand::Rng;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What one attempt observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status { code: u16, retry_after_secs: Option<i64> },
    Timeout,
    Connect(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(i64),
    Dead(String),
}

/// Decide what an attempt means. `attempts` counts this one; `jitter` is in [0, 1).
pub fn decide_delivery_outcome(result: &AttemptResult, attempts: i64, created_at_ms: i64, now_ms: i64, cfg: &DeliveryConfig, jitter: f64) -> DeliveryOutcome {
    let (retryable, error, retry_after) = match result {
        AttemptResult::Status { code: 200 | 204, .. } => return DeliveryOutcome::Delivered,
        AttemptResult::Status { code: 429, retry_after_secs } => (true, "HTTP 429".to_string(), *retry_after_secs),
        AttemptResult::Status { code, .. } if *code >= 500 => (true, format!("HTTP {code}"), None),
        // 2xx other than 200/204, 3xx (redirects are not followed) and 4xx: the RP refuses.
        AttemptResult::Status { code, .. } => (false, format!("HTTP {code}"), None),
        AttemptResult::Timeout => (true, "timeout".to_string(), None),
        AttemptResult::Connect(e) => (true, format!("connection failed: {e}"), None),
    };
    if !retryable {
        return DeliveryOutcome::Dead(error);
    }
    if attempts >= cfg.max_attempts {
        return DeliveryOutcome::Dead(format!("{error}; gave up after {attempts} attempts"));
    }
    // Exponential backoff with full jitter over the upper half: base * 2^(n-1), capped.
    let exp = cfg.base_backoff_ms.saturating_mul(1i64 << (attempts - 1).clamp(0, 30)).min(cfg.max_backoff_ms);
    let backoff = exp / 2 + ((exp / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64;
    let delay = match retry_after {
        Some(s) if s > 0 => (s * 1000).min(cfg.max_backoff_ms).max(backoff),
        _ => backoff,
    };
    let next = now_ms + delay;
    if next - created_at_ms > cfg.max_age_secs * 1000 {
        return DeliveryOutcome::Dead(format!("{error}; gave up after {}s", cfg.max_age_secs));
    }
    DeliveryOutcome::RetryAt(next)
}

/// Run until the process ends.
pub async fn run(state: State) {
    let permits = Arc::new(Semaphore::new(state.config.delivery.concurrency));
    loop {
        // Wait for at least one free slot, then claim as many rows as there are free slots.
        let first = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let free = permits.available_permits() + 1;
        let now_ms = state.clock.now_ms();
        let claim = format!("{}:{}", state.node_id, crate::crypto::random_id());
        let lease_until = now_ms + state.config.delivery.lease_ms;
        let batch = match store::outbox::claim_due(&state.db, &claim, now_ms, lease_until, free as u64).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed");
                Vec::new()
            }
        };
        if batch.is_empty() {
            drop(first);
            let poll = Duration::from_millis(state.config.delivery.poll_ms);
            let _ = tokio::time::timeout(poll, state.outbox_notify.notified()).await;
            continue;
        }
        let mut first = Some(first);
        for row in batch {
            let permit = match first.take() {
                Some(p) => p,
                None => match permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let st = state.clone();
            let claim = claim.clone();
            tokio::spawn(async move {
                if let Err(e) = deliver(&st, row, &claim).await {
                    tracing::warn!(error = %e, "back-channel delivery bookkeeping failed");
                }
                drop(permit);
            });
        }
    }
}

/// Attempt one claimed delivery and record the outcome.
async fn deliver(state: &State, row: store::outbox::DeliveryRow, claim: &str) -> Result<()> {
    let payload: Value = serde_json::from_str(&row.payload)?;
    let attempt = match build_logout_token(state, &row, &payload).await {
        Ok(token) => send(state, &row.target, &token).await,
        Err(e) => {
            // The tenant or client vanished, or no key: nothing an RP can fix by retrying later.
            tracing::warn!(error = %e, delivery = %row.id, "cannot build logout token");
            AttemptResult::Status { code: 0, retry_after_secs: None }
        }
    };
    let now_ms = state.clock.now_ms();
    let jitter: f64 = rand::rngs::OsRng.gen();
    let outcome = decide_delivery_outcome(&attempt, row.attempts, row.created_at_ms, now_ms, &state.config.delivery, jitter);
    let client_id = payload.get("client_id").and_then(Value::as_str).unwrap_or_default();
    match &outcome {
        DeliveryOutcome::Delivered => {
            store::outbox::mark_delivered(&state.db, &row.id, claim, now_ms).await?;
            metrics::counter!("lanyard_backchannel_delivered_total").increment(1);
            metrics::histogram!("lanyard_backchannel_latency_seconds").record((now_ms - row.created_at_ms) as f64 / 1000.0);
        }
        DeliveryOutcome::RetryAt(at) => {
            let err = describe(&attempt);
            store::outbox::mark_retry(&state.db, &row.id, claim, *at, &err).await?;
            metrics::counter!("lanyard_backchannel_retries_total").increment(1);
        }
        DeliveryOutcome::Dead(err) => {
            if store::outbox::mark_dead(&state.db, &row.id, claim, err).await? {
                audit::record(
                    &state.db,
                    Event {
                        tenant_id: &row.tenant_id,
                        kind: "logout.delivery_failed",
                        session_id: Some(&row.session_id),
                        client_id: Some(client_id),
                        actor: "dispatcher",
                        outcome: "dead",
                        detail: Some(json!({ "delivery": row.id, "error": err, "attempts": row.attempts })),
                        ..Default::default()
                    },
                    None,
                    now_ms,
                )
                .await?;
            }
            metrics::counter!("lanyard_backchannel_dead_total").increment(1);
        }
    }
    Ok(())
}

fn describe(a: &AttemptResult) -> String {
    match a {
        AttemptResult::Status { code, .. } => format!("HTTP {code}"),
        AttemptResult::Timeout => "timeout".into(),
        AttemptResult::Connect(e) => format!("connection failed: {e}"),
    }
}

async fn build_logout_token(state: &State, row: &store::outbox::DeliveryRow, payload: &Value) -> Result<String> {
    let tenant_row = store::tenants::find(&state.db, &row.tenant_id)
        .await?
        .ok_or_else(|| internal("tenant gone"))?;
    let tenant = Tenant::from_row(tenant_row, &state.config.public_url);
    let client = store::clients::find(&state.db, &row.tenant_id, &row.client_id)
        .await?
        .map(Client::from_row)
        .ok_or_else(|| internal("client gone"))?;
    let now_ms = state.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let keys = state.keys.get(&state.db, &tenant.id, now_ms).await?;
    let key = keys
        .resolve_signing_key(&client.id_token_alg, now)
        .ok_or_else(|| internal("no signing key"))?;
    let sub = payload.get("sub").and_then(Value::as_str).unwrap_or_default();
    let sid = payload.get("sid").and_then(Value::as_str).unwrap_or_default();
    let claims = tokens::claims::logout_token(&tenant.issuer, &client.client_id, sub, sid, &crate::crypto::random_id(), now);
    Ok(tokens::sign(key, tokens::TYP_LOGOUT, claims)?)
}

async fn send(state: &State, target: &str, token: &str) -> AttemptResult {
    let body = serde_urlencoded::to_string([("logout_token", token)]).unwrap_or_default();
    let res = state
        .http
        .post(target)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    match res {
        Ok(r) => {
            let retry_after_secs = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok());
            AttemptResult::Status { code: r.status().as_u16(), retry_after_secs }
        }
        Err(e) if e.is_timeout() => AttemptResult::Timeout,
        Err(e) => AttemptResult::Connect(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeliveryConfig {
        DeliveryConfig { max_attempts: 5, max_age_secs: 3600, base_backoff_ms: 1000, max_backoff_ms: 60_000, ..Default::default() }
    }
    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status { code, retry_after_secs: None }
    }

    #[test]
    fn success_codes_deliver() {
        assert_eq!(decide_delivery_outcome(&status(200), 1, 0, 0, &cfg(), 0.0), DeliveryOutcome::Delivered);
        assert_eq!(decide_delivery_outcome(&status(204), 1, 0, 0, &cfg(), 0.0), DeliveryOutcome::Delivered);
    }

    #[test]
    fn client_errors_and_redirects_are_permanent() {
        for c in [400, 401, 404, 302, 201] {
            assert!(matches!(decide_delivery_outcome(&status(c), 1, 0, 0, &cfg(), 0.0), DeliveryOutcome::Dead(_)), "{c}");
        }
    }

    #[test]
    fn server_errors_timeouts_and_refusals_retry_with_growing_backoff() {
        for r in [status(503), AttemptResult::Timeout, AttemptResult::Connect("refused".into())] {
            assert_eq!(decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0), DeliveryOutcome::RetryAt(500));
            assert_eq!(decide_delivery_outcome(&r, 2, 0, 0, &cfg(), 0.0), DeliveryOutcome::RetryAt(1000));
            assert_eq!(decide_delivery_outcome(&r, 3, 0, 0, &cfg(), 0.999), DeliveryOutcome::RetryAt(3998));
        }
    }

    #[test]
    fn backoff_is_capped() {
        let c = DeliveryConfig { max_attempts: 100, ..cfg() };
        assert_eq!(decide_delivery_outcome(&status(500), 40, 0, 0, &c, 1.0), DeliveryOutcome::RetryAt(60_000));
    }

    #[test]
    fn retry_after_is_honoured() {
        let r = AttemptResult::Status { code: 429, retry_after_secs: Some(30) };
        assert_eq!(decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0), DeliveryOutcome::RetryAt(30_000));
    }

    #[test]
    fn retries_are_bounded_by_count_and_age() {
        assert!(matches!(decide_delivery_outcome(&status(503), 5, 0, 0, &cfg(), 0.0), DeliveryOutcome::Dead(_)));
        assert!(matches!(decide_delivery_outcome(&status(503), 1, 0, 3_600_000, &cfg(), 0.0), DeliveryOutcome::Dead(_)));
    }
}
