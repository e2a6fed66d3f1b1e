//! Self-service account operations behind the portal (`/t/{tenant}/account`): what a signed-in
//! user may see and do about their own devices, sessions, long-lived grants and history. Every
//! operation takes the user's id and touches only what is theirs; every session it ends goes
//! through the termination path (`session::service::end`) with reason `user_choice`, so relying
//! parties hear of it by back- and front-channel logout as usual.
//!
//! The rules (who may act on which device, when a sensitive action needs a fresh sign-in, what
//! an event says in plain words) are pure functions with the clock passed in.

use crate::app::AppState;
use crate::clock::UnixTime;
use crate::error::{internal, invalid, not_found, Result};
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::service::{self as sessions, Ended, Ender};
use crate::session::{EndReason, Mode, Session};
use crate::store;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// A sensitive action (password, second factor, ending everything) needs a sign-in at most this
/// old (OIDC Core §3.1.2.1 `max_age` semantics: the time since `auth_time`).
pub const REAUTH_WINDOW_SECS: i64 = 5 * 60;

/// Longest device name a user may give.
pub const MAX_DEVICE_NAME: usize = 60;

/// Events per history page.
pub const HISTORY_PAGE: u64 = 25;

/// Up to this many sessions and grants are listed (a user past it has bigger problems).
const MAX_LISTED: u64 = 200;

/// Event kinds that are routine bookkeeping, not security history.
const ROUTINE_KINDS: &[&str] = &["token.issued", "refresh.rotated"];

/// What a device is, as its user says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCategory {
    Personal,
    Shared,
    Kiosk,
}

impl DeviceCategory {
    pub const ALL: [DeviceCategory; 3] = [Self::Personal, Self::Shared, Self::Kiosk];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Shared => "shared",
            Self::Kiosk => "kiosk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Personal => "Personal",
            Self::Shared => "Shared",
            Self::Kiosk => "Kiosk",
        }
    }
}

/// May the signed-in session act now, and how?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessDecision {
    /// View and act.
    Full,
    /// A read-only session views but does not act (its mode says it is not trusted to).
    ViewOnly,
    /// The session must sign in again before anything is shown.
    SignIn,
}

/// The portal's access rule for the browser's live session.
pub fn decide_access(mode: Option<Mode>) -> AccessDecision {
    match mode {
        Some(Mode::Normal) => AccessDecision::Full,
        Some(Mode::ReadOnly) => AccessDecision::ViewOnly,
        Some(Mode::ReauthRequired) | None => AccessDecision::SignIn,
    }
}

/// Is the session's last sign-in recent enough for a sensitive action at `now`?
pub fn decide_recent_auth(auth_time: UnixTime, now: UnixTime) -> bool {
    now - auth_time <= REAUTH_WINDOW_SECS && auth_time <= now + 60
}

/// A device name as typed: trimmed, control characters refused, at most [`MAX_DEVICE_NAME`]
/// characters; empty clears the name.
pub fn decide_device_name(raw: &str) -> std::result::Result<Option<String>, &'static str> {
    let name = raw.trim();
    if name.chars().any(char::is_control) {
        return Err("A device name cannot contain control characters.");
    }
    if name.chars().count() > MAX_DEVICE_NAME {
        return Err("A device name can be at most 60 characters.");
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

/// A device as its user sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    pub id: String,
    pub name: Option<String>,
    pub category: DeviceCategory,
    pub browser: String,
    pub os: String,
    pub first_seen: UnixTime,
    pub last_seen: UnixTime,
    pub last_ip: String,
    pub country: Option<String>,
    pub compromised: bool,
    pub this_device: bool,
    /// The user's live sessions on it, newest first.
    pub sessions: Vec<SessionView>,
}

/// One live session of the user.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub sid: String,
    /// Public client ids that took part.
    pub apps: Vec<String>,
    pub started: UnixTime,
    pub last_active: UnixTime,
    pub ip: String,
    pub country: Option<String>,
    pub acr: String,
    pub mode: Mode,
    pub expires_at: UnixTime,
    pub current: bool,
}

