//! The audit search (GET `/t/{tenant}/admin/audit`): the tenant's events by user, session,
//! kind and time range, newest first, a page at a time, each in plain words; and the export of
//! the same search as CSV or JSON lines (GET `.../audit/export?format=csv|jsonl`), streamed by
//! the export service the admin API uses (`session::service::export`, which neutralises CSV
//! cells a spreadsheet would run as a formula).

use super::views::Chrome;
use super::Notice;
use crate::api::export::Export;
use crate::kit::{TimeText, Times};
use lanyard_idp::app::State;
use lanyard_idp::http::Params;
use lanyard_idp::manage::directory::{search_events, AuditEntry, AuditPage};
use lanyard_idp::manage::governance::{event_filter, EventQuery};
use lanyard_idp::manage::ManageError;
use lanyard_idp::protocol::{self};
use lanyard_idp::session::service::export;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, IntoResponse, Request, Response};
use serde::Serialize;

/// The search as the form typed it (kept in the form and in the export and paging links).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl AuditQuery {
    fn from_params(p: &Params) -> Self {
        let get = |k: &str| {
            p.get(k)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Self {
            user: get("user"),
            session: get("session"),
            kind: get("kind"),
            since: get("since"),
            until: get("until"),
        }
    }

    fn to_event_query(&self) -> EventQuery {
        EventQuery {
            user: self.user.clone(),
            session: self.session.clone(),
            kind: self.kind.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
        }
    }

    /// The search as a query string (no leading `?`), for links.
    fn query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("user", &self.user),
            ("session", &self.session),
            ("kind", &self.kind),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }

    fn is_filtered(&self) -> bool {
        !self.query_string().is_empty()
    }
}

/// One row of the audit table.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub at: TimeText,
    pub what: String,
    pub failed: bool,
    pub kind: String,
    pub actor: String,
    pub user: Option<String>,
    pub sid: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
}

impl AuditRow {
    fn new(e: AuditEntry, times: Times) -> Self {
        Self {
            at: times.at(e.at_ms.div_euclid(1000)),
            what: e.what,
            failed: e.failed,
            kind: e.kind,
            actor: e.actor,
            user: e.username,
            sid: e.sid,
            app: e.client_id,
            ip: e.ip,
        }
    }
}

/// `admin/audit.html`: the search form, a page of events, links to the next page and exports.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPageView {
    pub chrome: Chrome,
    pub query: AuditQuery,
    pub filtered: bool,
    pub rows: Vec<AuditRow>,
    /// The link of the next (older) page, with the search.
    pub next: Option<String>,
    /// The search as a query string, for the export links.
    pub search: String,
    pub first_page: bool,
}

