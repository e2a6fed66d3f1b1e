//! E-mail: notices to users (a sign-in from a new device, with a "this wasn't me" link; password
//! changed; second factor added or removed; account locked) and to a tenant's admin address (a
//! sign-in reported as not the user's), written to the outbox in the transaction of their cause
//! and sent by the dispatcher over SMTP with the outbox's retries and dead letters.
//!
//! What the outbox row holds is the template name and the facts to fill it with, never a
//! rendered body: the "this wasn't me" link is built when the mail is sent, from the link's id
//! and an HMAC of it under the deployment's hashing key ([`link_token`]), so neither the outbox
//! nor `mail_links` holds anything that makes a working link. Bodies and links are never logged.
//!
//! With no `LANYARD_SMTP_URL`, e-mail is off: nothing is enqueued at all (ADR 0012), rather than
//! rows piling up that no dispatcher can send; start-up says so once.

use crate::app::AppState;
use crate::config::{valid_mailbox, SmtpUrl};
use crate::error::{internal, Result};
use crate::events::dispatcher::AttemptResult;
use crate::model::Tenant;
use crate::store;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

/// The outbox kind of an e-mail.
pub const KIND_EMAIL: &str = "email";

/// How long a "this wasn't me" link works.
pub const LINK_TTL_SECS: i64 = 7 * 24 * 3600;

/// One message, by what it tells.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A sign-in from a device never seen before, with a "this wasn't me" link (`link_id`).
    NewDevice {
        browser: String,
        os: String,
        ip: String,
        /// Approximate location (the country a trusted proxy reported), when known.
        location: Option<String>,
        link_id: String,
    },
    PasswordChanged,
    FactorAdded {
        factor: String,
    },
    FactorRemoved {
        factor: String,
    },
    /// The account is locked until `until` (Unix seconds; None: until an administrator
    /// unlocks). `why` says in words who or what locked it.
    AccountLocked {
        until: Option<i64>,
        why: String,
    },
    /// To the tenant's admin address: a user's account was locked.
    AccountLockedAdmin {
        username: String,
        until: Option<i64>,
        why: String,
    },
    /// To the tenant's admin address: a user reported a sign-in as not theirs.
    SignInReported {
        username: String,
        browser: String,
        os: String,
        ip: String,
    },
}

impl Notice {
    /// The template pair `email/{name}.html` and `email/{name}.txt`.
    pub fn template(&self) -> &'static str {
        match self {
            Notice::NewDevice { .. } => "new_device",
            Notice::PasswordChanged => "password_changed",
            Notice::FactorAdded { .. } => "factor_added",
            Notice::FactorRemoved { .. } => "factor_removed",
            Notice::AccountLocked { .. } => "account_locked",
            Notice::AccountLockedAdmin { .. } => "account_locked_admin",
            Notice::SignInReported { .. } => "sign_in_reported",
        }
    }

    fn vars(&self) -> Value {
        match self {
            Notice::NewDevice {
                browser,
                os,
                ip,
                location,
                ..
            } => json!({ "browser": browser, "os": os, "ip": ip, "location": location }),
            Notice::PasswordChanged => json!({}),
            Notice::FactorAdded { factor } | Notice::FactorRemoved { factor } => {
                json!({ "factor": factor })
            }
            Notice::AccountLocked { until, why } => json!({
                "until_utc": until.map(crate::templates::utc),
                "why": why,
            }),
            Notice::AccountLockedAdmin {
                username,
                until,
                why,
            } => json!({
                "username": username,
                "until_utc": until.map(crate::templates::utc),
                "why": why,
            }),
            Notice::SignInReported {
                username,
                browser,
                os,
                ip,
            } => json!({ "username": username, "browser": browser, "os": os, "ip": ip }),
        }
    }

    fn link_id(&self) -> Option<&str> {
        match self {
            Notice::NewDevice { link_id, .. } => Some(link_id),
            _ => None,
        }
    }
}

/// Whether e-mail is on (an SMTP server is configured).
pub fn enabled(state: &AppState) -> bool {
    state.config.mail.smtp_url.is_some()
}