/// A long-lived grant: one refresh family.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: String,
    pub client_id: String,
    pub scope: String,
    pub offline: bool,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Everything on the portal's main page.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub devices: Vec<DeviceView>,
    pub grants: Vec<GrantView>,
    pub other_sessions: usize,
}

/// The earliest deadline of a session: when it ends unless something ends it sooner.
fn expires_at(s: &Session) -> UnixTime {
    let c = &s.clocks;
    let d = c.idle_deadline.min(c.absolute_deadline);
    c.scheduled_end_at.map_or(d, |at| d.min(at))
}

/// The user's devices, live sessions and grants. `current` is the browser's own session.
pub async fn overview(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    current: &Session,
    now: UnixTime,
) -> Result<Overview> {
    let db = &state.read;
    let live: Vec<Session> =
        sessions::resolve::list(state, &tenant.id, Some(user_id), true, MAX_LISTED)
            .await?
            .into_iter()
            .filter(|s| s.liveness(now) == crate::session::Liveness::Live)
            .collect();
    let ids: Vec<String> = live.iter().map(|s| s.id.clone()).collect();
    let pairs = sessions::resolve::participants_many(db, &tenant.id, &ids).await?;
    let families =
        store::grants::list_active_families_of_user(db, &tenant.id, user_id, MAX_LISTED).await?;
    let mut client_rows: Vec<String> = pairs
        .iter()
        .map(|(_, c)| c.clone())
        .chain(families.iter().map(|f| f.client_id.clone()))
        .collect();
    client_rows.sort();
    client_rows.dedup();
    let clients: HashMap<String, String> = if client_rows.is_empty() {
        HashMap::new()
    } else {
        store::clients::list_by_ids(db, &tenant.id, client_rows)
            .await?
            .into_iter()
            .map(|c| (c.id, c.client_id))
            .collect()
    };
    let mut by_device: HashMap<String, Vec<SessionView>> = HashMap::new();
    for s in &live {
        let mut apps: Vec<String> = pairs
            .iter()
            .filter(|(sid, _)| *sid == s.id)
            .filter_map(|(_, c)| clients.get(c).cloned())
            .collect();
        apps.sort();
        apps.dedup();
        let view = SessionView {
            sid: s.sid.clone(),
            apps,
            started: s.created_at,
            last_active: s.last_active_at,
            ip: s.binding.ip.clone(),
            country: s.binding.country.clone(),
            acr: s.auth.acr.clone(),
            mode: s.mode().unwrap_or(Mode::Normal),
            expires_at: expires_at(s),
            current: s.id == current.id,
        };
        by_device
            .entry(s.device_id.clone().unwrap_or_default())
            .or_default()
            .push(view);
    }
    let rows = store::sessions::list_devices_of_user(db, &tenant.id, user_id).await?;
    let mut devices = Vec::with_capacity(rows.len());
    for d in rows {
        let category = DeviceCategory::parse(&d.category)
            .ok_or_else(|| internal(format!("device {}: stored category is invalid", d.id)))?;
        let sessions = by_device.remove(&d.id).unwrap_or_default();
        let country = live
            .iter()
            .filter(|s| s.device_id.as_deref() == Some(d.id.as_str()))
            .max_by_key(|s| s.last_active_at)
            .and_then(|s| s.binding.country.clone());
        devices.push(DeviceView {
            this_device: current.device_id.as_deref() == Some(d.id.as_str()),
            compromised: d.trust == sessions::begin::COMPROMISED,
            id: d.id,
            name: d.name,
            category,
            browser: d.browser,
            os: d.os,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            last_ip: d.last_ip,
            country,
            sessions,
        });
    }
    // This device first, then devices with live sessions, then by last seen.
    devices.sort_by_key(|d| {
        (
            !d.this_device,
            d.sessions.is_empty(),
            std::cmp::Reverse(d.last_seen),
        )
    });
    let grants = families
        .into_iter()
        .map(|f| GrantView {
            client_id: clients.get(&f.client_id).cloned().unwrap_or_default(),
            offline: f.scope.split(' ').any(|s| s == "offline_access"),
            scope: f.scope,
            created_at: f.created_at,
            expires_at: f.absolute_deadline,
            id: f.id,
        })
        .collect();
    Ok(Overview {
        other_sessions: live.iter().filter(|s| s.id != current.id).count(),
        devices,
        grants,
    })
}

