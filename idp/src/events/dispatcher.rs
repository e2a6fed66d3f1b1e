//! The outbox dispatcher: delivers back-channel logout tokens (Back-Channel Logout 1.0 §2.5)
//! and e-mails (`events::mail`, over SMTP), with the same leases, retries and dead letters.
//!
//! ```text
//!   pending ──claim (lease)──▶ in_flight ──200/204──▶ delivered
//!      ▲                         │  │
//!      │      5xx/429/timeout    │  └──4xx, or attempts/age exhausted──▶ dead ──admin retry──▶ pending
//!      └──── retry (at T) ◀──────┘
//!   in_flight whose lease expired (node crashed) is due again and re-claimed.
//! ```
//! Deliveries are claimed in batches no larger than the free concurrency, so memory stays flat
//! however many are owed, and at most `per_destination` at a time per destination (the target's
//! origin: `events::fairness`), so one slow or dead RP host holds only its share of the slots
//! (ADRs 0015, 0016). Every attempt mints a fresh logout token (new `jti`, fresh `iat`/`exp`).

use crate::app::State;
use crate::config::DeliveryConfig;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::store;
use crate::tokens;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What one attempt observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status {
        code: u16,
        retry_after_secs: Option<i64>,
    },
    Timeout,
    Connect(String),
    /// An e-mail the SMTP server accepted.
    Sent,
    /// The destination is one Lanyard does not send to (`http::destination`): nothing was sent,
    /// and no retry can change that.
    Refused(String),
    /// An SMTP server's refusal: permanent (5yz, or a message that cannot be built) or
    /// transient (4yz), RFC 5321 §4.2.1.
    Smtp {
        permanent: bool,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt(i64),
    Dead(String),
}

/// No retry comes sooner than this after a failed attempt, whatever the backoff settings: an RP
/// that just failed (restarting, overloaded) is not hit again at once.
pub const MIN_RETRY_MS: i64 = 1000;

/// Decide what an attempt means. `attempts` counts this one; `jitter` is in [0, 1).
pub fn decide_delivery_outcome(
    result: &AttemptResult,
    attempts: i64,
    created_at_ms: i64,
    now_ms: i64,
    cfg: &DeliveryConfig,
    jitter: f64,
) -> DeliveryOutcome {
    let (retryable, error, retry_after) = match result {
        AttemptResult::Status {
            code: 200 | 204, ..
        } => return DeliveryOutcome::Delivered,
        // RFC 9110 §10.2.3: a server says when to come back with `Retry-After` on 503 (Service
        // Unavailable) as on 429 (RFC 6585 §4).
        AttemptResult::Status {
            code: code @ (429 | 503),
            retry_after_secs,
        } => (true, format!("HTTP {code}"), *retry_after_secs),
        AttemptResult::Status { code, .. } if *code >= 500 => (true, format!("HTTP {code}"), None),
        // 2xx other than 200/204, 3xx (redirects are not followed) and 4xx: the RP refuses.
        AttemptResult::Status { code, .. } => (false, format!("HTTP {code}"), None),
        AttemptResult::Timeout => (true, "timeout".to_string(), None),
        AttemptResult::Connect(e) => (true, format!("connection failed: {e}"), None),
        AttemptResult::Sent => return DeliveryOutcome::Delivered,
        AttemptResult::Refused(e) => (false, format!("destination refused: {e}"), None),
        AttemptResult::Smtp { permanent, detail } => (!permanent, format!("SMTP: {detail}"), None),
    };
    if !retryable {
        return DeliveryOutcome::Dead(error);
    }
    if attempts >= cfg.max_attempts {
        return DeliveryOutcome::Dead(format!("{error}; gave up after {attempts} attempts"));
    }
    // Exponential backoff with full jitter over the upper half: base * 2^(n-1), capped.
    let exp = cfg
        .base_backoff_ms
        .saturating_mul(1i64 << (attempts - 1).clamp(0, 30))
        .min(cfg.max_backoff_ms);
    let backoff = (exp / 2 + ((exp / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64).max(MIN_RETRY_MS);
    let delay = match retry_after {
        Some(s) if s > 0 => s.saturating_mul(1000).min(cfg.max_backoff_ms).max(backoff),
        _ => backoff,
    };
    let next = now_ms + delay;
    if next - created_at_ms > cfg.max_age_secs * 1000 {
        return DeliveryOutcome::Dead(format!("{error}; gave up after {}s", cfg.max_age_secs));
    }
    DeliveryOutcome::RetryAt(next)
}

/// The seconds a `Retry-After` value asks for, at `now_ms`. RFC 9110 §10.2.3: either
/// delay-seconds or an HTTP-date; a recipient must accept all three date forms of §5.6.7
/// (IMF-fixdate, the obsolete RFC 850 and asctime forms). A date in the past (or now) asks for no
/// wait; anything else unparseable is ignored. The result is capped by the backoff cap in
/// [`decide_delivery_outcome`], as the seconds form always was.
pub fn resolve_retry_after(value: &str, now_ms: i64) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only (§10.2.3 `delay-seconds = 1*DIGIT`); an absurd length saturates.
        return Some(v.parse::<i64>().unwrap_or(i64::MAX));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => return Some(0),
    };
    // Rounded up: a date 1.5 s ahead is a 2 s wait, never a retry before the date.
    let wait_ms = at_ms.saturating_sub(now_ms).max(0);
    Some(wait_ms.saturating_add(999) / 1000)
}

