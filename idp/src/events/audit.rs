//! Audit events: `<thing>.<past participle>` with time, actor, network context and outcome.

use crate::http::RequestContext;
use crate::store;
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub tenant_id: &'a str,
    pub kind: &'a str,
    pub session_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub actor: &'a str,
    pub outcome: &'a str,
    pub detail: Option<Value>,
}

pub async fn record<C: ConnectionTrait>(
    db: &C,
    e: Event<'_>,
    ctx: Option<&RequestContext>,
    now_ms: i64,
) -> Result<(), DbErr> {
    store::audit::insert(db, row(e, ctx, now_ms)).await
}

/// Whether an actor is an operator: the CLI, an admin API token's label (`admin:…`), or a tenant
/// admin in the admin area (`admin-area:USERNAME`).
fn is_operator(actor: &str) -> bool {
    actor == "cli" || actor.starts_with("admin:") || actor.starts_with("admin-area:")
}

/// The stored form of an event (for bulk inserts). An operator's event is also logged as an
/// `admin.action` security event (one line per event: a tenant-wide revocation logs every
/// session it ended). Ids and labels only; `detail` stays in the database.
pub fn row(e: Event<'_>, ctx: Option<&RequestContext>, now_ms: i64) -> store::audit::EventRow {
    if is_operator(e.actor) {
        tracing::info!(
            event = "admin.action",
            action = e.kind,
            actor = e.actor,
            tenant_id = e.tenant_id,
            session_id = e.session_id,
            user_id = e.user_id,
            outcome = e.outcome,
            "admin action"
        );
    }
    store::audit::EventRow {
        id: crate::crypto::random_id(),
        tenant_id: e.tenant_id.to_string(),
        at_ms: now_ms,
        kind: e.kind.to_string(),
        session_id: e.session_id.map(str::to_string),
        user_id: e.user_id.map(str::to_string),
        client_id: e.client_id.map(str::to_string),
        ip: ctx.map(|c| c.ip.clone()),
        user_agent: ctx.map(|c| c.user_agent.clone()),
        actor: e.actor.to_string(),
        outcome: if e.outcome.is_empty() {
            "ok".into()
        } else {
            e.outcome.to_string()
        },
        detail: e.detail.unwrap_or(Value::Null).to_string(),
    }
}
