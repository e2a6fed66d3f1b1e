//! HTML templates: embedded in the binary, overridable per deployment from a directory
//! (`LANYARD_TEMPLATES_DIR`), so operators can theme their login pages.

use minijinja::Environment;
use serde::Serialize;
use std::path::Path;

/// Every built-in template, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("root.html", include_str!("../../templates/root.html")),
    (
        "logout_confirm.html",
        include_str!("../../templates/logout_confirm.html"),
    ),
    (
        "logged_out.html",
        include_str!("../../templates/logged_out.html"),
    ),
    ("demo.html", include_str!("../../templates/demo.html")),
    (
        "demo_result.html",
        include_str!("../../templates/demo_result.html"),
    ),
    (
        "session_limit.html",
        include_str!("../../templates/session_limit.html"),
    ),
    (
        "second_factor.html",
        include_str!("../../templates/second_factor.html"),
    ),
    (
        "enrol_factor.html",
        include_str!("../../templates/enrol_factor.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../../templates/recovery_codes.html"),
    ),
    // The account portal (rendered from typed contexts in `lanyard-admin`'s tests).
    (
        "account/base.html",
        include_str!("../../templates/account/base.html"),
    ),
    (
        "account/overview.html",
        include_str!("../../templates/account/overview.html"),
    ),
    (
        "account/history.html",
        include_str!("../../templates/account/history.html"),
    ),
    (
        "account/security.html",
        include_str!("../../templates/account/security.html"),
    ),
    (
        "account/reauth.html",
        include_str!("../../templates/account/reauth.html"),
    ),
    ("not_me.html", include_str!("../../templates/not_me.html")),
    (
        "admin/base.html",
        include_str!("../../templates/admin/base.html"),
    ),
    (
        "admin/dashboard.html",
        include_str!("../../templates/admin/dashboard.html"),
    ),
    (
        "admin/session.html",
        include_str!("../../templates/admin/session.html"),
    ),
    (
        "admin/audit.html",
        include_str!("../../templates/admin/audit.html"),
    ),
    (
        "admin/clients.html",
        include_str!("../../templates/admin/clients.html"),
    ),
    (
        "admin/confirm.html",
        include_str!("../../templates/admin/confirm.html"),
    ),
    (
        "admin/add_user.html",
        include_str!("../../templates/admin/add_user.html"),
    ),
    (
        "admin/client.html",
        include_str!("../../templates/admin/client.html"),
    ),
    (
        "admin/client_new.html",
        include_str!("../../templates/admin/client_new.html"),
    ),
    (
        "admin/secret.html",
        include_str!("../../templates/admin/secret.html"),
    ),
    (
        "admin/policies.html",
        include_str!("../../templates/admin/policies.html"),
    ),
    (
        "admin/policy_layer.html",
        include_str!("../../templates/admin/policy_layer.html"),
    ),
    (
        "admin/cohort.html",
        include_str!("../../templates/admin/cohort.html"),
    ),
    (
        "admin/deliveries.html",
        include_str!("../../templates/admin/deliveries.html"),
    ),
    (
        "admin/groups.html",
        include_str!("../../templates/admin/groups.html"),
    ),
    (
        "admin/tokens.html",
        include_str!("../../templates/admin/tokens.html"),
    ),
    (
        "admin/token_created.html",
        include_str!("../../templates/admin/token_created.html"),
    ),
    (
        "admin/user.html",
        include_str!("../../templates/admin/user.html"),
    ),
    (
        "admin/users.html",
        include_str!("../../templates/admin/users.html"),
    ),
    (
        "change_password.html",
        include_str!("../../templates/change_password.html"),
    ),
];

