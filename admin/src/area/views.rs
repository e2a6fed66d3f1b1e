//! Typed page contexts of the admin area's templates (`templates/admin/*.html`), built from the
//! manage layer's views. Each has a `sample()`, and every template is rendered from it in a test
//! (STYLE.md rule 11), so a broken template or a forgotten field fails the build.

use crate::kit::{acr_words, mode_words, TimeText, Times};
use lanyard_idp::manage::dashboard::{
    Count, Dashboard, DashboardQuery, DeviceDetail, LiveSession, SessionDetail,
};
use lanyard_idp::manage::sessions::{DeliveryView, EventView};
use lanyard_idp::session::service::cohort::CohortReport;
use lanyard_idp::session::Mode;
use serde::Serialize;

/// What every admin page shows around its content.
#[derive(Debug, Clone, Serialize)]
pub struct Chrome {
    pub username: String,
    /// The current section of the navigation: `sessions`, ...
    pub section: &'static str,
    pub read_only: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The admin's own time zone (the portal's Security page sets it), every time is shown in.
    pub zone: String,
}

impl Chrome {
    pub fn sample() -> Self {
        Self {
            username: "root".into(),
            section: "sessions",
            read_only: true,
            notice: Some("The session was ended.".into()),
            error: Some("There is no user 'bob'.".into()),
            zone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRow {
    pub sid: String,
    pub user: String,
    pub apps: Vec<String>,
    pub device: String,
    pub device_id: Option<String>,
    pub ip: String,
    pub country: Option<String>,
    pub started: TimeText,
    pub last_active: TimeText,
    pub expires: TimeText,
    pub status: &'static str,
    pub status_class: &'static str,
    pub acr: String,
    pub alert: bool,
}

impl SessionRow {
    fn new(s: LiveSession, times: Times) -> Self {
        Self {
            user: s.username.unwrap_or_else(|| "(deleted user)".into()),
            device: s.device.unwrap_or_else(|| "Unknown device".into()),
            started: times.at(s.created_at),
            last_active: times.at(s.last_active_at),
            expires: times.at(s.expires_at),
            status: mode_words(s.mode),
            status_class: match s.mode {
                Mode::Normal => "ok",
                Mode::ReadOnly => "warn",
                Mode::ReauthRequired => "danger",
            },
            acr: acr_words(&s.acr),
            sid: s.sid,
            apps: s.apps,
            device_id: s.device_id,
            ip: s.ip,
            country: s.country,
            alert: s.binding_alert,
        }
    }
}

/// One option of the status filter.
#[derive(Debug, Clone, Serialize)]
pub struct StatusOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// `admin/dashboard.html`: the live sessions, filters and counts.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub query: DashboardQuery,
    pub statuses: Vec<StatusOption>,
    pub total: u64,
    pub users: u64,
    pub shown: usize,
    pub sessions: Vec<SessionRow>,
    pub per_app: Vec<Count>,
    pub per_status: Vec<Count>,
    pub filtered: bool,
}

impl DashboardPage {
    pub fn new(chrome: Chrome, d: Dashboard, times: Times) -> Self {
        let current = d.query.status.clone().unwrap_or_default();
        let statuses = [
            ("", "Any status"),
            ("normal", "Normal"),
            ("read_only", "Read-only"),
            ("reauth_required", "Must sign in again"),
        ]
        .into_iter()
        .map(|(value, label)| StatusOption {
            value,
            label,
            selected: value == current,
        })
        .collect();
        let q = &d.query;
        let filtered = [
            &q.user,
            &q.group,
            &q.client,
            &q.device,
            &q.ip_range,
            &q.status,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|s| !s.trim().is_empty()));
        Self {
            chrome,
            statuses,
            total: d.total,
            users: d.users,
            shown: d.sessions.len(),
            sessions: d
                .sessions
                .into_iter()
                .map(|s| SessionRow::new(s, times))
                .collect(),
            per_app: d.per_app,
            per_status: d
                .per_status
                .into_iter()
                .map(|c| Count {
                    name: Mode::parse(&c.name)
                        .map(mode_words)
                        .unwrap_or("Unknown")
                        .to_string(),
                    sessions: c.sessions,
                })
                .collect(),
            query: d.query,
            filtered,
        }
    }

    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let s = LiveSession {
            sid: "sid-1".into(),
            username: Some("alice".into()),
            apps: vec!["demo-spa".into(), "payroll".into()],
            device_id: Some("dev-1".into()),
            device: Some("Chrome 131 on Linux".into()),
            ip: "203.0.113.9".into(),
            country: Some("DE".into()),
            acr: lanyard_idp::session::stepup::ACR_MFA.into(),
            mode: Mode::ReadOnly,
            auth_time: now - 7200,
            created_at: now - 7200,
            last_active_at: now - 60,
            expires_at: now + 3600,
            binding_alert: true,
        };
        Self::new(
            Chrome::sample(),
            Dashboard {
                query: DashboardQuery {
                    user: Some("alice".into()),
                    status: Some("read_only".into()),
                    ..Default::default()
                },
                total: 1,
                sessions: vec![s],
                per_app: vec![
                    Count {
                        name: "demo-spa".into(),
                        sessions: 1,
                    },
                    Count {
                        name: "payroll".into(),
                        sessions: 1,
                    },
                ],
                per_status: vec![Count {
                    name: "read_only".into(),
                    sessions: 1,
                }],
                users: 1,
            },
            Times::utc(now),
        )
    }
}