/// The signed-in user's account row (the portal shows the username and enrols factors for it).
pub async fn user(state: &AppState, tenant: &Tenant, user_id: &str) -> Result<store::users::User> {
    store::users::find(&state.read, &tenant.id, user_id)
        .await?
        .ok_or_else(|| not_found("no such user"))
}

/// A time zone as chosen: an IANA name chrono-tz knows (OIDC Core §5.1 `zoneinfo`, "a string
/// from the zoneinfo time zone database"), or empty for UTC. Stored values are checked again
/// when read ([`time_zone`]).
pub fn decide_time_zone(raw: &str) -> std::result::Result<Option<chrono_tz::Tz>, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Ok(None);
    }
    name.parse::<chrono_tz::Tz>()
        .map(Some)
        .map_err(|_| "Choose a time zone from the list (for example Europe/Berlin).")
}

/// The time zone the user's pages show times in (UTC when they chose none). A stored name that
/// no longer parses is an error, never a silent UTC.
pub async fn time_zone(state: &AppState, tenant: &Tenant, user_id: &str) -> Result<chrono_tz::Tz> {
    match store::users::find_zoneinfo(&state.read, &tenant.id, user_id).await? {
        None => Ok(chrono_tz::UTC),
        Some(name) => name.parse::<chrono_tz::Tz>().map_err(|_| {
            internal(format!(
                "user {user_id}: stored time zone '{name}' is unknown"
            ))
        }),
    }
}

