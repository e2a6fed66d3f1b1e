//! Device trust score, 0 to 100: how much a device's own history vouches for it. PURE: the
//! caller supplies the device's counters and `now`.
//!
//! The score is a sum of documented parts, clamped to 0..=100, so an administrator can read
//! why a device scores what it does (every part is returned with its points):
//!
//! | part | points |
//! | --- | --- |
//! | base | 50 |
//! | age | +1 per 3 days since first seen, at most +20 (90 days) |
//! | successful logins | +1 each, at most +20 |
//! | failed logins since the last success | -5 each, at most -40 |
//! | country changes between logins | -10 each, at most -30 |
//! | marked trusted by its user or an admin | +10 |
//! | posture `disk_encryption=off` | -30 |
//! | posture `screen_lock=off` | -15 |
//! | posture `firewall=off` | -10 |
//! | marked compromised | the score is 0, whatever else |
//!
//! Posture is what a trusted proxy (a device-management agent's gateway) reports in the
//! header named by `LANYARD_DEVICE_POSTURE_HEADER`: `key=on|off` pairs separated by commas or
//! semicolons. Keys Lanyard does not know are kept for display and score nothing.

use crate::clock::UnixTime;
use serde::Serialize;

/// What a device's record says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceHistory {
    pub first_seen: UnixTime,
    pub logins_ok: u32,
    /// Failed logins from this device since its last successful one.
    pub logins_failed: u32,
    pub country_changes: u32,
    pub trusted: bool,
    pub compromised: bool,
    /// The last posture reported, as `(key, on)` pairs.
    pub posture: Vec<(String, bool)>,
}

/// One part of a score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub part: &'static str,
    pub points: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustScore {
    pub score: u8,
    pub parts: Vec<Part>,
}

/// Points a posture key that is off costs.
fn posture_penalty(key: &str) -> Option<(&'static str, i32)> {
    match key {
        "disk_encryption" => Some(("posture_disk_encryption_off", -30)),
        "screen_lock" => Some(("posture_screen_lock_off", -15)),
        "firewall" => Some(("posture_firewall_off", -10)),
        _ => None,
    }
}

/// Parse a posture header: `disk_encryption=off, screen_lock=on`. Values other than on/off
/// (and true/false, yes/no, 1/0) make the pair unknown and it is skipped; at most 16 pairs.
pub fn parse_posture(raw: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for pair in raw.split([',', ';']).take(16) {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty()
            || k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            continue;
        }
        let on = match v.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => true,
            "off" | "false" | "no" | "0" => false,
            _ => continue,
        };
        out.retain(|(x, _)| *x != k);
        out.push((k, on));
    }
    out.sort();
    out
}

/// The stored form of a posture: `disk_encryption=off,screen_lock=on`.
pub fn posture_to_text(p: &[(String, bool)]) -> String {
    p.iter()
        .map(|(k, on)| format!("{k}={}", if *on { "on" } else { "off" }))
        .collect::<Vec<_>>()
        .join(",")
}

/// Score a device at `now`.
pub fn evaluate_device_trust(h: &DeviceHistory, now: UnixTime) -> TrustScore {
    if h.compromised {
        return TrustScore {
            score: 0,
            parts: vec![Part {
                part: "compromised",
                points: -100,
            }],
        };
    }
    let mut parts = vec![Part {
        part: "base",
        points: 50,
    }];
    let mut push = |part, points: i64| {
        if points != 0 {
            parts.push(Part {
                part,
                points: points as i32,
            });
        }
    };
    let age_days = (now - h.first_seen).max(0) / 86_400;
    push("age", (age_days / 3).min(20));
    push("successful_logins", i64::from(h.logins_ok.min(20)));
    push("failed_logins", -(i64::from(h.logins_failed.min(8)) * 5));
    push(
        "country_changes",
        -(i64::from(h.country_changes.min(3)) * 10),
    );
    if h.trusted {
        push("trusted", 10);
    }
    for (k, on) in &h.posture {
        if let (false, Some((part, pts))) = (*on, posture_penalty(k)) {
            push(part, i64::from(pts));
        }
    }
    let total: i32 = parts.iter().map(|p| p.points).sum();
    TrustScore {
        score: total.clamp(0, 100) as u8,
        parts,
    }
}

/// What a login from a device below the policy's `min_device_trust` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LowTrustResponse {
    /// A second factor is required for this login (enrolment when the user has none).
    StepUp,
    /// The session begins read-only.
    ReadOnly,
}

impl LowTrustResponse {
    pub fn as_str(self) -> &'static str {
        match self {
            LowTrustResponse::StepUp => "step_up",
            LowTrustResponse::ReadOnly => "read_only",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "step_up" => Some(LowTrustResponse::StepUp),
            "read_only" => Some(LowTrustResponse::ReadOnly),
            _ => None,
        }
    }
    /// Read-only limits what the session may do; a step-up only asks for more proof.
    pub fn strictness(self) -> u8 {
        match self {
            LowTrustResponse::StepUp => 0,
            LowTrustResponse::ReadOnly => 1,
        }
    }
}