/// An attempt's outcome, waiting to be written.
#[derive(Debug)]
struct Settlement {
    row: store::outbox::DeliveryRow,
    claim: String,
    attempt: AttemptResult,
    outcome: DeliveryOutcome,
    at_ms: i64,
}

/// The longest a claim goes without looking past the head of the queue while rows are held back
/// for their destination's limit: how long a healthy destination's row behind a full one's
/// backlog may wait, at most, when no new work arrives (`store::outbox::Fairness::widen`).
const WIDEN_EVERY: Duration = Duration::from_millis(100);

/// The longest interval between widened claims while they keep finding nothing past the head.
/// New work (a notification or a poll) widens at once whatever the interval.
const WIDEN_EVERY_MAX: Duration = Duration::from_millis(1600);

/// How long the dispatcher lets freed slots gather before claiming for destinations at their
/// limit (one claim for several slots costs about what one claim for one slot costs).
const COALESCE: Duration = Duration::from_millis(2);

/// Run until the process ends.
///
/// A claim takes as many rows as there are free slots, so every claimed row is attempted at once
/// and its lease covers only the attempt and the recording of its outcome: a row that waited in
/// a local queue could outlive its lease and be claimed again by another node (seen in the
/// two-node test with a short lease).
pub async fn run(state: State) {
    let concurrency = state.config.delivery.concurrency;
    let permits = Arc::new(Semaphore::new(concurrency));
    let (tx, rx) = tokio::sync::mpsc::channel::<Settlement>(4096);
    tokio::spawn(settle_loop(state.clone(), rx));
    let mut queue: std::collections::VecDeque<(store::outbox::DeliveryRow, String)> =
        std::collections::VecDeque::new();
    // Claimed deliveries not yet settled, by target: the per-destination limit of `claim_due`.
    let in_flight = Arc::new(std::sync::Mutex::new(HashMap::<String, usize>::new()));
    // A delivery finished: its destination has a free slot again.
    let freed = Arc::new(tokio::sync::Notify::new());
    // Widened claims (past the head of the queue, `store::outbox::Fairness::widen`) run when new
    // work arrived, after a poll, and at most every WIDEN_EVERY otherwise.
    let mut widen_due = true;
    let mut widened_at = std::time::Instant::now();
    // Doubles while widening finds nothing past the head (everything held back is owed to
    // destinations at their limit: a scan of their backlog would find nothing again).
    let mut widen_every = WIDEN_EVERY;
    // The last claim left due rows for destinations at their limit.
    let mut held_back = false;
    // Whether claiming again could find anything: after a claim that did not fill the free
    // slots, only new work, a freed slot or the poll can change what is claimable.
    let mut may_claim = true;
    loop {
        let permit = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        if queue.is_empty() && may_claim {
            let now_ms = state.clock.now_ms();
            let claim = format!("{}:{}", state.node_id, crate::crypto::random_id());
            let lease_until = now_ms + state.config.delivery.lease_ms;
            let free = permits.available_permits() + 1;
            let busy = lock(&in_flight).clone();
            let widen = widen_due || widened_at.elapsed() >= widen_every;
            if widen {
                widen_due = false;
                widened_at = std::time::Instant::now();
            }
            let fair = store::outbox::Fairness {
                busy: &busy,
                per_destination: state.config.delivery.per_destination,
                widen,
            };
            match store::outbox::claim_due(
                &state.db,
                &claim,
                now_ms,
                lease_until,
                free as u64,
                &fair,
            )
            .await
            {
                Ok(c) => {
                    held_back = c.held_back;
                    may_claim = c.rows.len() as u64 == free as u64 && !c.held_back;
                    if widen {
                        widen_every = if c.held_back && c.past_head == 0 {
                            (widen_every * 2).min(WIDEN_EVERY_MAX)
                        } else {
                            WIDEN_EVERY
                        };
                    }
                    let mut m = lock(&in_flight);
                    for r in &c.rows {
                        *m.entry(r.target.clone()).or_default() += 1;
                    }
                    drop(m);
                    queue.extend(c.rows.into_iter().map(|r| (r, claim.clone())));
                }
                Err(e) => tracing::warn!(error = %e, "outbox claim failed"),
            }
        }
        let Some((row, claim)) = queue.pop_front() else {
            drop(permit);
            // Nothing claimable now: wait for new work, a freed slot (rows held back for their
            // destination's limit may go now) or the poll (other nodes' work, retries due).
            let poll = tokio::time::sleep(Duration::from_millis(state.config.delivery.poll_ms));
            tokio::select! {
                _ = state.outbox_notify.notified() => widen_due = true,
                _ = freed.notified() => {
                    // Rows wait for their destination's slots: let a few more of its deliveries
                    // finish and claim for them together, not one claim transaction per slot.
                    if held_back {
                        tokio::time::sleep(COALESCE).await;
                    }
                }
                _ = poll => widen_due = true,
            }
            may_claim = true;
            continue;
        };
        let st = state.clone();
        let tx = tx.clone();
        let in_flight = in_flight.clone();
        let freed = freed.clone();
        tokio::spawn(async move {
            let target = row.target.clone();
            let settlement = attempt(&st, row, claim).await;
            {
                let mut m = lock(&in_flight);
                if let Some(n) = m.get_mut(&target) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        m.remove(&target);
                    }
                }
            }
            // The slot is released only once the outcome is queued for writing, so attempts
            // waiting to be recorded stay bounded (memory flat, backpressure from the database).
            let _ = tx.send(settlement).await;
            drop(permit);
            freed.notify_one();
        });
    }
}