/// Set the user's own time zone (empty: UTC), audited.
pub async fn set_time_zone(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    raw: &str,
    ctx: &RequestContext,
) -> Result<()> {
    let tz = decide_time_zone(raw).map_err(invalid)?;
    let name = tz.map(|t| t.name().to_string());
    let tx = crate::store::TransactionTrait::begin(&state.db).await?;
    store::users::set_zoneinfo(&tx, &tenant.id, user_id, name.as_deref(), ctx.now).await?;
    audit::record(
        &tx,
        Event {
            tenant_id: &tenant.id,
            kind: "user.time_zone_changed",
            user_id: Some(user_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({ "zoneinfo": name })),
            ..Default::default()
        },
        Some(ctx),
        state.clock.now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A device of this user (one they have had a session on), or not found. Another user's
/// device is "not found" too: the portal never confirms that someone else's id exists.
async fn own_device(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    device_id: &str,
) -> Result<store::sessions::DeviceRow> {
    store::sessions::list_devices_of_user(&state.db, &tenant.id, user_id)
        .await?
        .into_iter()
        .find(|d| d.id == device_id)
        .ok_or_else(|| not_found("no such device"))
}

/// Rename a device and set its category.
pub async fn rename_device(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    device_id: &str,
    name: &str,
    category: &str,
    ctx: &RequestContext,
) -> Result<()> {
    let name = decide_device_name(name).map_err(invalid)?;
    let category = DeviceCategory::parse(category).ok_or_else(|| invalid("Unknown category."))?;
    let d = own_device(state, tenant, user_id, device_id).await?;
    store::sessions::mark_device_details(
        &state.db,
        &tenant.id,
        &d.id,
        name.as_deref(),
        category.as_str(),
    )
    .await?;
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "device.renamed",
            user_id: Some(user_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({ "device_id": d.id, "category": category.as_str() })),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    Ok(())
}

async fn end_ids(
    state: &AppState,
    tenant: &Tenant,
    ids: &[String],
    ctx: &RequestContext,
) -> Result<Ended> {
    sessions::end_many(
        state,
        &tenant.id,
        ids,
        EndReason::UserChoice,
        &Ender::new("user", Some(ctx)),
        ctx.now_ms,
    )
    .await
}

async fn live_ids(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    keep: impl Fn(&Session) -> bool,
) -> Result<Vec<String>> {
    Ok(
        sessions::resolve::list(state, &tenant.id, Some(user_id), true, MAX_LISTED)
            .await?
            .into_iter()
            .filter(|s| keep(s))
            .map(|s| s.id)
            .collect(),
    )
}

/// Sign out a device: end the user's sessions on it.
pub async fn sign_out_device(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    device_id: &str,
    ctx: &RequestContext,
) -> Result<Ended> {
    let d = own_device(state, tenant, user_id, device_id).await?;
    let ids = live_ids(state, tenant, user_id, |s| {
        s.device_id.as_deref() == Some(&d.id)
    })
    .await?;
    end_ids(state, tenant, &ids, ctx).await
}

/// Longest note a user may add when reporting a device.
pub const MAX_NOTE: usize = 200;

/// "This isn't mine": end the user's sessions on the device and mark it compromised, so it can
/// never sign in again (admission refuses compromised devices). `note` is the user's own words
/// about what happened, kept in the audit event for whoever investigates.
pub async fn report_device(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    device_id: &str,
    note: Option<&str>,
    ctx: &RequestContext,
) -> Result<Ended> {
    let note: Option<String> = note
        .map(|n| {
            n.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NOTE)
                .collect()
        })
        .filter(|n: &String| !n.is_empty());
    let d = own_device(state, tenant, user_id, device_id).await?;
    store::sessions::mark_device_trust(&state.db, &tenant.id, &d.id, sessions::begin::COMPROMISED)
        .await?;
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "device.reported",
            user_id: Some(user_id),
            actor: "user",
            outcome: "compromised",
            detail: Some(
                json!({ "device_id": d.id, "browser": d.browser, "os": d.os, "note": note }),
            ),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    let ids = live_ids(state, tenant, user_id, |s| {
        s.device_id.as_deref() == Some(&d.id)
    })
    .await?;
    end_ids(state, tenant, &ids, ctx).await
}

/// End one of the user's sessions, by its public `sid`.
pub async fn end_session(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    sid: &str,
    ctx: &RequestContext,
) -> Result<Ended> {
    let ids = live_ids(state, tenant, user_id, |s| s.sid == sid).await?;
    if ids.is_empty() {
        return Err(not_found("That session has already ended."));
    }
    end_ids(state, tenant, &ids, ctx).await
}

/// End every session of the user but `keep` (the browser's own).
pub async fn end_other_sessions(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    keep: &str,
    ctx: &RequestContext,
) -> Result<Ended> {
    let ids = live_ids(state, tenant, user_id, |s| s.id != keep).await?;
    end_ids(state, tenant, &ids, ctx).await
}

/// End every session of the user, the browser's own included.
pub async fn end_everything(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    ctx: &RequestContext,
) -> Result<Ended> {
    let ids = live_ids(state, tenant, user_id, |_| true).await?;
    end_ids(state, tenant, &ids, ctx).await
}

/// Revoke one of the user's long-lived grants (a refresh family; RFC 7009 §2.1: revoking a
/// refresh token revokes the grant). Its session, if any, continues.
pub async fn revoke_grant(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    family_id: &str,
    ctx: &RequestContext,
) -> Result<()> {
    let f = store::grants::find_family(&state.db, &tenant.id, family_id)
        .await?
        .filter(|f| f.user_id == user_id)
        .ok_or_else(|| not_found("no such grant"))?;
    if store::grants::mark_family_revoked(&state.db, &tenant.id, &f.id, "user_choice", ctx.now)
        .await?
    {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "refresh.revoked",
                session_id: f.session_id.as_deref(),
                user_id: Some(user_id),
                client_id: Some(&f.client_id),
                actor: "user",
                outcome: "user_choice",
                detail: Some(json!({ "family_id": f.id })),
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
    }
    Ok(())
}

/// One event of the history, in words.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: UnixTime,
    pub what: String,
    pub ip: Option<String>,
    pub failed: bool,
}

/// A page of the history and the cursor of the next (older) one.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    pub next: Option<String>,
}

