//! The admin area's actions on one session, its user or its device, and cohort revocation.
//!
//! Every action is two steps: a GET that shows what will happen in words (the confirmation
//! page, built by the pure [`describe`]), and a CSRF-protected POST of the same path that does
//! it through one `manage` operation, audited with the admin as actor, then redirects back with
//! a fixed notice (`done=<name>`, never text from the request).

use super::views::{CohortPage, ConfirmPage};
use super::{done, open_form, open_page, Admin, Notice};
use lanyard_idp::app::State;
use lanyard_idp::http::Params;
use lanyard_idp::manage::{self, dashboard::DashboardQuery, dashboard::SessionDetail};
use lanyard_idp::session::service::cohort;
use lanyard_idp::session::Mode;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

/// What an admin can do from a session's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAction {
    End,
    EndUser,
    DisableUser,
    CompromiseDevice,
    Resync,
    SetMode(Mode),
}

impl SessionAction {
    pub const ALL: [SessionAction; 8] = [
        SessionAction::End,
        SessionAction::EndUser,
        SessionAction::DisableUser,
        SessionAction::CompromiseDevice,
        SessionAction::Resync,
        SessionAction::SetMode(Mode::ReauthRequired),
        SessionAction::SetMode(Mode::ReadOnly),
        SessionAction::SetMode(Mode::Normal),
    ];

    /// The path segment naming the action.
    pub fn name(self) -> &'static str {
        match self {
            SessionAction::End => "end",
            SessionAction::EndUser => "end-user",
            SessionAction::DisableUser => "disable-user",
            SessionAction::CompromiseDevice => "compromise-device",
            SessionAction::Resync => "resync",
            SessionAction::SetMode(Mode::ReauthRequired) => "step-up",
            SessionAction::SetMode(Mode::ReadOnly) => "read-only",
            SessionAction::SetMode(Mode::Normal) => "normal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    pub(crate) fn notice(self) -> Notice {
        match self {
            SessionAction::End => Notice::SessionEnded,
            SessionAction::EndUser => Notice::SessionsEnded,
            SessionAction::DisableUser => Notice::UserDisabled,
            SessionAction::CompromiseDevice => Notice::DeviceCompromised,
            SessionAction::Resync => Notice::Resynced,
            SessionAction::SetMode(_) => Notice::ModeChanged,
        }
    }
}

/// What the confirmation page says and asks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Confirmation {
    pub title: String,
    /// What will happen, in a sentence or two.
    pub what: String,
    pub button: String,
    /// The button is a destructive one.
    pub danger: bool,
}

/// Why an action does not apply to this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotApplicable(pub &'static str);

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn app_words(d: &SessionDetail) -> String {
    match d.apps.len() {
        0 => "no app took part in it".into(),
        n => {
            let told = d.backchannel_apps.len();
            format!(
                "{} ({}) took part; {} will be told over the back channel to sign them out",
                plural(n as u64, "app", "apps"),
                d.apps.join(", "),
                plural(told as u64, "app", "apps"),
            )
        }
    }
}

