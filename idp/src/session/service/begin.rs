//! Beginning a session at login: re-authentication of the browser's own session, or a new
//! session through admission (concurrent-session limits), with the device and the binding
//! context captured. And joining: a live session used for a client for the first time, which
//! re-resolves its policy and, when that client's rule limits sessions per (user, client),
//! goes through admission too.
//!
//! Race freedom: the admission transaction's first statement writes the user's row
//! (`store::users::lock_for_admission`), so on PostgreSQL concurrent logins of one user, on any
//! node, wait for each other's commit, and on SQLite they are serialised by the write lock.
//! Counting, evicting and inserting then happen in that one transaction.

use super::end::{end_in, Ender};
use super::policy::{committed_inputs, effective, load_layers, membership};
use super::resolve::parse;
use crate::app::AppState;
use crate::error::{internal, Result};
use crate::events::audit::{self, Event};
use crate::http::RequestContext;
use crate::model::{Client, Tenant};
use crate::session::admission::{decide_admission, AdmissionDecision, Counted};
use crate::session::clocks::{initial_clocks, reclocked};
use crate::session::policy::EffectivePolicy;
use crate::session::{EndReason, Session};
use crate::store::{self, TransactionTrait};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::json;

/// How the user just authenticated.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub user: &'a store::users::User,
    /// The client the user is signing in to.
    pub client: &'a Client,
    pub acr: String,
    pub amr: Vec<String>,
    /// When a second factor was proved in this login (None: password only).
    pub mfa_at: Option<i64>,
}

/// A session the user may choose to end (the "ask" page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub sid: String,
    pub created_at: i64,
    pub last_active_at: i64,
    pub ip: String,
    pub browser: String,
    pub os: String,
    pub device_name: Option<String>,
    /// Public client ids that took part.
    pub apps: Vec<String>,
}

/// The outcome of admission.
#[derive(Debug, Clone)]
pub enum Admission<T> {
    Admitted(T),
    /// At the limit under `refuse`.
    Refused {
        live: usize,
        limit: u32,
    },
    /// At the limit under `ask`: the user must choose at least `must_end` of `candidates`.
    Ask {
        must_end: usize,
        limit: u32,
        candidates: Vec<Candidate>,
    },
    /// Joining: the client's stricter rule put the session past a deadline, so it was ended
    /// (reason `policy_changed`) and the user must sign in again.
    Expired,
    /// The browser carries the cookie of a device marked compromised: never let back in.
    CompromisedDevice,
}

impl<T> Admission<T> {
    /// The same outcome with the admitted value mapped (the other variants carry none).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Admission<U> {
        match self {
            Admission::Admitted(t) => Admission::Admitted(f(t)),
            Admission::Refused { live, limit } => Admission::Refused { live, limit },
            Admission::Ask {
                must_end,
                limit,
                candidates,
            } => Admission::Ask {
                must_end,
                limit,
                candidates,
            },
            Admission::Expired => Admission::Expired,
            Admission::CompromisedDevice => Admission::CompromisedDevice,
        }
    }
}

/// An admitted login.
#[derive(Debug, Clone)]
pub struct Begun {
    pub session: Session,
    /// The new session cookie value (always rotated at login: RFC 6265bis session fixation).
    pub cookie: String,
    /// A new device cookie, when this browser had none (or an unknown one).
    pub device_cookie: Option<String>,
    pub reauthenticated: bool,
    /// Public sids of sessions ended to make room.
    pub evicted: Vec<String>,
}

/// A device's trust when an administrator or its user reported it.
pub const COMPROMISED: &str = "compromised";

/// Whether this browser carries the cookie of a device marked compromised (asked before any
/// other login step, so such a device cannot, say, choose the user's new password).
pub async fn from_compromised_device(
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
) -> Result<bool> {
    let Some(token) = ctx.cookies.get(&state.cookies.device_name(&tenant.slug)) else {
        return Ok(false);
    };
    let hash = state.hasher.hash("device", token);
    Ok(
        store::sessions::find_device_by_token_hash(&state.db, &tenant.id, &hash)
            .await?
            .is_some_and(|d| d.trust == COMPROMISED),
    )
}

