//! Sessions, their participants (clients that received tokens in them) and devices.

use super::entities::{device, session, session_participant};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

pub use device::Model as DeviceRow;
pub use session::Model as SessionRow;

pub const ACTIVE: &str = "active";
pub const ENDED: &str = "ended";

pub async fn insert<C: ConnectionTrait>(db: &C, s: SessionRow) -> Result<SessionRow, DbErr> {
    let am: session::ActiveModel = s.into();
    am.insert(db).await
}

pub async fn find_by_cookie_hash<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    cookie_hash: &str,
) -> Result<Option<SessionRow>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::CookieHash.eq(cookie_hash))
        .one(db)
        .await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<SessionRow>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .one(db)
        .await
}

pub async fn find_by_sid<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    sid: &str,
) -> Result<Option<SessionRow>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Sid.eq(sid))
        .one(db)
        .await
}

/// Sessions of a tenant, newest first, optionally only active ones or one user's.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: Option<&str>,
    active_only: bool,
    limit: u64,
) -> Result<Vec<SessionRow>, DbErr> {
    let mut q = session::Entity::find().filter(session::Column::TenantId.eq(tenant_id));
    if let Some(u) = user_id {
        q = q.filter(session::Column::UserId.eq(u));
    }
    if active_only {
        q = q.filter(session::Column::State.eq(ACTIVE));
    }
    q.order_by_desc(session::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Ids of active sessions matching a scope, in pages (`after` = last id of the previous page),
/// so tenant-wide revocation streams instead of loading everything.
pub async fn list_active_ids<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: Option<&str>,
    device_id: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let mut q = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::State.eq(ACTIVE));
    if let Some(u) = user_id {
        q = q.filter(session::Column::UserId.eq(u));
    }
    if let Some(d) = device_id {
        q = q.filter(session::Column::DeviceId.eq(d));
    }
    if let Some(a) = after {
        q = q.filter(session::Column::Id.gt(a));
    }
    q.order_by_asc(session::Column::Id)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Active sessions past a deadline (idle, absolute or scheduled), across tenants:
/// `(tenant_id, id)`. Used by the sweeper; each filter is a range of one index.
pub async fn list_expired<C: ConnectionTrait>(
    db: &C,
    now: i64,
    limit: u64,
) -> Result<Vec<(String, String)>, DbErr> {
    // One range per deadline, each on its own `(state, deadline)` index, so a pass reads what
    // expired and not every active session (one `OR` made SQLite walk all active rows on one
    // index: 0.45 s with 100,000 active).
    let mut out: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for column in [
        session::Column::IdleDeadline,
        session::Column::AbsoluteDeadline,
        session::Column::ScheduledEndAt,
    ] {
        let rows: Vec<(String, String)> = session::Entity::find()
            .select_only()
            .column(session::Column::TenantId)
            .column(session::Column::Id)
            .filter(session::Column::State.eq(ACTIVE))
            .filter(column.lte(now))
            .limit(limit)
            .into_tuple()
            .all(db)
            .await?;
        for r in rows {
            if seen.insert(r.1.clone()) {
                out.push(r);
            }
        }
    }
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(out)
}

/// Rows of several sessions.
pub async fn list_by_ids<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<SessionRow>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await
}

/// Which sessions a query covers. Every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// One session (row id).
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    /// Sessions in which this client (row id) took part.
    pub client_row_id: Option<String>,
    /// Users in this group.
    pub group: Option<String>,
    /// Users with this attribute.
    pub attribute: Option<(String, String)>,
    /// `auth_time < t`.
    pub auth_before: Option<i64>,
    /// Only sessions that are live at this instant (active and before every deadline).
    pub live_at: Option<i64>,
}

