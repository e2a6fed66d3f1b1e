//! The self-service account portal under `/t/{tenant}/account`: server-rendered pages where a
//! signed-in user sees and governs their own devices, sessions, long-lived grants, security
//! history, password and second factor.
//!
//! Access rules (this module): the browser's own Lanyard session, resolved through the session
//! service (which applies the binding checks); without one, a sign-in of the portal's own that
//! returns here. A read-only session views but cannot act; a sensitive action (password, second
//! factor, ending everything) needs a sign-in from the last five minutes, else the portal asks
//! for the password again. Every form carries the CSRF token and passes the same check as the
//! login pages (`protocol::read_form`, ADR 0007). Handlers translate: they call one
//! `lanyard_idp::account` (or `factors::service`) operation and render its outcome.

mod actions;
mod pages;
pub mod views;

use lanyard_idp::account::{self, AccessDecision};
use lanyard_idp::app::AppState;
use lanyard_idp::http::csrf::FormPurpose;
use lanyard_idp::http::{respond, Params, RequestContext};
use lanyard_idp::model::Tenant;
use lanyard_idp::protocol::authorize::{start_portal_sign_in, PortalReturn};
use lanyard_idp::protocol::{self, login::render_with_csrf_for};
use lanyard_idp::session::service as sessions;
use lanyard_idp::session::Session;
use lanyard_idp::store::users::User;
use poem::http::StatusCode;
use poem::{get, post, Request, Response, Route};
use serde::Serialize;

/// The portal's routes, added to the application's by `lanyard_admin::extend`.
pub fn routes(r: Route) -> Route {
    r.at("/t/:slug/account", get(pages::overview))
        .at("/t/:slug/account/history", get(pages::history))
        .at("/t/:slug/account/security", get(pages::security))
        .at("/t/:slug/account/reauth", post(actions::reauth))
        .at(
            "/t/:slug/account/devices/rename",
            post(actions::rename_device),
        )
        .at(
            "/t/:slug/account/devices/sign-out",
            post(actions::sign_out_device),
        )
        .at(
            "/t/:slug/account/devices/report",
            post(actions::report_device),
        )
        .at("/t/:slug/account/sessions/end", post(actions::end_session))
        .at(
            "/t/:slug/account/sessions/end-others",
            post(actions::end_others),
        )
        .at("/t/:slug/account/sessions/end-all", post(actions::end_all))
        .at(
            "/t/:slug/account/grants/revoke",
            post(actions::revoke_grant),
        )
        .at("/t/:slug/account/password", post(actions::change_password))
        .at("/t/:slug/account/time-zone", post(actions::set_time_zone))
        .at("/t/:slug/account/totp/start", post(actions::start_totp))
        .at("/t/:slug/account/totp/confirm", post(actions::confirm_totp))
        .at("/t/:slug/account/totp/remove", post(actions::remove_totp))
        .at(
            "/t/:slug/account/recovery-codes",
            post(actions::recovery_codes),
        )
}

/// The signed-in user of a portal request.
pub(crate) struct Me {
    pub tenant: Tenant,
    pub ctx: RequestContext,
    pub session: Session,
    pub user: User,
    pub access: AccessDecision,
    /// The user's own time zone (UTC unless they chose one).
    pub tz: chrono_tz::Tz,
}

impl Me {
    pub fn chrome(&self, section: &'static str, notice: Option<&'static str>) -> views::Chrome {
        views::Chrome {
            username: self.user.username.clone(),
            section,
            read_only: self.access == AccessDecision::ViewOnly,
            notice,
            error: None,
            zone: self.tz.name().to_string(),
        }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/t/{}/account{rest}", self.tenant.slug)
    }

    /// What this page's times are written against.
    pub fn times(&self) -> views::Times {
        views::Times {
            now: self.ctx.now,
            tz: self.tz,
        }
    }

    /// Render a portal page with the CSRF token its forms carry.
    pub fn render(
        &self,
        state: &AppState,
        template: &str,
        ctx: impl Serialize,
        status: StatusCode,
    ) -> Response {
        match serde_json::to_value(ctx) {
            // Every portal form posts to the portal (`/account/*`), whatever template it is in.
            Ok(v) => render_with_csrf_for(
                state,
                &self.tenant,
                &self.ctx,
                FormPurpose::Account,
                template,
                v,
                status,
            ),
            Err(e) => protocol::page_error(state, Some(&self.tenant), e.into()),
        }
    }

    /// An error of the account service as a page of the portal.
    pub fn error(&self, state: &AppState, e: lanyard_idp::error::Error) -> Response {
        protocol::page_error(state, Some(&self.tenant), e)
    }
}

/// Who is asking: the browser's live session and its user, or the response that sends the
/// browser to sign in (returning to `back`) or explains the refusal.
async fn whoami(
    state: &AppState,
    tenant: Tenant,
    ctx: RequestContext,
    back: PortalReturn,
) -> Result<Me, Response> {
    let session = match sessions::resolve(state, &tenant, &ctx).await {
        Ok(r) => r.live(),
        Err(e) => return Err(protocol::page_error(state, Some(&tenant), e)),
    };
    let decision = account::decide_access(session.as_ref().and_then(Session::mode));
    let session = match (session, decision) {
        (Some(s), AccessDecision::Full | AccessDecision::ViewOnly) => s,
        _ => {
            return Err(start_portal_sign_in(state, &tenant, back, false, &ctx)
                .await
                .unwrap_or_else(|e| protocol::page_error(state, Some(&tenant), e)))
        }
    };
    let user = match account::user(state, &tenant, &session.user_id).await {
        Ok(u) => u,
        Err(e) => return Err(protocol::page_error(state, Some(&tenant), e)),
    };
    let tz = match account::time_zone(state, &tenant, &user.id).await {
        Ok(tz) => tz,
        Err(e) => return Err(protocol::page_error(state, Some(&tenant), e)),
    };
    Ok(Me {
        tenant,
        ctx,
        session,
        user,
        access: decision,
        tz,
    })
}