/// Up to this many live sessions are read for a limit decision (limits are at most 10,000).
const MAX_COUNTED: u64 = 10_001;

/// Begin (or re-authenticate) the browser's session for `login`. `current` is the browser's
/// live session, if any; `chosen` the sids the user picked on the "ask" page.
pub async fn begin(
    state: &AppState,
    tenant: &Tenant,
    login: &Login<'_>,
    current: Option<Session>,
    chosen: Option<&[String]>,
    ctx: &RequestContext,
) -> Result<Admission<Begun>> {
    let cookie = crate::crypto::random_token();
    let cookie_hash = state.hasher.hash("session", &cookie);
    if let Some(s) = current {
        if s.user_id == login.user.id {
            return reauthenticate(state, tenant, s, login, cookie, &cookie_hash, ctx).await;
        }
        super::end::end_one(
            state,
            &tenant.id,
            &s.id,
            EndReason::Superseded,
            &Ender::new("user", Some(ctx)),
            ctx.now_ms,
        )
        .await?;
    }
    // Committed state, from the reader pool, as `join` (ADR 0019): the admission below counts
    // and decides under the user's lock on the writer.
    let (layers, who) = committed_inputs(state, tenant, &login.user.id, &ctx.reads).await?;
    let policy = effective(&layers, &who, &[login.client.client_id.as_str()]);
    let device = match ctx.cookies.get(&state.cookies.device_name(&tenant.slug)) {
        Some(token) => {
            let hash = state.hasher.hash("device", token);
            store::sessions::find_device_by_token_hash(&state.read, &tenant.id, &hash).await?
        }
        None => None,
    };
    if let Some(d) = device.as_ref().filter(|d| d.trust == COMPROMISED) {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "login.refused",
                user_id: Some(&login.user.id),
                client_id: Some(&login.client.client_id),
                actor: "user",
                outcome: "compromised_device",
                detail: Some(json!({ "device_id": d.id })),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
        tracing::warn!(event = "login.refused", reason = "compromised_device", tenant = %tenant.slug, ip = %ctx.ip, "login from a compromised device refused");
        return Ok(Admission::CompromisedDevice);
    }
    let new_id = crate::crypto::random_id();
    let new_sid = crate::crypto::random_token();

    let txn = state.db.begin().await?;
    if !store::users::lock_for_admission(&txn, &tenant.id, &login.user.id).await? {
        txn.rollback().await?;
        return Err(internal("user vanished during login"));
    }
    let scope_client = policy
        .limit_client()
        .filter(|c| *c == login.client.client_id)
        .map(|_| login.client.id.clone());
    let decision = admit(
        &txn,
        state,
        tenant,
        &login.user.id,
        scope_client.as_deref(),
        None,
        &policy,
        chosen,
        &new_sid,
        ctx,
    )
    .await?;
    let evicted = match decision {
        Decided::Admit(ended) => ended,
        Decided::Other(other) => {
            txn.commit().await?;
            return Ok(other);
        }
    };
    // Device trust (`session::trust`), scored on the history before this login with the
    // posture reported now; below the policy's minimum the login steps up (asked for in
    // `stepup::for_login`) or the session begins read-only.
    let trust = super::devices::score_at_login(device.as_ref(), ctx)?;
    let low_trust =
        crate::session::trust::decide_low_trust(trust.score, policy.min_device_trust.value)
            .then_some(policy.on_low_device_trust.value);
    let posture = ctx
        .posture
        .as_deref()
        .map(|p| crate::session::trust::posture_to_text(&crate::session::trust::parse_posture(p)));
    let mut new_device = None;
    let (device_id, device_cookie) = match device {
        Some(d) => {
            let changed = match (d.last_country.as_deref(), ctx.country.as_deref()) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            store::sessions::mark_device_login(
                &txn,
                &tenant.id,
                &d.id,
                &store::sessions::DeviceLogin {
                    now: ctx.now,
                    ip: &ctx.ip,
                    country: ctx.country.as_deref(),
                    country_changed: changed,
                    posture: posture.as_deref(),
                },
            )
            .await?;
            (d.id, None)
        }
        None => {
            let (d, token) = insert_device(&txn, state, tenant, ctx, posture).await?;
            let id = d.id.clone();
            new_device = Some(d);
            // A risk signal: a login from a device never seen for this user.
            audit::record(
                &txn,
                Event {
                    tenant_id: &tenant.id,
                    kind: "device.first_seen",
                    user_id: Some(&login.user.id),
                    client_id: Some(&login.client.client_id),
                    actor: "user",
                    outcome: "new_device",
                    detail: Some(json!({ "device_id": id })),
                    ..Default::default()
                },
                Some(ctx),
                ctx.now_ms,
            )
            .await?;
            (id, Some(token))
        }
    };
    let clocks = initial_clocks(
        policy.idle_timeout_secs.value,
        policy.absolute_timeout_secs.value,
        policy.next_scheduled_end(ctx.now),
        ctx.now,
    );
    let row = store::sessions::SessionRow {
        id: new_id,
        tenant_id: tenant.id.clone(),
        sid: new_sid,
        cookie_hash,
        user_id: login.user.id.clone(),
        device_id: Some(device_id),
        auth_time: ctx.now,
        acr: login.acr.clone(),
        amr: serde_json::to_string(&login.amr)?,
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        created_at: ctx.now,
        last_active_at: ctx.now,
        idle_deadline: clocks.idle_deadline,
        absolute_deadline: clocks.absolute_deadline,
        state: store::sessions::ACTIVE.into(),
        ended_at: None,
        end_reason: None,
        end_batch: None,
        mode: match low_trust {
            Some(crate::session::trust::LowTrustResponse::ReadOnly) => {
                crate::session::Mode::ReadOnly.as_str().into()
            }
            _ => crate::session::Mode::Normal.as_str().into(),
        },
        idle_timeout_secs: clocks.idle_timeout_secs,
        absolute_timeout_secs: clocks.absolute_timeout_secs,
        scheduled_end_at: clocks.scheduled_end_at,
        policy_snapshot: policy.to_snapshot(),
        country: ctx.country.clone(),
        mode_reason: match low_trust {
            Some(crate::session::trust::LowTrustResponse::ReadOnly) => {
                Some(format!("low_device_trust:{}", trust.score))
            }
            _ => None,
        },
        mfa_at: login.mfa_at,
        binding_alert: None,
        // Where the login came from: the first sighting impossible travel compares with.
        geo_lat_e6: ctx.location.map(|p| p.to_micro().0),
        geo_lon_e6: ctx.location.map(|p| p.to_micro().1),
        geo_at: ctx.location.map(|_| ctx.now),
        seen_ctx: Some(crate::session::duplicate::context_key(
            &ctx.ip,
            &ctx.user_agent,
        )),
        seen_ctx_at: Some(ctx.now),
    };
    let row = store::sessions::insert(&txn, row).await?;
    if let Some(response) = low_trust {
        audit::record(
            &txn,
            Event {
                tenant_id: &tenant.id,
                kind: "device.low_trust",
                session_id: Some(&row.id),
                user_id: Some(&login.user.id),
                client_id: Some(&login.client.client_id),
                actor: "system",
                outcome: response.as_str(),
                detail: Some(json!({
                    "device_id": row.device_id,
                    "trust_score": trust,
                    "min_device_trust": policy.min_device_trust.value,
                })),
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
    }
    // The user hears of a sign-in from a new device, with a "this wasn't me" link bound to this
    // session and device; written in this transaction, so the notice exists iff the session does.
    let mailed = match &new_device {
        Some(d) => {
            crate::events::mail::notify_new_device(
                &txn,
                state,
                tenant,
                login.user,
                &row.id,
                d,
                &ctx.ip,
                ctx.country.as_deref(),
                ctx.now_ms,
            )
            .await?
        }
        None => false,
    };
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "session.created",
            session_id: Some(&row.id),
            user_id: Some(&login.user.id),
            client_id: Some(&login.client.client_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({
                "device_id": row.device_id, "amr": login.amr,
                "new_device": device_cookie.is_some(),
                "idle_timeout_secs": clocks.idle_timeout_secs,
                "absolute_timeout_secs": clocks.absolute_timeout_secs,
                "scheduled_end_at": clocks.scheduled_end_at,
            })),
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    evicted.notify(state);
    if mailed {
        state.outbox_notify.notify_one();
    }
    Ok(Admission::Admitted(Begun {
        session: parse(row)?,
        cookie,
        device_cookie,
        reauthenticated: false,
        evicted: evicted.sids,
    }))
}

/// Same user re-authenticating in the same browser (`prompt=login`, `max_age`): the same session
/// (RPs keep their `sid`), no admission, a new cookie secret so a fixated or stolen cookie stops
/// working. The absolute deadline is kept (ADR 0008): re-authentication proves presence, it
/// does not buy a longer session.
async fn reauthenticate(
    state: &AppState,
    tenant: &Tenant,
    s: Session,
    login: &Login<'_>,
    cookie: String,
    cookie_hash: &str,
    ctx: &RequestContext,
) -> Result<Admission<Begun>> {
    let s = s.touch(ctx.now).map_err(|e| internal(e.to_string()))?;
    let device = match ctx.cookies.get(&state.cookies.device_name(&tenant.slug)) {
        Some(token) => {
            let hash = state.hasher.hash("device", token);
            store::sessions::find_device_by_token_hash(&state.db, &tenant.id, &hash)
                .await?
                .map(|d| d.id)
        }
        None => None,
    };
    let amr = serde_json::to_string(&login.amr)?;
    let seen_ctx = crate::session::duplicate::context_key(&ctx.ip, &ctx.user_agent);
    let txn = state.db.begin().await?;
    let changed = store::sessions::mark_reauthenticated(
        &txn,
        &tenant.id,
        &s.id,
        &store::sessions::Reauthentication {
            cookie_hash,
            auth_time: ctx.now,
            acr: &login.acr,
            amr: &amr,
            idle_deadline: s.clocks.idle_deadline,
            mfa_at: login.mfa_at,
            ip: &ctx.ip,
            user_agent: &ctx.user_agent,
            country: ctx.country.as_deref(),
            device_id: device.as_deref(),
            seen_at: ctx
                .location
                .map(|p| crate::session::model::LastSeenAt::new(p, ctx.now)),
            seen_ctx: &seen_ctx,
        },
    )
    .await?;
    if !changed {
        // Ended between resolving it and now: begin afresh.
        txn.rollback().await?;
        return Box::pin(begin(state, tenant, login, None, None, ctx)).await;
    }
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "session.reauthenticated",
            session_id: Some(&s.id),
            user_id: Some(&login.user.id),
            client_id: Some(&login.client.client_id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({ "amr": login.amr })),
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    let mut s = s;
    s.auth.time = ctx.now;
    s.auth.acr = login.acr.clone();
    s.auth.amr = login.amr.clone();
    if login.mfa_at.is_some() {
        s.mfa_at = login.mfa_at;
    }
    s.binding = crate::session::model::Binding {
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        country: ctx.country.clone(),
    };
    if device.is_some() {
        s.device_id = device;
    }
    s.state = crate::session::SessionState::Active {
        mode: crate::session::Mode::Normal,
    };
    s.mode_reason = None;
    s.binding_alert = None;
    if let Some(p) = ctx.location {
        s.last_seen_at = Some(crate::session::model::LastSeenAt::new(p, ctx.now));
    }
    s.last_context = Some(crate::session::duplicate::SeenContext {
        key: seen_ctx,
        at: ctx.now,
    });
    Ok(Admission::Admitted(Begun {
        session: s,
        cookie,
        device_cookie: None,
        reauthenticated: true,
        evicted: vec![],
    }))
}

enum Decided<T> {
    Admit(super::end::Ended),
    Other(Admission<T>),
}

/// Count, decide and (when admitted) evict, inside the admission transaction. `exclude` is a
/// session not to count (the joining session itself).
#[allow(clippy::too_many_arguments)]
async fn admit<T>(
    txn: &DatabaseTransaction,
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    scope_client_row: Option<&str>,
    exclude: Option<&str>,
    policy: &EffectivePolicy,
    chosen: Option<&[String]>,
    incoming_sid: &str,
    ctx: &RequestContext,
) -> Result<Decided<T>> {
    let Some(limit) = policy.max_sessions.value else {
        return Ok(Decided::Admit(Default::default()));
    };
    let filter = store::sessions::SessionFilter {
        user_id: Some(user_id.into()),
        client_row_id: scope_client_row.map(str::to_string),
        live_at: Some(ctx.now),
        ..Default::default()
    };
    let rows: Vec<store::sessions::SessionRow> =
        store::sessions::list_active_page(txn, &tenant.id, &filter, None, MAX_COUNTED)
            .await?
            .into_iter()
            .filter(|r| Some(r.id.as_str()) != exclude)
            .collect();
    let counted: Vec<Counted<'_>> = rows
        .iter()
        .map(|r| Counted {
            id: &r.id,
            created_at: r.created_at,
        })
        .collect();
    let chosen_ids: Option<Vec<String>> = chosen.map(|sids| {
        rows.iter()
            .filter(|r| sids.contains(&r.sid))
            .map(|r| r.id.clone())
            .collect()
    });
    let action = policy.limit_action.value;
    let decision = decide_admission(Some(limit), action, &counted, chosen_ids.as_deref());
    let scope = json!({
        "limit": limit, "live": rows.len(), "action": action.as_str(),
        "counted_per": if scope_client_row.is_some() { "user_and_client" } else { "user" },
        "limit_set_by": policy.max_sessions.source.to_string(),
    });
    let hit = |outcome: &'static str, extra: serde_json::Value| {
        let mut detail = scope.clone();
        if let (Some(d), serde_json::Value::Object(e)) = (detail.as_object_mut(), extra) {
            d.extend(e);
        }
        audit::row(
            Event {
                tenant_id: &tenant.id,
                kind: "session.limit_hit",
                user_id: Some(user_id),
                actor: "user",
                outcome,
                detail: Some(detail),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
    };
    match decision {
        AdmissionDecision::Admit { evict } if evict.is_empty() => {
            Ok(Decided::Admit(Default::default()))
        }
        AdmissionDecision::Admit { evict } => {
            let (reason, outcome, actor) = if chosen.is_some() {
                (EndReason::UserChoice, "user_chose", "user")
            } else {
                (EndReason::Evicted, "evicted", "system")
            };
            let evicted_sids: Vec<&str> = rows
                .iter()
                .filter(|r| evict.contains(&r.id))
                .map(|r| r.sid.as_str())
                .collect();
            store::audit::insert(
                txn,
                hit(
                    outcome,
                    json!({ "ended": evicted_sids, "new_session": incoming_sid }),
                ),
            )
            .await?;
            let by = Ender {
                actor,
                ctx: Some(ctx),
                detail: Some(json!({ "caused_by": incoming_sid })),
                keep_offline: false,
            };
            let ended = end_in(txn, state, &tenant.id, &evict, reason, &by, ctx.now_ms).await?;
            Ok(Decided::Admit(ended))
        }
        AdmissionDecision::Refuse { live, limit } => {
            store::audit::insert(txn, hit("refused", json!({}))).await?;
            Ok(Decided::Other(Admission::Refused { live, limit }))
        }
        AdmissionDecision::Ask { must_end } => {
            store::audit::insert(
                txn,
                hit(
                    if chosen.is_some() {
                        "asked_again"
                    } else {
                        "asked"
                    },
                    json!({ "must_end": must_end }),
                ),
            )
            .await?;
            let candidates = candidates(txn, tenant, &rows).await?;
            Ok(Decided::Other(Admission::Ask {
                must_end,
                limit,
                candidates,
            }))
        }
    }
}

/// The sessions the "ask" page offers again (after too few were chosen): the same scope as
/// admission counts, without `exclude` (a joining session).
pub async fn candidates_for(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    client: &Client,
    exclude: Option<&str>,
    ctx: &RequestContext,
) -> Result<Vec<Candidate>> {
    let layers = load_layers(&state.db, tenant).await?;
    let who = membership(&state.db, &tenant.id, user_id).await?;
    let policy = effective(&layers, &who, &[client.client_id.as_str()]);
    let filter = store::sessions::SessionFilter {
        user_id: Some(user_id.into()),
        client_row_id: policy
            .limit_client()
            .filter(|c| *c == client.client_id)
            .map(|_| client.id.clone()),
        live_at: Some(ctx.now),
        ..Default::default()
    };
    let rows: Vec<store::sessions::SessionRow> =
        store::sessions::list_active_page(&state.db, &tenant.id, &filter, None, MAX_COUNTED)
            .await?
            .into_iter()
            .filter(|r| Some(r.id.as_str()) != exclude)
            .collect();
    candidates(&state.db, tenant, &rows).await
}

/// What the "ask" page shows about each live session.
async fn candidates<C: ConnectionTrait>(
    db: &C,
    tenant: &Tenant,
    rows: &[store::sessions::SessionRow],
) -> Result<Vec<Candidate>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let pairs = store::sessions::list_participants_many(db, &tenant.id, &ids).await?;
    let mut client_rows: Vec<String> = pairs.iter().map(|(_, c)| c.clone()).collect();
    client_rows.sort();
    client_rows.dedup();
    let clients = if client_rows.is_empty() {
        vec![]
    } else {
        store::clients::list_by_ids(db, &tenant.id, client_rows).await?
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let device = match &r.device_id {
            Some(d) => store::sessions::find_device(db, &tenant.id, d).await?,
            None => None,
        };
        let mut apps: Vec<String> = pairs
            .iter()
            .filter(|(s, _)| *s == r.id)
            .filter_map(|(_, c)| clients.iter().find(|x| x.id == *c))
            .map(|c| c.client_id.clone())
            .collect();
        apps.sort();
        out.push(Candidate {
            sid: r.sid.clone(),
            created_at: r.created_at,
            last_active_at: r.last_active_at,
            ip: r.ip.clone(),
            browser: device
                .as_ref()
                .map(|d| d.browser.clone())
                .unwrap_or_default(),
            os: device.as_ref().map(|d| d.os.clone()).unwrap_or_default(),
            device_name: device.and_then(|d| d.name),
            apps,
        });
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.last_active_at));
    Ok(out)
}

/// A new device for this browser: a long-lived random token in a cookie, stored hashed.
async fn insert_device<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
    posture: Option<String>,
) -> Result<(store::sessions::DeviceRow, String)> {
    let token = crate::crypto::random_token();
    let (browser, os) = crate::session::device::browser_and_os(&ctx.user_agent);
    let d = store::sessions::insert_device(
        db,
        store::sessions::DeviceRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            token_hash: state.hasher.hash("device", &token),
            user_agent: ctx.user_agent.clone(),
            browser,
            os,
            name: None,
            first_seen: ctx.now,
            last_seen: ctx.now,
            last_ip: ctx.ip.clone(),
            trust: "unknown".into(),
            // This login is the device's first success.
            logins_ok: 1,
            logins_failed: 0,
            country_changes: 0,
            last_country: ctx.country.clone(),
            posture,
            category: "personal".into(),
        },
    )
    .await?;
    Ok((d, token))
}