/// The in-flight register; a panic elsewhere cannot poison it for good (counts stay usable).
fn lock(
    m: &std::sync::Mutex<HashMap<String, usize>>,
) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Attempt one claimed delivery.
async fn attempt(state: &State, row: store::outbox::DeliveryRow, claim: String) -> Settlement {
    let attempt = match row.kind.as_str() {
        crate::events::mail::KIND_EMAIL => crate::events::mail::deliver(state, &row).await,
        _ => logout_attempt(state, &row).await,
    };
    metrics::counter!(
        "lanyard_delivery_attempts_total",
        "kind" => row.kind.clone(),
        "result" => attempt_class(&attempt),
    )
    .increment(1);
    let at_ms = state.clock.now_ms();
    let jitter: f64 = rand::rngs::OsRng.gen();
    let outcome = decide_delivery_outcome(
        &attempt,
        row.attempts,
        row.created_at_ms,
        at_ms,
        &state.config.delivery,
        jitter,
    );
    Settlement {
        row,
        claim,
        attempt,
        outcome,
        at_ms,
    }
}

/// Attempt one back-channel logout delivery.
async fn logout_attempt(state: &State, row: &store::outbox::DeliveryRow) -> AttemptResult {
    match build_logout_token(state, row).await {
        Ok(token) => send(state, &row.target, &token).await,
        Err(e) => {
            // No key for the client's algorithm, or a corrupt payload: retrying cannot help.
            tracing::warn!(error = %e, delivery = %row.id, "cannot build logout token");
            AttemptResult::Status {
                code: 0,
                retry_after_secs: None,
            }
        }
    }
}

