//! Governance at each request from the user's browser or device: compare the request's context
//! with what the session was bound to (`session::binding`) and carry out the graded response:
//! `terminate` ends the session through the termination path (reason `binding_mismatch`),
//! `reauth` and `read_only` change its mode (conditional updates), `alert` only records.
//! Every mismatch is audited with the old and new values, once per new context (a replayed
//! cookie hammering the endpoint writes one event, not thousands).

use super::end::{end_one, Ender};
use super::policy::session_policy;
use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::binding::{decide_response, evaluate_binding, Context, DeviceMode, Response};
use crate::session::{EndReason, Mode, Session, SessionState};
use crate::store::{self, TransactionTrait};
use serde_json::json;

/// What a request shows about the end user's context.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub ip: Option<String>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub device: DeviceSeen,
}

/// The device a request shows.
#[derive(Debug, Clone, Default)]
pub enum DeviceSeen {
    /// The request cannot carry the device cookie (a relying party's server, a cross-origin
    /// token request): not evaluated.
    #[default]
    Unknown,
    /// A browser request to Lanyard: its device cookie, if any (looked up only when a policy
    /// binds the device).
    Cookie(Option<String>),
}

impl Observed {
    /// Nothing known: binding is not evaluated (a relying party's server that did not relay
    /// the end user's context).
    pub fn unknown() -> Self {
        Self::default()
    }
}

/// The browser's own request: IP, user agent, country and device cookie.
pub fn observe_browser(state: &AppState, tenant: &Tenant, ctx: &RequestContext) -> Observed {
    Observed {
        ip: Some(ctx.ip.clone()),
        country: ctx.country.clone(),
        user_agent: Some(ctx.user_agent.clone()),
        device: DeviceSeen::Cookie(
            ctx.cookies
                .get(&state.cookies.device_name(&tenant.slug))
                .map(str::to_string),
        ),
    }
}

/// A request made from the user's device but not to a Lanyard page (a public client's token
/// or userinfo request): IP, user agent and country; the device cookie is not sent there.
pub fn observe_device_request(ctx: &RequestContext) -> Observed {
    Observed {
        ip: Some(ctx.ip.clone()),
        country: ctx.country.clone(),
        user_agent: Some(ctx.user_agent.clone()),
        device: DeviceSeen::Unknown,
    }
}

/// A confidential client's server relaying its end user's context (parameters
/// `end_user_ip` and `end_user_agent`, see the README): only what it relayed is compared.
pub fn observe_relayed(ip: Option<&str>, user_agent: Option<&str>) -> Observed {
    Observed {
        ip: ip.map(str::to_string),
        country: None,
        user_agent: user_agent.map(str::to_string),
        device: DeviceSeen::Unknown,
    }
}

