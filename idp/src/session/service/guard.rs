//! Governance at each request from the user's browser or device: compare the request's context
//! with what the session was bound to (`session::binding`) and carry out the graded response:
//! `terminate` ends the session through the termination path (reason `binding_mismatch`),
//! `reauth` and `read_only` change its mode (conditional updates), `alert` only records.
//! Every mismatch is audited with the old and new values, once per new context (a replayed
//! cookie hammering the endpoint writes one event, not thousands). Impossible travel
//! (`session::travel`) is a second signal through the same graded responses (audit
//! `session.impossible_travel` with both places, end reason `impossible_travel`).
//! Duplicate-session detection (`session::duplicate`, audit `session.duplicate_detected`, end
//! reason `duplicate_session`) is a third, and the device's trust re-scored now (`risk`, audit
//! `device.low_trust`) a fourth. A tenant's response chains (`session::chain`) can make a
//! signal's response stricter by how often it occurred, lock the account and notify the admins
//! (`risk::apply_chains`). The strictest response of the signals a request raises wins.

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
    /// Where a geo source puts the request (impossible travel).
    pub location: Option<crate::session::travel::GeoPoint>,
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
        location: ctx.location,
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
        location: ctx.location,
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
        location: None,
    }
}

/// One risk signal a request raised, with what it asks for.
pub(super) struct Signal {
    /// The audit event (`session.binding_mismatch`, `session.impossible_travel`).
    pub kind: &'static str,
    /// The names response chains follow it by (`binding_mismatch.ip`, `impossible_travel`).
    pub chain_signals: Vec<String>,
    pub response: Response,
    pub end_reason: EndReason,
    /// Why the session is in its new mode (`binding_mismatch:ip,user_agent`, ...).
    pub mode_reason: String,
    pub detail: serde_json::Value,
    /// Already recorded for this very context (a binding alert seen again): changes nothing.
    pub repeat: bool,
}

/// Evaluate a live session against a request: its binding (`session::binding`) and, when the
/// policy sets a travel speed, impossible travel (`session::travel`). The strictest response
/// of the signals raised is carried out. Returns the session as it stands afterwards (its mode
/// may have changed), or None when the response ended it.
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
    let mut signals = Vec::new();
    let mut alert_key = None;
    if let Some((signal, key)) = binding_signal(state, tenant, &s, &policy, seen).await? {
        signals.push(signal);
        alert_key = Some(key);
    }
    let (s, travel) = travel_signal(state, tenant, s, &policy, seen, ctx).await?;
    signals.extend(travel);
    let (s, duplicate) = duplicate_signal(state, tenant, s, &policy, seen, ctx).await?;
    signals.extend(duplicate);
    signals.extend(super::risk::trust_signal(state, tenant, &s, &policy, seen, ctx).await?);
    // The tenant's response chains escalate by occurrence (`session::chain`).
    let chained = super::risk::apply_chains(state, tenant, &s, &mut signals, ctx).await?;
    if chained.lock.is_some() {
        for sig in signals.iter().filter(|x| !x.repeat) {
            audit::record(
                &state.db,
                signal_event(tenant, &s, sig, sig.response),
                Some(ctx),
                ctx.now_ms,
            )
            .await?;
        }
        if super::risk::carry_out(state, tenant, &s, &chained, ctx).await? {
            return Ok(None);
        }
    } else {
        super::risk::carry_out(state, tenant, &s, &chained, ctx).await?;
    }
    let Some(strictest) = signals
        .iter()
        .max_by_key(|x| x.response.strictness())
        .map(|x| (x.response, x.end_reason, x.mode_reason.clone()))
    else {
        return Ok(Some(s));
    };
    let (response, end_reason, mode_reason) = strictest;
    if response == Response::Terminate {
        for sig in &signals {
            audit::record(
                &state.db,
                signal_event(tenant, &s, sig, response),
                Some(ctx),
                ctx.now_ms,
            )
            .await?;
        }
        let by = Ender {
            actor: "system",
            ctx: Some(ctx),
            detail: Some(json!({ "signals": signals.iter().map(|x| x.kind).collect::<Vec<_>>() })),
            keep_offline: false,
        };
        end_one(state, &tenant.id, &s.id, end_reason, &by, ctx.now_ms).await?;
        return Ok(None);
    }
    if signals.iter().all(|x| x.repeat) {
        return Ok(Some(s));
    }
    let new_mode = match (response, mode) {
        (Response::Reauth, _) => Mode::ReauthRequired,
        (Response::ReadOnly, Mode::Normal) => Mode::ReadOnly,
        (_, m) => m,
    };
    let txn = state.db.begin().await?;
    let changed = store::sessions::mark_mode(
        &txn,
        &tenant.id,
        &s.id,
        new_mode.as_str(),
        if new_mode == mode {
            s.mode_reason.clone()
        } else {
            Some(mode_reason.clone())
        },
        alert_key.as_deref(),
    )
    .await?;
    if changed {
        for sig in signals.iter().filter(|x| !x.repeat) {
            audit::record(
                &txn,
                signal_event(tenant, &s, sig, sig.response),
                Some(ctx),
                ctx.now_ms,
            )
            .await?;
        }
    }
    txn.commit().await?;
    if !changed {
        // Ended meanwhile.
        return Ok(None);
    }
    for sig in signals.iter().filter(|x| !x.repeat) {
        if sig.end_reason == EndReason::BindingMismatch {
            metrics::counter!("lanyard_binding_mismatches_total", "tenant" => tenant.slug.clone(), "response" => sig.response.as_str())
                .increment(1);
        }
        metrics::counter!("lanyard_risk_signals_total", "tenant" => tenant.slug.clone(), "signal" => sig.kind, "response" => sig.response.as_str())
            .increment(1);
    }
    let mut s = s;
    s.state = SessionState::Active { mode: new_mode };
    if let Some(k) = alert_key {
        s.binding_alert = Some(k);
    }
    if new_mode != mode {
        s.mode_reason = Some(mode_reason);
    }
    Ok(Some(s))
}

