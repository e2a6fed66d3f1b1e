//! Audit events; one query reconstructs a session's timeline.
//!
//! Append-only, with one exception: an event written once per subject that keeps a running
//! count in its detail (a refresh family's `refresh.reuse_detected` counts the refused
//! presentations, however many requests raced; ADR 0015), changed only by [`update_detail`]
//! under the subject's row lock.

use super::entities::audit_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

pub use audit_event::Model as EventRow;

pub async fn insert<C: ConnectionTrait>(db: &C, e: EventRow) -> Result<(), DbErr> {
    insert_many(db, vec![e]).await
}

/// Insert many events with multi-row INSERTs.
pub async fn insert_many<C: ConnectionTrait>(db: &C, rows: Vec<EventRow>) -> Result<(), DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<audit_event::ActiveModel> =
            rows.by_ref().take(400).map(Into::into).collect();
        audit_event::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// One event by id.
pub async fn find<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
) -> Result<Option<EventRow>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant_id))
        .filter(audit_event::Column::Id.eq(id))
        .one(db)
        .await
}

/// Replace an event's detail (the running count of a once-per-subject event; see the module
/// doc). False when there is no such event.
pub async fn update_detail<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    id: &str,
    detail: String,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let r = audit_event::Entity::update_many()
        .col_expr(audit_event::Column::Detail, Expr::value(detail))
        .filter(audit_event::Column::TenantId.eq(tenant_id))
        .filter(audit_event::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

pub async fn list_for_session<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    session_id: &str,
) -> Result<Vec<EventRow>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant_id))
        .filter(audit_event::Column::SessionId.eq(session_id))
        .order_by_asc(audit_event::Column::AtMs)
        .all(db)
        .await
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    kind: Option<&str>,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    let mut q = audit_event::Entity::find().filter(audit_event::Column::TenantId.eq(tenant_id));
    if let Some(k) = kind {
        q = q.filter(audit_event::Column::Kind.eq(k));
    }
    q.order_by_desc(audit_event::Column::AtMs)
        .limit(limit)
        .all(db)
        .await
}

/// Which events an export covers.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub kind: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// The events of a tenant that `f` selects (no order, no limit yet).
fn filtered(tenant_id: &str, f: &EventFilter) -> sea_orm::Select<audit_event::Entity> {
    let mut q = audit_event::Entity::find().filter(audit_event::Column::TenantId.eq(tenant_id));
    if let Some(s) = &f.session_id {
        q = q.filter(audit_event::Column::SessionId.eq(s.as_str()));
    }
    if let Some(u) = &f.user_id {
        q = q.filter(audit_event::Column::UserId.eq(u.as_str()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(audit_event::Column::Kind.eq(k.as_str()));
    }
    if let Some(t) = f.since_ms {
        q = q.filter(audit_event::Column::AtMs.gte(t));
    }
    if let Some(t) = f.until_ms {
        q = q.filter(audit_event::Column::AtMs.lt(t));
    }
    q
}

/// One page of events in time order after `(at_ms, id)`.
pub async fn list_page<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    f: &EventFilter,
    after: Option<(i64, &str)>,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    use sea_orm::Condition;
    let mut q = filtered(tenant_id, f);
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any().add(audit_event::Column::AtMs.gt(at)).add(
                Condition::all()
                    .add(audit_event::Column::AtMs.eq(at))
                    .add(audit_event::Column::Id.gt(id)),
            ),
        );
    }
    q.order_by_asc(audit_event::Column::AtMs)
        .order_by_asc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// One page of the events `f` selects, newest first, before `(at_ms, id)` (the last row of the
/// previous page): what the admin area's audit search shows.
pub async fn list_page_newest<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    f: &EventFilter,
    before: Option<(i64, &str)>,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    use sea_orm::Condition;
    let mut q = filtered(tenant_id, f);
    if let Some((at, id)) = before {
        q = q.filter(
            Condition::any().add(audit_event::Column::AtMs.lt(at)).add(
                Condition::all()
                    .add(audit_event::Column::AtMs.eq(at))
                    .add(audit_event::Column::Id.lt(id)),
            ),
        );
    }
    q.order_by_desc(audit_event::Column::AtMs)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// One page of a user's events (but `exclude_kinds`), newest first, before `(at_ms, id)` (the last row of the
/// previous page).
pub async fn list_for_user_page<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
    exclude_kinds: &[&str],
    before: Option<(i64, &str)>,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    use sea_orm::Condition;
    let mut q = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant_id))
        .filter(audit_event::Column::UserId.eq(user_id))
        .filter(audit_event::Column::Kind.is_not_in(exclude_kinds.iter().copied()));
    if let Some((at, id)) = before {
        q = q.filter(
            Condition::any().add(audit_event::Column::AtMs.lt(at)).add(
                Condition::all()
                    .add(audit_event::Column::AtMs.eq(at))
                    .add(audit_event::Column::Id.lt(id)),
            ),
        );
    }
    q.order_by_desc(audit_event::Column::AtMs)
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
