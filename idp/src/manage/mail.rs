//! A tenant's mail settings: the From address of its mail, and an admin address that hears of
//! sign-ins users report as not theirs. `None` keeps a value, `Some(None)` clears it.

use super::{invalid, Result};
use crate::app::AppState;
use crate::config::valid_mailbox;
use crate::model::Tenant;
use crate::store;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MailSettings {
    pub tenant: String,
    /// The tenant's own From address (None: `LANYARD_MAIL_FROM`, else no-reply@ the public host).
    pub mail_from: Option<String>,
    /// Told (by e-mail) when a user reports a sign-in as not theirs.
    pub admin_email: Option<String>,
    /// Whether this deployment sends e-mail at all (`LANYARD_SMTP_URL` set).
    pub email_enabled: bool,
}

pub async fn show(state: &AppState, tenant: &Tenant) -> Result<MailSettings> {
    let row = store::mail::find_settings(&state.db, &tenant.id).await?;
    Ok(MailSettings {
        tenant: tenant.slug.clone(),
        mail_from: row.as_ref().and_then(|r| r.mail_from.clone()),
        admin_email: row.and_then(|r| r.admin_email),
        email_enabled: crate::events::mail::enabled(state),
    })
}

pub async fn set(
    state: &AppState,
    tenant: &Tenant,
    mail_from: Option<Option<String>>,
    admin_email: Option<Option<String>>,
    actor: &str,
) -> Result<MailSettings> {
    for (what, v) in [("mail_from", &mail_from), ("admin_email", &admin_email)] {
        if let Some(Some(a)) = v {
            if !valid_mailbox(a) {
                return Err(invalid(format!(
                    "{what}: '{a}' is not an address like id@example.com"
                )));
            }
        }
    }
    let now_ms = state.clock.now_ms();
    let current = show(state, tenant).await?;
    let row = store::mail::MailSettingsRow {
        tenant_id: tenant.id.clone(),
        mail_from: mail_from.unwrap_or(current.mail_from),
        admin_email: admin_email.unwrap_or(current.admin_email),
        updated_at: now_ms.div_euclid(1000),
    };
    store::mail::save_settings(&state.db, row).await?;
    crate::events::audit::record(
        &state.db,
        crate::events::audit::Event {
            tenant_id: &tenant.id,
            kind: "tenant.mail_settings_changed",
            actor,
            outcome: "ok",
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    show(state, tenant).await
}
