//! Throttling of guesses (NIST SP 800-63B-4 §3.2.2 "rate limiting"; OWASP ASVS V6): failures per
//! IP and per client within a window lock further attempts for a while; failures per account
//! buy progressive delays instead of a hard lock, counted apart for each device that has signed
//! the account in before, so that an attacker guessing from elsewhere cannot lock the user's own
//! device out. Pure decisions; the callers load and save the counters.
//!
//! The thresholds are tenant policy ([`ThrottlePolicy`], stored as JSON; absent fields take the
//! defaults, which are the values Lanyard used before they were configurable).

use crate::clock::UnixTime;
use serde::{Deserialize, Serialize};

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

/// Seconds until an attempt may proceed (0: now).
pub fn retry_after(c: &Counter, now: UnixTime) -> i64 {
    (c.locked_until - now).max(0)
}

/// Progressive delays for one account (from one class of device): `free_failures` failures cost
/// nothing; each further one makes the next attempt wait `base_delay_secs`, doubled per failure,
/// at most `max_delay_secs`. Failures are forgotten when none came for `window_secs` after the
/// last wait ended (so waiting out the longest delay does not by itself start the count over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progressive {
    pub free_failures: i64,
    pub base_delay_secs: i64,
    pub max_delay_secs: i64,
    pub window_secs: i64,
}

/// The delay the `failures`-th failure in a row imposes on the next attempt.
pub fn progressive_delay(p: &Progressive, failures: i64) -> i64 {
    let over = failures - p.free_failures;
    if over < 0 {
        return 0;
    }
    // 2^over, saturating well before an overflow: 2^40 s outlasts any max.
    let factor = 1i64 << over.min(40);
    p.base_delay_secs
        .saturating_mul(factor)
        .min(p.max_delay_secs)
}

/// The counter after a failed attempt under progressive delays. Here `window_start` holds the
/// time of the last failure and `locked_until` the earliest next attempt.
pub fn after_failure_progressive(c: &Counter, p: &Progressive, now: UnixTime) -> Counter {
    let quiet_since = c.locked_until.max(c.window_start);
    let failures = if c.failures == 0 || now - quiet_since >= p.window_secs {
        1
    } else {
        c.failures + 1
    };
    Counter {
        failures,
        window_start: now,
        locked_until: now + progressive_delay(p, failures),
    }
}

/// A tenant's throttle thresholds. Stored as JSON (unknown fields refused); every field is
/// optional there and defaults to the value documented on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottlePolicy {
    /// Failed sign-ins of one account (from one known device, or from all unknown devices
    /// together) before delays begin. Default 5.
    pub account_free_failures: i64,
    /// The first delay, doubled per further failure. Default 30 s.
    pub account_base_delay_secs: i64,
    /// The longest delay. Default 900 s (the old hard lock).
    pub account_max_delay_secs: i64,
    /// Failures are forgotten this long after the last one. Default 900 s.
    pub account_window_secs: i64,
    /// Failed sign-ins from one IP within the window before it is refused (HTTP 429). Default 30.
    pub ip_max_failures: i64,
    /// Default 900 s.
    pub ip_window_secs: i64,
    /// How long an IP over the limit is refused. Default 900 s.
    pub ip_lockout_secs: i64,
    /// Failed client authentications of one client_id at the token, introspection and
    /// revocation endpoints within the window before it is refused (HTTP 429). Default 20.
    pub client_max_failures: i64,
    /// Default 900 s.
    pub client_window_secs: i64,
    /// Default 300 s.
    pub client_lockout_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            account_free_failures: PER_ACCOUNT.max_failures,
            account_base_delay_secs: 30,
            account_max_delay_secs: PER_ACCOUNT.lockout_secs,
            account_window_secs: PER_ACCOUNT.window_secs,
            ip_max_failures: PER_IP.max_failures,
            ip_window_secs: PER_IP.window_secs,
            ip_lockout_secs: PER_IP.lockout_secs,
            client_max_failures: 20,
            client_window_secs: 900,
            client_lockout_secs: 300,
        }
    }
}

/// Why a throttle policy is refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidThrottle {
    pub field: &'static str,
    pub rule: &'static str,
}

impl ThrottlePolicy {
    pub fn account(&self) -> Progressive {
        Progressive {
            free_failures: self.account_free_failures,
            base_delay_secs: self.account_base_delay_secs,
            max_delay_secs: self.account_max_delay_secs,
            window_secs: self.account_window_secs,
        }
    }
    pub fn ip(&self) -> ThrottleRule {
        ThrottleRule {
            max_failures: self.ip_max_failures,
            window_secs: self.ip_window_secs,
            lockout_secs: self.ip_lockout_secs,
        }
    }
    pub fn client(&self) -> ThrottleRule {
        ThrottleRule {
            max_failures: self.client_max_failures,
            window_secs: self.client_window_secs,
            lockout_secs: self.client_lockout_secs,
        }
    }

