//! Reading sessions: the browser's cookie to its live session (or why not), a session by id or
//! `sid`, lists. A session found past a deadline on the browser path is ended here through the
//! termination path (the sweeper would have, moments later); token paths only report it dead.

use super::end::{end_one, Ender};
use crate::app::AppState;
use crate::error::{internal, Result};
use crate::http::context::CookieValue;
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::{EndReason, Liveness, Session};
use crate::store;
use sea_orm::ConnectionTrait;

/// Why a browser has no live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    NoCookie,
    /// The session cookie was sent twice with different values: refused, not guessed.
    Ambiguous,
    Unknown,
    Ended(EndReason),
    /// It was live until now; this request found it past a deadline and ended it.
    Expired(EndReason),
}

#[derive(Debug, Clone)]
pub enum Resolution {
    Live(Box<Session>),
    None(NoSession),
}

impl Resolution {
    pub fn live(self) -> Option<Session> {
        match self {
            Resolution::Live(s) => Some(*s),
            Resolution::None(_) => None,
        }
    }
}

/// A session row as read (alone or joined with another row, `store::grants::find_refresh_view`),
/// in any state. A row that does not parse is an error.
pub(crate) fn parse(row: store::sessions::SessionRow) -> Result<Session> {
    Session::from_row(row).map_err(|e| internal(e.to_string()))
}

/// The browser's session in this tenant.
pub async fn resolve(
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
) -> Result<Resolution> {
    let cookie = match ctx.cookies.value(&state.cookies.session_name(&tenant.slug)) {
        CookieValue::One(v) => v,
        CookieValue::Absent => return Ok(Resolution::None(NoSession::NoCookie)),
        CookieValue::Ambiguous => {
            tracing::warn!(event = "session.cookie_ambiguous", ip = %ctx.ip, "two session cookies in one request");
            return Ok(Resolution::None(NoSession::Ambiguous));
        }
    };
    let hash = state.hasher.hash("session", cookie);
    let Some(row) = store::sessions::find_by_cookie_hash(&state.read, &tenant.id, &hash).await?
    else {
        return Ok(Resolution::None(NoSession::Unknown));
    };
    let s = parse(row)?;
    match s.liveness(ctx.now) {
        // Every request from the browser is checked against what the session is bound to.
        Liveness::Live => {
            let seen = super::guard::observe_browser(state, tenant, ctx);
            Ok(
                match super::guard::guard(state, tenant, s, &seen, ctx).await? {
                    Some(s) => Resolution::Live(Box::new(s)),
                    None => Resolution::None(NoSession::Ended(EndReason::BindingMismatch)),
                },
            )
        }
        Liveness::Ended => Ok(Resolution::None(NoSession::Ended(match s.state {
            crate::session::SessionState::Ended { reason, .. } => reason,
            crate::session::SessionState::Active { .. } => EndReason::AdminRevoked,
        }))),
        Liveness::Expired(reason) => {
            end_one(
                state,
                &tenant.id,
                &s.id,
                reason,
                &Ender::new("system", Some(ctx)),
                ctx.now_ms,
            )
            .await?;
            Ok(Resolution::None(NoSession::Expired(reason)))
        }
    }
}

/// A session by internal id, in any state.
pub async fn get<C: ConnectionTrait>(db: &C, tenant_id: &str, id: &str) -> Result<Option<Session>> {
    store::sessions::find(db, tenant_id, id)
        .await?
        .map(parse)
        .transpose()
}

/// A session by internal id if it is live at `now` (token, userinfo and introspection paths:
/// they read committed state and never end sessions themselves).
pub async fn live(
    state: &AppState,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<Session>> {
    Ok(get(&state.read, tenant_id, id)
        .await?
        .filter(|s| s.liveness(now) == Liveness::Live))
}

/// A session row read together with another (a token's register row,
/// `store::grants::find_access_view`): the session if it is live at `now`. A row that does not
/// parse is an error.
pub fn live_row(row: store::sessions::SessionRow, now: i64) -> Result<Option<Session>> {
    Ok(Some(parse(row)?).filter(|s| s.liveness(now) == Liveness::Live))
}

/// A session by its public `sid`, in any state.
pub async fn find_by_sid(state: &AppState, tenant_id: &str, sid: &str) -> Result<Option<Session>> {
    store::sessions::find_by_sid(&state.db, tenant_id, sid)
        .await?
        .map(parse)
        .transpose()
}

/// Sessions of a tenant, newest first, optionally one user's or only active ones.
pub async fn list(
    state: &AppState,
    tenant_id: &str,
    user_id: Option<&str>,
    active_only: bool,
    limit: u64,
) -> Result<Vec<Session>> {
    store::sessions::list(&state.db, tenant_id, user_id, active_only, limit)
        .await?
        .into_iter()
        .map(parse)
        .collect()
}

/// Client row ids that took part in a session.
pub async fn participants<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
) -> Result<Vec<String>> {
    Ok(store::sessions::list_participants(db, tenant_id, session_id).await?)
}

/// `(session id, client row id)` for every client that took part in any of `session_ids`.
pub async fn participants_many<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_ids: &[String],
) -> Result<Vec<(String, String)>> {
    if session_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store::sessions::list_participants_many(db, tenant_id, session_ids).await?)
}
