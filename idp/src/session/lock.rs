//! Account locks, PURE: whether a stored lock holds at `now`, how a new lock combines with one
//! in force, and the durations administrators type (`30m`, `2h`, `1d`).
//!
//! A lock is time-limited (until T) or manual (until an administrator unlocks). A locked user
//! cannot sign in and their sessions end (reason `account_locked`); an expired time-limited lock
//! is simply no longer in force (nothing has to run at T).

use crate::clock::UnixTime;
use serde::Serialize;

/// A lock as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLock {
    pub locked_at: UnixTime,
    /// None: until an administrator unlocks.
    pub until: Option<UnixTime>,
}

/// Whether an account is locked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "until", rename_all = "snake_case")]
pub enum LockDecision {
    Unlocked,
    /// Locked until this time (Unix seconds).
    Until(UnixTime),
    /// Locked until an administrator unlocks.
    UntilUnlocked,
}

impl LockDecision {
    pub fn is_locked(self) -> bool {
        !matches!(self, LockDecision::Unlocked)
    }

    /// The end of the lock, when it has one (`Until`).
    pub fn until(self) -> Option<UnixTime> {
        match self {
            LockDecision::Until(t) => Some(t),
            _ => None,
        }
    }
}

/// Whether `lock` holds at `now`: a time-limited lock holds strictly before its end.
pub fn decide_lock(lock: Option<&AccountLock>, now: UnixTime) -> LockDecision {
    match lock {
        None => LockDecision::Unlocked,
        Some(AccountLock { until: None, .. }) => LockDecision::UntilUnlocked,
        Some(AccountLock { until: Some(t), .. }) if now < *t => LockDecision::Until(*t),
        Some(_) => LockDecision::Unlocked,
    }
}

/// The end a new lock (`wanted`, None = manual) gets when `current` is in force: the longer
/// stands, so a short automatic lock never shortens a manual one or a longer one.
pub fn decide_new_lock(current: LockDecision, wanted: Option<UnixTime>) -> Option<UnixTime> {
    match (current, wanted) {
        (LockDecision::UntilUnlocked, _) | (_, None) => None,
        (LockDecision::Until(t), Some(w)) => Some(t.max(w)),
        (LockDecision::Unlocked, Some(w)) => Some(w),
    }
}

/// The longest time lock accepted: one year (longer is what a manual lock is for).
pub const MAX_LOCK_SECS: i64 = 366 * 86_400;

/// Parse a duration: a positive whole number followed by `s`, `m`, `h` or `d` (`90s`, `30m`,
/// `12h`, `7d`); a bare number is seconds. At most [`MAX_LOCK_SECS`].
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let t = raw.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_lowercase()),
        _ => (t, 's'),
    };
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => {
            return Err(format!(
                "'{raw}' is not a duration (use e.g. 90s, 30m, 12h, 7d)"
            ))
        }
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration (use e.g. 90s, 30m, 12h, 7d)"))?;
    let secs = n.saturating_mul(mult);
    if n <= 0 || secs > MAX_LOCK_SECS {
        return Err(format!(
            "'{raw}' must be more than 0 and at most 366 days (use a manual lock for longer)"
        ));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(until: Option<i64>) -> AccountLock {
        AccountLock {
            locked_at: 100,
            until,
        }
    }

    #[test]
    fn no_lock_is_unlocked() {
        assert_eq!(decide_lock(None, 0), LockDecision::Unlocked);
        assert!(!LockDecision::Unlocked.is_locked());
    }

    #[test]
    fn a_manual_lock_holds_forever() {
        let l = lock(None);
        assert_eq!(decide_lock(Some(&l), 100), LockDecision::UntilUnlocked);
        assert_eq!(decide_lock(Some(&l), i64::MAX), LockDecision::UntilUnlocked);
        assert!(LockDecision::UntilUnlocked.is_locked());
        assert_eq!(LockDecision::UntilUnlocked.until(), None);
    }

    #[test]
    fn a_time_lock_holds_strictly_before_its_end() {
        let l = lock(Some(200));
        assert_eq!(decide_lock(Some(&l), 199), LockDecision::Until(200));
        assert_eq!(decide_lock(Some(&l), 200), LockDecision::Unlocked);
        assert_eq!(decide_lock(Some(&l), 5000), LockDecision::Unlocked);
        assert_eq!(LockDecision::Until(200).until(), Some(200));
    }

    #[test]
    fn the_longer_lock_stands() {
        use LockDecision::*;
        assert_eq!(decide_new_lock(Unlocked, Some(50)), Some(50));
        assert_eq!(decide_new_lock(Unlocked, None), None);
        assert_eq!(decide_new_lock(Until(100), Some(50)), Some(100));
        assert_eq!(decide_new_lock(Until(100), Some(150)), Some(150));
        assert_eq!(decide_new_lock(Until(100), None), None);
        assert_eq!(decide_new_lock(UntilUnlocked, Some(150)), None);
        assert_eq!(decide_new_lock(UntilUnlocked, None), None);
    }

    #[test]
    fn durations_parse_with_units_and_bounds() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("12H"), Ok(43_200));
        assert_eq!(parse_duration(" 7d "), Ok(604_800));
        assert_eq!(parse_duration("366d"), Ok(MAX_LOCK_SECS));
        for bad in [
            "",
            "m",
            "0m",
            "-5m",
            "5w",
            "1.5h",
            "367d",
            "99999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