/// Log, once at start-up, whether e-mail is on.
pub fn log_startup(state: &AppState) {
    match &state.config.mail.smtp_url {
        Some(u) => tracing::info!(smtp = %u.redacted(), "e-mail on"),
        None => tracing::warn!(
            "e-mail is off (no LANYARD_SMTP_URL): no new-device notices or security mails are sent"
        ),
    }
}

/// The From address for a tenant: its own setting, else `LANYARD_MAIL_FROM`, else
/// `no-reply@{host of the public URL}`.
async fn from_address<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant_id: &str,
) -> Result<String> {
    if let Some(f) = store::mail::find_settings(db, tenant_id)
        .await?
        .and_then(|s| s.mail_from)
    {
        return Ok(f);
    }
    if let Some(f) = &state.config.mail.from {
        return Ok(f.clone());
    }
    let host = url::Url::parse(&state.config.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    Ok(format!("no-reply@{host}"))
}

/// Write one message to the outbox in the caller's transaction. Returns false (and writes
/// nothing) when e-mail is off or `to` is not an address. Call `state.outbox_notify` after
/// commit to send it at once.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    to: &str,
    username: &str,
    notice: &Notice,
    session_id: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    if !enabled(state) || !valid_mailbox(to) {
        return Ok(false);
    }
    let from = from_address(db, state, &tenant.id).await?;
    let at = now_ms.div_euclid(1000);
    let payload = json!({
        "template": notice.template(),
        "to": to,
        "from": from,
        "username": username,
        "tenant": { "slug": tenant.slug, "name": tenant.name },
        "at": at,
        "vars": notice.vars(),
        "link_id": notice.link_id(),
    });
    store::outbox::insert(
        db,
        store::outbox::DeliveryRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            kind: KIND_EMAIL.into(),
            session_id: session_id.unwrap_or("").into(),
            client_id: String::new(),
            target: to.into(),
            payload: payload.to_string(),
            state: store::outbox::PENDING.into(),
            attempts: 0,
            created_at_ms: now_ms,
            next_attempt_at_ms: now_ms,
            lease_until_ms: None,
            leased_by: None,
            last_error: None,
            delivered_at_ms: None,
        },
    )
    .await?;
    Ok(true)
}

/// A notice to a user, when they have an e-mail address (and e-mail is on).
pub async fn notify_user<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    notice: &Notice,
    session_id: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    match &user.email {
        Some(to) => {
            enqueue(
                db,
                state,
                tenant,
                to,
                &user.username,
                notice,
                session_id,
                now_ms,
            )
            .await
        }
        None => Ok(false),
    }
}

/// [`notify_user`] by user id (the user's row is read in the caller's transaction).
pub async fn notify_user_id<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    notice: &Notice,
    now_ms: i64,
) -> Result<bool> {
    if !enabled(state) {
        return Ok(false);
    }
    match store::users::find(db, &tenant.id, user_id).await? {
        Some(u) => notify_user(db, state, tenant, &u, notice, None, now_ms).await,
        None => Ok(false),
    }
}

/// The new-device notice: a single-use "this wasn't me" link bound to the new session and its
/// device, then the message, in the login's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn notify_new_device<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    session_id: &str,
    device: &store::sessions::DeviceRow,
    ip: &str,
    country: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    if !enabled(state) || user.email.is_none() {
        return Ok(false);
    }
    let now = now_ms.div_euclid(1000);
    let link_id = crate::crypto::random_id();
    store::mail::insert_link(
        db,
        store::mail::MailLinkRow {
            id: link_id.clone(),
            tenant_id: tenant.id.clone(),
            purpose: store::mail::NOT_ME.into(),
            user_id: user.id.clone(),
            session_id: session_id.into(),
            device_id: Some(device.id.clone()),
            created_at: now,
            expires_at: now + LINK_TTL_SECS,
            used_at: None,
        },
    )
    .await?;
    let notice = Notice::NewDevice {
        browser: device.browser.clone(),
        os: device.os.clone(),
        ip: ip.into(),
        location: country.map(str::to_string),
        link_id,
    };
    notify_user(db, state, tenant, user, &notice, Some(session_id), now_ms).await
}

/// The account-locked notice to the user, in the lock's transaction.
pub async fn notify_account_locked<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    until: Option<i64>,
    why: &str,
    now_ms: i64,
) -> Result<bool> {
    notify_user(
        db,
        state,
        tenant,
        user,
        &Notice::AccountLocked {
            until,
            why: why.into(),
        },
        None,
        now_ms,
    )
    .await
}