/// Whether a device's score falls short of the policy's minimum (`None`: no minimum).
pub fn decide_low_trust(score: u8, min: Option<u8>) -> bool {
    min.is_some_and(|m| score < m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn fresh() -> DeviceHistory {
        DeviceHistory {
            first_seen: 1000,
            ..Default::default()
        }
    }

    fn part(t: &TrustScore, name: &str) -> Option<i32> {
        t.parts.iter().find(|p| p.part == name).map(|p| p.points)
    }

    #[test]
    fn a_new_device_scores_the_base() {
        let t = evaluate_device_trust(&fresh(), 1000);
        assert_eq!(t.score, 50);
        assert_eq!(t.parts.len(), 1);
    }

    #[test]
    fn age_and_successful_logins_earn_trust_up_to_their_caps() {
        let mut h = fresh();
        h.logins_ok = 5;
        let t = evaluate_device_trust(&h, 1000 + 30 * DAY);
        assert_eq!(part(&t, "age"), Some(10));
        assert_eq!(part(&t, "successful_logins"), Some(5));
        assert_eq!(t.score, 65);
        h.logins_ok = 500;
        let t = evaluate_device_trust(&h, 1000 + 3650 * DAY);
        assert_eq!(part(&t, "age"), Some(20));
        assert_eq!(part(&t, "successful_logins"), Some(20));
        assert_eq!(t.score, 90);
        h.trusted = true;
        assert_eq!(evaluate_device_trust(&h, 1000 + 3650 * DAY).score, 100);
        // A clock before first_seen earns no age (and no negative age).
        assert_eq!(part(&evaluate_device_trust(&fresh(), 0), "age"), None);
    }

    #[test]
    fn failures_and_country_changes_cost_trust_down_to_their_caps() {
        let mut h = fresh();
        h.logins_failed = 3;
        h.country_changes = 1;
        let t = evaluate_device_trust(&h, 1000);
        assert_eq!(part(&t, "failed_logins"), Some(-15));
        assert_eq!(part(&t, "country_changes"), Some(-10));
        assert_eq!(t.score, 25);
        h.logins_failed = 100;
        h.country_changes = 100;
        let t = evaluate_device_trust(&h, 1000);
        assert_eq!(part(&t, "failed_logins"), Some(-40));
        assert_eq!(part(&t, "country_changes"), Some(-30));
        assert_eq!(t.score, 0, "clamped at zero");
    }

    #[test]
    fn posture_penalises_what_is_off_and_ignores_unknown_keys() {
        let mut h = fresh();
        h.posture =
            parse_posture("disk_encryption=off, screen_lock=on; firewall=off, jailbreak=on");
        let t = evaluate_device_trust(&h, 1000);
        assert_eq!(part(&t, "posture_disk_encryption_off"), Some(-30));
        assert_eq!(part(&t, "posture_firewall_off"), Some(-10));
        assert_eq!(part(&t, "posture_screen_lock_off"), None);
        assert_eq!(t.score, 10);
    }

    #[test]
    fn compromised_is_zero_whatever_else() {
        let mut h = fresh();
        h.logins_ok = 20;
        h.trusted = true;
        h.compromised = true;
        let t = evaluate_device_trust(&h, 1000 + 365 * DAY);
        assert_eq!(t.score, 0);
        assert_eq!(part(&t, "compromised"), Some(-100));
    }

    #[test]
    fn posture_headers_parse_strictly() {
        assert_eq!(
            parse_posture("Disk_Encryption=OFF,screen_lock=1"),
            vec![
                ("disk_encryption".to_string(), false),
                ("screen_lock".to_string(), true)
            ]
        );
        assert!(parse_posture("disk_encryption=maybe, =on, bad key=off, novalue").is_empty());
        // The last value of a repeated key wins.
        assert_eq!(
            parse_posture("firewall=on,firewall=off"),
            vec![("firewall".to_string(), false)]
        );
        let p = parse_posture("screen_lock=on,disk_encryption=off");
        assert_eq!(posture_to_text(&p), "disk_encryption=off,screen_lock=on");
        assert_eq!(parse_posture(&posture_to_text(&p)), p);
    }

    #[test]
    fn low_trust_is_below_the_minimum_only() {
        assert!(!decide_low_trust(10, None));
        assert!(decide_low_trust(59, Some(60)));
        assert!(!decide_low_trust(60, Some(60)));
        assert_eq!(
            LowTrustResponse::parse("step_up"),
            Some(LowTrustResponse::StepUp)
        );
        assert_eq!(
            LowTrustResponse::parse("read_only"),
            Some(LowTrustResponse::ReadOnly)
        );
        assert_eq!(LowTrustResponse::parse("terminate"), None);
    }
}