/// Evaluate a live session against a request. Returns the session as it stands afterwards (its
/// mode may have changed), or None when the response ended it.
pub async fn guard(
    state: &AppState,
    tenant: &Tenant,
    s: Session,
    seen: &Observed,
    ctx: &RequestContext,
) -> Result<Option<Session>> {
    let Some(mode) = s.mode() else {
        return Ok(None);
    };
    let policy = session_policy(state, tenant, &s).await?;
    let rules = policy.binding();
    if rules.ip == crate::session::binding::IpMode::Off
        && rules.user_agent == crate::session::binding::UaMode::Off
        && rules.device == DeviceMode::Off
    {
        return Ok(Some(s));
    }
    let bound = Context {
        ip: Some(&s.binding.ip),
        country: s.binding.country.as_deref(),
        user_agent: Some(&s.binding.user_agent),
        device_id: s.device_id.as_deref(),
        device_known: true,
    };
    let device_id = match (&seen.device, rules.device) {
        (DeviceSeen::Cookie(Some(token)), DeviceMode::Required) => {
            let hash = state.hasher.hash("device", token);
            store::sessions::find_device_by_token_hash(&state.read, &tenant.id, &hash)
                .await?
                .map(|d| d.id)
        }
        _ => None,
    };
    let now = Context {
        ip: seen.ip.as_deref(),
        country: seen.country.as_deref(),
        user_agent: seen.user_agent.as_deref(),
        device_id: device_id.as_deref(),
        device_known: matches!(seen.device, DeviceSeen::Cookie(_)),
    };
    let mismatches = evaluate_binding(&rules, &bound, &now);
    let Some(response) = decide_response(&mismatches) else {
        return Ok(Some(s));
    };
    // One event per new context: the same mismatch seen again changes nothing.
    let key = crate::crypto::sha256_b64url(
        serde_json::to_string(&mismatches)
            .unwrap_or_default()
            .as_bytes(),
    );
    let detail = json!({ "response": response.as_str(), "mismatches": mismatches });
    if response == Response::Terminate {
        let by = Ender {
            actor: "system",
            ctx: Some(ctx),
            detail: Some(json!({ "mismatches": mismatches })),
            keep_offline: false,
        };
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "session.binding_mismatch",
                session_id: Some(&s.id),
                user_id: Some(&s.user_id),
                actor: "system",
                outcome: response.as_str(),
                detail: Some(detail),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
        end_one(
            state,
            &tenant.id,
            &s.id,
            EndReason::BindingMismatch,
            &by,
            ctx.now_ms,
        )
        .await?;
        return Ok(None);
    }
    if s.binding_alert.as_deref() == Some(key.as_str()) {
        return Ok(Some(s));
    }
    let new_mode = match (response, mode) {
        (Response::Reauth, _) => Mode::ReauthRequired,
        (Response::ReadOnly, Mode::Normal) => Mode::ReadOnly,
        (_, m) => m,
    };
    let reason = mismatches
        .iter()
        .map(|m| format!("{:?}", m.field).to_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let txn = state.db.begin().await?;
    let changed = store::sessions::mark_mode(
        &txn,
        &tenant.id,
        &s.id,
        new_mode.as_str(),
        (new_mode != Mode::Normal).then(|| format!("binding_mismatch:{reason}")),
        Some(&key),
    )
    .await?;
    if changed {
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind: "session.binding_mismatch",
                session_id: Some(&s.id),
                user_id: Some(&s.user_id),
                actor: "system",
                outcome: response.as_str(),
                detail: Some(detail),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    if !changed {
        // Ended meanwhile.
        return Ok(None);
    }
    metrics::counter!("lanyard_binding_mismatches_total", "tenant" => tenant.slug.clone(), "response" => response.as_str())
        .increment(1);
    let mut s = s;
    s.state = SessionState::Active { mode: new_mode };
    s.binding_alert = Some(key);
    if new_mode != mode {
        s.mode_reason = Some(format!("binding_mismatch:{reason}"));
    }
    Ok(Some(s))
}

/// An administrator's change of a live session's mode (force read-only or re-authentication,
/// or back to normal), audited with the actor.
pub async fn set_mode(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    mode: Mode,
    actor: &str,
) -> Result<bool> {
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    let changed = store::sessions::mark_mode(
        &txn,
        &tenant.id,
        &s.id,
        mode.as_str(),
        (mode != Mode::Normal).then(|| format!("admin:{actor}")),
        None,
    )
    .await?;
    if changed {
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind: "session.mode_changed",
                session_id: Some(&s.id),
                user_id: Some(&s.user_id),
                actor,
                outcome: mode.as_str(),
                detail: Some(json!({ "from": s.mode().map(Mode::as_str), "to": mode.as_str() })),
                ..Default::default()
            },
            None,
            now_ms,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(changed)
}

/// What a token request may receive from a live session after governance.
#[derive(Debug, Clone)]
pub struct Gate {
    pub session: Session,
    /// `Some(read_only_scopes)` when the session is read-only: new tokens keep only these.
    pub read_only_scopes: Option<Vec<String>>,
    /// The authentication level the session holds now (after `mfa_max_age_secs` decay).
    pub level: crate::session::stepup::Level,
}

impl Gate {
    /// The `session_mode` claim new access tokens carry (only when not normal).
    pub fn session_mode(&self) -> Option<&'static str> {
        match self.session.mode() {
            Some(Mode::Normal) | None => None,
            Some(m) => Some(m.as_str()),
        }
    }

    /// `scope` narrowed to what the session's mode allows (order kept).
    pub fn scope(&self, scope: &str) -> String {
        match &self.read_only_scopes {
            None => scope.to_string(),
            Some(allowed) => scope
                .split(' ')
                .filter(|s| !s.is_empty() && allowed.iter().any(|a| a == s))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Governance for a token request (code redemption, refresh): the binding check for requests
/// that show the end user's context, then the session's mode and level. A session that must
/// re-authenticate, or whose policy now requires a second factor it does not hold (after a
/// forced re-sync or a policy change), gets nothing new until the user goes through `/authorize`.
pub async fn gate(
    state: &AppState,
    tenant: &Tenant,
    s: Session,
    seen: &Observed,
    ctx: &RequestContext,
) -> Result<std::result::Result<Gate, crate::error::Rejection>> {
    use crate::error::Rejection;
    let Some(s) = guard(state, tenant, s, seen, ctx).await? else {
        return Ok(Err(Rejection::SessionEnded));
    };
    let policy = session_policy(state, tenant, &s).await?;
    let level =
        crate::session::stepup::effective_level(s.mfa_at, policy.mfa_max_age_secs.value, ctx.now);
    if s.mode() == Some(Mode::ReauthRequired)
        || (policy.require_mfa.value && level < crate::session::stepup::Level::Mfa)
    {
        return Ok(Err(Rejection::ReauthRequired));
    }
    let read_only_scopes =
        (s.mode() == Some(Mode::ReadOnly)).then(|| policy.read_only_scopes.value.clone());
    Ok(Ok(Gate {
        session: s,
        read_only_scopes,
        level,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_narrows_the_scope_and_names_the_mode() {
        let mut s = crate::session::model::sample("s", 0);
        let normal = Gate {
            session: s.clone(),
            read_only_scopes: None,
            level: crate::session::stepup::Level::Pwd,
        };
        assert_eq!(normal.scope("openid profile email"), "openid profile email");
        assert_eq!(normal.session_mode(), None);
        s.state = SessionState::Active {
            mode: Mode::ReadOnly,
        };
        let ro = Gate {
            session: s,
            read_only_scopes: Some(vec!["openid".into(), "profile".into()]),
            level: crate::session::stepup::Level::Pwd,
        };
        assert_eq!(ro.scope("openid profile email"), "openid profile");
        assert_eq!(ro.scope("email"), "");
        assert_eq!(ro.session_mode(), Some("read_only"));
    }
}