/// One action button of the session page.
#[derive(Debug, Clone, Serialize)]
pub struct ActionLink {
    pub href: String,
    pub label: &'static str,
    pub danger: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: TimeText,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub client_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub client_id: String,
    pub target: String,
    pub state: String,
    pub state_class: &'static str,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered: Option<TimeText>,
    pub latency_ms: Option<i64>,
}

/// `admin/session.html`: one session, drilled into.
#[derive(Debug, Clone, Serialize)]
pub struct SessionPage {
    pub chrome: Chrome,
    pub s: SessionDetail,
    pub user: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub acr: String,
    pub started: TimeText,
    pub last_active: TimeText,
    pub expires: TimeText,
    pub ended: Option<TimeText>,
    pub events: Vec<EventRow>,
    pub deliveries: Vec<DeliveryRow>,
    pub actions: Vec<ActionLink>,
}

impl SessionPage {
    /// `actions` are the (path, label, danger) of the actions that apply.
    pub fn new(chrome: Chrome, s: SessionDetail, actions: Vec<ActionLink>, times: Times) -> Self {
        let (status, status_class) = match s.mode {
            Some(m) => (
                mode_words(m),
                match m {
                    Mode::Normal => "ok",
                    Mode::ReadOnly => "warn",
                    Mode::ReauthRequired => "danger",
                },
            ),
            None => ("Ended", "muted"),
        };
        Self {
            chrome,
            user: s
                .username
                .clone()
                .unwrap_or_else(|| "(deleted user)".into()),
            status,
            status_class,
            acr: acr_words(&s.acr),
            started: times.at(s.created_at),
            last_active: times.at(s.last_active_at),
            expires: times.at(s.expires_at),
            ended: s.ended_at.map(|t| times.at(t)),
            events: s
                .events
                .iter()
                .map(|e| EventRow {
                    at: times.at(e.at_ms.div_euclid(1000)),
                    kind: e.kind.clone(),
                    actor: e.actor.clone(),
                    outcome: e.outcome.clone(),
                    client_id: e.client_id.clone(),
                    ip: e.ip.clone(),
                })
                .collect(),
            deliveries: s
                .deliveries
                .iter()
                .map(|d| DeliveryRow {
                    client_id: d.client_id.clone(),
                    target: d.target.clone(),
                    state_class: match d.state.as_str() {
                        "delivered" => "ok",
                        "dead" => "danger",
                        _ => "warn",
                    },
                    state: d.state.clone(),
                    attempts: d.attempts,
                    last_error: d.last_error.clone(),
                    delivered: d.delivered_at_ms.map(|t| times.at(t.div_euclid(1000))),
                    latency_ms: d.latency_ms,
                })
                .collect(),
            actions,
            s,
        }
    }

