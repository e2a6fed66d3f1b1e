//! Duplicate-session detection: one session cookie used from two different contexts (client IP
//! or user agent) within a short window is the mark of a copied cookie being used alongside the
//! real browser. PURE: the caller supplies the last context seen and when.
//!
//! A context is the exact IP and user agent (stored as `IP USER-AGENT`, so the audit trail can
//! show both contexts): a browser's own requests carry the same pair, so two pairs alternating
//! within seconds are two browsers.
//! A change after the window (a laptop moving from Wi-Fi to a phone's hotspot over lunch) is
//! not a duplicate; binding rules govern that case.

use crate::clock::UnixTime;

/// The last context a session was seen in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenContext {
    pub key: String,
    pub at: UnixTime,
}

/// The key of a request's context. An IP never contains a space, so the first one separates.
pub fn context_key(ip: &str, user_agent: &str) -> String {
    format!("{ip} {user_agent}")
}

impl SeenContext {
    /// `(ip, user agent)`.
    pub fn parts(&self) -> (&str, &str) {
        self.key.split_once(' ').unwrap_or((self.key.as_str(), ""))
    }
}

/// Is a request in context `key` at `now` a second, concurrent use of the session? Only when
/// the last context differs and was seen no more than `window_secs` ago.
pub fn decide_duplicate(
    prev: Option<&SeenContext>,
    key: &str,
    now: UnixTime,
    window_secs: i64,
) -> bool {
    match prev {
        Some(p) => p.key != key && (now - p.at).abs() <= window_secs,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(key: &str, at: i64) -> SeenContext {
        SeenContext {
            key: key.into(),
            at,
        }
    }

    #[test]
    fn another_context_within_the_window_is_a_duplicate() {
        assert!(decide_duplicate(Some(&seen("a", 100)), "b", 130, 60));
        assert!(
            decide_duplicate(Some(&seen("a", 100)), "b", 160, 60),
            "the edge counts"
        );
    }

    #[test]
    fn the_same_context_or_a_late_change_is_not() {
        assert!(!decide_duplicate(Some(&seen("a", 100)), "a", 101, 60));
        assert!(!decide_duplicate(Some(&seen("a", 100)), "b", 161, 60));
        assert!(!decide_duplicate(None, "b", 100, 60), "first request");
    }

    #[test]
    fn clocks_of_two_nodes_disagreeing_do_not_hide_a_duplicate() {
        // The other node recorded a time slightly ahead of ours.
        assert!(decide_duplicate(Some(&seen("a", 105)), "b", 100, 60));
    }

    #[test]
    fn keys_separate_address_and_agent() {
        assert_ne!(context_key("10.0.0.1", "ua"), context_key("10.0.0.2", "ua"));
        assert_ne!(
            context_key("10.0.0.1", "ua"),
            context_key("10.0.0.1", "ua2")
        );
        // The separator keeps "1.2.3.4" + "5ua" apart from "1.2.3.45" + "ua".
        assert_ne!(context_key("1.2.3.4", "5ua"), context_key("1.2.3.45", "ua"));
        assert_eq!(context_key("10.0.0.1", "ua"), context_key("10.0.0.1", "ua"));
        let c = seen(&context_key("10.0.0.1", "Mozilla/5.0 (X11)"), 0);
        assert_eq!(c.parts(), ("10.0.0.1", "Mozilla/5.0 (X11)"));
    }
}
