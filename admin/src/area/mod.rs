//! The tenant admin area under `/t/{tenant}/admin`: server-rendered pages where a tenant's
//! admins watch and govern the tenant's live sessions.
//!
//! Access rules (this module, decided by [`access::decide_admin_access`]): the browser's own
//! Lanyard session of this tenant, resolved through the session service (binding checks apply as
//! everywhere); without one, a sign-in of the area's own (client `lanyard:admin`, so a
//! client-layer policy on that id, e.g. `require_mfa=true`, governs admins' sign-ins) that
//! returns here. A user without the tenant's admin role gets 403 — and because the role is a row
//! of the tenant's own and the session cookie is the tenant's own, an admin of one tenant is a
//! stranger to every other. A read-only session views but does not act. Every form carries the
//! CSRF token and passes the check of every Lanyard form (`protocol::read_form`, ADR 0007).
//! Handlers translate: one `lanyard_idp::manage` operation each, its outcome rendered.

pub mod access;
pub mod actions;
mod apps;
mod audit;
mod deliveries;
mod directory;
mod groups;
pub mod live;
mod membership;
mod pages;
mod people;
mod policies;
mod session;
mod tokens;
pub mod views;

use access::{decide_admin_access, AdminAccess};
use lanyard_idp::app::AppState;
use lanyard_idp::http::respond;
use lanyard_idp::http::{Params, RequestContext};
use lanyard_idp::model::{Client, Tenant};
use lanyard_idp::protocol::authorize::{start_portal_sign_in, PortalReturn};
use lanyard_idp::protocol::{self, login::render_with_csrf};
use lanyard_idp::session::service as sessions;
use lanyard_idp::session::Session;
use lanyard_idp::store::users::User;
use poem::http::StatusCode;
use poem::{get, post, Request, Response, Route};
use serde::Serialize;

/// The area's routes, added to the application's by `lanyard_admin::extend`.
pub fn routes(r: Route) -> Route {
    r.at("/t/:slug/admin", get(pages::dashboard))
        .at("/t/:slug/admin/live", get(live::live))
        .at("/static/admin_live.js", get(live::script))
        .at("/t/:slug/admin/sessions/:sid", get(session::session))
        .at(
            "/t/:slug/admin/sessions/:sid/:action",
            get(actions::confirm).post(actions::act),
        )
        .at(
            "/t/:slug/admin/cohort",
            get(actions::cohort_page).post(actions::cohort_revoke),
        )
        .at("/t/:slug/admin/audit", get(audit::search_page))
        .at("/t/:slug/admin/audit/export", get(audit::export_page))
        .at("/t/:slug/admin/deliveries", get(deliveries::list))
        .at(
            "/t/:slug/admin/deliveries/:id/retry",
            post(deliveries::retry),
        )
        .at("/t/:slug/admin/users", get(directory::users_page))
        .at(
            "/t/:slug/admin/add-user",
            get(people::add_form).post(people::add),
        )
        .at("/t/:slug/admin/users/:username", get(directory::user_page))
        .at(
            "/t/:slug/admin/users/:username/profile",
            post(people::profile),
        )
        .at(
            "/t/:slug/admin/users/:username/reset-password",
            post(people::reset),
        )
        .at(
            "/t/:slug/admin/users/:username/delete",
            post(people::delete),
        )
        .at(
            "/t/:slug/admin/users/:username/:action",
            post(directory::user_action),
        )
        .at("/t/:slug/admin/policies", get(policies::policies_page))
        .at(
            "/t/:slug/admin/policies/layer",
            get(policies::layer_form).post(policies::layer_save),
        )
        .at("/t/:slug/admin/clients", get(directory::clients_page))
        .at(
            "/t/:slug/admin/register-app",
            get(apps::new_form).post(apps::create),
        )
        .at("/t/:slug/admin/clients/:client_id", get(apps::client_page))
        .at("/t/:slug/admin/clients/:client_id/edit", post(apps::edit))
        .at(
            "/t/:slug/admin/clients/:client_id/rotate-secret",
            post(apps::rotate),
        )
        .at(
            "/t/:slug/admin/clients/:client_id/delete",
            post(apps::delete),
        )
        .at(
            "/t/:slug/admin/clients/:client_id/:action",
            post(directory::client_action),
        )
        // Static segments match before `:action` (the router tries them first).
        .at(
            "/t/:slug/admin/users/:username/groups",
            post(membership::set_groups),
        )
        .at(
            "/t/:slug/admin/users/:username/attributes",
            post(membership::set_attribute),
        )
        .at(
            "/t/:slug/admin/users/:username/attributes/remove",
            post(membership::remove_attribute),
        )
        .at(
            "/t/:slug/admin/groups",
            get(groups::groups_page).post(groups::create),
        )
        .at("/t/:slug/admin/groups/:name/delete", post(groups::delete))
        .at(
            "/t/:slug/admin/tokens",
            get(tokens::tokens_page).post(tokens::create),
        )
        .at("/t/:slug/admin/tokens/:name/revoke", post(tokens::revoke))
}