/// Write outcomes in batches: one transaction per batch instead of one commit per delivery.
async fn settle_loop(state: State, mut rx: tokio::sync::mpsc::Receiver<Settlement>) {
    let mut buf = Vec::with_capacity(256);
    while let Some(first) = rx.recv().await {
        buf.push(first);
        while buf.len() < 256 {
            match rx.try_recv() {
                Ok(s) => buf.push(s),
                Err(_) => break,
            }
        }
        if let Err(e) = settle(&state, &buf).await {
            // The rows stay leased and are attempted again when the lease expires.
            tracing::warn!(error = %e, n = buf.len(), "recording delivery outcomes failed");
        }
        buf.clear();
    }
}

async fn settle(state: &State, batch: &[Settlement]) -> Result<()> {
    use crate::store::TransactionTrait;
    let txn = state.db.begin().await?;
    // Outcomes this node recorded (its claim still held), counted once the batch commits.
    let mut recorded: Vec<&Settlement> = Vec::with_capacity(batch.len());
    // Deliveries, the bulk of every batch, in one statement per chunk; each row still only
    // while its own claim holds it.
    let delivered: Vec<(&str, &str, i64)> = batch
        .iter()
        .filter(|s| s.outcome == DeliveryOutcome::Delivered)
        .map(|s| (s.row.id.as_str(), s.claim.as_str(), s.at_ms))
        .collect();
    let took_delivered = store::outbox::mark_delivered_many(&txn, &delivered).await?;
    for s in batch {
        let row = &s.row;
        let took = match &s.outcome {
            DeliveryOutcome::Delivered => {
                took_delivered.contains(&(row.id.clone(), s.claim.clone()))
            }
            DeliveryOutcome::RetryAt(at) => {
                let error = describe(&s.attempt);
                let took = store::outbox::mark_retry(&txn, &row.id, &s.claim, *at, &error).await?;
                if took {
                    // Every failed attempt is part of the session's timeline, not only the last.
                    let email = row.kind == crate::events::mail::KIND_EMAIL;
                    audit::record(
                        &txn,
                        Event {
                            tenant_id: &row.tenant_id,
                            kind: if email {
                                "email.attempt_failed"
                            } else {
                                "logout.attempt_failed"
                            },
                            session_id: Some(row.session_id.as_str()).filter(|s| !s.is_empty()),
                            client_id: payload_client_id(row).as_deref(),
                            actor: "dispatcher",
                            outcome: "retry",
                            detail: Some(json!({
                                "delivery": row.id,
                                "target": row.target,
                                "error": error,
                                "attempt": row.attempts,
                                "next_attempt_at_ms": at,
                            })),
                            ..Default::default()
                        },
                        None,
                        s.at_ms,
                    )
                    .await?;
                }
                took
            }
            DeliveryOutcome::Dead(err) => {
                let took = store::outbox::mark_dead(&txn, &row.id, &s.claim, err).await?;
                if took {
                    let client_id = payload_client_id(row);
                    let email = row.kind == crate::events::mail::KIND_EMAIL;
                    audit::record(
                        &txn,
                        Event {
                            tenant_id: &row.tenant_id,
                            kind: if email {
                                "email.delivery_failed"
                            } else {
                                "logout.delivery_failed"
                            },
                            session_id: Some(row.session_id.as_str()).filter(|s| !s.is_empty()),
                            client_id: client_id.as_deref(),
                            actor: "dispatcher",
                            outcome: "dead",
                            detail: Some(json!({ "delivery": row.id, "target": row.target, "error": err, "attempts": row.attempts })),
                            ..Default::default()
                        },
                        None,
                        s.at_ms,
                    )
                    .await?;
                }
                took
            }
        };
        if took {
            recorded.push(s);
        }
    }
    txn.commit().await?;
    for s in recorded {
        observe_outcome(s);
    }
    Ok(())
}

