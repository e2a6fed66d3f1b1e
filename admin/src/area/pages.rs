//! The admin area's pages (GET).

use super::views::DashboardPage;
use lanyard_idp::app::State;
use lanyard_idp::manage::dashboard::{live_sessions, Dashboard, DashboardQuery};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};

/// The live session dashboard, filtered by the query (`user`, `group`, `client`, `device`,
/// `ip_range`, `status`).
#[handler]
pub async fn dashboard(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let get = |k: &str| p.get(k).map(str::to_string);
    let notice = super::Notice::from_query(req);
    let q = DashboardQuery {
        user: get("user"),
        group: get("group"),
        client: get("client"),
        device: get("device"),
        ip_range: get("ip_range"),
        status: get("status"),
    };
    let now = admin.ctx.now;
    match live_sessions(&state, &admin.tenant, &q, now).await {
        Ok(d) => admin.render(
            &state,
            "admin/dashboard.html",
            DashboardPage::new(admin.chrome("sessions", notice), d, admin.times()),
            StatusCode::OK,
        ),
        // A filter that names nothing or does not parse: the page again, saying why.
        Err(
            e @ (lanyard_idp::manage::ManageError::NotFound { .. }
            | lanyard_idp::manage::ManageError::Invalid(_)),
        ) => {
            let mut chrome = admin.chrome("sessions", None);
            chrome.error = Some(e.to_string());
            let empty = Dashboard {
                query: q,
                total: 0,
                sessions: Vec::new(),
                per_app: Vec::new(),
                per_status: Vec::new(),
                users: 0,
            };
            admin.render(
                &state,
                "admin/dashboard.html",
                DashboardPage::new(chrome, empty, admin.times()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => admin.error(&state, e.into()),
    }
}
