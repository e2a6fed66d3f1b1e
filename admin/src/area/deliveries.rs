//! Back-channel logout deliveries (GET `/t/{tenant}/admin/deliveries`): what is owed to the
//! relying parties and how it is going — pending, retrying (last error, next attempt), dead,
//! delivered — filtered by state, with "Retry now" on a dead or retrying one (POST, after a
//! confirmation step, `manage::retry_delivery`, audited as the admin).

use super::views::Chrome;
use super::{confirm_first, done, open_form, Confirm, Notice};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::State;
use lanyard_idp::manage::sessions::{list_deliveries, DeliveryView};
use lanyard_idp::manage::{self, ManageError};
use lanyard_idp::store::outbox;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;

/// How many deliveries the page lists (newest first).
const LISTED: u64 = 200;

/// One delivery as the table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub sid: Option<String>,
    pub app: String,
    pub target: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub attempts: i64,
    pub created: TimeText,
    /// When the next attempt is due (pending and retrying ones).
    pub next_attempt: Option<TimeText>,
    pub delivered: Option<TimeText>,
    pub last_error: Option<String>,
    pub retryable: bool,
}

/// A delivery state in words, its badge and whether "Retry now" applies.
fn state_words(s: &str) -> (&'static str, &'static str, bool) {
    match s {
        outbox::PENDING => ("Pending", "", false),
        outbox::IN_FLIGHT => ("Sending", "", false),
        outbox::RETRY => ("Retrying", "warn", true),
        outbox::DELIVERED => ("Delivered", "ok", false),
        outbox::DEAD => ("Dead", "danger", true),
        _ => ("Unknown", "danger", false),
    }
}

impl DeliveryRow {
    fn new(d: DeliveryView, times: Times) -> Self {
        let (state, state_class, retryable) = state_words(&d.state);
        let waiting = d.state == outbox::PENDING || d.state == outbox::RETRY;
        Self {
            created: times.at(d.created_at_ms.div_euclid(1000)),
            next_attempt: waiting.then(|| times.at(d.next_attempt_at_ms.div_euclid(1000))),
            delivered: d.delivered_at_ms.map(|t| times.at(t.div_euclid(1000))),
            id: d.id,
            sid: d.sid,
            app: d.client_id,
            target: d.target,
            state,
            state_class,
            attempts: d.attempts,
            last_error: d.last_error,
            retryable,
        }
    }
}

/// One option of the state filter.
#[derive(Debug, Clone, Serialize)]
pub struct StateOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// `admin/deliveries.html`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveriesPage {
    pub chrome: Chrome,
    pub states: Vec<StateOption>,
    pub filtered: bool,
    pub rows: Vec<DeliveryRow>,
}

impl DeliveriesPage {
    pub fn new(chrome: Chrome, state: Option<&str>, rows: Vec<DeliveryView>, times: Times) -> Self {
        let current = state.unwrap_or("");
        let states = [
            ("", "Any state"),
            (outbox::PENDING, "Pending"),
            (outbox::IN_FLIGHT, "Sending"),
            (outbox::RETRY, "Retrying"),
            (outbox::DEAD, "Dead"),
            (outbox::DELIVERED, "Delivered"),
        ]
        .into_iter()
        .map(|(value, label)| StateOption {
            value,
            label,
            selected: value == current,
        })
        .collect();
        Self {
            chrome,
            states,
            filtered: !current.is_empty(),
            rows: rows
                .into_iter()
                .map(|d| DeliveryRow::new(d, times))
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let mut chrome = Chrome::sample();
        chrome.section = "deliveries";
        chrome.read_only = false;
        let d = |id: &str, state: &str, err: Option<&str>| DeliveryView {
            id: id.into(),
            sid: Some("sid-1".into()),
            client_id: "payroll".into(),
            target: "https://payroll.example/backchannel".into(),
            state: state.into(),
            attempts: 3,
            created_at_ms: (now - 600) * 1000,
            next_attempt_at_ms: (now + 30) * 1000,
            delivered_at_ms: None,
            latency_ms: None,
            last_error: err.map(str::to_string),
        };
        Self::new(
            chrome,
            Some(outbox::DEAD),
            vec![
                d("dl-dead", outbox::DEAD, Some("HTTP 503 from the RP")),
                d("dl-retry", outbox::RETRY, Some("timed out")),
            ],
            Times::utc(now),
        )
    }
}

/// The deliveries, newest first, filtered by `state`.
#[handler]
pub async fn list(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = p.get("state");
    let chrome = admin.chrome("deliveries", Notice::from_query(req));
    match list_deliveries(&state.db, &admin.tenant, filter, None, LISTED).await {
        Ok(rows) => admin.render(
            &state,
            "admin/deliveries.html",
            DeliveriesPage::new(chrome, filter, rows, admin.times()),
            StatusCode::OK,
        ),
        Err(e @ ManageError::Invalid(_)) => {
            let mut chrome = chrome;
            chrome.error = Some(e.to_string());
            admin.render(
                &state,
                "admin/deliveries.html",
                DeliveriesPage::new(chrome, None, Vec::new(), admin.times()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => admin.error(&state, e.into()),
    }
}

/// "Retry now": the delivery is attempted again at once (a dead or retrying one).
#[handler]
pub async fn retry(
    state: Data<&State>,
    Path((slug, id)): Path<(String, String)>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, params) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ask = Confirm {
        section: "deliveries",
        title: "Retry this delivery now?".into(),
        what: "Lanyard sends the logout token to the app's back-channel logout URL again now; if it fails, it is retried with backoff as usual.".into(),
        button: "Retry now".into(),
        danger: false,
        cancel: "/deliveries",
    };
    if let Some(r) = confirm_first(&state, &admin, req, &params, ask) {
        return r;
    }
    match manage::retry_delivery(&state, &admin.tenant, &id, &admin.actor()).await {
        Ok(true) => done(&admin, "/deliveries", Notice::RetryScheduled),
        Ok(false) => done(&admin, "/deliveries", Notice::NothingToRetry),
        Err(e) => admin.error(&state, e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::area::views::tests::render;

    #[test]
    fn the_deliveries_page_shows_errors_next_attempts_and_retry() {
        let html = render("admin/deliveries.html", DeliveriesPage::sample());
        assert!(html.contains("HTTP 503 from the RP") && html.contains("timed out"));
        assert!(html.contains("https://payroll.example/backchannel"));
        assert!(html.contains("action=\"/t/demo/admin/deliveries/dl-dead/retry\""));
        assert!(html.contains("action=\"/t/demo/admin/deliveries/dl-retry/retry\""));
        assert!(html.contains("<option value=\"dead\" selected"));
        assert!(html.contains("Next attempt"), "a retrying one says when");
    }

    #[test]
    fn only_dead_and_retrying_deliveries_can_be_retried() {
        for (s, can_retry) in [
            (outbox::PENDING, false),
            (outbox::IN_FLIGHT, false),
            (outbox::RETRY, true),
            (outbox::DELIVERED, false),
            (outbox::DEAD, true),
            ("galaxy", false),
        ] {
            assert_eq!(state_words(s).2, can_retry, "{s}");
        }
    }
}