/// The public `client_id` a delivery's payload names, for its audit events.
fn payload_client_id(row: &store::outbox::DeliveryRow) -> Option<String> {
    serde_json::from_str::<Value>(&row.payload)
        .ok()
        .and_then(|p| {
            p.get("client_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
}

/// Metrics, and the `delivery.dead` log line, for an outcome now recorded.
fn observe_outcome(s: &Settlement) {
    let kind = s.row.kind.clone();
    let outcome = match &s.outcome {
        DeliveryOutcome::Delivered => {
            // From the session's end (the row is written in the ending transaction).
            metrics::histogram!("lanyard_delivery_latency_seconds", "kind" => kind.clone())
                .record((s.at_ms - s.row.created_at_ms).max(0) as f64 / 1000.0);
            "delivered"
        }
        DeliveryOutcome::RetryAt(_) => "retry",
        DeliveryOutcome::Dead(err) => {
            tracing::warn!(
                event = "delivery.dead",
                delivery = %s.row.id,
                tenant_id = %s.row.tenant_id,
                kind = %s.row.kind,
                attempts = s.row.attempts,
                error = %err,
                "delivery given up; retry it with `lanyard deliveries retry`"
            );
            "dead"
        }
    };
    metrics::counter!("lanyard_delivery_outcomes_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// A bounded label for what one attempt observed.
fn attempt_class(a: &AttemptResult) -> &'static str {
    match a {
        // Code 0: no attempt was possible (no signing key, corrupt payload).
        AttemptResult::Status { code: 0, .. } => "error",
        AttemptResult::Status { code: 429, .. } => "429",
        AttemptResult::Status { code, .. } => match code / 100 {
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
        AttemptResult::Timeout => "timeout",
        AttemptResult::Connect(_) => "connect",
        AttemptResult::Refused(_) => "refused",
        AttemptResult::Sent => "sent",
        AttemptResult::Smtp {
            permanent: true, ..
        } => "smtp_permanent",
        AttemptResult::Smtp { .. } => "smtp_transient",
    }
}

fn describe(a: &AttemptResult) -> String {
    match a {
        AttemptResult::Status { code, .. } => format!("HTTP {code}"),
        AttemptResult::Timeout => "timeout".into(),
        AttemptResult::Connect(e) => format!("connection failed: {e}"),
        AttemptResult::Sent => "sent".into(),
        AttemptResult::Refused(e) => format!("destination refused: {e}"),
        AttemptResult::Smtp { detail, .. } => format!("SMTP: {detail}"),
    }
}

/// Mint a fresh logout token (new `jti`, `iat`, `exp`) from what the outbox row carries.
async fn build_logout_token(state: &State, row: &store::outbox::DeliveryRow) -> Result<String> {
    let payload: Value = serde_json::from_str(&row.payload)?;
    let field = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| internal(format!("outbox payload lacks {k}")))
    };
    let (iss, client_id, alg, sub, sid) = (
        field("iss")?,
        field("client_id")?,
        field("alg")?,
        field("sub")?,
        field("sid")?,
    );
    let now_ms = state.clock.now_ms();
    let now = now_ms.div_euclid(1000);
    let keys = state.keys.get(&state.read, &row.tenant_id, now_ms).await?;
    let key = keys
        .resolve_signing_key(alg, now)
        .ok_or_else(|| internal("no signing key"))?;
    let claims =
        tokens::claims::logout_token(iss, client_id, sub, sid, &crate::crypto::random_id(), now);
    Ok(tokens::sign(key, tokens::TYP_LOGOUT, claims)?)
}

async fn send(state: &State, target: &str, token: &str) -> AttemptResult {
    // The client's resolver checks names after resolution; a literal address never reaches a
    // resolver, so it is checked here (the rule registration applied may have changed since).
    let policy = &state.config.allow_private_destinations;
    let url = match url::Url::parse(target) {
        Ok(u) => {
            if let Err(e) = policy.evaluate_uri(&u) {
                return AttemptResult::Refused(e.to_string());
            }
            u
        }
        Err(_) => return AttemptResult::Refused(format!("'{target}' is not a URI")),
    };
    let body = serde_urlencoded::to_string([("logout_token", token)]).unwrap_or_default();
    let res = state
        .http
        .post(url)
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
                .and_then(|v| resolve_retry_after(v, state.clock.now_ms()));
            AttemptResult::Status {
                code: r.status().as_u16(),
                retry_after_secs,
            }
        }
        Err(e) => match crate::http::destination::find_rejection(&e) {
            Some(r) => AttemptResult::Refused(r.to_string()),
            None if e.is_timeout() => AttemptResult::Timeout,
            None => AttemptResult::Connect(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DeliveryConfig {
        DeliveryConfig {
            max_attempts: 5,
            max_age_secs: 3600,
            base_backoff_ms: 1000,
            max_backoff_ms: 60_000,
            ..Default::default()
        }
    }
    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status {
            code,
            retry_after_secs: None,
        }
    }

    #[test]
    fn a_refused_destination_is_dead_at_once() {
        // Not a retry loop: the first attempt is the last, whatever the budget left.
        assert_eq!(
            decide_delivery_outcome(
                &AttemptResult::Refused("10.0.0.1 is a private address".into()),
                1,
                0,
                0,
                &cfg(),
                0.0
            ),
            DeliveryOutcome::Dead("destination refused: 10.0.0.1 is a private address".into())
        );
    }

    #[test]
    fn success_codes_deliver() {
        assert_eq!(
            decide_delivery_outcome(&status(200), 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Delivered
        );
        assert_eq!(
            decide_delivery_outcome(&status(204), 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Delivered
        );
    }

    #[test]
    fn client_errors_and_redirects_are_permanent() {
        for c in [400, 401, 404, 302, 201] {
            assert!(
                matches!(
                    decide_delivery_outcome(&status(c), 1, 0, 0, &cfg(), 0.0),
                    DeliveryOutcome::Dead(_)
                ),
                "{c}"
            );
        }
    }

    #[test]
    fn server_errors_timeouts_and_refusals_retry_with_growing_backoff() {
        for r in [
            status(503),
            AttemptResult::Timeout,
            AttemptResult::Connect("refused".into()),
        ] {
            assert_eq!(
                decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0),
                DeliveryOutcome::RetryAt(1000)
            );
            assert_eq!(
                decide_delivery_outcome(&r, 2, 0, 0, &cfg(), 0.0),
                DeliveryOutcome::RetryAt(1000)
            );
            assert_eq!(
                decide_delivery_outcome(&r, 3, 0, 0, &cfg(), 0.999),
                DeliveryOutcome::RetryAt(3998)
            );
        }
    }

    #[test]
    fn backoff_is_capped() {
        let c = DeliveryConfig {
            max_attempts: 100,
            ..cfg()
        };
        assert_eq!(
            decide_delivery_outcome(&status(500), 40, 0, 0, &c, 1.0),
            DeliveryOutcome::RetryAt(60_000)
        );
    }

    #[test]
    fn smtp_refusals_are_permanent_or_retried_by_their_class() {
        assert_eq!(
            decide_delivery_outcome(&AttemptResult::Sent, 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Delivered
        );
        let smtp = |permanent| AttemptResult::Smtp {
            permanent,
            detail: "550 no such user".into(),
        };
        assert!(matches!(
            decide_delivery_outcome(&smtp(true), 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Dead(_)
        ));
        assert_eq!(
            decide_delivery_outcome(&smtp(false), 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::RetryAt(MIN_RETRY_MS)
        );
        assert!(matches!(
            decide_delivery_outcome(&smtp(false), 5, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Dead(_)
        ));
    }

    #[test]
    fn the_first_retry_waits_at_least_a_second() {
        let c = DeliveryConfig {
            base_backoff_ms: 10,
            ..cfg()
        };
        for jitter in [0.0, 0.5, 0.999] {
            for r in [status(500), status(503), AttemptResult::Timeout] {
                match decide_delivery_outcome(&r, 1, 0, 7_000, &c, jitter) {
                    DeliveryOutcome::RetryAt(at) => assert!(at >= 8_000, "{r:?} {jitter}: {at}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn retry_after_on_503_is_honoured_as_on_429() {
        for code in [429, 503] {
            let r = AttemptResult::Status {
                code,
                retry_after_secs: Some(30),
            };
            assert_eq!(
                decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0),
                DeliveryOutcome::RetryAt(30_000),
                "{code}"
            );
        }
        // Other 5xx carry no such promise; a Retry-After there is ignored.
        let r = AttemptResult::Status {
            code: 500,
            retry_after_secs: Some(30),
        };
        assert_eq!(
            decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::RetryAt(1000)
        );
    }

    #[test]
    fn retry_after_is_honoured() {
        let r = AttemptResult::Status {
            code: 429,
            retry_after_secs: Some(30),
        };
        assert_eq!(
            decide_delivery_outcome(&r, 1, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::RetryAt(30_000)
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_every_http_date_form() {
        // 1994-11-06T08:49:37Z, the RFC 9110 §5.6.7 example, minus 30 s.
        let now_ms = 784_111_777_000 - 30_000;
        assert_eq!(resolve_retry_after("120", now_ms), Some(120));
        assert_eq!(resolve_retry_after(" 7 ", now_ms), Some(7));
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",  // IMF-fixdate
            "Sunday, 06-Nov-94 08:49:37 GMT", // obsolete RFC 850 form
            "Sun Nov  6 08:49:37 1994",       // obsolete asctime form
        ] {
            assert_eq!(resolve_retry_after(form, now_ms), Some(30), "{form}");
        }
        // Part of a second ahead is a whole second: never retried before the date.
        assert_eq!(
            resolve_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now_ms + 29_500),
            Some(1)
        );
        // A date that has passed asks for no wait.
        assert_eq!(
            resolve_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now_ms + 60_000),
            Some(0)
        );
        for junk in ["", "soon", "-5", "1.5", "Sun, 06 Nov 1994"] {
            assert_eq!(resolve_retry_after(junk, now_ms), None, "{junk:?}");
        }
    }

    #[test]
    fn a_retry_after_date_is_capped_like_seconds() {
        let now_ms = 784_111_777_000;
        // A year ahead: capped at the backoff cap (60 s here), as a huge delay-seconds is.
        let far = resolve_retry_after("Mon, 06 Nov 1995 08:49:37 GMT", now_ms);
        let huge = resolve_retry_after("99999999999999999999999", now_ms);
        for secs in [far, huge] {
            let r = AttemptResult::Status {
                code: 503,
                retry_after_secs: secs,
            };
            assert_eq!(
                decide_delivery_outcome(&r, 1, now_ms, now_ms, &cfg(), 0.0),
                DeliveryOutcome::RetryAt(now_ms + 60_000)
            );
        }
        // A passed date falls back to the backoff.
        let r = AttemptResult::Status {
            code: 429,
            retry_after_secs: resolve_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now_ms),
        };
        assert_eq!(
            decide_delivery_outcome(&r, 1, now_ms, now_ms, &cfg(), 0.0),
            DeliveryOutcome::RetryAt(now_ms + 1000)
        );
    }

    #[test]
    fn retries_are_bounded_by_count_and_age() {
        assert!(matches!(
            decide_delivery_outcome(&status(503), 5, 0, 0, &cfg(), 0.0),
            DeliveryOutcome::Dead(_)
        ));
        assert!(matches!(
            decide_delivery_outcome(&status(503), 1, 0, 3_600_000, &cfg(), 0.0),
            DeliveryOutcome::Dead(_)
        ));
    }
}