/// The fixed notices an action redirects back with (`?done=NAME`): only a name travels in the
/// URL, so no text can be injected into a page. One list for every page of the area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    SessionEnded,
    SessionsEnded,
    UserDisabled,
    UserEnabled,
    DeviceCompromised,
    Resynced,
    ModeChanged,
    CohortEnded,
    RetryScheduled,
    NothingToRetry,
    AdminGranted,
    AdminRevoked,
    ClientDisabled,
    ClientEnabled,
    PolicyChanged,
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    Unchanged,
    GroupCreated,
    GroupDeleted,
    GroupsChanged,
    AttributeSet,
    AttributeRemoved,
    TokenRevoked,
    ProfileSaved,
    UserDeleted,
    UserLocked,
    UserUnlocked,
}

impl Notice {
    pub const ALL: [Notice; 29] = [
        Notice::SessionEnded,
        Notice::SessionsEnded,
        Notice::UserDisabled,
        Notice::UserEnabled,
        Notice::DeviceCompromised,
        Notice::Resynced,
        Notice::ModeChanged,
        Notice::CohortEnded,
        Notice::RetryScheduled,
        Notice::NothingToRetry,
        Notice::AdminGranted,
        Notice::AdminRevoked,
        Notice::ClientDisabled,
        Notice::ClientEnabled,
        Notice::PolicyChanged,
        Notice::ClientCreated,
        Notice::ClientUpdated,
        Notice::ClientDeleted,
        Notice::Unchanged,
        Notice::GroupCreated,
        Notice::GroupDeleted,
        Notice::GroupsChanged,
        Notice::AttributeSet,
        Notice::AttributeRemoved,
        Notice::TokenRevoked,
        Notice::ProfileSaved,
        Notice::UserDeleted,
        Notice::UserLocked,
        Notice::UserUnlocked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Notice::SessionEnded => "session_ended",
            Notice::SessionsEnded => "sessions_ended",
            Notice::UserDisabled => "user_disabled",
            Notice::UserEnabled => "user_enabled",
            Notice::DeviceCompromised => "device_compromised",
            Notice::Resynced => "resynced",
            Notice::ModeChanged => "mode_changed",
            Notice::CohortEnded => "cohort_ended",
            Notice::RetryScheduled => "retry_scheduled",
            Notice::NothingToRetry => "nothing_to_retry",
            Notice::AdminGranted => "admin_granted",
            Notice::AdminRevoked => "admin_revoked",
            Notice::ClientDisabled => "client_disabled",
            Notice::ClientEnabled => "client_enabled",
            Notice::PolicyChanged => "policy_changed",
            Notice::ClientCreated => "client_created",
            Notice::ClientUpdated => "client_updated",
            Notice::ClientDeleted => "client_deleted",
            Notice::Unchanged => "unchanged",
            Notice::GroupCreated => "group_created",
            Notice::GroupDeleted => "group_deleted",
            Notice::GroupsChanged => "groups_changed",
            Notice::AttributeSet => "attribute_set",
            Notice::AttributeRemoved => "attribute_removed",
            Notice::TokenRevoked => "token_revoked",
            Notice::ProfileSaved => "profile_saved",
            Notice::UserDeleted => "user_deleted",
            Notice::UserLocked => "user_locked",
            Notice::UserUnlocked => "user_unlocked",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Notice::SessionEnded => "The session was ended; its apps are being told.",
            Notice::SessionsEnded => {
                "All of the user's sessions were ended; their apps are being told."
            }
            Notice::UserDisabled => "The user was disabled and all their sessions were ended.",
            Notice::UserEnabled => "The user was enabled and can sign in again.",
            Notice::DeviceCompromised => {
                "The device was marked compromised and its sessions were ended."
            }
            Notice::Resynced => "The session was re-evaluated against the current policy.",
            Notice::ModeChanged => "The session's mode was changed.",
            Notice::CohortEnded => "The sessions of the cohort were ended.",
            Notice::RetryScheduled => "The delivery will be attempted again now.",
            Notice::NothingToRetry => {
                "That delivery was not waiting to be retried; nothing changed."
            }
            Notice::AdminGranted => "The user is now an admin of this organisation.",
            Notice::AdminRevoked => "The user is no longer an admin of this organisation.",
            Notice::ClientDisabled => "The app was disabled.",
            Notice::ClientEnabled => "The app was enabled.",
            Notice::PolicyChanged => {
                "The policy was changed and applied to the live sessions it governs."
            }
            Notice::ClientCreated => "The app was registered.",
            Notice::ClientUpdated => "The app's registration was saved.",
            Notice::ClientDeleted => "The app was deleted; its tokens no longer work.",
            Notice::Unchanged => "It was already so; nothing changed.",
            Notice::GroupCreated => "The group was created.",
            Notice::GroupDeleted => {
                "The group was deleted, with its policy rule; its former members' live sessions were re-resolved."
            }
            Notice::GroupsChanged => {
                "The user's groups were changed; their live sessions' policy was resolved again."
            }
            Notice::AttributeSet => {
                "The attribute was set; the user's live sessions' policy was resolved again."
            }
            Notice::AttributeRemoved => {
                "The attribute was removed; the user's live sessions' policy was resolved again."
            }
            Notice::TokenRevoked => "The admin token was revoked; it no longer works.",
            Notice::ProfileSaved => "The user's name and e-mail were saved.",
            Notice::UserDeleted => "The user was deleted and their sessions were ended.",
            Notice::UserLocked => "The account was locked and its sessions were ended.",
            Notice::UserUnlocked => "The account was unlocked.",
        }
    }

    /// Whether the notice reports a membership change, after which a rule that ends sessions on
    /// membership change may have ended some (`&ended=N` says how many).
    fn may_end_sessions(self) -> bool {
        matches!(
            self,
            Notice::GroupDeleted
                | Notice::GroupsChanged
                | Notice::AttributeSet
                | Notice::AttributeRemoved
        )
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.name() == name)
    }

    /// The notice a page was sent back with, as the chrome shows it.
    pub fn from_query(req: &Request) -> Option<String> {
        let q = req.uri().query().unwrap_or("");
        let p = lanyard_idp::http::Params::parse(q.as_bytes()).ok()?;
        let n = p.get("done").and_then(Notice::parse)?;
        let ended = p
            .get("ended")
            .and_then(|e| e.parse::<u64>().ok())
            .filter(|e| *e > 0 && n.may_end_sessions());
        Some(match ended {
            Some(e) => format!(
                "{} A rule that ends sessions on membership change ended {e} session{}.",
                n.message(),
                if e == 1 { "" } else { "s" }
            ),
            None => n.message().to_string(),
        })
    }
}