fn filter_condition(tenant_id: &str, f: &SessionFilter) -> Condition {
    use super::entities::{group_member, user_attribute};
    use sea_orm::sea_query::Query;
    let mut c = Condition::all()
        .add(session::Column::TenantId.eq(tenant_id))
        .add(session::Column::State.eq(ACTIVE));
    if let Some(u) = &f.user_id {
        c = c.add(session::Column::UserId.eq(u.as_str()));
    }
    if let Some(id) = &f.session_id {
        c = c.add(session::Column::Id.eq(id.as_str()));
    }
    if let Some(d) = &f.device_id {
        c = c.add(session::Column::DeviceId.eq(d.as_str()));
    }
    if let Some(t) = f.auth_before {
        c = c.add(session::Column::AuthTime.lt(t));
    }
    if let Some(now) = f.live_at {
        // Among one user's sessions (a handful) the deadlines are checked row by row: written
        // as plain ranges, SQLite chose the `(state, deadline)` index the sweeper uses and
        // walked every active session of every user (88 ms with 100,000 active, on each login).
        // `deadline + 0` keeps that index out of the plan, so `ix_sessions_user` is used.
        let per_user = f.user_id.is_some();
        let col = |c: session::Column| {
            if per_user {
                Expr::expr(Expr::col((session::Entity, c)).add(0))
            } else {
                Expr::col((session::Entity, c))
            }
        };
        c = c
            .add(col(session::Column::IdleDeadline).gt(now))
            .add(col(session::Column::AbsoluteDeadline).gt(now))
            .add(
                Condition::any()
                    .add(session::Column::ScheduledEndAt.is_null())
                    .add(col(session::Column::ScheduledEndAt).gt(now)),
            );
    }
    if let Some(cid) = &f.client_row_id {
        c = c.add(
            session::Column::Id.in_subquery(
                Query::select()
                    .column(session_participant::Column::SessionId)
                    .from(session_participant::Entity)
                    .and_where(session_participant::Column::TenantId.eq(tenant_id))
                    .and_where(session_participant::Column::ClientId.eq(cid.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(g) = &f.group {
        c = c.add(
            session::Column::UserId.in_subquery(
                Query::select()
                    .column(group_member::Column::UserId)
                    .from(group_member::Entity)
                    .and_where(group_member::Column::TenantId.eq(tenant_id))
                    .and_where(group_member::Column::GroupName.eq(g.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some((k, v)) = &f.attribute {
        c = c.add(
            session::Column::UserId.in_subquery(
                Query::select()
                    .column(user_attribute::Column::UserId)
                    .from(user_attribute::Entity)
                    .and_where(user_attribute::Column::TenantId.eq(tenant_id))
                    .and_where(user_attribute::Column::Key.eq(k.as_str()))
                    .and_where(user_attribute::Column::Value.eq(v.as_str()))
                    .to_owned(),
            ),
        );
    }
    c
}

/// Active sessions matching a filter, one page in id order after `after`.
pub async fn list_active_page<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    f: &SessionFilter,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<SessionRow>, DbErr> {
    let mut q = session::Entity::find().filter(filter_condition(tenant_id, f));
    if let Some(a) = after {
        q = q.filter(session::Column::Id.gt(a));
    }
    q.order_by_asc(session::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Store a live session's re-resolved policy and the clocks it gives. Conditional on the
/// session still being active.
#[allow(clippy::too_many_arguments)]
pub async fn mark_policy<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    idle_timeout_secs: i64,
    absolute_timeout_secs: i64,
    idle_deadline: i64,
    absolute_deadline: i64,
    scheduled_end_at: Option<i64>,
    snapshot: &str,
) -> Result<bool, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(
            session::Column::IdleTimeoutSecs,
            Expr::value(idle_timeout_secs),
        )
        .col_expr(
            session::Column::AbsoluteTimeoutSecs,
            Expr::value(absolute_timeout_secs),
        )
        .col_expr(session::Column::IdleDeadline, Expr::value(idle_deadline))
        .col_expr(
            session::Column::AbsoluteDeadline,
            Expr::value(absolute_deadline),
        )
        .col_expr(
            session::Column::ScheduledEndAt,
            Expr::value(scheduled_end_at),
        )
        .col_expr(session::Column::PolicySnapshot, Expr::value(snapshot))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// End an active session. Returns false if it had already ended (someone else won).
pub async fn mark_ended<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let batch = crate::crypto::random_id();
    Ok(mark_ended_many(db, tenant_id, &[id.to_string()], reason, &batch, now).await? == 1)
}

/// End every still-active session among `ids`, stamping them with `batch` (unique per call) so
/// [`list_ended_in_batch`] returns exactly the ones this call ended. Returns how many.
pub async fn mark_ended_many<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    ids: &[String],
    reason: &str,
    batch: &str,
    now: i64,
) -> Result<u64, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(session::Column::State, Expr::value(ENDED))
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .col_expr(session::Column::EndReason, Expr::value(reason))
        .col_expr(session::Column::EndBatch, Expr::value(batch))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.is_in(ids.iter().cloned()))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// The sessions a [`mark_ended_many`] call ended.
pub async fn list_ended_in_batch<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    batch: &str,
) -> Result<Vec<SessionRow>, DbErr> {
    session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::EndBatch.eq(batch))
        .all(db)
        .await
}

/// `(id, sid, user_id)` of the sessions a [`mark_ended_many`] call ended: what the logout fan-out
/// and the audit need. A full row also carries the policy snapshot (~1.3 KB each), decoded for
/// every ended session and dropped at once.
pub async fn list_ended_refs_in_batch<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    batch: &str,
) -> Result<Vec<(String, String, String)>, DbErr> {
    session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::Sid)
        .column(session::Column::UserId)
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::EndBatch.eq(batch))
        .into_tuple()
        .all(db)
        .await
}

/// Take a session's row lock while it is active; false when it has ended (or does not exist).
///
/// A write that changes nothing: on PostgreSQL the row lock is held until commit, so a grant
/// written in this transaction and an end of the session (`mark_ended_many`, which takes the
/// same lock first) run one after the other: either the end sees the grant and revokes it, or the
/// grant sees the end and is refused (RFC 6749 §4.1.2, RFC 9700 §4.14). On SQLite the one writer
/// serialises them already.
pub async fn lock_active<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<bool, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(
            session::Column::State,
            Expr::col(session::Column::State).into(),
        )
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Record activity: move the idle deadline (never past the absolute one; the caller computes it).
pub async fn mark_active<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now: i64,
    idle_deadline: i64,
) -> Result<bool, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(session::Column::LastActiveAt, Expr::value(now))
        .col_expr(session::Column::IdleDeadline, Expr::value(idle_deadline))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// A new authentication in the same session.
#[derive(Debug, Clone)]
pub struct Reauthentication<'a> {
    pub cookie_hash: &'a str,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a str,
    pub idle_deadline: i64,
    /// When a second factor was part of it.
    pub mfa_at: Option<i64>,
    /// The context the session is bound to from now on (the user proved presence from it).
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub country: Option<&'a str>,
    pub device_id: Option<&'a str>,
    /// Where the user proved presence from, when a geo source knew.
    pub seen_at: Option<crate::session::model::LastSeenAt>,
    /// The request context the user proved presence from (duplicate-session detection).
    pub seen_ctx: &'a str,
}

/// Re-authentication in the same session: new auth_time/amr/acr, a new cookie secret, the
/// binding re-captured, and the mode back to normal.
pub async fn mark_reauthenticated<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    r: &Reauthentication<'_>,
) -> Result<bool, DbErr> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::CookieHash, Expr::value(r.cookie_hash))
        .col_expr(session::Column::AuthTime, Expr::value(r.auth_time))
        .col_expr(session::Column::Acr, Expr::value(r.acr))
        .col_expr(session::Column::Amr, Expr::value(r.amr))
        .col_expr(session::Column::LastActiveAt, Expr::value(r.auth_time))
        .col_expr(session::Column::IdleDeadline, Expr::value(r.idle_deadline))
        .col_expr(session::Column::Ip, Expr::value(r.ip))
        .col_expr(session::Column::UserAgent, Expr::value(r.user_agent))
        .col_expr(session::Column::Country, Expr::value(r.country))
        .col_expr(session::Column::Mode, Expr::value("normal"))
        .col_expr(
            session::Column::ModeReason,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            session::Column::BindingAlert,
            Expr::value(Option::<String>::None),
        );
    if let Some(t) = r.mfa_at {
        q = q.col_expr(session::Column::MfaAt, Expr::value(t));
    }
    if let Some(d) = r.device_id {
        q = q.col_expr(session::Column::DeviceId, Expr::value(d));
    }
    q = q
        .col_expr(session::Column::SeenCtx, Expr::value(r.seen_ctx))
        .col_expr(session::Column::SeenCtxAt, Expr::value(r.auth_time));
    if let Some(g) = r.seen_at {
        q = q
            .col_expr(session::Column::GeoLatE6, Expr::value(g.lat_e6))
            .col_expr(session::Column::GeoLonE6, Expr::value(g.lon_e6))
            .col_expr(session::Column::GeoAt, Expr::value(g.at));
    }
    let r = q
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Change an active session's mode (and the last binding alert key when given).
pub async fn mark_mode<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    mode: &str,
    reason: Option<String>,
    alert_key: Option<&str>,
) -> Result<bool, DbErr> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::Mode, Expr::value(mode))
        .col_expr(session::Column::ModeReason, Expr::value(reason));
    if let Some(k) = alert_key {
        q = q.col_expr(session::Column::BindingAlert, Expr::value(k));
    }
    let r = q
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Record where and when an active session was last seen.
pub async fn mark_seen_at<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    g: crate::session::model::LastSeenAt,
) -> Result<bool, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(session::Column::GeoLatE6, Expr::value(g.lat_e6))
        .col_expr(session::Column::GeoLonE6, Expr::value(g.lon_e6))
        .col_expr(session::Column::GeoAt, Expr::value(g.at))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Record the last request context an active session was used in.