/// An event as a sentence. `failed` marks refusals, for emphasis.
pub fn describe_event(kind: &str, outcome: &str, detail: &serde_json::Value) -> (String, bool) {
    let reason = || {
        detail
            .get("reason")
            .and_then(|r| r.as_str())
            .or(Some(outcome))
            .and_then(EndReason::parse)
            .map_or("for a reason Lanyard does not know", EndReason::in_words)
    };
    // A name from the event's detail, quoted so it reads as a name in the sentence.
    let named = |field: &str| {
        detail
            .get(field)
            .and_then(|v| v.as_str())
            .map(|v| format!("\u{201c}{v}\u{201d}"))
    };
    let s = match kind {
        "session.created" => "Signed in".to_string(),
        "session.reauthenticated" => "Signed in again to confirm it was you".to_string(),
        "session.ended" => format!("A session ended: {}", reason()),
        "login.failed" => return ("Failed sign-in attempt (wrong password)".into(), true),
        "login.throttled" => {
            return (
                "Sign-in blocked after too many failed attempts".into(),
                true,
            )
        }
        "login.refused" => return ("Sign-in refused".into(), true),
        "device.first_seen" => "Signed in from a new device".to_string(),
        "device.renamed" => "Renamed a device".to_string(),
        "user.time_zone_changed" => match detail.get("zoneinfo").and_then(|z| z.as_str()) {
            Some(z) => format!("Chose the time zone {z}"),
            None => "Went back to UTC times".to_string(),
        },
        "device.reported" => "Reported a device as not yours; it can no longer sign in".to_string(),
        "factor.added" => "Set up an authenticator app".to_string(),
        "factor.removed" => "Removed the authenticator app".to_string(),
        "factor.recovery_codes_replaced" => "Replaced the recovery codes".to_string(),
        "factor.verified" if outcome == "recovery_code" => "Used a recovery code".to_string(),
        "factor.verified" => "Entered an authenticator code".to_string(),
        "factor.failed" => return ("Wrong authenticator code".into(), true),
        "factor.throttled" => {
            return (
                "Authenticator codes blocked after too many wrong ones".into(),
                true,
            )
        }
        "user.password_changed" => "Changed the password".to_string(),
        "user.disabled" => "The account was disabled".to_string(),
        "user.enabled" => "The account was enabled".to_string(),
        "session.limit_hit" => "Reached the limit of sessions at once".to_string(),
        "session.binding_mismatch" => {
            return (
                "A request did not match the network or browser of its sign-in".into(),
                true,
            )
        }
        "session.mode_changed" => {
            format!("A session's mode changed to {}", outcome.replace('_', "-"))
        }
        "refresh.revoked" => "An app's long-lived access was revoked".to_string(),
        "refresh.reuse_detected" => {
            return (
                "An old app token was used again; the app's access was revoked".into(),
                true,
            )
        }
        "code.replayed" => return ("A sign-in code was used twice".into(), true),
        "user.locked" => "The account was locked".to_string(),
        "user.unlocked" => "The account was unlocked".to_string(),
        "user.sessions_revoked" => "All of the user's sessions were ended".to_string(),
        "user.updated" => "The user's profile was changed".to_string(),
        "user.deleted" => "The user was deleted".to_string(),
        "user.created" => "The account was created".to_string(),
        "session.resynced" => "A session was re-evaluated against the policy".to_string(),
        "session.client_signed_out" => "Signed out of one app only".to_string(),
        "session.impossible_travel" => {
            return (
                "A session was used from two places too far apart".into(),
                true,
            )
        }
        "session.duplicate_detected" => {
            return ("A session was used from two places at once".into(), true)
        }
        "session.cookie_ambiguous" => {
            return ("A request carried two session cookies".into(), true)
        }
        "device.low_trust" => return ("A device scored below the trust minimum".into(), true),
        "admin.granted" => "The user was made an admin of this organisation".to_string(),
        "admin.revoked" => "The user's admin role was removed".to_string(),
        "admin.notified" => "The organisation's admins were told".to_string(),
        "policy.changed" => match detail.get("layer").and_then(|l| l.as_str()) {
            Some(l) => format!("The session policy {l} was changed"),
            None => "The session policy was changed".to_string(),
        },
        "client.disabled" => "An app was disabled".to_string(),
        "client.enabled" => "An app was enabled".to_string(),
        "client.created" => "An app was registered".to_string(),
        "client.updated" => "An app's settings were changed".to_string(),
        "client.deleted" => "An app was deleted".to_string(),
        "client.secret_rotated" => "An app's secret was replaced".to_string(),
        "client.throttled" => {
            return (
                "An app's failed authentications were slowed down".into(),
                true,
            )
        }
        "tenant.security_changed" => "The organisation's security settings changed".to_string(),
        "tenant.mail_settings_changed" => "The organisation's e-mail settings changed".to_string(),
        "delivery.retried" => "An app's logout delivery was retried by hand".to_string(),
        "logout.delivery_failed" => {
            return (
                "An app could not be told of a logout after every retry".into(),
                true,
            )
        }
        "logout.attempt_failed" => {
            return (
                "Telling an app of a logout failed; it will be retried".into(),
                true,
            )
        }
        "email.attempt_failed" => {
            return ("Sending an e-mail failed; it will be retried".into(), true)
        }
        "email.delivery_failed" => {
            return ("An e-mail could not be sent after every retry".into(), true)
        }
        "grants.offline_revoked" => "Long-lived app access was revoked".to_string(),
        "form.refused" => return ("A form submission was refused".into(), true),
        "dpop.proof_refused" => return ("An app's proof of possession was refused".into(), true),
        "user.membership_changed" => "The account's groups or attributes were changed".to_string(),
        "group.created" => match named("group") {
            Some(g) => format!("The group {g} was created"),
            None => "A group was created".to_string(),
        },
        "group.deleted" => match named("group") {
            Some(g) => format!("The group {g} was deleted"),
            None => "A group was deleted".to_string(),
        },
        // Only the token's name is in the event, never the token.
        "admin_token.created" => match named("token") {
            Some(n) => format!("The admin API token {n} was created"),
            None => "An admin API token was created".to_string(),
        },
        "admin_token.revoked" => match named("token") {
            Some(n) => format!("The admin API token {n} was revoked"),
            None => "An admin API token was revoked".to_string(),
        },
        other => format!("Other activity ({other})"),
    };
    (s, false)
}