fn signal_event<'a>(
    tenant: &'a Tenant,
    s: &'a Session,
    sig: &'a Signal,
    outcome: Response,
) -> Event<'a> {
    Event {
        tenant_id: &tenant.id,
        kind: sig.kind,
        session_id: Some(&s.id),
        user_id: Some(&s.user_id),
        actor: "system",
        outcome: outcome.as_str(),
        detail: Some(sig.detail.clone()),
        ..Default::default()
    }
}

/// The binding check: the mismatches and their response, with the key of this context (one
/// alert per new context: the same mismatch seen again is a repeat).
async fn binding_signal(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    policy: &crate::session::EffectivePolicy,
    seen: &Observed,
) -> Result<Option<(Signal, String)>> {
    let rules = policy.binding();
    if rules.ip == crate::session::binding::IpMode::Off
        && rules.user_agent == crate::session::binding::UaMode::Off
        && rules.device == DeviceMode::Off
    {
        return Ok(None);
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
        return Ok(None);
    };
    let key = crate::crypto::sha256_b64url(
        serde_json::to_string(&mismatches)
            .unwrap_or_default()
            .as_bytes(),
    );
    let fields = mismatches
        .iter()
        .map(|m| format!("{:?}", m.field).to_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let repeat = response != Response::Terminate && s.binding_alert.as_deref() == Some(&key);
    let detail = json!({ "response": response.as_str(), "mismatches": mismatches });
    Ok(Some((
        Signal {
            kind: "session.binding_mismatch",
            chain_signals: mismatches
                .iter()
                .map(|m| format!("binding_mismatch.{}", field_name(m.field)))
                .collect(),
            response,
            end_reason: EndReason::BindingMismatch,
            mode_reason: format!("binding_mismatch:{fields}"),
            detail,
            repeat,
        },
        key,
    )))
}

/// A binding field as response chains name it (`binding_mismatch.user_agent`).
fn field_name(f: crate::session::binding::Field) -> &'static str {
    use crate::session::binding::Field;
    match f {
        Field::Ip => "ip",
        Field::Country => "country",
        Field::UserAgent => "user_agent",
        Field::Device => "device",
    }
}

/// The last context is rewritten at least this often while it does not change, so the other
/// context's request compares with a time at most this stale.
const CONTEXT_REFRESH_SECS: i64 = 10;