/// The confirmation of `action` on the session `d`, or why it does not apply. PURE.
pub fn describe(action: SessionAction, d: &SessionDetail) -> Result<Confirmation, NotApplicable> {
    let user = d.username.as_deref().unwrap_or("(deleted user)");
    let device = d
        .device
        .as_ref()
        .map(|x| x.label.clone())
        .unwrap_or_else(|| "an unknown device".into());
    let live = d.mode.is_some();
    let needs_live = || {
        if live {
            Ok(())
        } else {
            Err(NotApplicable("This session has already ended."))
        }
    };
    let c = |title: String, what: String, button: &str, danger| Confirmation {
        title,
        what,
        button: button.to_string(),
        danger,
    };
    Ok(match action {
        SessionAction::End => {
            needs_live()?;
            c(
                format!("End {user}'s session?"),
                format!(
                    "This ends {user}'s session on {device}; {}. {user} has to sign in again.",
                    app_words(d)
                ),
                "End the session",
                true,
            )
        }
        SessionAction::EndUser => {
            if d.username.is_none() {
                return Err(NotApplicable("The session's user has been deleted."));
            }
            c(
                format!("End all of {user}'s sessions?"),
                format!(
                    "This ends {} of {user}'s; every app that took part in them is told to sign {user} out. {user} can sign in again.",
                    plural(d.user_live_sessions, "live session", "live sessions"),
                ),
                "End all sessions",
                true,
            )
        }
        SessionAction::DisableUser => {
            if d.username.is_none() {
                return Err(NotApplicable("The session's user has been deleted."));
            }
            c(
                format!("Disable {user}?"),
                format!(
                    "{user} can no longer sign in, and {} of {user}'s end now; every app that took part is told. An operator can enable the account again.",
                    plural(d.user_live_sessions, "live session", "live sessions"),
                ),
                "Disable the user",
                true,
            )
        }
        SessionAction::CompromiseDevice => {
            let Some(dev) = &d.device else {
                return Err(NotApplicable("This session has no known device."));
            };
            c(
                format!("Mark {} compromised?", dev.label),
                format!(
                    "This marks the device {} ({}) compromised: its trust score drops to 0 and {} on it end, whoever they belong to; every app that took part is told.",
                    dev.label,
                    dev.id,
                    plural(dev.live_sessions, "live session", "live sessions"),
                ),
                "Mark compromised",
                true,
            )
        }
        SessionAction::Resync => {
            needs_live()?;
            c(
                format!("Re-evaluate {user}'s session?"),
                format!(
                    "This re-resolves the session on {device} against the tenant's current policy now. If the policy no longer allows it, it ends or changes mode, as it would on its next request."
                ),
                "Re-evaluate now",
                false,
            )
        }
        SessionAction::SetMode(m) => {
            needs_live()?;
            if d.mode == Some(m) {
                return Err(NotApplicable("The session is already in that mode."));
            }
            let (title, what, button) = match m {
                Mode::ReauthRequired => (
                    format!("Make {user} sign in again?"),
                    format!(
                        "The session on {device} stays, but nothing new is issued in it until {user} signs in again (step-up)."
                    ),
                    "Require sign-in",
                ),
                Mode::ReadOnly => (
                    format!("Make {user}'s session read-only?"),
                    format!(
                        "New access tokens in the session on {device} carry only the policy's safe scopes and session_mode \"read_only\"."
                    ),
                    "Make read-only",
                ),
                Mode::Normal => (
                    format!("Return {user}'s session to normal?"),
                    format!("The session on {device} issues tokens as usual again."),
                    "Return to normal",
                ),
            };
            c(title, what, button, m != Mode::Normal)
        }
    })
}