/// After an action: back to `path` (an area path) with the notice.
pub(crate) fn done(admin: &Admin, path: &str, notice: Notice) -> Response {
    respond::redirect(&format!("{}?done={}", admin.path(path), notice.name()))
}

/// After a membership change: back to `path` with the notice and how many sessions a rule ended
/// (only a number travels besides the notice's name).
pub(crate) fn done_ending(admin: &Admin, path: &str, notice: Notice, ended: u64) -> Response {
    if ended == 0 {
        return done(admin, path, notice);
    }
    respond::redirect(&format!(
        "{}?done={}&ended={ended}",
        admin.path(path),
        notice.name()
    ))
}

/// The signed-in admin of an admin-area request.
#[allow(dead_code)]
pub(crate) struct Admin {
    pub tenant: Tenant,
    pub ctx: RequestContext,
    pub session: Session,
    pub user: User,
    pub access: AdminAccess,
    /// The admin's own time zone (UTC unless they chose one in their account's security page).
    pub tz: chrono_tz::Tz,
}

#[allow(dead_code)]
impl Admin {
    /// The audit actor of this admin's actions.
    pub fn actor(&self) -> String {
        format!("admin-area:{}", self.user.username)
    }

    pub fn chrome(&self, section: &'static str, notice: Option<String>) -> views::Chrome {
        views::Chrome {
            username: self.user.username.clone(),
            section,
            read_only: self.access == AdminAccess::ViewOnly,
            notice,
            error: None,
            zone: self.tz.name().to_string(),
        }
    }