/// Duplicate sessions (policy `duplicate_window_secs`): the cookie used from another IP or user
/// agent within the window of the last request from a different one. Records the context.
async fn duplicate_signal(
    state: &AppState,
    tenant: &Tenant,
    s: Session,
    policy: &crate::session::EffectivePolicy,
    seen: &Observed,
    ctx: &RequestContext,
) -> Result<(Session, Option<Signal>)> {
    use crate::session::duplicate::{context_key, decide_duplicate, SeenContext};
    let (Some(window), Some(ip), Some(ua)) = (
        policy.duplicate_window_secs.value,
        seen.ip.as_deref(),
        seen.user_agent.as_deref(),
    ) else {
        return Ok((s, None));
    };
    let key = context_key(ip, ua);
    let duplicate = decide_duplicate(s.last_context.as_ref(), &key, ctx.now, window);
    let previous = s.last_context.clone();
    let mut s = s;
    if previous
        .as_ref()
        .is_none_or(|c| c.key != key || ctx.now - c.at >= CONTEXT_REFRESH_SECS)
    {
        store::sessions::mark_seen_context(&state.db, &tenant.id, &s.id, &key, ctx.now).await?;
        s.last_context = Some(SeenContext {
            key: key.clone(),
            at: ctx.now,
        });
    }
    let (true, Some(previous)) = (duplicate, previous) else {
        return Ok((s, None));
    };
    let response = policy.on_duplicate_session.value;
    let (prev_ip, prev_ua) = previous.parts();
    let detail = json!({
        "response": response.as_str(),
        "window_secs": window,
        "previous": { "ip": prev_ip, "user_agent": prev_ua, "at": previous.at },
        "current": { "ip": ip, "user_agent": ua, "at": ctx.now },
    });
    Ok((
        s,
        Some(Signal {
            kind: "session.duplicate_detected",
            chain_signals: vec!["duplicate_session".into()],
            response,
            end_reason: EndReason::DuplicateSession,
            mode_reason: "duplicate_session".into(),
            detail,
            repeat: false,
        }),
    ))
}

/// A sighting is written when the session moved or this long after the last one: often enough
/// that the elapsed time of the next comparison is the real one, rarely enough that a busy
/// session does not write on every request.
const SIGHTING_REFRESH_SECS: i64 = 60;

/// Impossible travel (policy `travel_max_speed_kmh`): compare the request's location with the
/// session's last sighting, and record the new sighting. Off, or no location known: nothing.
async fn travel_signal(
    state: &AppState,
    tenant: &Tenant,
    s: Session,
    policy: &crate::session::EffectivePolicy,
    seen: &Observed,
    ctx: &RequestContext,
) -> Result<(Session, Option<Signal>)> {
    use crate::session::model::LastSeenAt;
    use crate::session::travel::{decide_travel, haversine_km, TravelDecision};
    let (Some(limit), Some(here)) = (policy.travel_max_speed_kmh.value, seen.location) else {
        return Ok((s, None));
    };
    let prev = s.last_seen_at.map(|l| l.sighting());
    let decision = decide_travel(
        prev.map(|p| p.point),
        here,
        prev.map_or(0, |p| ctx.now - p.at),
        limit,
    );
    let moved = prev.is_none_or(|p| {
        haversine_km(p.point, here) >= 1.0 || ctx.now - p.at >= SIGHTING_REFRESH_SECS
    });
    let mut s = s;
    if moved {
        let g = LastSeenAt::new(here, ctx.now);
        store::sessions::mark_seen_at(&state.db, &tenant.id, &s.id, g).await?;
        s.last_seen_at = Some(g);
    }
    let (
        TravelDecision::Impossible {
            distance_km,
            speed_kmh,
        },
        Some(prev),
    ) = (decision, prev)
    else {
        return Ok((s, None));
    };
    let response = policy.on_impossible_travel.value;
    // OpenID RISC / CAEP name no event for this; the detail carries both places so an admin
    // can judge (a VPN exit node far away is the classic false positive).
    let detail = json!({
        "response": response.as_str(),
        "from": { "lat": prev.point.lat, "lon": prev.point.lon, "at": prev.at },
        "to": { "lat": here.lat, "lon": here.lon, "at": ctx.now, "ip": seen.ip, "country": seen.country },
        "distance_km": distance_km.round(),
        "speed_kmh": speed_kmh.map(f64::round),
        "max_speed_kmh": limit,
    });
    Ok((
        s,
        Some(Signal {
            kind: "session.impossible_travel",
            chain_signals: vec!["impossible_travel".into()],
            response,
            end_reason: EndReason::ImpossibleTravel,
            mode_reason: "impossible_travel".into(),
            detail,
            repeat: false,
        }),
    ))
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
