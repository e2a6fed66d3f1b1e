//! The HTML kit the account portal and the admin area share: times as words with the exact
//! time beside them in the reader's time zone, and the zone they are shown in. (Forms, the CSRF token and the page frame
//! are the login pages' own: `protocol::login::render_with_csrf`, `templates/base.html`.)

use lanyard_idp::session::Mode;
use lanyard_idp::templates::{ago, utc};
use serde::Serialize;

/// Times are shown in UTC unless the reader chose a time zone (the portal's security page), and
/// the page says which: without script the server cannot know the browser's zone (ADR 0011).
pub const ZONE: &str = "UTC";

/// "Now" and the reader's time zone: what every time on a page is written against.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub now: i64,
    pub tz: chrono_tz::Tz,
}

impl Times {
    pub fn utc(now: i64) -> Self {
        Self {
            now,
            tz: chrono_tz::UTC,
        }
    }

    /// `t` as words and as the exact time in the reader's zone.
    pub fn at(&self, t: i64) -> TimeText {
        TimeText {
            words: ago(self.now, t),
            exact: exact_in(self.tz, t),
        }
    }

    /// The zone's name as pages say it ("UTC", "Europe/Berlin").
    pub fn zone(&self) -> String {
        self.tz.name().to_string()
    }
}

/// `2027-01-15 09:00 CET`: the exact time in `tz`, with the zone's abbreviation.
pub fn exact_in(tz: chrono_tz::Tz, t: i64) -> String {
    if tz == chrono_tz::UTC {
        return utc(t);
    }
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_times_are_written_in_the_readers_zone() {
        // 2027-01-15 08:00 UTC is 09:00 in Berlin (CET) and 03:00 in New York (EST).
        let t = 1_800_000_000;
        assert_eq!(Times::utc(t).at(t).exact, "2027-01-15 08:00 UTC");
        let berlin = Times {
            now: t + 7200,
            tz: chrono_tz::Europe::Berlin,
        };
        assert_eq!(berlin.at(t).exact, "2027-01-15 09:00 CET");
        assert_eq!(berlin.at(t).words, "2 hours ago");
        assert_eq!(berlin.zone(), "Europe/Berlin");
        assert_eq!(
            exact_in(chrono_tz::America::New_York, t),
            "2027-01-15 03:00 EST"
        );
        // Summer time is the zone's own business: 2027-07-15 is CEST.
        assert_eq!(
            exact_in(chrono_tz::Europe::Berlin, t + 181 * 86_400),
            "2027-07-15 10:00 CEST"
        );
    }
}
