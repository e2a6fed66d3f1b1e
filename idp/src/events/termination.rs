//! The termination path moved to `session::service::end` (ADR 0008); these wrappers keep the
//! earlier call shape for the administrative operations until they move onto the service.

use crate::app::AppState;
use crate::error::Result;
use crate::http::RequestContext;
use crate::session::service::end as service;
use crate::session::EndReason;

pub use service::{Scope, KIND_BACKCHANNEL};

/// Who ended a session, for the audit trail.
#[derive(Debug, Clone)]
pub struct Ender<'a> {
    pub actor: &'a str,
    pub ctx: Option<&'a RequestContext>,
}

impl<'a> From<&Ender<'a>> for service::Ender<'a> {
    fn from(e: &Ender<'a>) -> Self {
        service::Ender::new(e.actor, e.ctx)
    }
}

/// End one session. Returns false when it had already ended.
pub async fn end_session(
    state: &AppState,
    tenant_id: &str,
    session_id: &str,
    reason: EndReason,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<bool> {
    Ok(
        service::end_one(state, tenant_id, session_id, reason, &by.into(), now_ms)
            .await?
            .count()
            == 1,
    )
}

/// End every active session in scope. Returns how many this call ended.
pub async fn end_sessions(
    state: &AppState,
    tenant_id: &str,
    scope: Scope<'_>,
    reason: EndReason,
    by: &Ender<'_>,
) -> Result<u64> {
    service::end_scope(state, tenant_id, scope, reason, &by.into()).await
}
