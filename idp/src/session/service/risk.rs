//! Two additions to the guard's signals: the device's trust re-scored on a live session (a
//! posture reported on a later request, failed logins on the device, the device marked
//! compromised change the score; the policy's low-trust response applies at the next check,
//! not only at login), and the tenant's response chains (`session::chain`), which escalate a
//! signal by how often it occurred for the user within the chain's window.

use super::guard::{Observed, Signal};
use super::lockout::{self, LockCause};
use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::binding::Response;
use crate::session::chain::{chain_for, decide_chain, Action, Chain};
use crate::session::stepup::{effective_level, Level};
use crate::session::trust::{decide_low_trust, evaluate_device_trust, LowTrustResponse};
use crate::session::{EffectivePolicy, EndReason, Mode, Session};
use crate::store;
use serde_json::json;

/// The prefix of a session's mode reason set by low device trust.
const LOW_TRUST_REASON: &str = "low_device_trust";

/// Re-score the session's device now (storing a posture this browser request reports) and
/// raise `device.low_trust` when it is below the policy's `min_device_trust`. A step-up the
/// session already holds (a second factor within `mfa_max_age_secs`) satisfies a `step_up`
/// response; a session already in the response's mode for low trust is a repeat.
pub(super) async fn trust_signal(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    policy: &EffectivePolicy,
    seen: &Observed,
    ctx: &RequestContext,
) -> Result<Option<Signal>> {
    let (Some(min), Some(device_id)) = (policy.min_device_trust.value, s.device_id.as_deref())
    else {
        return Ok(None);
    };
    let Some(mut d) = store::sessions::find_device(&state.db, &tenant.id, device_id).await? else {
        return Ok(None);
    };
    // Only the browser's own request (through the trusted proxy) reports the device's posture.
    if let (super::guard::DeviceSeen::Cookie(_), Some(raw)) = (&seen.device, ctx.posture.as_deref())
    {
        let text =
            crate::session::trust::posture_to_text(&crate::session::trust::parse_posture(raw));
        if store::lockout::mark_device_posture(&state.db, &tenant.id, device_id, &text).await? {
            d.posture = Some(text);
        }
    }
    let score = evaluate_device_trust(&super::devices::history(&d, None)?, ctx.now);
    if !decide_low_trust(score.score, Some(min)) {
        return Ok(None);
    }
    let wanted = policy.on_low_device_trust.value;
    let level = effective_level(s.mfa_at, policy.mfa_max_age_secs.value, ctx.now);
    if wanted == LowTrustResponse::StepUp && level >= Level::Mfa {
        return Ok(None);
    }
    let response = match wanted {
        LowTrustResponse::StepUp => Response::Reauth,
        LowTrustResponse::ReadOnly => Response::ReadOnly,
    };
    let in_mode = match response {
        Response::Reauth => s.mode() == Some(Mode::ReauthRequired),
        _ => s.mode() == Some(Mode::ReadOnly),
    };
    let repeat = in_mode
        && s.mode_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(LOW_TRUST_REASON));
    Ok(Some(Signal {
        kind: "device.low_trust",
        chain_signals: vec!["low_trust".into()],
        response,
        end_reason: EndReason::ResponseChain,
        mode_reason: format!("{LOW_TRUST_REASON}:{}", score.score),
        detail: json!({
            "response": response.as_str(),
            "live": true,
            "device_id": device_id,
            "trust_score": score,
            "min_device_trust": min,
        }),
        repeat,
    }))
}

/// What the chains asked beyond the session's response.
#[derive(Debug, Default)]
pub struct ChainEffects {
    /// `Some(for_secs)` (None inside: until an admin unlocks) when a chain locks the account.
    pub lock: Option<Option<i64>>,
    pub notify_admins: bool,
    /// The chains that acted, for the audit trail.
    pub fired: Vec<serde_json::Value>,
}

/// Count this occurrence of each signal a chain follows, decide the chain's step, and make the
/// signal's response the stricter of the policy's and the chain's. Repeats do not count.
pub(super) async fn apply_chains(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    signals: &mut [Signal],
    ctx: &RequestContext,
) -> Result<ChainEffects> {
    let mut fx = ChainEffects::default();
    if signals.iter().all(|x| x.repeat) {
        return Ok(fx);
    }
    let chains: Vec<Chain> = lockout::security(&state.read, tenant).await?.chains;
    if chains.is_empty() {
        return Ok(fx);
    }
    for sig in signals.iter_mut().filter(|x| !x.repeat) {
        for name in sig.chain_signals.clone() {
            let Some(chain) = chain_for(&chains, &name) else {
                continue;
            };
            let since = ctx.now - chain.window_secs + 1;
            let prior = store::lockout::list_occurrences(
                &state.db, &tenant.id, &s.user_id, &name, since, 100,
            )
            .await?;
            store::lockout::insert_occurrence(
                &state.db,
                store::lockout::OccurrenceRow {
                    id: crate::crypto::random_id(),
                    tenant_id: tenant.id.clone(),
                    user_id: s.user_id.clone(),
                    signal: name.clone(),
                    at: ctx.now,
                },
            )
            .await?;
            let d = decide_chain(chain, &prior, ctx.now);
            if let Some(r) = d.response() {
                if r.strictness() > sig.response.strictness() {
                    sig.response = r;
                    if r == Response::Terminate {
                        sig.end_reason = EndReason::ResponseChain;
                    }
                }
            }
            if d.has(Action::LockAccount) {
                // The longer of two locks asked at once; a manual lock is the longest.
                fx.lock = Some(match (fx.lock, d.lock_for_secs) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(a)), Some(b)) => Some(a.max(b)),
                    (None, Some(b)) => Some(b),
                });
            }
            fx.notify_admins |= d.has(Action::NotifyAdmins);
            let fired = json!({ "signal": name, "occurrence": d.occurrence, "actions": d.actions });
            if let Some(obj) = sig.detail.as_object_mut() {
                obj.insert("chain".into(), fired.clone());
                obj.insert("response".into(), json!(sig.response.as_str()));
            }
            fx.fired.push(fired);
        }
    }
    Ok(fx)
}

/// Carry out what the chains asked beyond the session: lock the account (which ends every
/// session of the user, this one included, and tells the user and the admins) or, without a
/// lock, tell the admins through the audit trail. Returns whether the account was locked.
pub async fn carry_out(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    fx: &ChainEffects,
    ctx: &RequestContext,
) -> Result<bool> {
    let signals: Vec<&str> = fx
        .fired
        .iter()
        .filter_map(|f| f["signal"].as_str())
        .collect();
    if let Some(for_secs) = fx.lock {
        if let Some(user) = store::users::find(&state.db, &tenant.id, &s.user_id).await? {
            let reason = format!("response_chain:{}", signals.join(","));
            let why = format!(
                "unusual activity was detected again on your account ({})",
                signals.join(", ")
            );
            lockout::lock(
                state,
                tenant,
                &user,
                for_secs,
                &LockCause {
                    reason: &reason,
                    why: &why,
                    actor: "system",
                    ctx: Some(ctx),
                },
            )
            .await?;
            return Ok(true);
        }
    }
    if fx.notify_admins {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "admin.notified",
                session_id: Some(&s.id),
                user_id: Some(&s.user_id),
                actor: "system",
                outcome: "response_chain",
                detail: Some(json!({ "chains": fx.fired })),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
        tracing::warn!(event = "admin.notified", reason = "response_chain", tenant = %tenant.slug, "a response chain notified the admins");
    }
    Ok(false)
}
