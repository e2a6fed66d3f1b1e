//! Login throttling: failures per account and per IP within a window lock further attempts for a
//! while. Pure decisions; the login endpoint loads and saves the counters.

use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub max_failures: i64,
    pub window_secs: i64,
    pub lockout_secs: i64,
}

pub const PER_ACCOUNT: ThrottleRule = ThrottleRule {
    max_failures: 5,
    window_secs: 900,
    lockout_secs: 900,
};
pub const PER_IP: ThrottleRule = ThrottleRule {
    max_failures: 30,
    window_secs: 900,
    lockout_secs: 900,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub failures: i64,
    pub window_start: UnixTime,
    pub locked_until: UnixTime,
}

/// May an attempt proceed now?
pub fn evaluate_attempt(c: &Counter, now: UnixTime) -> bool {
    now >= c.locked_until
}

/// The counter after a failed attempt.
pub fn after_failure(c: &Counter, rule: &ThrottleRule, now: UnixTime) -> Counter {
    let mut n = if now - c.window_start >= rule.window_secs {
        Counter {
            failures: 0,
            window_start: now,
            locked_until: c.locked_until,
        }
    } else {
        *c
    };
    n.failures += 1;
    if n.failures >= rule.max_failures {
        n.locked_until = now + rule.lockout_secs;
        n.failures = 0;
        n.window_start = now;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    const R: ThrottleRule = ThrottleRule {
        max_failures: 3,
        window_secs: 100,
        lockout_secs: 50,
    };

    #[test]
    fn locks_after_max_failures_within_window() {
        let mut c = Counter::default();
        for t in [10, 11] {
            c = after_failure(&c, &R, t);
            assert!(evaluate_attempt(&c, t));
        }
        c = after_failure(&c, &R, 12);
        assert!(!evaluate_attempt(&c, 12));
        assert!(!evaluate_attempt(&c, 61));
        assert!(evaluate_attempt(&c, 62));
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let mut c = Counter {
            failures: 0,
            window_start: 0,
            locked_until: 0,
        };
        c = after_failure(&c, &R, 1);
        c = after_failure(&c, &R, 2);
        c = after_failure(&c, &R, 150);
        assert_eq!(c.failures, 1);
        assert!(evaluate_attempt(&c, 150));
    }
}