    pub fn sample_detail() -> SessionDetail {
        let now = 1_800_000_000;
        SessionDetail {
            sid: "sid-1".into(),
            username: Some("alice".into()),
            mode: Some(Mode::ReadOnly),
            mode_reason: Some("binding: ip changed".into()),
            ended_at: None,
            end_reason: None,
            bound_ip: "203.0.113.9".into(),
            bound_user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131".into(),
            bound_country: Some("DE".into()),
            binding_alert: Some("198.51.100.7".into()),
            device: Some(DeviceDetail {
                id: "dev-1".into(),
                label: "Chrome 131 on Linux".into(),
                trust: "compromised".into(),
                compromised: true,
                trust_score: 0,
                category: "personal".into(),
                live_sessions: 1,
            }),
            acr: lanyard_idp::session::stepup::ACR_MFA.into(),
            amr: vec!["pwd".into(), "otp".into()],
            auth_time: now - 7200,
            mfa_at: Some(now - 7200),
            created_at: now - 7200,
            last_active_at: now - 60,
            expires_at: now + 3600,
            apps: vec!["payroll".into(), "web".into()],
            backchannel_apps: vec!["web".into()],
            user_live_sessions: 2,
            events: vec![EventView {
                at_ms: (now - 7200) * 1000,
                kind: "session.started".into(),
                actor: "user".into(),
                outcome: "ok".into(),
                username: Some("alice".into()),
                client_id: Some("web".into()),
                ip: Some("203.0.113.9".into()),
                user_agent: None,
                detail: serde_json::json!({}),
            }],
            deliveries: vec![DeliveryView {
                id: "d-1".into(),
                sid: Some("sid-1".into()),
                client_id: "web".into(),
                target: "https://web.example/backchannel".into(),
                state: "dead".into(),
                attempts: 5,
                created_at_ms: (now - 100) * 1000,
                next_attempt_at_ms: now * 1000,
                delivered_at_ms: None,
                latency_ms: None,
                last_error: Some("connection refused".into()),
            }],
        }
    }

    pub fn sample() -> Self {
        Self::new(
            Chrome::sample(),
            Self::sample_detail(),
            vec![ActionLink {
                href: "/t/demo/admin/sessions/sid-1/end".into(),
                label: "End this session",
                danger: true,
            }],
            Times::utc(1_800_000_000),
        )
    }
}

/// A hidden field a confirmation form carries on.
#[derive(Debug, Clone, Serialize)]
pub struct Hidden {
    pub name: &'static str,
    pub value: String,
}

/// `admin/confirm.html`: what an action will do, and the button that does it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub confirmation: crate::area::actions::Confirmation,
    /// Where the form posts.
    pub action: String,
    /// Where "Cancel" goes.
    pub back: String,
    pub fields: Vec<Hidden>,
}

impl ConfirmPage {
    pub fn sample() -> Self {
        Self {
            chrome: Chrome::sample(),
            confirmation: crate::area::actions::Confirmation {
                title: "End alice's session?".into(),
                what: "This ends alice's session on Chrome on Linux; 2 apps will be told.".into(),
                button: "End the session".into(),
                danger: true,
            },
            action: "/t/demo/admin/sessions/sid-1/end".into(),
            back: "/t/demo/admin/sessions/sid-1".into(),
            fields: Vec::new(),
        }
    }
}

/// `admin/cohort.html`: the cohort form, and with filters its dry run and confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct CohortPage {
    pub chrome: Chrome,
    pub query: DashboardQuery,
    pub report: Option<CohortReport>,
    pub action: String,
    pub fields: Vec<Hidden>,
}

