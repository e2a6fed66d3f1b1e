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
pub mod live;
mod pages;
mod session;
pub mod views;

use access::{decide_admin_access, AdminAccess};
use lanyard_idp::app::AppState;
use lanyard_idp::http::{Params, RequestContext};
use lanyard_idp::model::{Client, Tenant};
use lanyard_idp::protocol::authorize::{start_portal_sign_in, PortalReturn};
use lanyard_idp::protocol::{self, login::render_with_csrf};
use lanyard_idp::session::service as sessions;
use lanyard_idp::session::Session;
use lanyard_idp::store::users::User;
use poem::http::StatusCode;
use poem::{get, Request, Response, Route};
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
}

/// The signed-in admin of an admin-area request.
#[allow(dead_code)]
pub(crate) struct Admin {
    pub tenant: Tenant,
    pub ctx: RequestContext,
    pub session: Session,
    pub user: User,
    pub access: AdminAccess,
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
            zone: crate::kit::ZONE,
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
                ctx.now,
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
    Ok(Admin {
        tenant,
        ctx,
        session,
        user,
        access: decision,
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
