//! The session service: the one owner of a session's life and the only caller of
//! `store::sessions`. Operations: [`begin`] (login: admission, binding capture, device),
//! [`resolve`] (cookie → live session, or why not), [`touch_due`] (activity), [`end`] (the one
//! termination path), plus policy re-resolution, cohort revocation and export. Each public
//! operation owns its transaction; `*_in` variants run inside a caller's.

pub mod begin;
pub mod cohort;
pub mod devices;
pub mod end;
pub mod export;
pub mod guard;
pub mod leave;
pub mod lockout;
pub mod policy;
pub mod reported;
pub mod resolve;
pub mod risk;
pub mod stepup;
pub mod sweep;

pub use begin::{begin, join, Admission, Begun, Candidate, Login};
pub use end::{
    end_in, end_many, end_matching, end_one, end_scope, revoke_offline, Ended, Ender, Scope,
};
pub use leave::{leave_client, Left};
pub use resolve::{resolve, NoSession, Resolution};

use crate::clock::UnixTime;
use crate::session::clocks::evaluate_touch;
use crate::session::Session;

/// Activity to record: `(session id, now, new idle deadline)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub session_id: String,
    pub at: UnixTime,
    pub idle_deadline: UnixTime,
}

/// Should activity at `now` be written for `s`, and with which idle deadline? None when the
/// recorded activity is recent enough for the session's idle timeout (`clocks::touch_granularity`).
pub fn touch_due(s: &Session, now: UnixTime) -> Option<Touch> {
    if !evaluate_touch(s.last_active_at, s.clocks.idle_timeout_secs, now) {
        return None;
    }
    let touched = s.clone().touch(now).ok()?;
    Some(Touch {
        session_id: s.id.clone(),
        at: now,
        idle_deadline: touched.clocks.idle_deadline,
    })
}

/// Record activity inside a caller's transaction.
pub async fn touch_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    t: &Touch,
) -> crate::error::Result<()> {
    crate::store::sessions::mark_active(txn, tenant_id, &t.session_id, t.at, t.idle_deadline)
        .await?;
    Ok(())
}

/// Take the session's row lock inside a caller's transaction while it is active; false when it
/// has ended. A grant written in the same transaction then cannot outlive an end of the session
/// running concurrently: the end takes the same lock first, so either it sees the grant and
/// revokes it, or the grant sees the end (RFC 6749 §4.1.2, RFC 9700 §4.14).
pub async fn hold_active_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    tenant_id: &str,
    session_id: &str,
) -> crate::error::Result<bool> {
    Ok(crate::store::sessions::lock_active(txn, tenant_id, session_id).await?)
}
