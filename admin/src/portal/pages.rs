//! The portal's pages (GET): devices and sessions, security, history.

use super::views::{HistoryView, OverviewPage, SecurityPage};
use super::{open_page, Notice};
use lanyard_idp::account;
use lanyard_idp::app::State;
use lanyard_idp::factors::service as factors;
use lanyard_idp::protocol::authorize::PortalReturn;
use lanyard_idp::protocol::{self, read_params};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

/// The `done` notice of the query, if it names one.
async fn notice(req: &Request) -> Option<&'static str> {
    let p = read_params(req, Body::empty()).await.ok()?;
    p.get("done").and_then(Notice::parse).map(Notice::message)
}

#[handler]
pub async fn overview(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let me = match open_page(&state, &slug, req, PortalReturn::Account).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    match account::overview(&state, &me.tenant, &me.user.id, &me.session, me.ctx.now).await {
        Ok(o) => me.render(
            &state,
            "account/overview.html",
            OverviewPage::new(me.chrome("devices", notice(req).await), o, &me.times()),
            StatusCode::OK,
        ),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn security(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let me = match open_page(&state, &slug, req, PortalReturn::Security).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    match factors::status(&state.read, &me.tenant.id, &me.user.id).await {
        Ok(f) => me.render(
            &state,
            "account/security.html",
            SecurityPage {
                zones: super::views::zone_options(me.tz.name()),
                chrome: me.chrome("security", notice(req).await),
                totp: f.totp,
                recovery_codes_left: f.recovery_codes_left,
                min_password: lanyard_idp::manage::users::MIN_PASSWORD_LEN,
            },
            StatusCode::OK,
        ),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn history(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let me = match open_page(&state, &slug, req, PortalReturn::Account).await {
        Ok(me) => me,
        Err(r) => return r,
    };
    let params = match read_params(req, Body::empty()).await {
        Ok(p) => p,
        Err(r) => return protocol::page_error(&state, Some(&me.tenant), r.into()),
    };
    let before = params.get("before");
    match account::history(&state, &me.tenant, &me.user.id, before).await {
        Ok(p) => me.render(
            &state,
            "account/history.html",
            HistoryView::new(me.chrome("history", None), p, before.is_none(), &me.times()),
            StatusCode::OK,
        ),
        Err(e) => me.error(&state, e),
    }
}
