//! "This wasn't me": a user reports, from the link in a new-device notice, that a sign-in was not
//! theirs. Confirming ends that session (and the user's other sessions on that device) through
//! the termination path (reason `user_reported`, so relying parties get logout tokens), marks the
//! device compromised (it can never sign in again), makes the user's next login ask for a new
//! password, and tells the tenant's admins (audit `admin.notified`, and an e-mail to the admin
//! address when one is set) — all in one transaction.
//!
//! The link's lifecycle (a row in `mail_links`):
//!
//! ```text
//!   issued ──POST confirm, before expires_at──▶ used
//!      └──────────── now ≥ expires_at ─────────▶ expired
//! ```
//!
//! Opening the link (GET) changes nothing: mail scanners fetch links before people do.

use super::end::{end_in, Ender};
use crate::app::AppState;
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::events::mail::{self, Notice};
use crate::http::RequestContext;
use crate::model::Tenant;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use serde_json::json;

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRejection {
    /// Not a link this deployment issued (bad HMAC, unknown id, other purpose or tenant).
    Unknown,
    Expired,
    Used,
}

/// Whether a "this wasn't me" link may be used at `now`.
pub fn decide_link_use(
    link: &store::mail::MailLinkRow,
    now: i64,
) -> std::result::Result<(), LinkRejection> {
    if link.purpose != store::mail::NOT_ME {
        return Err(LinkRejection::Unknown);
    }
    if link.used_at.is_some() {
        return Err(LinkRejection::Used);
    }
    if now >= link.expires_at {
        return Err(LinkRejection::Expired);
    }
    Ok(())
}

/// What the confirmation page shows about the reported sign-in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportedSignIn {
    pub browser: String,
    pub os: String,
    /// When the session began (Unix seconds).
    pub signed_in_at: i64,
}

/// Find the link a token names and check it is usable.
async fn usable_link(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    now: i64,
) -> Result<std::result::Result<store::mail::MailLinkRow, LinkRejection>> {
    let Some(id) = mail::verify_link_token(state, token) else {
        return Ok(Err(LinkRejection::Unknown));
    };
    let Some(link) = store::mail::find_link(&state.db, &tenant.id, &id).await? else {
        return Ok(Err(LinkRejection::Unknown));
    };
    Ok(decide_link_use(&link, now).map(|()| link))
}

/// The GET: what the link reports, without changing anything.
pub async fn inspect(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    now: i64,
) -> Result<std::result::Result<ReportedSignIn, LinkRejection>> {
    let link = match usable_link(state, tenant, token, now).await? {
        Ok(l) => l,
        Err(r) => return Ok(Err(r)),
    };
    let device = match &link.device_id {
        Some(d) => store::sessions::find_device(&state.db, &tenant.id, d).await?,
        None => None,
    };
    let session = store::sessions::find(&state.db, &tenant.id, &link.session_id).await?;
    Ok(Ok(ReportedSignIn {
        browser: device
            .as_ref()
            .map(|d| d.browser.clone())
            .unwrap_or_default(),
        os: device.map(|d| d.os).unwrap_or_default(),
        signed_in_at: session.map(|s| s.created_at).unwrap_or(link.created_at),
    }))
}

/// What confirming did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// Public sids of the sessions ended.
    pub ended: Vec<String>,
    pub admin_mailed: bool,
}

