//! The portal's actions (POST forms). Each one: the CSRF check and the signed-in user
//! (`open_form`), a recent sign-in when the action is sensitive, one account-service operation,
//! then back to the page with a notice — or, when the browser's own session ended, the
//! logged-out page with the relying parties' front-channel frames (as `end_session` shows).

use super::views::{CodesPage, EnrolPage};
use super::{done, open_form, require_recent_sign_in, Me, Notice};
use base64::Engine;
use lanyard_idp::account;
use lanyard_idp::app::{AppState, State};
use lanyard_idp::factors::service as factors;
use lanyard_idp::http::Params;
use lanyard_idp::protocol::authorize::{start_portal_sign_in, PortalReturn};
use lanyard_idp::protocol::{self, end_session as rp_logout};
use lanyard_idp::session::service::Ended;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

/// Open a form or answer with the refusal.
macro_rules! form {
    ($state:expr, $slug:expr, $req:expr, $body:expr, $back:expr) => {
        match open_form(&$state, &$slug, $req, $body, $back).await {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// A sensitive action: ask for the password again unless the sign-in is recent.
macro_rules! recent {
    ($state:expr, $me:expr, $back:expr) => {
        if let Some(r) = require_recent_sign_in(&$state, &$me, $back) {
            return r;
        }
    };
}

fn field<'a>(p: &'a Params, name: &str) -> &'a str {
    p.get(name).unwrap_or("")
}

/// After sessions ended: the logged-out page when the browser's own was among them, else back
/// to the portal with `notice`.
fn after_end(state: &AppState, me: &Me, ended: &Ended, notice: Notice) -> Response {
    if ended.sids.contains(&me.session.sid) {
        return rp_logout::signed_out(state, &me.tenant, ended, &me.session.id, None);
    }
    let notice = if ended.count() == 0 {
        Notice::NothingToEnd
    } else {
        notice
    };
    done(me, PortalReturn::Account, notice)
}

/// "Enter my password again": a portal sign-in with `prompt=login` that returns to the page
/// the action was on. Only the CSRF check: a read-only or expired session may sign in again.
#[handler]
pub async fn reauth(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = protocol::context(&state, req);
    let (tenant, params) = match protocol::read_form(&state, &slug, req, body, &ctx).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = match params.get("then") {
        Some("security") => PortalReturn::Security,
        _ => PortalReturn::Account,
    };
    start_portal_sign_in(&state, &tenant, back, true, &ctx)
        .await
        .unwrap_or_else(|e| protocol::page_error(&state, Some(&tenant), e))
}

#[handler]
pub async fn rename_device(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Account);
    match account::rename_device(
        &state,
        &me.tenant,
        &me.user.id,
        field(&p, "device"),
        field(&p, "name"),
        field(&p, "category"),
        &me.ctx,
    )
    .await
    {
        Ok(()) => done(&me, PortalReturn::Account, Notice::Renamed),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn sign_out_device(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Account);
    match account::sign_out_device(
        &state,
        &me.tenant,
        &me.user.id,
        field(&p, "device"),
        &me.ctx,
    )
    .await
    {
        Ok(ended) => after_end(&state, &me, &ended, Notice::DeviceSignedOut),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn report_device(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Account);
    match account::report_device(
        &state,
        &me.tenant,
        &me.user.id,
        field(&p, "device"),
        p.get("note"),
        &me.ctx,
    )
    .await
    {
        Ok(ended) => after_end(&state, &me, &ended, Notice::DeviceReported),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn end_session(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Account);
    match account::end_session(&state, &me.tenant, &me.user.id, field(&p, "sid"), &me.ctx).await {
        Ok(ended) => after_end(&state, &me, &ended, Notice::SessionEnded),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn end_others(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, _) = form!(state, slug, req, body, PortalReturn::Account);
    match account::end_other_sessions(&state, &me.tenant, &me.user.id, &me.session.id, &me.ctx)
        .await
    {
        Ok(ended) => after_end(&state, &me, &ended, Notice::OthersEnded),
        Err(e) => me.error(&state, e),
    }
}

/// Sign out everywhere, this browser included (sensitive: it signs out every app at once).
#[handler]
pub async fn end_all(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, _) = form!(state, slug, req, body, PortalReturn::Account);
    recent!(state, me, PortalReturn::Account);
    match account::end_everything(&state, &me.tenant, &me.user.id, &me.ctx).await {
        Ok(ended) => after_end(&state, &me, &ended, Notice::OthersEnded),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn revoke_grant(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Account);
    match account::revoke_grant(&state, &me.tenant, &me.user.id, field(&p, "grant"), &me.ctx).await
    {
        Ok(()) => done(&me, PortalReturn::Account, Notice::GrantRevoked),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn change_password(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Security);
    recent!(state, me, PortalReturn::Security);
    let new = field(&p, "new_password");
    if new != field(&p, "confirm") {
        return protocol::error_page(
            &state,
            Some(&me.tenant),
            StatusCode::BAD_REQUEST,
            "The passwords differ",
            "The new password and its repetition are not the same. Go back and type them again.",
        );
    }
    match factors::change_password(
        &state,
        &me.tenant,
        &me.user.id,
        new,
        Some(&me.session.id),
        "user",
        Some(&me.ctx),
    )
    .await
    {
        Ok(_) => done(&me, PortalReturn::Security, Notice::PasswordChanged),
        Err(e) => me.error(&state, e),
    }
}

/// The user's own time zone (not sensitive: no recent sign-in needed). A name the list does not
/// have is shown back as an error, nothing is stored.
#[handler]
pub async fn set_time_zone(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Security);
    match account::set_time_zone(
        &state,
        &me.tenant,
        &me.user.id,
        field(&p, "zoneinfo"),
        &me.ctx,
    )
    .await
    {
        Ok(()) => done(&me, PortalReturn::Security, Notice::ZoneSaved),
        Err(lanyard_idp::error::Error::Invalid(m)) => protocol::error_page(
            &state,
            Some(&me.tenant),
            StatusCode::BAD_REQUEST,
            "Unknown time zone",
            &m,
        ),
        Err(e) => me.error(&state, e),
    }
}

fn enrol_page(me: &Me, e: &lanyard_idp::factors::service::Enrolment) -> EnrolPage {
    let qr = base64::engine::general_purpose::STANDARD.encode(e.qr_svg.as_bytes());
    EnrolPage {
        action: me.path("/totp/confirm"),
        factor: e.factor_id.clone(),
        qr: format!("data:image/svg+xml;base64,{qr}"),
        // In groups of four, as people type it.
        secret: e
            .secret_base32
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).to_string())
            .collect::<Vec<_>>()
            .join(" "),
        back_url: me.path("/security"),
        error: None,
    }
}

#[handler]
pub async fn start_totp(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, _) = form!(state, slug, req, body, PortalReturn::Security);
    recent!(state, me, PortalReturn::Security);
    match factors::start_enrolment(&state, &me.tenant, &me.user).await {
        Ok(e) => me.render(
            &state,
            "enrol_factor.html",
            enrol_page(&me, &e),
            StatusCode::OK,
        ),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn confirm_totp(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, p) = form!(state, slug, req, body, PortalReturn::Security);
    recent!(state, me, PortalReturn::Security);
    match factors::confirm_enrolment(
        &state,
        &me.tenant,
        &me.user.id,
        field(&p, "factor"),
        field(&p, "code").trim(),
        Some(&me.session.id),
        &me.ctx,
    )
    .await
    {
        Ok(Some(codes)) => me.render(
            &state,
            "recovery_codes.html",
            CodesPage {
                codes: codes.0,
                back_url: me.path("/security"),
            },
            StatusCode::OK,
        ),
        Ok(None) => protocol::error_page(
            &state,
            Some(&me.tenant),
            StatusCode::BAD_REQUEST,
            "That code is not right",
            "Go back and enter the code your authenticator app shows now.",
        ),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn remove_totp(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, _) = form!(state, slug, req, body, PortalReturn::Security);
    recent!(state, me, PortalReturn::Security);
    match factors::remove(
        &state,
        &me.tenant,
        &me.user.id,
        Some(&me.session.id),
        "user",
        Some(&me.ctx),
    )
    .await
    {
        Ok(_) => done(&me, PortalReturn::Security, Notice::FactorRemoved),
        Err(e) => me.error(&state, e),
    }
}

#[handler]
pub async fn recovery_codes(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (me, _) = form!(state, slug, req, body, PortalReturn::Security);
    recent!(state, me, PortalReturn::Security);
    match factors::regenerate_recovery_codes(&state, &me.tenant, &me.user.id, &me.ctx).await {
        Ok(Some(codes)) => me.render(
            &state,
            "recovery_codes.html",
            CodesPage {
                codes: codes.0,
                back_url: me.path("/security"),
            },
            StatusCode::OK,
        ),
        Ok(None) => protocol::error_page(
            &state,
            Some(&me.tenant),
            StatusCode::CONFLICT,
            "No authenticator app",
            "Recovery codes stand in for an authenticator app. Set one up first.",
        ),
        Err(e) => me.error(&state, e),
    }
}