/// Every built-in e-mail template (`.txt` first line: `Subject: ...`), themeable like pages.
pub const EMAIL: &[(&str, &str)] = &[
    (
        "email/base.html",
        include_str!("../../templates/email/base.html"),
    ),
    (
        "email/new_device.html",
        include_str!("../../templates/email/new_device.html"),
    ),
    (
        "email/new_device.txt",
        include_str!("../../templates/email/new_device.txt"),
    ),
    (
        "email/password_changed.html",
        include_str!("../../templates/email/password_changed.html"),
    ),
    (
        "email/password_changed.txt",
        include_str!("../../templates/email/password_changed.txt"),
    ),
    (
        "email/factor_added.html",
        include_str!("../../templates/email/factor_added.html"),
    ),
    (
        "email/factor_added.txt",
        include_str!("../../templates/email/factor_added.txt"),
    ),
    (
        "email/factor_removed.html",
        include_str!("../../templates/email/factor_removed.html"),
    ),
    (
        "email/factor_removed.txt",
        include_str!("../../templates/email/factor_removed.txt"),
    ),
    (
        "email/account_locked.html",
        include_str!("../../templates/email/account_locked.html"),
    ),
    (
        "email/account_locked.txt",
        include_str!("../../templates/email/account_locked.txt"),
    ),
    (
        "email/account_locked_admin.html",
        include_str!("../../templates/email/account_locked_admin.html"),
    ),
    (
        "email/account_locked_admin.txt",
        include_str!("../../templates/email/account_locked_admin.txt"),
    ),
    (
        "email/sign_in_reported.html",
        include_str!("../../templates/email/sign_in_reported.html"),
    ),
    (
        "email/sign_in_reported.txt",
        include_str!("../../templates/email/sign_in_reported.txt"),
    ),
];

pub const STYLESHEET: &str = include_str!("../../templates/static/lanyard.css");
pub const LOGGED_OUT_JS: &str = include_str!("../../templates/static/logged_out.js");
/// The site icon, served at `/favicon.ico` (where browsers look when a page names none) and
/// linked from `base.html`. SVG: a few hundred bytes of text instead of a binary ICO.
pub const FAVICON_SVG: &str = include_str!("../../templates/static/favicon.svg");

/// A time as people read it relative to now: "just now", "5 minutes ago", "in 2 hours".
pub fn ago(now: i64, t: i64) -> String {
    let d = now - t;
    let (n, future) = if d >= 0 { (d, false) } else { (-d, true) };
    let (v, unit) = match n {
        0..=44 => return "just now".into(),
        45..=89 => (1, "minute"),
        90..=3599 => ((n + 30) / 60, "minute"),
        3600..=5399 => (1, "hour"),
        5400..=86_399 => ((n + 1800) / 3600, "hour"),
        86_400..=129_599 => (1, "day"),
        _ => ((n + 43_200) / 86_400, "day"),
    };
    let plural = if v == 1 { "" } else { "s" };
    if future {
        format!("in {v} {unit}{plural}")
    } else {
        format!("{v} {unit}{plural} ago")
    }
}

