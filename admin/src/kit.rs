//! The HTML kit the account portal and the admin area share: times as words with the exact
//! time beside them, and the zone they are shown in. (Forms, the CSRF token and the page frame
//! are the login pages' own: `protocol::login::render_with_csrf`, `templates/base.html`.)

use lanyard_idp::session::Mode;
use lanyard_idp::templates::{ago, utc};
use serde::Serialize;

/// Times are shown in UTC, and say so: without script the server cannot know the browser's
/// time zone (ADR 0011).
pub const ZONE: &str = "UTC";

/// A time as words ("2 hours ago") and as the exact UTC time for its tooltip.
#[derive(Debug, Clone, Serialize)]
pub struct TimeText {
    pub words: String,
    pub exact: String,
}

impl TimeText {
    pub fn new(now: i64, t: i64) -> Self {
        Self {
            words: ago(now, t),
            exact: utc(t),
        }
    }
}

/// A session's mode in words.
pub fn mode_words(m: Mode) -> &'static str {
    match m {
        Mode::Normal => "Normal",
        Mode::ReadOnly => "Read-only",
        Mode::ReauthRequired => "Must sign in again",
    }
}

/// How the user signed in, in words (the `acr` of the session, OIDC Core §2).
pub fn acr_words(acr: &str) -> String {
    use lanyard_idp::session::stepup::{ACR_MFA, ACR_PWD};
    match acr {
        ACR_PWD | "1" => "a password".into(),
        ACR_MFA | "2" => "a password and an authenticator app".into(),
        other => other.to_string(),
    }
}
