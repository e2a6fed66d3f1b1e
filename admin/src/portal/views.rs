//! Typed page contexts of the portal's templates (`templates/account/*.html`), built from the
//! account service's views: times in words with the exact time beside them, labels in plain
//! words. Each context has a `sample()`, and every template is rendered from it in a test
//! (STYLE.md rule 11), so a broken template or a forgotten field fails the build.

use lanyard_idp::account::{
    DeviceCategory, DeviceView, GrantView, HistoryPage, Overview, SessionView,
};
use lanyard_idp::session::Mode;
use serde::Serialize;

use crate::kit::{acr_words, mode_words};
pub use crate::kit::{TimeText, Times, ZONE};

/// What every portal page shows around its content.
#[derive(Debug, Clone, Serialize)]
pub struct Chrome {
    pub username: String,
    /// The section of the navigation that is current: `devices`, `security` or `history`.
    pub section: &'static str,
    pub read_only: bool,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
    pub zone: String,
}

impl Chrome {
    pub fn sample() -> Self {
        Self {
            username: "alice".into(),
            section: "devices",
            read_only: true,
            notice: Some("The device was renamed."),
            error: Some("A device name can be at most 60 characters.".into()),
            zone: ZONE.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionCard {
    pub sid: String,
    pub apps: Vec<String>,
    pub started: TimeText,
    pub last_active: TimeText,
    pub ip: String,
    pub country: Option<String>,
    pub acr: String,
    pub mode: &'static str,
    pub expires: TimeText,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceCard {
    pub id: String,
    pub title: String,
    pub name: String,
    pub category: &'static str,
    pub categories: Vec<CategoryOption>,
    pub browser: String,
    pub os: String,
    pub first_seen: TimeText,
    pub last_seen: TimeText,
    pub last_ip: String,
    pub country: Option<String>,
    pub compromised: bool,
    pub this_device: bool,
    pub sessions: Vec<SessionCard>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantCard {
    pub id: String,
    pub client_id: String,
    pub scope: String,
    pub offline: bool,
    pub created: TimeText,
    pub expires: TimeText,
}

/// `account/overview.html`: devices, their sessions, long-lived grants.
#[derive(Debug, Clone, Serialize)]
pub struct OverviewPage {
    pub chrome: Chrome,
    pub devices: Vec<DeviceCard>,
    pub grants: Vec<GrantCard>,
    pub other_sessions: usize,
}

fn session_card(s: SessionView, t: &Times) -> SessionCard {
    SessionCard {
        started: t.at(s.started),
        last_active: t.at(s.last_active),
        expires: t.at(s.expires_at),
        mode: mode_words(s.mode),
        sid: s.sid,
        apps: s.apps,
        ip: s.ip,
        country: s.country,
        acr: acr_words(&s.acr),
        current: s.current,
    }
}

fn device_card(d: DeviceView, t: &Times) -> DeviceCard {
    let title = lanyard_idp::session::device::label(d.name.as_deref(), &d.browser, &d.os);
    DeviceCard {
        categories: DeviceCategory::ALL
            .into_iter()
            .map(|c| CategoryOption {
                value: c.as_str(),
                label: c.label(),
                selected: c == d.category,
            })
            .collect(),
        category: d.category.label(),
        title,
        name: d.name.unwrap_or_default(),
        first_seen: t.at(d.first_seen),
        last_seen: t.at(d.last_seen),
        sessions: d.sessions.into_iter().map(|s| session_card(s, t)).collect(),
        id: d.id,
        browser: d.browser,
        os: d.os,
        last_ip: d.last_ip,
        country: d.country,
        compromised: d.compromised,
        this_device: d.this_device,
    }
}

fn grant_card(g: GrantView, t: &Times) -> GrantCard {
    GrantCard {
        created: t.at(g.created_at),
        expires: t.at(g.expires_at),
        id: g.id,
        client_id: g.client_id,
        scope: g.scope,
        offline: g.offline,
    }
}

impl OverviewPage {
    pub fn new(chrome: Chrome, o: Overview, t: &Times) -> Self {
        Self {
            chrome,
            devices: o.devices.into_iter().map(|d| device_card(d, t)).collect(),
            grants: o.grants.into_iter().map(|g| grant_card(g, t)).collect(),
            other_sessions: o.other_sessions,
        }
    }

    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let session = |sid: &str, current: bool| SessionView {
            sid: sid.into(),
            apps: vec!["web".into(), "demo-spa".into()],
            started: now - 7200,
            last_active: now - 60,
            ip: "192.0.2.7".into(),
            country: Some("DE".into()),
            acr: lanyard_idp::session::stepup::ACR_MFA.into(),
            mode: if current {
                Mode::Normal
            } else {
                Mode::ReadOnly
            },
            expires_at: now + 3600,
            current,
        };
        let device = |id: &str, this: bool| DeviceView {
            id: id.into(),
            name: this.then(|| "Work laptop".to_string()),
            category: DeviceCategory::Shared,
            browser: "Chrome 131".into(),
            os: "Linux".into(),
            first_seen: now - 86_400 * 3,
            last_seen: now - 60,
            last_ip: "192.0.2.7".into(),
            country: Some("DE".into()),
            compromised: !this,
            this_device: this,
            sessions: vec![session(&format!("sid-{id}"), this)],
        };
        Self::new(
            Chrome::sample(),
            Overview {
                devices: vec![device("d1", true), device("d2", false)],
                grants: vec![GrantView {
                    id: "f1".into(),
                    client_id: "web".into(),
                    scope: "openid offline_access".into(),
                    offline: true,
                    created_at: now - 86_400,
                    expires_at: now + 86_400 * 29,
                }],
                other_sessions: 1,
            },
            &Times::utc(now),
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub when: TimeText,
    pub what: String,
    pub ip: Option<String>,
    pub failed: bool,
}

/// `account/history.html`: the security history, a page at a time.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub chrome: Chrome,
    pub entries: Vec<HistoryRow>,
    pub next: Option<String>,
    pub first_page: bool,
}

impl HistoryView {
    pub fn new(chrome: Chrome, p: HistoryPage, first_page: bool, t: &Times) -> Self {
        Self {
            chrome,
            entries: p
                .entries
                .into_iter()
                .map(|e| HistoryRow {
                    when: t.at(e.at),
                    what: e.what,
                    ip: e.ip,
                    failed: e.failed,
                })
                .collect(),
            next: p.next,
            first_page,
        }
    }

    pub fn sample() -> Self {
        let now = 1_800_000_000;
        Self::new(
            Chrome::sample(),
            HistoryPage {
                entries: vec![
                    lanyard_idp::account::HistoryEntry {
                        at: now - 30,
                        what: "Signed in".into(),
                        ip: Some("192.0.2.7".into()),
                        failed: false,
                    },
                    lanyard_idp::account::HistoryEntry {
                        at: now - 90,
                        what: "Failed sign-in attempt (wrong password)".into(),
                        ip: None,
                        failed: true,
                    },
                ],
                next: Some("1799999910000.abc".into()),
            },
            false,
            &Times::utc(now),
        )
    }
}

/// `account/security.html`: password and second factor.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityPage {
    pub chrome: Chrome,
    /// Every IANA zone name, for the time zone picker.
    pub zones: Vec<ZoneOption>,
    pub totp: bool,
    pub recovery_codes_left: usize,
    pub min_password: usize,
}

/// One option of the time zone picker.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneOption {
    pub name: &'static str,
    pub selected: bool,
}

/// Every zone chrono-tz knows, sorted, with `current` selected.
pub fn zone_options(current: &str) -> Vec<ZoneOption> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| ZoneOption {
            name,
            selected: name == current,
        })
        .collect()
}

impl SecurityPage {
    pub fn sample() -> Self {
        Self {
            zones: zone_options("Europe/Berlin"),
            chrome: Chrome::sample(),
            totp: true,
            recovery_codes_left: 7,
            min_password: 8,
        }
    }
}

/// `account/reauth.html`: a sensitive action asks for a fresh sign-in first.
#[derive(Debug, Clone, Serialize)]
pub struct ReauthPage {
    pub chrome: Chrome,
    /// `account` or `security`: where the sign-in returns to.
    pub then: &'static str,
    pub minutes: i64,
}

impl ReauthPage {
    pub fn sample() -> Self {
        Self {
            chrome: Chrome::sample(),
            then: "security",
            minutes: 5,
        }
    }
}

/// `enrol_factor.html` from the portal (the login flow's enrolment page, posting here).
#[derive(Debug, Clone, Serialize)]
pub struct EnrolPage {
    pub action: String,
    pub factor: String,
    pub qr: String,
    pub secret: String,
    pub back_url: String,
    pub error: Option<&'static str>,
}

impl EnrolPage {
    pub fn sample() -> Self {
        Self {
            action: "/t/demo/account/totp/confirm".into(),
            factor: "f1".into(),
            qr: "data:image/svg+xml;base64,PHN2Zy8+".into(),
            secret: "ABCD EFGH IJKL MNOP".into(),
            back_url: "/t/demo/account/security".into(),
            error: Some("That code is not right. Try the next one the app shows."),
        }
    }
}

/// `recovery_codes.html` from the portal: shown once, then back to the portal.
#[derive(Debug, Clone, Serialize)]
pub struct CodesPage {
    pub codes: Vec<String>,
    pub back_url: String,
}

impl CodesPage {
    pub fn sample() -> Self {
        Self {
            codes: vec!["abcd-efgh".into(), "ijkl-mnop".into()],
            back_url: "/t/demo/account/security".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use lanyard_idp::templates::Templates;
    use serde_json::{json, Value};

    fn render(name: &str, ctx: impl Serialize) -> String {
        let mut v = serde_json::to_value(ctx).unwrap();
        v["csrf"] = json!("csrf-token");
        v["tenant"] = json!({"name": "Demo", "slug": "demo"});
        let html = Templates::load(None).unwrap().render(name, &v).unwrap();
        assert!(html.contains("</html>"), "{name}");
        assert!(!html.contains("<script>"), "{name}: no inline script (CSP)");
        assert!(!html.contains("style=\""), "{name}: no inline style (CSP)");
        // Auto-escaping writes `/` as `&#x2f;` in values (browsers read it back as `/`).
        html.replace("&#x2f;", "/")
    }

    fn forms_carry_csrf(html: &str) {
        let forms = html.matches("<form").count();
        let tokens = html.matches("name=\"csrf\" value=\"csrf-token\"").count();
        assert_eq!(forms, tokens, "every form carries the CSRF token");
    }

    #[test]
    fn overview_renders_devices_sessions_and_grants() {
        let html = render("account/overview.html", OverviewPage::sample());
        forms_carry_csrf(&html);
        assert!(html.contains("Work laptop"));
        assert!(html.contains("This device"));
        assert!(
            html.contains("Chrome 131 on Linux"),
            "an unnamed device's title"
        );
        assert!(
            html.contains("title=\"2027-01-15"),
            "exact time in a tooltip"
        );
        assert!(html.contains("2 hours ago"));
        assert!(html.contains("Read-only"));
        assert!(html.contains("demo-spa"));
        assert!(html.contains("signed in with a password and an authenticator app"));
        assert!(html.contains("offline_access") || html.contains("Offline"));
        assert!(html.contains("Times are in UTC"));
        assert!(html.contains("role=\"status\""), "the notice");
        assert!(html.contains("can view but not change"), "read-only said");
        assert!(html.contains("Reported as not yours"));
    }

    #[test]
    fn every_portal_page_renders_from_its_sample() {
        for (name, v) in [
            (
                "account/history.html",
                serde_json::to_value(HistoryView::sample()).unwrap(),
            ),
            (
                "account/security.html",
                serde_json::to_value(SecurityPage::sample()).unwrap(),
            ),
            (
                "account/reauth.html",
                serde_json::to_value(ReauthPage::sample()).unwrap(),
            ),
            (
                "enrol_factor.html",
                serde_json::to_value(EnrolPage::sample()).unwrap(),
            ),
            (
                "recovery_codes.html",
                serde_json::to_value(CodesPage::sample()).unwrap(),
            ),
        ] {
            let html = render(name, &v);
            forms_carry_csrf(&html);
            if let Value::Object(_) = v {
                assert!(
                    html.contains("/t/demo/account"),
                    "{name} leads back to the portal"
                );
            }
        }
        let h = render("account/history.html", HistoryView::sample());
        assert!(h.contains("Failed sign-in attempt"));
        assert!(h.contains("before=1799999910000.abc"));
        let e = render("enrol_factor.html", EnrolPage::sample());
        assert!(e.contains("action=\"/t/demo/account/totp/confirm\""));
        assert!(e.contains("name=\"factor\" value=\"f1\""));
        let c = render("recovery_codes.html", CodesPage::sample());
        assert!(c.contains("abcd-efgh"));
        assert!(
            !c.contains("/login/continue"),
            "the portal's codes page leads back, not on"
        );
    }
}