/// A portal page request (GET): the tenant and the signed-in user.
pub(crate) async fn open_page(
    state: &AppState,
    slug: &str,
    req: &Request,
    back: PortalReturn,
) -> Result<Me, Response> {
    let ctx = protocol::context(state, req);
    let tenant = match protocol::load_tenant(state, slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(protocol::tenant_not_found(state)),
        Err(e) => return Err(protocol::page_error(state, None, e)),
    };
    whoami(state, tenant, ctx, back).await
}

/// A portal form submission (POST): the CSRF and Origin check of every Lanyard form, then the
/// signed-in user, who must be allowed to act (a read-only session may not).
pub(crate) async fn open_form(
    state: &AppState,
    slug: &str,
    req: &Request,
    body: poem::Body,
    back: PortalReturn,
) -> Result<(Me, Params), Response> {
    let ctx = protocol::context(state, req);
    let (tenant, params) = protocol::read_form(state, slug, req, body, &ctx).await?;
    let me = whoami(state, tenant, ctx, back).await?;
    if me.access != AccessDecision::Full {
        return Err(protocol::error_page(
            state,
            Some(&me.tenant),
            StatusCode::FORBIDDEN,
            "This session is read-only",
            "You can view your account from this session but not change it. Sign in again to make changes.",
        ));
    }
    Ok((me, params))
}

/// A sensitive action needs a recent sign-in: `None` when the session has one, else the page
/// that asks for the password again.
pub(crate) fn require_recent_sign_in(
    state: &AppState,
    me: &Me,
    back: PortalReturn,
) -> Option<Response> {
    if account::decide_recent_auth(me.session.auth.time, me.ctx.now) {
        return None;
    }
    let section = match back {
        PortalReturn::Security => "security",
        PortalReturn::Account | PortalReturn::Admin => "devices",
    };
    Some(me.render(
        state,
        "account/reauth.html",
        views::ReauthPage {
            chrome: me.chrome(section, None),
            then: match back {
                PortalReturn::Security => "security",
                PortalReturn::Account | PortalReturn::Admin => "account",
            },
            minutes: account::REAUTH_WINDOW_SECS / 60,
        },
        StatusCode::OK,
    ))
}

/// What a finished action says on the page it returns to: a fixed message chosen by name (the
/// query carries only the name, so no text can be injected through it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Notice {
    Renamed,
    DeviceSignedOut,
    DeviceReported,
    SessionEnded,
    OthersEnded,
    GrantRevoked,
    PasswordChanged,
    FactorRemoved,
    NothingToEnd,
    ZoneSaved,
}

impl Notice {
    const ALL: [Notice; 10] = [
        Notice::Renamed,
        Notice::DeviceSignedOut,
        Notice::DeviceReported,
        Notice::SessionEnded,
        Notice::OthersEnded,
        Notice::GrantRevoked,
        Notice::PasswordChanged,
        Notice::FactorRemoved,
        Notice::NothingToEnd,
        Notice::ZoneSaved,
    ];

    fn name(self) -> &'static str {
        match self {
            Notice::Renamed => "renamed",
            Notice::DeviceSignedOut => "device_signed_out",
            Notice::DeviceReported => "device_reported",
            Notice::SessionEnded => "session_ended",
            Notice::OthersEnded => "others_ended",
            Notice::GrantRevoked => "grant_revoked",
            Notice::PasswordChanged => "password_changed",
            Notice::FactorRemoved => "factor_removed",
            Notice::NothingToEnd => "nothing_to_end",
            Notice::ZoneSaved => "zone_saved",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Notice::Renamed => "The device was saved.",
            Notice::DeviceSignedOut => "The device was signed out.",
            Notice::DeviceReported => {
                "The device was signed out and can no longer sign in to your account."
            }
            Notice::SessionEnded => "The session was ended.",
            Notice::OthersEnded => "Your other sessions were ended.",
            Notice::GrantRevoked => "The app's long-lived access was revoked.",
            Notice::PasswordChanged => {
                "Your password was changed, and your other sessions were ended."
            }
            Notice::FactorRemoved => "The authenticator app was removed.",
            Notice::NothingToEnd => "There was nothing left to end.",
            Notice::ZoneSaved => "Your time zone was saved: times are now shown in it.",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.name() == s)
    }
}

/// Back to a portal page after an action, with its notice (303: the browser GETs it).
pub(crate) fn done(me: &Me, back: PortalReturn, notice: Notice) -> Response {
    respond::redirect(&format!(
        "{}?done={}",
        back.path(&me.tenant.slug),
        notice.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_by_name_only() {
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.name()), Some(n));
            assert!(!n.message().is_empty());
        }
        assert_eq!(Notice::parse("<script>"), None);
        assert_eq!(Notice::parse(""), None);
    }
}