pub async fn mark_seen_context<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    key: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let r = session::Entity::update_many()
        .col_expr(session::Column::SeenCtx, Expr::value(key))
        .col_expr(session::Column::SeenCtxAt, Expr::value(at))
        .filter(session::Column::TenantId.eq(tenant_id))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Record that `client_id` (internal id) received tokens in the session.
pub async fn upsert_participant<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
    client_id: &str,
    now: i64,
) -> Result<(), DbErr> {
    upsert_participants(db, &[(tenant_id, session_id, client_id, now)]).await
}

/// Record several participations `(tenant_id, session_id, client_id, at)` in one statement (a
/// new row, or a later `last_at`). Rows for the same session and client are folded into one
/// first: PostgreSQL refuses an `ON CONFLICT DO UPDATE` that would touch one row twice.
pub async fn upsert_participants<C: ConnectionTrait>(
    db: &C,
    rows: &[(&str, &str, &str, i64)],
) -> Result<(), DbErr> {
    let mut folded: Vec<(&str, &str, &str, i64)> = Vec::with_capacity(rows.len());
    for &(tenant_id, session_id, client_id, at) in rows {
        match folded
            .iter_mut()
            .find(|f| f.1 == session_id && f.2 == client_id)
        {
            Some(f) => f.3 = f.3.max(at),
            None => folded.push((tenant_id, session_id, client_id, at)),
        }
    }
    if folded.is_empty() {
        return Ok(());
    }
    let models = folded
        .into_iter()
        .map(
            |(tenant_id, session_id, client_id, at)| session_participant::ActiveModel {
                id: Set(crate::crypto::random_id()),
                tenant_id: Set(tenant_id.to_string()),
                session_id: Set(session_id.to_string()),
                client_id: Set(client_id.to_string()),
                first_at: Set(at),
                last_at: Set(at),
            },
        );
    session_participant::Entity::insert_many(models)
        .on_conflict(
            OnConflict::columns([
                session_participant::Column::SessionId,
                session_participant::Column::ClientId,
            ])
            .update_column(session_participant::Column::LastAt)
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A client no longer takes part in a session (it was signed out of it alone). False when it
/// did not.
pub async fn delete_participant<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
    client_id: &str,
) -> Result<bool, DbErr> {
    let r = session_participant::Entity::delete_many()
        .filter(session_participant::Column::TenantId.eq(tenant_id))
        .filter(session_participant::Column::SessionId.eq(session_id))
        .filter(session_participant::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}

/// `(session_id, client_id)` participant pairs of several sessions.
pub async fn list_participants_many<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_ids: &[String],
) -> Result<Vec<(String, String)>, DbErr> {
    session_participant::Entity::find()
        .select_only()
        .column(session_participant::Column::SessionId)
        .column(session_participant::Column::ClientId)
        .filter(session_participant::Column::TenantId.eq(tenant_id))
        .filter(session_participant::Column::SessionId.is_in(session_ids.iter().cloned()))
        .into_tuple()
        .all(db)
        .await
}

/// Internal client ids that took part in a session.
pub async fn list_participants<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
) -> Result<Vec<String>, DbErr> {
    session_participant::Entity::find()
        .select_only()
        .column(session_participant::Column::ClientId)
        .filter(session_participant::Column::TenantId.eq(tenant_id))
        .filter(session_participant::Column::SessionId.eq(session_id))
        .into_tuple()
        .all(db)
        .await
}

