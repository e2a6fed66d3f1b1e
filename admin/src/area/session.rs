//! One session, drilled into (GET `/t/{tenant}/admin/sessions/{sid}`).

use super::actions::{describe, urlencode, SessionAction};
use super::views::{ActionLink, SessionPage};
use super::{open_page, Notice};
use lanyard_idp::app::State;
use lanyard_idp::manage;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};

/// The button labels of the session page, per action.
fn label(a: SessionAction) -> &'static str {
    use lanyard_idp::session::Mode;
    match a {
        SessionAction::End => "End this session",
        SessionAction::EndUser => "End all of the user's sessions",
        SessionAction::DisableUser => "Disable the user",
        SessionAction::CompromiseDevice => "Mark the device compromised",
        SessionAction::Resync => "Re-evaluate against the policy",
        SessionAction::SetMode(Mode::ReauthRequired) => "Require sign-in again (step-up)",
        SessionAction::SetMode(Mode::ReadOnly) => "Make read-only",
        SessionAction::SetMode(Mode::Normal) => "Return to normal",
    }
}

#[handler]
pub async fn session(
    state: Data<&State>,
    Path((slug, sid)): Path<(String, String)>,
    req: &Request,
) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let notice = Notice::from_query(req);
    let now = admin.ctx.now;
    match manage::dashboard::session_detail(&state, &admin.tenant, &sid, now).await {
        Ok(d) => {
            let actions = if admin.access == super::access::AdminAccess::Full {
                SessionAction::ALL
                    .into_iter()
                    .filter_map(|a| {
                        describe(a, &d).ok().map(|c| ActionLink {
                            href: admin.path(&format!(
                                "/sessions/{}/{}",
                                urlencode(&sid),
                                a.name()
                            )),
                            label: label(a),
                            danger: c.danger,
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            admin.render(
                &state,
                "admin/session.html",
                SessionPage::new(admin.chrome("sessions", notice), d, actions, admin.times()),
                StatusCode::OK,
            )
        }
        Err(e) => admin.error(&state, e.into()),
    }
}