/// A time as an unambiguous UTC string, for `title` attributes and exports.
pub fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Built-in templates, with any file of the same name in `dir` taking precedence.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        // Plain-text e-mail bodies are not HTML: escaping would garble them.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".txt") {
                minijinja::AutoEscape::None
            } else {
                minijinja::AutoEscape::Html
            }
        });
        for (name, source) in BUILTIN.iter().chain(EMAIL) {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(p) => {
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?
                }
                None => (*source).to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(Self { env })
    }

    pub fn render<S: Serialize>(&self, name: &str, ctx: S) -> Result<String, String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("template {name}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Render every built-in template with sample data (STYLE.md rule 11).
    #[test]
    fn every_builtin_template_renders() {
        let t = Templates::load(None).unwrap();
        let sample = json!({
            "tenant": {"name": "Demo", "slug": "demo"},
            "csrf": "tok", "req": "r1", "error": "Invalid username or password.",
            "username": "alice", "client_id": "app", "scopes": ["openid", "profile"],
            "title": "Error", "message": "Something", "state": "s",
            "frames": ["https://rp/fc?iss=x&sid=y"], "continue_url": "https://rp/after",
            "issuer": "http://127.0.0.1:8080/t/demo", "rp": {"client_id": "demo-app"},
            "id_token_claims": "{}", "userinfo": "{}", "session": {"sid": "s"},
            "tokens": {"access_token": "a"}, "login_url": "/x", "logout_url": "/y",
            "request_id": "0123456789ab", "home": "http://127.0.0.1:8080/",
            "public_url": "http://127.0.0.1:8080",
            "device": {"browser": "Chrome 120", "os": "Linux"}, "token": "abc.def",
            "signed_in_at": "2026-12-01 12:05 UTC",
        });
        for (name, _) in BUILTIN {
            // The portal's and the admin area's pages render from their typed contexts in
            // `lanyard-admin` (a render test per template there).
            if *name == "base.html" || name.starts_with("account/") || name.starts_with("admin/") {
                continue;
            }
            let html = t.render(name, &sample).unwrap();
            assert!(html.contains("</html>"), "{name}");
            assert!(!html.contains("<script>"), "{name}: no inline script (CSP)");
        }
    }

    /// Every e-mail template renders from the context `events::mail::render` builds; plain text
    /// starts with its subject and is not HTML-escaped; the notice carries its link in both parts.
    #[test]
    fn every_email_template_renders() {
        let t = Templates::load(None).unwrap();
        let sample = json!({
            "tenant": {"name": "Smith & Co", "slug": "demo"}, "username": "alice",
            "vars": {"browser": "Chrome 120", "os": "Linux", "ip": "192.0.2.1",
                     "location": "DE", "factor": "totp", "until_utc": "2026-12-01 13:00 UTC",
                     "username": "alice"},
            "at_words": "Tuesday, 1 December 2026 at 12:05 UTC", "at_utc": "2026-12-01 12:05 UTC",
            "link": "http://127.0.0.1:8080/t/demo/not-me?t=abc.def", "link_days": 7,
            "public_url": "http://127.0.0.1:8080",
        });
        for (name, _) in EMAIL {
            if *name == "email/base.html" {
                continue;
            }
            // In HTML minijinja writes '/' as "&#x2f;", which mail clients read back as '/'.
            let out = t.render(name, &sample).unwrap();
            let out = if name.ends_with(".html") {
                out.replace("&#x2f;", "/")
            } else {
                out
            };
            if name.ends_with(".txt") {
                assert!(out.starts_with("Subject: "), "{name}");
                assert!(
                    out.contains("Smith & Co"),
                    "{name}: plain text is not escaped"
                );
            } else {
                assert!(out.contains("</html>"), "{name}");
                assert!(out.contains("Smith &amp; Co"), "{name}: HTML is escaped");
            }
            if name.starts_with("email/new_device") {
                assert!(out.contains("/t/demo/not-me?t=abc.def"), "{name}");
                assert!(out.contains("Chrome 120") && out.contains("2026-12-01 12:05 UTC"));
                assert!(out.contains("DE"), "{name}: approximate location");
            }
        }
    }

    #[test]
    fn times_read_as_words() {
        assert_eq!(ago(100, 100), "just now");
        assert_eq!(ago(100, 60), "just now");
        assert_eq!(ago(1000, 900), "2 minutes ago");
        assert_eq!(ago(4000, 0), "1 hour ago");
        assert_eq!(ago(3 * 3600, 0), "3 hours ago");
        assert_eq!(ago(2 * 86_400, 0), "2 days ago");
        assert_eq!(ago(0, 7200), "in 2 hours");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn output_is_escaped() {
        let t = Templates::load(None).unwrap();
        let html = t
            .render(
                "error.html",
                json!({"title": "x", "message": "<img src=x>"}),
            )
            .unwrap();
        assert!(!html.contains("<img src=x>"));
    }
}