    /// Every count at least 1, every duration 1 s to 30 days, the base delay at most the max.
    pub fn validate(&self) -> Result<(), InvalidThrottle> {
        const DAY30: i64 = 30 * 86_400;
        let counts = [
            ("account_free_failures", self.account_free_failures),
            ("ip_max_failures", self.ip_max_failures),
            ("client_max_failures", self.client_max_failures),
        ];
        for (field, v) in counts {
            if !(1..=10_000).contains(&v) {
                return Err(InvalidThrottle {
                    field,
                    rule: "must be 1 to 10000",
                });
            }
        }
        let durations = [
            ("account_base_delay_secs", self.account_base_delay_secs),
            ("account_max_delay_secs", self.account_max_delay_secs),
            ("account_window_secs", self.account_window_secs),
            ("ip_window_secs", self.ip_window_secs),
            ("ip_lockout_secs", self.ip_lockout_secs),
            ("client_window_secs", self.client_window_secs),
            ("client_lockout_secs", self.client_lockout_secs),
        ];
        for (field, v) in durations {
            if !(1..=DAY30).contains(&v) {
                return Err(InvalidThrottle {
                    field,
                    rule: "must be 1 s to 30 days",
                });
            }
        }
        if self.account_base_delay_secs > self.account_max_delay_secs {
            return Err(InvalidThrottle {
                field: "account_base_delay_secs",
                rule: "must not exceed account_max_delay_secs",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: Progressive = Progressive {
        free_failures: 3,
        base_delay_secs: 10,
        max_delay_secs: 100,
        window_secs: 1000,
    };

    #[test]
    fn progressive_delays_start_after_the_free_failures_and_double_up_to_the_max() {
        assert_eq!(progressive_delay(&P, 0), 0);
        assert_eq!(progressive_delay(&P, 2), 0);
        assert_eq!(progressive_delay(&P, 3), 10);
        assert_eq!(progressive_delay(&P, 4), 20);
        assert_eq!(progressive_delay(&P, 5), 40);
        assert_eq!(progressive_delay(&P, 6), 80);
        assert_eq!(progressive_delay(&P, 7), 100);
        assert_eq!(progressive_delay(&P, 10_000), 100, "no overflow");
    }

    #[test]
    fn progressive_counter_waits_and_forgets_after_the_window() {
        let mut c = Counter::default();
        for t in [1, 2] {
            c = after_failure_progressive(&c, &P, t);
            assert!(evaluate_attempt(&c, t), "free failure at {t}");
        }
        c = after_failure_progressive(&c, &P, 3);
        assert_eq!(c.failures, 3);
        assert!(!evaluate_attempt(&c, 12));
        assert_eq!(retry_after(&c, 5), 8);
        assert!(evaluate_attempt(&c, 13));
        c = after_failure_progressive(&c, &P, 13);
        assert_eq!(c.locked_until, 33);
        // Waiting out the delay and then less than a window keeps the count...
        c = after_failure_progressive(&c, &P, 33 + 999);
        assert_eq!(c.failures, 5);
        assert_eq!(c.locked_until, 33 + 999 + 40);
        // ...a whole quiet window after the wait ended starts it over.
        let t = c.locked_until + 1000;
        c = after_failure_progressive(&c, &P, t);
        assert_eq!(c.failures, 1);
        assert!(evaluate_attempt(&c, t));
        assert_eq!(retry_after(&c, t), 0);
    }

    #[test]
    fn throttle_policy_defaults_are_the_old_values_and_parse_partially() {
        let d = ThrottlePolicy::default();
        assert_eq!(d.account_free_failures, 5);
        assert_eq!(d.account_max_delay_secs, 900);
        assert_eq!(d.ip(), PER_IP);
        assert!(d.validate().is_ok());
        let p: ThrottlePolicy = serde_json::from_str(r#"{"ip_max_failures": 3}"#).unwrap();
        assert_eq!(p.ip_max_failures, 3);
        assert_eq!(p.account_free_failures, 5);
        assert!(serde_json::from_str::<ThrottlePolicy>(r#"{"ip_max": 3}"#).is_err());
    }

    #[test]
    fn throttle_policy_validation_names_the_field() {
        let mut p = ThrottlePolicy {
            ip_max_failures: 0,
            ..Default::default()
        };
        assert_eq!(p.validate().unwrap_err().field, "ip_max_failures");
        p.ip_max_failures = 1;
        p.client_lockout_secs = 0;
        assert_eq!(p.validate().unwrap_err().field, "client_lockout_secs");
        p.client_lockout_secs = 1;
        p.account_base_delay_secs = 1000;
        assert_eq!(p.validate().unwrap_err().field, "account_base_delay_secs");
        p.account_max_delay_secs = 1000;
        assert!(p.validate().is_ok());
    }

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