    /// "Now" and the admin's time zone, which every time on the area's pages is written in.
    pub fn times(&self) -> crate::kit::Times {
        crate::kit::Times {
            now: self.ctx.now,
            tz: self.tz,
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/t/{}/admin{rest}", self.tenant.slug)
    }

    /// Render an admin page with the CSRF token its forms carry.
    pub fn render(
        &self,
        state: &AppState,
        template: &str,
        ctx: impl Serialize,
        status: StatusCode,
    ) -> Response {
        match serde_json::to_value(ctx) {
            Ok(v) => render_with_csrf(state, &self.tenant, &self.ctx, template, v, status),
            Err(e) => protocol::page_error(state, Some(&self.tenant), e.into()),
        }
    }

    /// An error as a page of the area.
    pub fn error(&self, state: &AppState, e: lanyard_idp::error::Error) -> Response {
        protocol::page_error(state, Some(&self.tenant), e)
    }
}

/// The 403 page of a signed-in user who is not an admin of this tenant.
fn forbidden(state: &AppState, tenant: &Tenant) -> Response {
    protocol::error_page(
        state,
        Some(tenant),
        StatusCode::FORBIDDEN,
        "You are not an admin of this organisation",
        "You are signed in, but the admin area is only for this organisation's admins. Ask an admin to grant you the role, or sign in as another user.",
    )
}

/// Who is asking, or the response that sends the browser to sign in (again) or refuses it.
async fn whoami(state: &AppState, tenant: Tenant, ctx: RequestContext) -> Result<Admin, Response> {
    let fail = |tenant: &Tenant, e| protocol::page_error(state, Some(tenant), e);
    let session = match sessions::resolve(state, &tenant, &ctx).await {
        Ok(r) => r.live(),
        Err(e) => return Err(fail(&tenant, e)),
    };
    let mode = session.as_ref().and_then(Session::mode);
    let (is_admin, step) = match &session {
        Some(s) if mode.is_some() => {
            let is_admin = lanyard_idp::manage::admins::is_admin(&state.db, &tenant.id, &s.user_id)
                .await
                .map_err(|e| fail(&tenant, e.into()))?;
            let step = sessions::stepup::for_session(
                state,
                &tenant,
                s,
                &Client::admin_area(&tenant),
                sessions::stepup::Asked::default(),
                &ctx,
            )
            .await
            .map_err(|e| fail(&tenant, e))?;
            (is_admin, step.decision)
        }
        _ => (false, lanyard_idp::session::stepup::StepDecision::Satisfied),
    };
    let decision = decide_admin_access(mode, is_admin, step);
    let session = match (session, decision) {
        (Some(s), AdminAccess::Full | AdminAccess::ViewOnly) => s,
        (_, AdminAccess::Forbidden) => return Err(forbidden(state, &tenant)),
        (_, d) => {
            let again = d == AdminAccess::StepUp;
            return Err(
                start_portal_sign_in(state, &tenant, PortalReturn::Admin, again, &ctx)
                    .await
                    .unwrap_or_else(|e| fail(&tenant, e)),
            );
        }
    };
    let user = match lanyard_idp::account::user(state, &tenant, &session.user_id).await {
        Ok(u) => u,
        Err(e) => return Err(fail(&tenant, e)),
    };
    let tz = match lanyard_idp::account::time_zone(state, &tenant, &user.id).await {
        Ok(tz) => tz,
        Err(e) => return Err(fail(&tenant, e)),
    };
    Ok(Admin {
        tenant,
        ctx,
        session,
        user,
        access: decision,
        tz,
    })
}

/// An admin page request (GET): the tenant and the signed-in admin.
pub(crate) async fn open_page(
    state: &AppState,
    slug: &str,
    req: &Request,
) -> Result<Admin, Response> {
    let ctx = protocol::context(state, req);
    let tenant = match protocol::load_tenant(state, slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(protocol::tenant_not_found(state)),
        Err(e) => return Err(protocol::page_error(state, None, e)),
    };
    whoami(state, tenant, ctx).await
}

/// An admin page request (GET) with its query parameters.
pub(crate) async fn open_query(
    state: &AppState,
    slug: &str,
    req: &Request,
) -> Result<(Admin, Params), Response> {
    let admin = open_page(state, slug, req).await?;
    match protocol::read_params(req, poem::Body::empty()).await {
        Ok(p) => Ok((admin, p)),
        Err(r) => Err(protocol::page_error(state, Some(&admin.tenant), r.into())),
    }
}

/// An admin form submission (POST): the CSRF and Origin check of every Lanyard form, then the
/// signed-in admin, who must be allowed to act (a read-only session may not).
#[allow(dead_code)]
pub(crate) async fn open_form(
    state: &AppState,
    slug: &str,
    req: &Request,
    body: poem::Body,
) -> Result<(Admin, Params), Response> {
    let ctx = protocol::context(state, req);
    let (tenant, params) = protocol::read_form(state, slug, req, body, &ctx).await?;
    let admin = whoami(state, tenant, ctx).await?;
    if admin.access != AdminAccess::Full {
        return Err(protocol::error_page(
            state,
            Some(&admin.tenant),
            StatusCode::FORBIDDEN,
            "This session is read-only",
            "You can view the admin area from this session but not change anything. Sign in again to make changes.",
        ));
    }
    Ok((admin, params))
}

/// What a confirmation step says about an action.
pub(crate) struct Confirm<'a> {
    pub section: &'static str,
    pub title: String,
    pub what: String,
    pub button: String,
    pub danger: bool,
    /// The area path to go back to on Cancel.
    pub cancel: &'a str,
}