impl AuditPageView {
    pub fn new(
        chrome: Chrome,
        query: AuditQuery,
        page: AuditPage,
        first_page: bool,
        times: Times,
    ) -> Self {
        let search = query.query_string();
        let next = page.next.map(|c| {
            let mut s = url::form_urlencoded::Serializer::new(search.clone());
            s.append_pair("before", &c);
            s.finish()
        });
        Self {
            chrome,
            filtered: query.is_filtered(),
            query,
            rows: page
                .entries
                .into_iter()
                .map(|e| AuditRow::new(e, times))
                .collect(),
            next,
            search,
            first_page,
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let mut chrome = Chrome::sample();
        chrome.section = "audit";
        Self::new(
            chrome,
            AuditQuery {
                user: Some("alice".into()),
                kind: Some("session.ended".into()),
                ..Default::default()
            },
            AuditPage {
                entries: vec![
                    AuditEntry {
                        at_ms: (now - 120) * 1000,
                        kind: "session.ended".into(),
                        what: "A session ended: an admin ended it".into(),
                        failed: false,
                        actor: "admin-area:root".into(),
                        outcome: "admin_revoked".into(),
                        username: Some("alice".into()),
                        sid: Some("sid-1".into()),
                        client_id: Some("payroll".into()),
                        ip: Some("203.0.113.9".into()),
                    },
                    AuditEntry {
                        at_ms: (now - 3600) * 1000,
                        kind: "login.failed".into(),
                        what: "Failed sign-in attempt (wrong password)".into(),
                        failed: true,
                        actor: "user".into(),
                        outcome: "bad_password".into(),
                        username: Some("alice".into()),
                        sid: None,
                        client_id: None,
                        ip: None,
                    },
                ],
                next: Some("1799996400000.ev-2".into()),
            },
            true,
            Times::utc(now),
        )
    }
}

/// The audit search page.
#[handler]
pub async fn search_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let query = AuditQuery::from_params(&p);
    let before = p.get("before");
    let chrome = admin.chrome("audit", Notice::from_query(req));
    match search_events(&state, &admin.tenant, query.to_event_query(), before).await {
        Ok(page) => admin.render(
            &state,
            "admin/audit.html",
            AuditPageView::new(chrome, query, page, before.is_none(), admin.times()),
            StatusCode::OK,
        ),
        // A search that names nothing or does not parse: the page again, saying why.
        Err(e @ (ManageError::NotFound { .. } | ManageError::Invalid(_))) => {
            let mut chrome = chrome;
            chrome.error = Some(e.to_string());
            let empty = AuditPage {
                entries: Vec::new(),
                next: None,
            };
            admin.render(
                &state,
                "admin/audit.html",
                AuditPageView::new(chrome, query, empty, true, admin.times()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// The same search as a download: `format=csv` (default) or `jsonl`, every matching event in
/// time order.
#[handler]
pub async fn export_page(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let bad = |msg: String| {
        protocol::error_page(
            &state,
            Some(&admin.tenant),
            StatusCode::BAD_REQUEST,
            "This export cannot be made",
            &msg,
        )
    };
    let asked = p.get("format").unwrap_or("csv");
    let Some(format) = export::Format::parse(asked) else {
        return bad(format!("The format '{asked}' is not csv or jsonl."));
    };
    let query = AuditQuery::from_params(&p);
    let filter = match event_filter(&state.db, &admin.tenant, query.to_event_query()).await {
        Ok(f) => f,
        Err(e @ (ManageError::NotFound { .. } | ManageError::Invalid(_))) => {
            return bad(format!("{e}."))
        }
        Err(e) => return admin.error(&state, e.into()),
    };
    let day = chrono::DateTime::from_timestamp(admin.ctx.now, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let stem = format!("{}-audit-{day}", admin.tenant.slug);
    Export::new(
        export::events(state.clone(), admin.tenant, format, filter),
        format,
        &stem,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_audit_page_renders_events_in_words_with_search_and_exports() {
        let html = render("admin/audit.html", AuditPageView::sample());
        assert!(html.contains("A session ended: an admin ended it"));
        assert!(html.contains("admin-area:root"));
        assert!(html.contains("203.0.113.9") && html.contains("payroll"));
        assert!(
            html.contains("value=\"alice\""),
            "the search keeps its value"
        );
        assert!(html.contains("audit/export?format=csv&amp;user=alice&amp;kind=session.ended"));
        assert!(html.contains("audit/export?format=jsonl&amp;"));
        assert!(html.contains("before=1799996400000.ev-2"), "the next page");
        assert!(html.contains("admin?user=alice"), "links to the dashboard");
        assert!(
            html.contains("class=\"badge danger\""),
            "a refusal stands out"
        );
    }

    #[test]
    fn the_search_round_trips_through_its_query_string() {
        let q = AuditQuery::from_params(
            &Params::parse(b"user=al+ice&kind=&since=2026-12-01T00:00:00Z").unwrap(),
        );
        assert_eq!(q.user.as_deref(), Some("al ice"));
        assert_eq!(q.kind, None, "an empty field is no filter");
        assert_eq!(
            q.query_string(),
            "user=al+ice&since=2026-12-01T00%3A00%3A00Z"
        );
        assert!(q.is_filtered());
        assert!(!AuditQuery::default().is_filtered());
    }
}