/// The POST: use the link once and act on the report.
pub async fn confirm(
    state: &AppState,
    tenant: &Tenant,
    token: &str,
    ctx: &RequestContext,
) -> Result<std::result::Result<Reported, LinkRejection>> {
    let link = match usable_link(state, tenant, token, ctx.now).await? {
        Ok(l) => l,
        Err(r) => return Ok(Err(r)),
    };
    let txn = state.db.begin().await?;
    // Conditional: of two racing confirmations, one wins; the other is told it was used.
    if !store::mail::mark_link_used(&txn, &tenant.id, &link.id, ctx.now).await? {
        txn.rollback().await?;
        return Ok(Err(LinkRejection::Used));
    }
    let mut ids = vec![link.session_id.clone()];
    let device = match &link.device_id {
        Some(d) => store::sessions::find_device(&txn, &tenant.id, d).await?,
        None => None,
    };
    if let Some(d) = &device {
        let filter = store::sessions::SessionFilter {
            user_id: Some(link.user_id.clone()),
            device_id: Some(d.id.clone()),
            ..Default::default()
        };
        for r in store::sessions::list_active_page(&txn, &tenant.id, &filter, None, 1000).await? {
            if !ids.contains(&r.id) {
                ids.push(r.id);
            }
        }
        store::sessions::mark_device_trust(&txn, &tenant.id, &d.id, super::begin::COMPROMISED)
            .await?;
    }
    let by = Ender {
        actor: "user",
        ctx: Some(ctx),
        detail: Some(json!({ "reported_via": "new_device_notice" })),
        keep_offline: false,
    };
    let ended = end_in(
        &txn,
        state,
        &tenant.id,
        &ids,
        EndReason::UserReported,
        &by,
        ctx.now_ms,
    )
    .await?;
    store::users::mark_must_change_password(&txn, &tenant.id, &link.user_id, ctx.now).await?;
    let user = store::users::find(&txn, &tenant.id, &link.user_id).await?;
    let admin_email = store::mail::find_settings(&txn, &tenant.id)
        .await?
        .and_then(|s| s.admin_email);
    let admin_mailed = match (&admin_email, &user) {
        (Some(to), Some(u)) => {
            let notice = Notice::SignInReported {
                username: u.username.clone(),
                browser: device
                    .as_ref()
                    .map(|d| d.browser.clone())
                    .unwrap_or_default(),
                os: device.as_ref().map(|d| d.os.clone()).unwrap_or_default(),
                ip: device
                    .as_ref()
                    .map(|d| d.last_ip.clone())
                    .unwrap_or_default(),
            };
            mail::enqueue(
                &txn,
                state,
                tenant,
                to,
                &u.username,
                &notice,
                Some(&link.session_id),
                ctx.now_ms,
            )
            .await?
        }
        _ => false,
    };
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "admin.notified",
            session_id: Some(&link.session_id),
            user_id: Some(&link.user_id),
            actor: "user",
            outcome: "user_reported",
            detail: Some(json!({
                "device_id": link.device_id,
                "device_compromised": device.is_some(),
                "sessions_ended": ended.sids,
                "password_change_required": true,
                "admin_mailed": admin_mailed,
            })),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    ended.notify(state);
    if admin_mailed {
        state.outbox_notify.notify_one();
    }
    tracing::warn!(event = "admin.notified", reason = "user_reported", tenant = %tenant.slug, sessions = ended.sids.len(), "a user reported a sign-in as not theirs");
    Ok(Ok(Reported {
        ended: ended.sids,
        admin_mailed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(used_at: Option<i64>, purpose: &str) -> store::mail::MailLinkRow {
        store::mail::MailLinkRow {
            id: "l".into(),
            tenant_id: "t".into(),
            purpose: purpose.into(),
            user_id: "u".into(),
            session_id: "s".into(),
            device_id: Some("d".into()),
            created_at: 1000,
            expires_at: 2000,
            used_at,
        }
    }

    #[test]
    fn a_link_works_once_before_it_expires() {
        assert_eq!(decide_link_use(&link(None, "not_me"), 1000), Ok(()));
        assert_eq!(decide_link_use(&link(None, "not_me"), 1999), Ok(()));
        assert_eq!(
            decide_link_use(&link(None, "not_me"), 2000),
            Err(LinkRejection::Expired)
        );
        assert_eq!(
            decide_link_use(&link(Some(1500), "not_me"), 1600),
            Err(LinkRejection::Used)
        );
        assert_eq!(
            decide_link_use(&link(None, "other"), 1000),
            Err(LinkRejection::Unknown)
        );
    }
}