/// The confirmation step of every action: unless the form says `confirm=yes`, the page that
/// says what will happen, whose form posts the same action again with it.
pub(crate) fn confirm_first(
    state: &AppState,
    admin: &Admin,
    req: &Request,
    params: &lanyard_idp::http::Params,
    c: Confirm<'_>,
) -> Option<Response> {
    confirm_first_with(state, admin, req, params, c, Vec::new())
}

/// [`confirm_first`] for a form whose values must travel with the confirmation (`fields`).
pub(crate) fn confirm_first_with(
    state: &AppState,
    admin: &Admin,
    req: &Request,
    params: &lanyard_idp::http::Params,
    c: Confirm<'_>,
    mut fields: Vec<views::Hidden>,
) -> Option<Response> {
    if params.get("confirm") == Some("yes") {
        return None;
    }
    fields.push(views::Hidden {
        name: "confirm",
        value: "yes".into(),
    });
    let page = views::ConfirmPage {
        chrome: admin.chrome(c.section, None),
        confirmation: actions::Confirmation {
            title: c.title,
            what: c.what,
            button: c.button,
            danger: c.danger,
        },
        action: req.uri().path().to_string(),
        back: admin.path(c.cancel),
        fields,
    };
    Some(admin.render(state, "admin/confirm.html", page, StatusCode::OK))
}

/// A path segment, percent-encoded (usernames and client ids in links).
pub(crate) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