/// A live session used for a client for the first time: record the participation, re-resolve
/// the session's policy with that client's rule (a stricter client tightens the SSO session),
/// and when that rule limits sessions per (user, client), admit it first. Already a participant:
/// nothing to do.
pub async fn join(
    state: &AppState,
    tenant: &Tenant,
    session: &Session,
    client: &Client,
    chosen: Option<&[String]>,
    ctx: &RequestContext,
) -> Result<Admission<()>> {
    let participants = super::resolve::participants(&state.read, &tenant.id, &session.id).await?;
    if participants.contains(&client.id) {
        return Ok(Admission::Admitted(()));
    }
    // Committed state, from the reader pool (the admission below decides under the user's lock).
    let (layers, who) = committed_inputs(state, tenant, &session.user_id, &ctx.reads).await?;
    let mut client_ids: Vec<String> = if participants.is_empty() {
        vec![]
    } else {
        store::clients::list_by_ids(&state.read, &tenant.id, participants)
            .await?
            .into_iter()
            .map(|c| c.client_id)
            .collect()
    };
    client_ids.push(client.client_id.clone());
    let refs: Vec<&str> = client_ids.iter().map(String::as_str).collect();
    let policy = effective(&layers, &who, &refs);
    let txn = state.db.begin().await?;
    let limited_here = policy.limit_client() == Some(client.client_id.as_str());
    if !store::users::lock_for_admission(&txn, &tenant.id, &session.user_id).await? {
        txn.rollback().await?;
        return Err(internal("user vanished"));
    }
    let ended = if limited_here {
        match admit(
            &txn,
            state,
            tenant,
            &session.user_id,
            Some(&client.id),
            Some(&session.id),
            &policy,
            chosen,
            &session.sid,
            ctx,
        )
        .await?
        {
            Decided::Admit(ended) => ended,
            Decided::Other(other) => {
                txn.commit().await?;
                return Ok(other);
            }
        }
    } else {
        Default::default()
    };
    store::sessions::upsert_participant(&txn, &tenant.id, &session.id, &client.id, ctx.now).await?;
    let clocks = reclocked(
        session.created_at,
        session.last_active_at,
        policy.idle_timeout_secs.value,
        policy.absolute_timeout_secs.value,
        session
            .clocks
            .scheduled_end_at
            .into_iter()
            .chain(policy.next_scheduled_end(ctx.now))
            .min(),
    );
    store::sessions::mark_policy(
        &txn,
        &tenant.id,
        &session.id,
        clocks.idle_timeout_secs,
        clocks.absolute_timeout_secs,
        clocks.idle_deadline,
        clocks.absolute_deadline,
        clocks.scheduled_end_at,
        &policy.to_snapshot(),
    )
    .await?;
    let past = ctx.now >= clocks.idle_deadline || ctx.now >= clocks.absolute_deadline;
    let ended_now = if past {
        let by = Ender {
            actor: "system",
            ctx: Some(ctx),
            detail: Some(json!({ "joining_client": client.client_id })),
            keep_offline: false,
        };
        let ids = [session.id.clone()];
        Some(
            end_in(
                &txn,
                state,
                &tenant.id,
                &ids,
                EndReason::PolicyChanged,
                &by,
                ctx.now_ms,
            )
            .await?,
        )
    } else {
        None
    };
    txn.commit().await?;
    ended.notify(state);
    if let Some(e) = ended_now {
        e.notify(state);
        return Ok(Admission::Expired);
    }
    Ok(Admission::Admitted(()))
}