/// The account-locked notice to the tenant's admin address, when one is set (and e-mail is
/// on), in the lock's transaction. Returns whether a mail was written.
pub async fn notify_admins_account_locked<C: ConnectionTrait>(
    db: &C,
    state: &AppState,
    tenant: &Tenant,
    user: &store::users::User,
    until: Option<i64>,
    why: &str,
    now_ms: i64,
) -> Result<bool> {
    let Some(to) = store::mail::find_settings(db, &tenant.id)
        .await?
        .and_then(|s| s.admin_email)
    else {
        return Ok(false);
    };
    let notice = Notice::AccountLockedAdmin {
        username: user.username.clone(),
        until,
        why: why.into(),
    };
    enqueue(
        db,
        state,
        tenant,
        &to,
        &user.username,
        &notice,
        None,
        now_ms,
    )
    .await
}

/// The token a link carries: the link id and an HMAC of it.
pub fn link_token(state: &AppState, link_id: &str) -> String {
    format!("{link_id}.{}", state.hasher.hash("mail_link", link_id))
}

/// The link id a token names, when its HMAC is right (compared in constant time).
pub fn verify_link_token(state: &AppState, token: &str) -> Option<String> {
    let (id, mac) = token.split_once('.')?;
    if id.is_empty() || id.len() > 64 {
        return None;
    }
    state
        .hasher
        .verify("mail_link", id, mac)
        .then(|| id.to_string())
}

/// A time in words, e.g. "Tuesday, 1 December 2026 at 12:05 UTC".
pub fn time_in_words(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%A, %-d %B %Y at %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A rendered message.
#[derive(Clone)]
pub struct Rendered {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body can carry a link with a token.
        write!(f, "Rendered({:?}, body: ***)", self.subject)
    }
}

/// Render an outbox row's message. The `.txt` template's first line is `Subject: ...`.
pub fn render(state: &AppState, payload: &Value) -> Result<Rendered> {
    let field = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| internal(format!("e-mail payload lacks {k}")))
    };
    let template = field("template")?;
    if !template
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(internal("e-mail payload names a bad template"));
    }
    let tenant = payload.get("tenant").cloned().unwrap_or(Value::Null);
    let slug = tenant.get("slug").and_then(Value::as_str).unwrap_or("");
    let at = payload.get("at").and_then(Value::as_i64).unwrap_or(0);
    let link = payload
        .get("link_id")
        .and_then(Value::as_str)
        .map(|id| not_me_url(state, slug, &link_token(state, id)));
    let ctx = json!({
        "tenant": tenant,
        "username": payload.get("username"),
        "vars": payload.get("vars"),
        "at_words": time_in_words(at),
        "at_utc": crate::templates::utc(at),
        "link": link,
        "link_days": LINK_TTL_SECS / 86_400,
        "public_url": state.config.public_url,
    });
    let text = state
        .templates
        .render(&format!("email/{template}.txt"), &ctx)
        .map_err(internal)?;
    let html = state
        .templates
        .render(&format!("email/{template}.html"), &ctx)
        .map_err(internal)?;
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first
        .strip_prefix("Subject:")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| internal(format!("email/{template}.txt must start with 'Subject: '")))?;
    Ok(Rendered {
        from: field("from")?.into(),
        to: field("to")?.into(),
        subject: subject.into(),
        text: rest.trim_start_matches('\n').into(),
        html,
    })
}

/// Where a "this wasn't me" link points.
pub fn not_me_url(state: &AppState, slug: &str, token: &str) -> String {
    format!("{}/t/{slug}/not-me?t={token}", state.config.public_url)
}

/// Send one claimed e-mail row. Never logs the body or the link.
pub async fn deliver(state: &AppState, row: &store::outbox::DeliveryRow) -> AttemptResult {
    let Some(url) = &state.config.mail.smtp_url else {
        // Enqueued while e-mail was on, and the server restarted without it: keep it owed.
        return AttemptResult::Connect("e-mail is off (no LANYARD_SMTP_URL)".into());
    };
    let rendered = match serde_json::from_str::<Value>(&row.payload)
        .map_err(|e| internal(e.to_string()))
        .and_then(|p| render(state, &p))
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, delivery = %row.id, "cannot render e-mail");
            return AttemptResult::Smtp {
                permanent: true,
                detail: "cannot render the message".into(),
            };
        }
    };
    send(url, state.config.delivery.timeout_ms, rendered).await
}

