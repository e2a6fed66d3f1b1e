//! Step-up in the session service: what level a login or a session's next authorization needs
//! (the policy of the user in that client, the request's `claims` and `acr_values`), and what the
//! session holds (its second factor, decayed by `mfa_max_age_secs`).

use super::policy::{committed_inputs, effective, ReadMemo};
use crate::app::AppState;
use crate::error::Result;
use crate::factors::service::has_totp;
use crate::model::{Client, Tenant};
use crate::session::stepup::{
    decide_requirement, decide_step_up, effective_level, ClaimsAcr, Level, StepDecision,
};
use crate::session::Session;

/// What the authorization asks of the authentication level.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub claims: Option<&'a ClaimsAcr>,
    pub acr_values: Option<&'a str>,
}

/// The decision and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepUp {
    pub decision: StepDecision,
    pub has_factor: bool,
    /// The level the tokens of this authorization carry once the decision is satisfied.
    pub level: Level,
}

async fn policy_for(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    client_ids: &[&str],
    reads: &ReadMemo,
) -> Result<crate::session::EffectivePolicy> {
    // Committed state, from the reader pool (once per request): on SQLite the writer connection
    // is the one serialisation point, and nothing here needs a write of this request's own.
    let (layers, who) = committed_inputs(state, tenant, user_id, reads).await?;
    Ok(effective(&layers, &who, client_ids))
}

/// Right after the password: a user with a second factor is always asked for it; otherwise
/// the policy or an essential request may require enrolment (or fail). A device whose trust
/// score is below the policy's `min_device_trust` under `on_low_device_trust = step_up`
/// requires the second factor as `require_mfa` would.
pub async fn for_login(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    client: &Client,
    asked: Asked<'_>,
    ctx: &crate::http::RequestContext,
) -> Result<StepUp> {
    let policy = policy_for(
        state,
        tenant,
        user_id,
        &[client.client_id.as_str()],
        &ctx.reads,
    )
    .await?;
    let mut require_mfa = policy.require_mfa.value;
    if policy.min_device_trust.value.is_some()
        && policy.on_low_device_trust.value == crate::session::trust::LowTrustResponse::StepUp
    {
        let device = super::devices::of_browser(state, tenant, ctx).await?;
        let trust = super::devices::score_at_login(device.as_ref(), ctx)?;
        require_mfa |=
            crate::session::trust::decide_low_trust(trust.score, policy.min_device_trust.value);
    }
    let has_factor = has_totp(&state.read, &tenant.id, user_id).await?;
    let req = decide_requirement(require_mfa, asked.claims, asked.acr_values)
        .map_err(|_| crate::error::Error::Rejected(crate::error::Rejection::UnmetAuthentication))?;
    let decision = if has_factor {
        StepDecision::StepUp
    } else {
        decide_step_up(Level::Pwd, req, false, require_mfa)
    };
    Ok(StepUp {
        decision,
        has_factor,
        level: if has_factor { Level::Mfa } else { Level::Pwd },
    })
}

/// A live session's next authorization for `client` (SSO, `prompt=none`, a higher `acr`).
pub async fn for_session(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    client: &Client,
    asked: Asked<'_>,
    ctx: &crate::http::RequestContext,
) -> Result<StepUp> {
    let rows = super::resolve::participants(&state.read, &tenant.id, &s.id).await?;
    for_session_of(state, tenant, s, client, rows, asked, ctx).await
}

/// `for_session` with the session's participating clients (row ids) already read.
pub async fn for_session_of(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    client: &Client,
    rows: Vec<String>,
    asked: Asked<'_>,
    ctx: &crate::http::RequestContext,
) -> Result<StepUp> {
    let now = ctx.now;
    let mut ids: Vec<String> = if rows.is_empty() {
        vec![]
    } else {
        crate::store::clients::list_by_ids(&state.read, &tenant.id, rows)
            .await?
            .into_iter()
            .map(|c| c.client_id)
            .collect()
    };
    ids.push(client.client_id.clone());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let policy = policy_for(state, tenant, &s.user_id, &refs, &ctx.reads).await?;
    let held = effective_level(s.mfa_at, policy.mfa_max_age_secs.value, now);
    let req = decide_requirement(policy.require_mfa.value, asked.claims, asked.acr_values)
        .map_err(|_| crate::error::Error::Rejected(crate::error::Rejection::UnmetAuthentication))?;
    let has_factor = has_totp(&state.read, &tenant.id, &s.user_id).await?;
    let decision = decide_step_up(held, req, has_factor, policy.require_mfa.value);
    Ok(StepUp {
        decision,
        has_factor,
        level: if decision == StepDecision::StepUp {
            Level::Mfa
        } else {
            held
        },
    })
}

/// The level a session holds now under its own policy (token issuance, refresh).
pub async fn held(state: &AppState, tenant: &Tenant, s: &Session, now: i64) -> Result<Level> {
    let policy = super::policy::session_policy(state, tenant, s).await?;
    Ok(effective_level(
        s.mfa_at,
        policy.mfa_max_age_secs.value,
        now,
    ))
}