pub async fn insert_device<C: ConnectionTrait>(db: &C, d: DeviceRow) -> Result<DeviceRow, DbErr> {
    let am: device::ActiveModel = d.into();
    am.insert(db).await
}

pub async fn find_device_by_token_hash<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    token_hash: &str,
) -> Result<Option<DeviceRow>, DbErr> {
    device::Entity::find()
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

pub async fn find_device<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<DeviceRow>, DbErr> {
    device::Entity::find()
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .one(db)
        .await
}

pub async fn mark_device_seen<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    now: i64,
    ip: &str,
) -> Result<(), DbErr> {
    device::Entity::update_many()
        .col_expr(device::Column::LastSeen, Expr::value(now))
        .col_expr(device::Column::LastIp, Expr::value(ip))
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A successful login from a device: seen now from `ip`, one more success, failures since the
/// last success back to zero, a country change counted when the country differs from the
/// last one known, and the posture a trusted proxy reported (when it reported one).
#[derive(Debug, Clone)]
pub struct DeviceLogin<'a> {
    pub now: i64,
    pub ip: &'a str,
    pub country: Option<&'a str>,
    pub country_changed: bool,
    pub posture: Option<&'a str>,
}

pub async fn mark_device_login<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    l: &DeviceLogin<'_>,
) -> Result<(), DbErr> {
    let mut q = device::Entity::update_many()
        .col_expr(device::Column::LastSeen, Expr::value(l.now))
        .col_expr(device::Column::LastIp, Expr::value(l.ip))
        .col_expr(
            device::Column::LoginsOk,
            Expr::col(device::Column::LoginsOk).add(1),
        )
        .col_expr(device::Column::LoginsFailed, Expr::value(0));
    if l.country_changed {
        q = q.col_expr(
            device::Column::CountryChanges,
            Expr::col(device::Column::CountryChanges).add(1),
        );
    }
    if let Some(c) = l.country {
        q = q.col_expr(device::Column::LastCountry, Expr::value(c));
    }
    if let Some(p) = l.posture {
        q = q.col_expr(device::Column::Posture, Expr::value(p));
    }
    q.filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A failed login from a device.
pub async fn mark_device_failed<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<(), DbErr> {
    device::Entity::update_many()
        .col_expr(
            device::Column::LoginsFailed,
            Expr::col(device::Column::LoginsFailed).add(1),
        )
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A tenant's devices, most recently seen first; with `user_id`, only devices that user has
/// had a session on (a shared workstation is one device with several users).
pub async fn list_devices<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: Option<&str>,
    limit: u64,
) -> Result<Vec<DeviceRow>, DbErr> {
    let mut q = device::Entity::find().filter(device::Column::TenantId.eq(tenant_id));
    if let Some(u) = user_id {
        let ids: Vec<Option<String>> = session::Entity::find()
            .select_only()
            .column(session::Column::DeviceId)
            .distinct()
            .filter(session::Column::TenantId.eq(tenant_id))
            .filter(session::Column::UserId.eq(u))
            .filter(session::Column::DeviceId.is_not_null())
            .into_tuple()
            .all(db)
            .await?;
        q = q.filter(device::Column::Id.is_in(ids.into_iter().flatten()));
    }
    q.order_by_desc(device::Column::LastSeen)
        .order_by_asc(device::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

pub async fn mark_device_trust<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    trust: &str,
) -> Result<bool, DbErr> {
    let r = device::Entity::update_many()
        .col_expr(device::Column::Trust, Expr::value(trust))
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// One page of a tenant's sessions (any state) in creation order after `(created_at, id)`.
pub async fn list_page_by_creation<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    active_only: bool,
    after: Option<(i64, &str)>,
    limit: u64,
) -> Result<Vec<SessionRow>, DbErr> {
    let mut q = session::Entity::find().filter(session::Column::TenantId.eq(tenant_id));
    if active_only {
        q = q.filter(session::Column::State.eq(ACTIVE));
    }
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any().add(session::Column::CreatedAt.gt(at)).add(
                Condition::all()
                    .add(session::Column::CreatedAt.eq(at))
                    .add(session::Column::Id.gt(id)),
            ),
        );
    }
    q.order_by_asc(session::Column::CreatedAt)
        .order_by_asc(session::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Active sessions per tenant, `(tenant_id, count)`, across tenants: the operator-wide
/// aggregate behind the `lanyard_active_sessions` gauge. Counts only; tenants without an active
/// session are absent.
pub async fn count_active_by_tenant<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<(String, i64)>, DbErr> {
    session::Entity::find()
        .select_only()
        .column(session::Column::TenantId)
        .column_as(session::Column::Id.count(), "n")
        .filter(session::Column::State.eq(ACTIVE))
        .group_by(session::Column::TenantId)
        .into_tuple()
        .all(db)
        .await
}

// --- the self-service portal -------------------------------------------------------------

/// Every device a user has had a session on (any state), most recently seen first. A shared
/// workstation is one device: it appears for each of its users.
pub async fn list_devices_of_user<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<DeviceRow>, DbErr> {
    use sea_orm::sea_query::Query;
    device::Entity::find()
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(
            device::Column::Id.in_subquery(
                Query::select()
                    .column(session::Column::DeviceId)
                    .from(session::Entity)
                    .and_where(session::Column::TenantId.eq(tenant_id))
                    .and_where(session::Column::UserId.eq(user_id))
                    .and_where(session::Column::DeviceId.is_not_null())
                    .to_owned(),
            ),
        )
        .order_by_desc(device::Column::LastSeen)
        .order_by_asc(device::Column::Id)
        .all(db)
        .await
}

/// Set a device's user-given name and category. False when there is no such device.
pub async fn mark_device_details<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    name: Option<&str>,
    category: &str,
) -> Result<bool, DbErr> {
    let r = device::Entity::update_many()
        .col_expr(device::Column::Name, Expr::value(name.map(str::to_string)))
        .col_expr(device::Column::Category, Expr::value(category))
        .filter(device::Column::TenantId.eq(tenant_id))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

// --- the admin area ----------------------------------------------------------------------

/// How many of a tenant's sessions are in each (state, mode): the cheap signature the admin
/// area's live updates compare (a new session, an end or a mode change alters it).
pub async fn count_by_state_and_mode<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
) -> Result<Vec<(String, String, i64)>, DbErr> {
    session::Entity::find()
        .select_only()
        .column(session::Column::State)
        .column(session::Column::Mode)
        .column_as(session::Column::Id.count(), "n")
        .filter(session::Column::TenantId.eq(tenant_id))
        .group_by(session::Column::State)
        .group_by(session::Column::Mode)
        .order_by_asc(session::Column::State)
        .order_by_asc(session::Column::Mode)
        .into_tuple()
        .all(db)
        .await
}