/// `smtp://` means STARTTLS when the server offers it (lettre's own default for a bare
/// `smtp://` is plain text); `?tls=required` insists and `?tls=none` never upgrades.
fn transport_url(url: &SmtpUrl) -> std::result::Result<String, String> {
    let mut u = url::Url::parse(url.expose()).map_err(|e| e.to_string())?;
    if u.scheme() == "smtp" {
        let tls = u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let keep: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != "tls")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mode = match tls.as_deref() {
            None | Some("opportunistic") => Some("opportunistic"),
            Some("required") => Some("required"),
            Some("none") => None,
            Some(_) => return Err("tls must be required, opportunistic or none".into()),
        };
        u.set_query(None);
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in &keep {
                q.append_pair(k, v);
            }
            if let Some(m) = mode {
                q.append_pair("tls", m);
            }
        }
        if u.query() == Some("") {
            u.set_query(None);
        }
    }
    Ok(u.to_string())
}

async fn send(url: &SmtpUrl, timeout_ms: u64, m: Rendered) -> AttemptResult {
    use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let permanent = |detail: String| AttemptResult::Smtp {
        permanent: true,
        detail,
    };
    let (Ok(from), Ok(to)) = (m.from.parse::<Mailbox>(), m.to.parse::<Mailbox>()) else {
        return permanent("bad From or To address".into());
    };
    let message = match Message::builder()
        .from(from)
        .to(to)
        .subject(m.subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(m.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(m.html),
                ),
        ) {
        Ok(msg) => msg,
        Err(e) => return permanent(format!("cannot build the message: {e}")),
    };
    let transport = match transport_url(url)
        .map_err(|e| e.to_string())
        .and_then(|u| AsyncSmtpTransport::<Tokio1Executor>::from_url(&u).map_err(|e| e.to_string()))
    {
        Ok(b) => b
            .timeout(Some(std::time::Duration::from_millis(timeout_ms)))
            .build(),
        Err(e) => return AttemptResult::Connect(format!("SMTP URL: {e}")),
    };
    match transport.send(message).await {
        Ok(_) => AttemptResult::Sent,
        Err(e) if e.is_timeout() => AttemptResult::Timeout,
        // RFC 5321 §4.2.1: 5yz is a permanent failure, 4yz transient.
        Err(e) if e.is_permanent() => permanent(smtp_error(&e)),
        Err(e) if e.is_transient() => AttemptResult::Smtp {
            permanent: false,
            detail: smtp_error(&e),
        },
        Err(e) => AttemptResult::Connect(smtp_error(&e)),
    }
}

/// An SMTP error as a short line (the server's reply code and text; never the message).
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let s = e.to_string();
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_asks_for_starttls_when_offered() {
        let u = |s: &str| transport_url(&SmtpUrl::parse(s).unwrap()).unwrap();
        assert_eq!(
            u("smtp://a:b@mail.example:2525"),
            "smtp://a:b@mail.example:2525?tls=opportunistic"
        );
        assert_eq!(
            u("smtp://mail.example?tls=required"),
            "smtp://mail.example?tls=required"
        );
        assert_eq!(
            u("smtp://mail.example:25?tls=none"),
            "smtp://mail.example:25"
        );
        assert_eq!(u("smtps://mail.example"), "smtps://mail.example");
        assert!(transport_url(&SmtpUrl::parse("smtp://m?tls=maybe").unwrap()).is_err());
    }

    #[test]
    fn times_read_in_words() {
        assert_eq!(
            time_in_words(1_796_126_700),
            "Tuesday, 1 December 2026 at 12:05 UTC"
        );
    }

    #[test]
    fn notices_name_their_templates() {
        let n = Notice::FactorAdded {
            factor: "totp".into(),
        };
        assert_eq!(n.template(), "factor_added");
        assert_eq!(n.vars()["factor"], "totp");
        assert!(n.link_id().is_none());
    }
}