/// Open a page/form or answer with the refusal.
macro_rules! open {
    ($e:expr) => {
        match $e.await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn back_to_session(admin: &Admin, sid: &str, n: Notice) -> Response {
    done(admin, &format!("/sessions/{}", urlencode(sid)), n)
}

/// Percent-encode a path segment (RFC 3986 §2.1): unreserved characters stay as they are.
pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The confirmation page of an action (GET).
#[handler]
pub async fn confirm(
    state: Data<&State>,
    Path((slug, sid, action)): Path<(String, String, String)>,
    req: &Request,
) -> Response {
    let admin = open!(open_page(&state, &slug, req));
    let Some(action) = SessionAction::parse(&action) else {
        return admin.error(&state, lanyard_idp::error::not_found("no such action"));
    };
    let d =
        match manage::dashboard::session_detail(&state, &admin.tenant, &sid, admin.ctx.now).await {
            Ok(d) => d,
            Err(e) => return admin.error(&state, e.into()),
        };
    match describe(action, &d) {
        Ok(c) => admin.render(
            &state,
            "admin/confirm.html",
            ConfirmPage {
                chrome: admin.chrome("sessions", None),
                confirmation: c,
                action: admin.path(&format!("/sessions/{}/{}", urlencode(&sid), action.name())),
                back: admin.path(&format!("/sessions/{}", urlencode(&sid))),
                fields: Vec::new(),
            },
            StatusCode::OK,
        ),
        Err(e) => admin.error(&state, lanyard_idp::error::conflict(e.to_string())),
    }
}

/// Do an action (POST, after its confirmation).
#[handler]
pub async fn act(
    state: Data<&State>,
    Path((slug, sid, action)): Path<(String, String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, _p) = open!(open_form(&state, &slug, req, body));
    let Some(action) = SessionAction::parse(&action) else {
        return admin.error(&state, lanyard_idp::error::not_found("no such action"));
    };
    let actor = admin.actor();
    let t = &admin.tenant;
    // The session names the user and device the action is about (one read, then one operation).
    let d = match manage::dashboard::session_detail(&state, t, &sid, admin.ctx.now).await {
        Ok(d) => d,
        Err(e) => return admin.error(&state, e.into()),
    };
    if let Err(e) = describe(action, &d) {
        return admin.error(&state, lanyard_idp::error::conflict(e.to_string()));
    }
    let user = d.username.clone().unwrap_or_default();
    let changed: Result<bool, manage::ManageError> = match action {
        SessionAction::End => manage::revoke_session(&state, t, &sid, &actor).await,
        SessionAction::EndUser => manage::revoke_user_sessions(&state, t, &user, &actor)
            .await
            .map(|n| n > 0),
        SessionAction::DisableUser => manage::disable_user(&state, t, &user, &actor)
            .await
            .map(|_| true),
        SessionAction::CompromiseDevice => match &d.device {
            Some(dev) => manage::revoke_device(&state, t, &dev.id, &actor)
                .await
                .map(|_| true),
            None => Ok(false),
        },
        SessionAction::Resync => manage::revocation::resync_session(&state, t, &sid, &actor)
            .await
            .map(|_| true),
        SessionAction::SetMode(m) => {
            manage::revocation::set_session_mode(&state, t, &sid, m.as_str(), &actor).await
        }
    };
    match changed {
        Ok(true) => back_to_session(&admin, &sid, action.notice()),
        Ok(false) => back_to_session(&admin, &sid, Notice::Unchanged),
        Err(e) => admin.error(&state, e.into()),
    }
}

/// The cohort's filters from a query or form (the dashboard's, without the status).
fn cohort_query(p: &Params) -> DashboardQuery {
    let get = |k: &str| p.get(k).map(str::to_string);
    DashboardQuery {
        user: get("user"),
        group: get("group"),
        client: get("client"),
        device: get("device"),
        ip_range: get("ip_range"),
        status: None,
    }
}

/// Cohort revocation, step one: the form, and with filters the dry run (what would end).
#[handler]
pub async fn cohort_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q = cohort_query(&p);
    let by_status = p.get("status").is_some_and(|s| !s.trim().is_empty());
    let page = |report, error: Option<String>| {
        let mut chrome = admin.chrome("cohort", None);
        chrome.error = error;
        CohortPage::new(chrome, q.clone(), report, admin.path("/cohort"))
    };
    if by_status {
        // The dashboard's status filter has no cohort counterpart: refuse rather than select more.
        return admin.render(
            &state,
            "admin/cohort.html",
            page(
                None,
                Some(
                    "A cohort cannot select by status; clear the status filter and preview again."
                        .into(),
                ),
            ),
            StatusCode::BAD_REQUEST,
        );
    }
    let selector = match q.selector() {
        Ok((s, _)) => s,
        Err(e) => {
            return admin.render(
                &state,
                "admin/cohort.html",
                page(None, Some(e.to_string())),
                StatusCode::BAD_REQUEST,
            )
        }
    };
    if selector.validate().is_err() {
        // No filter yet: the form alone.
        return admin.render(
            &state,
            "admin/cohort.html",
            page(None, None),
            StatusCode::OK,
        );
    }
    match cohort::run(&state, &admin.tenant, &selector, false, &admin.actor()).await {
        Ok(r) => admin.render(
            &state,
            "admin/cohort.html",
            page(Some(r), None),
            StatusCode::OK,
        ),
        Err(
            e @ (lanyard_idp::error::Error::NotFound(_) | lanyard_idp::error::Error::Invalid(_)),
        ) => admin.render(
            &state,
            "admin/cohort.html",
            page(None, Some(e.to_string())),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => admin.error(&state, e),
    }
}

/// Cohort revocation, step two (POST from the dry run's confirmation): end them.
#[handler]
pub async fn cohort_revoke(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = open!(open_form(&state, &slug, req, body));
    let selector = match cohort_query(&p).selector() {
        Ok((s, _)) => s,
        Err(e) => return admin.error(&state, e.into()),
    };
    match cohort::run(&state, &admin.tenant, &selector, true, &admin.actor()).await {
        Ok(r) if r.sessions > 0 => done(&admin, "", Notice::CohortEnded),
        Ok(_) => done(&admin, "", Notice::Unchanged),
        Err(e) => admin.error(&state, e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use lanyard_idp::manage::dashboard::DeviceDetail;

    pub(crate) fn detail() -> SessionDetail {
        SessionDetail {
            sid: "sid-1".into(),
            username: Some("alice".into()),
            mode: Some(Mode::Normal),
            mode_reason: None,
            ended_at: None,
            end_reason: None,
            bound_ip: "203.0.113.9".into(),
            bound_user_agent: "Mozilla/5.0".into(),
            bound_country: Some("DE".into()),
            binding_alert: None,
            device: Some(DeviceDetail {
                id: "dev-1".into(),
                label: "Chrome on Linux".into(),
                trust: "unknown".into(),
                compromised: false,
                trust_score: 40,
                category: "personal".into(),
                live_sessions: 3,
            }),
            acr: "pwd".into(),
            amr: vec!["pwd".into()],
            auth_time: 1_800_000_000,
            mfa_at: None,
            created_at: 1_800_000_000,
            last_active_at: 1_800_000_000,
            expires_at: 1_800_003_600,
            apps: vec!["payroll".into(), "web".into()],
            backchannel_apps: vec!["web".into()],
            user_live_sessions: 2,
            events: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    #[test]
    fn actions_and_notices_round_trip_by_name_only() {
        for a in SessionAction::ALL {
            assert_eq!(SessionAction::parse(a.name()), Some(a));
            assert!(Notice::ALL.contains(&a.notice()));
        }
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.name()), Some(n));
            assert!(!n.message().is_empty());
        }
        assert_eq!(SessionAction::parse("drop-tables"), None);
        assert_eq!(Notice::parse("<script>"), None);
    }

    #[test]
    fn ending_a_session_says_whose_on_what_and_which_apps_are_told() {
        let c = describe(SessionAction::End, &detail()).unwrap();
        assert!(
            c.what.contains("alice's session on Chrome on Linux"),
            "{}",
            c.what
        );
        assert!(c.what.contains("2 apps (payroll, web)"), "{}", c.what);
        assert!(c.what.contains("1 app will be told"), "{}", c.what);
        assert!(c.danger);
    }

    #[test]
    fn user_and_device_actions_count_what_they_end() {
        let d = detail();
        assert!(describe(SessionAction::EndUser, &d)
            .unwrap()
            .what
            .contains("2 live sessions of alice's"));
        assert!(describe(SessionAction::DisableUser, &d)
            .unwrap()
            .what
            .contains("can no longer sign in"));
        let c = describe(SessionAction::CompromiseDevice, &d).unwrap();
        assert!(c.what.contains("(dev-1)") && c.what.contains("3 live sessions"));
    }

    #[test]
    fn what_does_not_apply_is_refused_with_a_reason() {
        let mut ended = detail();
        ended.mode = None;
        ended.ended_at = Some(1_800_000_100);
        for a in [
            SessionAction::End,
            SessionAction::Resync,
            SessionAction::SetMode(Mode::ReadOnly),
        ] {
            assert!(describe(a, &ended).is_err(), "{a:?}");
        }
        // The user and the device can still be acted on from an ended session.
        assert!(describe(SessionAction::EndUser, &ended).is_ok());
        assert!(describe(SessionAction::CompromiseDevice, &ended).is_ok());
        let mut no_device = detail();
        no_device.device = None;
        assert!(describe(SessionAction::CompromiseDevice, &no_device).is_err());
        let mut deleted = detail();
        deleted.username = None;
        assert!(describe(SessionAction::DisableUser, &deleted).is_err());
        assert!(describe(SessionAction::SetMode(Mode::Normal), &detail()).is_err());
        let c = describe(SessionAction::SetMode(Mode::ReauthRequired), &detail()).unwrap();
        assert!(c.what.contains("signs in again"));
        let mut ro = detail();
        ro.mode = Some(Mode::ReadOnly);
        assert!(
            !describe(SessionAction::SetMode(Mode::Normal), &ro)
                .unwrap()
                .danger
        );
    }
}
