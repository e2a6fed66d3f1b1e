//! Signing out of one application while the session lives on: the user's "only this app" answer
//! to an RP-initiated logout (RP-Initiated Logout 1.0 §2 lets the OP ask what to end).
//!
//! In one transaction, after taking the session's row lock (the lock order of every grant
//! writer): revoke that client's refresh families and registered access tokens in the session,
//! drop it from the session's participants (a later end of the session owes it nothing), write
//! its back-channel logout delivery if it registered one, and append
//! `session.client_signed_out`. The session itself, and every other application, stay signed in.

use super::end::{issuer_of, offline_too, owe_logouts, Ender};
use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::model::Client;
use crate::session::fanout::Fanout;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use serde_json::json;

/// What signing out of one application did.
#[derive(Debug, Default)]
pub struct Left {
    /// Whether the session was still active (else nothing was done).
    pub done: bool,
    /// The client's back-channel delivery and front-channel frame, if it registered them.
    pub fanout: Fanout,
}

/// Sign the session `session_id` out of `client` only.
pub async fn leave_client(
    state: &AppState,
    tenant_id: &str,
    session_id: &str,
    client: &Client,
    by: &Ender<'_>,
    now_ms: i64,
) -> Result<Left> {
    let client_row_id = client.id.as_str();
    let now = now_ms.div_euclid(1000);
    let reason = EndReason::UserLogout;
    let txn = state.db.begin().await?;
    if !store::sessions::lock_active(&txn, tenant_id, session_id).await? {
        txn.rollback().await?;
        return Ok(Left::default());
    }
    let Some(session) = store::sessions::find(&txn, tenant_id, session_id).await? else {
        txn.rollback().await?;
        return Ok(Left::default());
    };
    let families = store::grants::mark_session_client_families_revoked(
        &txn,
        tenant_id,
        session_id,
        client_row_id,
        offline_too(reason, by),
        reason.as_str(),
        now,
    )
    .await?;
    let ids = [session_id.to_string()];
    store::grants::mark_sessions_access_revoked(&txn, tenant_id, &ids, Some(client_row_id)).await?;
    let took_part =
        store::sessions::delete_participant(&txn, tenant_id, session_id, client_row_id).await?;
    let pairs = if took_part {
        vec![(session_id.to_string(), client_row_id.to_string())]
    } else {
        Vec::new()
    };
    let issuer = issuer_of(&txn, state, tenant_id).await?;
    let fanout = owe_logouts(
        &txn,
        tenant_id,
        &issuer,
        &[crate::session::fanout::EndedRef {
            id: &session.id,
            sid: &session.sid,
            user_id: &session.user_id,
        }],
        &pairs,
        now_ms,
    )
    .await?;
    audit::record(
        &txn,
        Event {
            tenant_id,
            kind: "session.client_signed_out",
            session_id: Some(session_id),
            user_id: Some(&session.user_id),
            client_id: Some(&client.client_id),
            actor: by.actor,
            outcome: reason.as_str(),
            detail: Some(json!({
                "families_revoked": families,
                "backchannel_deliveries": fanout.backchannel.len(),
            })),
        },
        by.ctx,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    if !fanout.backchannel.is_empty() {
        state.outbox_notify.notify_one();
    }
    Ok(Left { done: true, fanout })
}
