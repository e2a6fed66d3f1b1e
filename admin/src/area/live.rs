//! Live updates of the dashboard: `GET /t/{tenant}/admin/live`, a `text/event-stream`
//! (HTML Living Standard §9.2, server-sent events) opened with the same access rule as every
//! admin page. The server polls a cheap signature of the tenant's sessions (how many are in
//! each state and mode: a start, an end or a mode change alters it) every [`POLL`], and sends a
//! `sessions` event when it changed; the page's script (`/static/admin_live.js`) then fetches
//! the dashboard again and swaps the counts and rows. Without script the page is reloaded by
//! hand. A stream lasts at most [`LIFETIME`] polls, after which the browser reconnects — and is
//! checked again, so a session that lost the admin role stops receiving.

use super::open_page;
use lanyard_idp::app::State;
use lanyard_idp::manage::dashboard::change_signature;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Path};
use poem::{handler, IntoResponse, Request, Response};
use std::time::Duration;

/// How often the server looks for a change.
pub const POLL: Duration = Duration::from_secs(2);

/// Polls per stream (about five minutes).
const LIFETIME: u32 = 150;

/// The script of the live dashboard, served at `/static/admin_live.js` (CSP `script-src 'self'`).
pub const ADMIN_LIVE_JS: &str = include_str!("../../../templates/static/admin_live.js");

#[handler]
pub fn script() -> Response {
    Response::builder()
        .content_type("application/javascript")
        .header("cache-control", "public, max-age=3600")
        .body(ADMIN_LIVE_JS)
}

#[handler]
pub async fn live(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let admin = match open_page(&state, &slug, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state: State = state.0.clone();
    let tenant = admin.tenant;
    let first = match change_signature(&state, &tenant).await {
        Ok(s) => s,
        Err(e) => return lanyard_idp::protocol::page_error(&state, Some(&tenant), e.into()),
    };
    let ready = futures::stream::iter([Event::message("ready").event_type("ready")]);
    let changes = futures::stream::unfold(
        (state, tenant, first, 0u32),
        |(state, tenant, last, n)| async move {
            let mut last = last;
            let mut n = n;
            loop {
                if n >= LIFETIME {
                    return None;
                }
                n += 1;
                tokio::time::sleep(POLL).await;
                match change_signature(&state, &tenant).await {
                    Ok(now) if now != last => {
                        last = now;
                        let ev = Event::message("changed").event_type("sessions");
                        return Some((ev, (state, tenant, last, n)));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %lanyard_idp::error::Error::from(e), "admin live poll failed");
                        return None;
                    }
                }
            }
        },
    );
    SSE::new(futures::StreamExt::chain(ready, changes))
        .keep_alive(Duration::from_secs(15))
        .into_response()
}