impl CohortPage {
    pub fn new(
        chrome: Chrome,
        query: DashboardQuery,
        report: Option<CohortReport>,
        action: String,
    ) -> Self {
        let fields = [
            ("user", &query.user),
            ("group", &query.group),
            ("client", &query.client),
            ("device", &query.device),
            ("ip_range", &query.ip_range),
        ]
        .into_iter()
        .filter_map(|(name, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| Hidden {
                    name,
                    value: v.to_string(),
                })
        })
        .collect();
        Self {
            chrome,
            query,
            report,
            action,
            fields,
        }
    }

    pub fn sample() -> Self {
        Self::new(
            Chrome::sample(),
            DashboardQuery {
                client: Some("payroll".into()),
                ..Default::default()
            },
            Some(CohortReport {
                dry_run: true,
                sessions: 3,
                users: vec!["alice".into(), "bob".into()],
                users_total: 2,
                clients: vec!["payroll".into()],
                backchannel_deliveries: 3,
                ..Default::default()
            }),
            "/t/demo/admin/cohort".into(),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use lanyard_idp::templates::Templates;
    use serde_json::json;

    pub fn render(name: &str, ctx: impl Serialize) -> String {
        let mut v = serde_json::to_value(ctx).unwrap();
        v["csrf"] = json!("csrf-token");
        v["tenant"] = json!({"name": "Demo", "slug": "demo"});
        let html = Templates::load(None).unwrap().render(name, &v).unwrap();
        assert!(html.contains("</html>"), "{name}");
        assert!(!html.contains("<script>"), "{name}: no inline script (CSP)");
        assert!(!html.contains("style=\""), "{name}: no inline style (CSP)");
        let forms = html.matches("<form method=\"post\"").count();
        let tokens = html.matches("name=\"csrf\" value=\"csrf-token\"").count();
        assert_eq!(
            forms, tokens,
            "{name}: every POST form carries the CSRF token"
        );
        html.replace("&#x2f;", "/")
    }

    #[test]
    fn the_dashboard_renders_sessions_filters_and_counts() {
        let html = render("admin/dashboard.html", DashboardPage::sample());
        assert!(html.contains("alice"));
        assert!(html.contains("demo-spa") && html.contains("payroll"));
        assert!(html.contains("Chrome 131 on Linux"));
        assert!(html.contains("203.0.113.9") && html.contains("(DE)"));
        assert!(html.contains("Read-only"));
        assert!(
            html.contains("title=\"2027-01-15"),
            "exact time in a tooltip"
        );
        assert!(
            html.contains("value=\"alice\""),
            "the filter keeps its value"
        );
        assert!(html.contains("<option value=\"read_only\" selected"));
        assert!(html.contains("Binding alert"));
        assert!(html.contains("can view but not change"), "read-only said");
        assert!(html.contains("role=\"status\"") && html.contains("role=\"alert\""));
        assert!(html.contains("Times are in UTC"));
        assert!(
            html.contains("href=\"/t/demo/admin/sessions/sid-1\""),
            "rows link to the session"
        );
        assert!(
            html.contains("src=\"/static/admin_live.js\""),
            "live updates script"
        );
    }

    #[test]
    fn the_session_page_shows_binding_device_apps_timeline_and_deliveries() {
        let html = render("admin/session.html", SessionPage::sample());
        for want in [
            "alice",
            "Chrome 131 on Linux",
            "compromised",
            "203.0.113.9",
            "binding: ip changed",
            "198.51.100.7",
            "payroll",
            "session.started",
            "connection refused",
            "https://web.example/backchannel",
            "/t/demo/admin/sessions/sid-1/end",
            "Read-only",
        ] {
            assert!(html.contains(want), "{want}: {html}");
        }
    }

    #[test]
    fn the_confirmation_says_what_will_happen_and_posts_with_csrf() {
        let html = render("admin/confirm.html", ConfirmPage::sample());
        assert!(
            html.contains("End alice&#x27;s session?") || html.contains("End alice's session?"),
            "{html}"
        );
        assert!(html.contains("2 apps will be told"));
        assert!(html.contains("action=\"/t/demo/admin/sessions/sid-1/end\""));
        assert!(
            html.contains("href=\"/t/demo/admin/sessions/sid-1\""),
            "cancel"
        );
    }

    #[test]
    fn the_cohort_dry_run_counts_and_confirms() {
        let html = render("admin/cohort.html", CohortPage::sample());
        assert!(html.contains("<strong>3</strong> live sessions"), "{html}");
        assert!(html.contains("name=\"client\" value=\"payroll\""));
        assert!(html.contains("type=\"hidden\" name=\"client\" value=\"payroll\""));
        assert!(html.contains("alice, bob"));
        let empty = render(
            "admin/cohort.html",
            CohortPage::new(
                Chrome::sample(),
                DashboardQuery::default(),
                None,
                "/x".into(),
            ),
        );
        assert!(
            !empty.contains("<form method=\"post\""),
            "no confirm without a dry run"
        );
    }

    #[test]
    fn a_confirmation_step_posts_again_with_confirm_yes() {
        let mut page = ConfirmPage::sample();
        page.fields.push(Hidden {
            name: "confirm",
            value: "yes".into(),
        });
        let html = render("admin/confirm.html", page);
        assert!(html.contains("name=\"confirm\" value=\"yes\""), "{html}");
        assert!(
            html.contains("id=\"confirm\""),
            "the button the keyboard and tests reach"
        );
    }
}