pub(crate) fn encode_cursor(at_ms: i64, id: &str) -> String {
    format!("{at_ms}.{id}")
}

pub(crate) fn decode_cursor(c: &str) -> Option<(i64, String)> {
    let (at, id) = c.split_once('.')?;
    let ok_id = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    Some((at.parse().ok()?, id.to_string())).filter(|_| ok_id)
}

/// One page of the user's security history, newest first. `before` is the cursor a previous
/// page returned; a malformed one is refused.
pub async fn history(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    before: Option<&str>,
) -> Result<HistoryPage> {
    let cursor = match before {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| invalid("That page does not exist."))?),
    };
    let rows = store::audit::list_for_user_page(
        &state.read,
        &tenant.id,
        user_id,
        ROUTINE_KINDS,
        cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
        HISTORY_PAGE + 1,
    )
    .await?;
    let more = rows.len() as u64 > HISTORY_PAGE;
    let rows = &rows[..rows.len().min(HISTORY_PAGE as usize)];
    let next = if more {
        rows.last().map(|r| encode_cursor(r.at_ms, &r.id))
    } else {
        None
    };
    let mut entries = Vec::with_capacity(rows.len());
    for r in rows {
        let detail: serde_json::Value = serde_json::from_str(&r.detail)
            .map_err(|_| internal(format!("event {}: stored detail is invalid", r.id)))?;
        let (what, failed) = describe_event(&r.kind, &r.outcome, &detail);
        entries.push(HistoryEntry {
            at: r.at_ms.div_euclid(1000),
            what,
            ip: r.ip.clone().filter(|i| !i.is_empty()),
            failed,
        });
    }
    Ok(HistoryPage { entries, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names_or_nothing() {
        assert_eq!(decide_time_zone("  "), Ok(None));
        assert_eq!(
            decide_time_zone(" Europe/Berlin "),
            Ok(Some(chrono_tz::Europe::Berlin))
        );
        assert_eq!(decide_time_zone("UTC"), Ok(Some(chrono_tz::UTC)));
        assert!(decide_time_zone("Mars/Olympus").is_err());
        assert!(decide_time_zone("Europe/Berlin\u{0}").is_err());
        assert!(decide_time_zone("+02:00").is_err());
    }

    #[test]
    fn access_follows_the_session_mode() {
        assert_eq!(decide_access(Some(Mode::Normal)), AccessDecision::Full);
        assert_eq!(
            decide_access(Some(Mode::ReadOnly)),
            AccessDecision::ViewOnly
        );
        assert_eq!(
            decide_access(Some(Mode::ReauthRequired)),
            AccessDecision::SignIn
        );
        assert_eq!(decide_access(None), AccessDecision::SignIn);
    }

    #[test]
    fn sensitive_actions_need_a_sign_in_within_five_minutes() {
        assert!(decide_recent_auth(1000, 1000));
        assert!(decide_recent_auth(1000, 1000 + REAUTH_WINDOW_SECS));
        assert!(!decide_recent_auth(1000, 1001 + REAUTH_WINDOW_SECS));
        // An auth_time far in the future is a corrupt clock, not a fresh sign-in.
        assert!(!decide_recent_auth(10_000, 1000));
    }

    #[test]
    fn device_names_are_trimmed_bounded_and_printable() {
        assert_eq!(
            decide_device_name("  Work laptop "),
            Ok(Some("Work laptop".into()))
        );
        assert_eq!(decide_device_name("   "), Ok(None));
        assert!(decide_device_name("a\u{7}b").is_err());
        assert!(decide_device_name(&"x".repeat(MAX_DEVICE_NAME + 1)).is_err());
        assert_eq!(
            decide_device_name(&"é".repeat(MAX_DEVICE_NAME)),
            Ok(Some("é".repeat(MAX_DEVICE_NAME)))
        );
    }

    #[test]
    fn categories_round_trip_and_refuse_others() {
        for c in DeviceCategory::ALL {
            assert_eq!(DeviceCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(DeviceCategory::parse("Personal"), None);
        assert_eq!(DeviceCategory::parse(""), None);
    }

    #[test]
    fn every_end_reason_reads_as_words() {
        for r in EndReason::ALL {
            let (s, failed) = describe_event(
                "session.ended",
                r.as_str(),
                &json!({ "reason": r.as_str() }),
            );
            assert!(!failed);
            assert!(s.ends_with(r.in_words()), "{s}");
            assert!(!s.contains('_'), "no stored codes in words: {s}");
        }
        let (s, _) = describe_event("session.ended", "nonsense", &json!({}));
        assert!(s.contains("does not know"));
    }

    #[test]
    fn admin_events_name_the_token_or_group_they_concern() {
        let (s, failed) = describe_event("admin_token.created", "ok", &json!({ "token": "ci" }));
        assert_eq!(s, "The admin API token \u{201c}ci\u{201d} was created");
        assert!(!failed);
        let (s, _) = describe_event("admin_token.revoked", "ok", &json!({ "token": "ci" }));
        assert_eq!(s, "The admin API token \u{201c}ci\u{201d} was revoked");
        let (s, _) = describe_event("admin_token.revoked", "ok", &json!({}));
        assert_eq!(s, "An admin API token was revoked");
        let (s, _) = describe_event("group.deleted", "ok", &json!({ "group": "nurses" }));
        assert_eq!(s, "The group \u{201c}nurses\u{201d} was deleted");
        let (s, _) = describe_event("group.created", "ok", &json!({ "group": "nurses" }));
        assert_eq!(s, "The group \u{201c}nurses\u{201d} was created");
        let (s, _) = describe_event("user.membership_changed", "ok", &json!({}));
        assert!(s.contains("groups or attributes"), "{s}");
    }

    #[test]
    fn refusals_are_marked_and_unknown_kinds_named() {
        assert!(describe_event("login.failed", "bad_credentials", &json!({})).1);
        assert!(describe_event("factor.failed", "wrong", &json!({})).1);
        assert!(!describe_event("session.created", "ok", &json!({})).1);
        assert_eq!(
            describe_event("widget.spun", "ok", &json!({})).0,
            "Other activity (widget.spun)"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = encode_cursor(1_700_000_000_123, "abc-DEF_1");
        assert_eq!(
            decode_cursor(&c),
            Some((1_700_000_000_123, "abc-DEF_1".to_string()))
        );
        for bad in ["", "x.y", "12", "12.", "12.a b", "12.a'--"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
