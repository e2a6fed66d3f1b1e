//! A session's clocks: the idle deadline (moved by activity), the absolute deadline (never
//! moved by activity) and an optional scheduled end (a group's shift end). PURE.

use super::model::{Clocks, EndReason};
use crate::clock::UnixTime;

/// Clocks of a session created at `now` with these timeouts and next scheduled end.
pub fn initial_clocks(
    idle_timeout_secs: i64,
    absolute_timeout_secs: i64,
    scheduled_end_at: Option<UnixTime>,
    now: UnixTime,
) -> Clocks {
    let absolute = now.saturating_add(absolute_timeout_secs);
    Clocks {
        idle_timeout_secs,
        absolute_timeout_secs,
        idle_deadline: now.saturating_add(idle_timeout_secs).min(absolute),
        absolute_deadline: absolute,
        scheduled_end_at,
    }
}

/// The idle deadline after activity at `now`; never beyond the absolute deadline.
pub fn touched_idle_deadline(c: &Clocks, now: UnixTime) -> UnixTime {
    now.saturating_add(c.idle_timeout_secs)
        .min(c.absolute_deadline)
}

/// Clocks recomputed for new timeouts (a policy change applied to a live session): the absolute
/// deadline counts from the session's start, the idle deadline from its last recorded activity.
pub fn reclocked(
    created_at: UnixTime,
    last_active_at: UnixTime,
    idle_timeout_secs: i64,
    absolute_timeout_secs: i64,
    scheduled_end_at: Option<UnixTime>,
) -> Clocks {
    let absolute = created_at.saturating_add(absolute_timeout_secs);
    Clocks {
        idle_timeout_secs,
        absolute_timeout_secs,
        idle_deadline: last_active_at
            .saturating_add(idle_timeout_secs)
            .min(absolute),
        absolute_deadline: absolute,
        scheduled_end_at,
    }
}

/// The coarsest activity granularity: a busy session is not rewritten on every token request.
pub const MAX_TOUCH_GRANULARITY_SECS: i64 = 30;

/// How stale the recorded activity may be for this idle timeout: a tenth of it, at most 30 s.
/// The idle deadline may be up to this much earlier than exact, never later, so a client that is
/// active more often than the idle timeout always keeps its session (a 30 s idle timeout needs
/// activity at least every 27 s; a timeout under 10 s records every request).
pub fn touch_granularity(idle_timeout_secs: i64) -> i64 {
    (idle_timeout_secs / 10).clamp(0, MAX_TOUCH_GRANULARITY_SECS)
}

/// Should activity at `now` be written for a session last recorded active at `last_active_at`?
pub fn evaluate_touch(last_active_at: UnixTime, idle_timeout_secs: i64, now: UnixTime) -> bool {
    now - last_active_at >= touch_granularity(idle_timeout_secs).max(1)
}

/// Is a session usable at `now`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live,
    Ended,
    /// Past a deadline but not yet ended: the caller must end it (with this reason).
    Expired(EndReason),
}

/// The absolute deadline wins over a schedule and the idle deadline when several passed: it is
/// the stricter, unextendable limit. A schedule wins over the idle deadline (it is a rule the
/// tenant set, the idle deadline is the user's inactivity).
pub fn evaluate_liveness(active: bool, c: &Clocks, now: UnixTime) -> Liveness {
    if !active {
        Liveness::Ended
    } else if now >= c.absolute_deadline {
        Liveness::Expired(EndReason::AbsoluteTimeout)
    } else if c.scheduled_end_at.is_some_and(|t| now >= t) {
        Liveness::Expired(EndReason::Scheduled)
    } else if now >= c.idle_deadline {
        Liveness::Expired(EndReason::IdleTimeout)
    } else {
        Liveness::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(idle: i64, abs: i64, sched: Option<i64>) -> Clocks {
        Clocks {
            idle_timeout_secs: 10,
            absolute_timeout_secs: 100,
            idle_deadline: idle,
            absolute_deadline: abs,
            scheduled_end_at: sched,
        }
    }

    #[test]
    fn idle_deadline_never_passes_absolute() {
        let c = initial_clocks(100, 150, None, 0);
        assert_eq!((c.idle_deadline, c.absolute_deadline), (100, 150));
        assert_eq!(touched_idle_deadline(&c, 90), 150);
        assert_eq!(touched_idle_deadline(&c, 10), 110);
        let c = initial_clocks(500, 150, None, 0);
        assert_eq!(c.idle_deadline, 150);
    }

    #[test]
    fn reclocking_counts_from_start_and_last_activity() {
        let c = reclocked(1000, 1500, 60, 600, None);
        assert_eq!(c.absolute_deadline, 1600);
        assert_eq!(c.idle_deadline, 1560);
        let c = reclocked(1000, 1590, 60, 600, Some(1200));
        assert_eq!(c.idle_deadline, 1600, "capped by the absolute deadline");
        assert_eq!(c.scheduled_end_at, Some(1200));
    }

    #[test]
    fn granularity_scales_down_with_short_idle_timeouts() {
        assert_eq!(touch_granularity(3600), 30);
        assert_eq!(touch_granularity(300), 30);
        assert_eq!(touch_granularity(100), 10);
        assert_eq!(touch_granularity(30), 3);
        assert_eq!(touch_granularity(9), 0);
        // One hour idle: written at most every 30 s.
        assert!(!evaluate_touch(100, 3600, 100));
        assert!(!evaluate_touch(100, 3600, 129));
        assert!(evaluate_touch(100, 3600, 130));
        // 30 s idle: every 3 s, so a refresh every 20 s keeps the session alive.
        assert!(!evaluate_touch(100, 30, 102));
        assert!(evaluate_touch(100, 30, 103));
        // 5 s idle: every request that comes a second later is recorded.
        assert!(!evaluate_touch(100, 5, 100));
        assert!(evaluate_touch(100, 5, 101));
    }

    #[test]
    fn a_refresh_every_interval_below_the_idle_timeout_keeps_the_session() {
        // Simulate a refresh-only client for every idle timeout and every interval below it.
        for idle in [2_i64, 5, 9, 10, 20, 30, 31, 60, 300, 3600] {
            for interval in 1..idle {
                let mut c = initial_clocks(idle, 1_000_000, None, 0);
                let mut last = 0;
                let mut now = 0;
                for _ in 0..50 {
                    now += interval;
                    assert_eq!(
                        evaluate_liveness(true, &c, now),
                        Liveness::Live,
                        "idle {idle}, interval {interval}, at {now}"
                    );
                    if evaluate_touch(last, idle, now) {
                        c.idle_deadline = touched_idle_deadline(&c, now);
                        last = now;
                    }
                }
            }
        }
    }

    #[test]
    fn liveness_at_the_boundaries() {
        assert_eq!(
            evaluate_liveness(true, &clocks(100, 200, None), 99),
            Liveness::Live
        );
        assert_eq!(
            evaluate_liveness(true, &clocks(100, 200, None), 100),
            Liveness::Expired(EndReason::IdleTimeout)
        );
        assert_eq!(
            evaluate_liveness(true, &clocks(300, 200, None), 200),
            Liveness::Expired(EndReason::AbsoluteTimeout)
        );
        assert_eq!(
            evaluate_liveness(true, &clocks(100, 100, None), 150),
            Liveness::Expired(EndReason::AbsoluteTimeout)
        );
        assert_eq!(
            evaluate_liveness(true, &clocks(100, 200, None), 0),
            Liveness::Live
        );
        assert_eq!(
            evaluate_liveness(false, &clocks(100, 200, None), 0),
            Liveness::Ended
        );
    }

    #[test]
    fn a_schedule_ends_the_session_at_its_time() {
        let c = clocks(500, 1000, Some(300));
        assert_eq!(evaluate_liveness(true, &c, 299), Liveness::Live);
        assert_eq!(
            evaluate_liveness(true, &c, 300),
            Liveness::Expired(EndReason::Scheduled)
        );
        // Idle passed as well: the schedule names the cause.
        let c = clocks(200, 1000, Some(300));
        assert_eq!(
            evaluate_liveness(true, &c, 400),
            Liveness::Expired(EndReason::Scheduled)
        );
        // Absolute passed as well: absolute names it.
        let c = clocks(200, 350, Some(300));
        assert_eq!(
            evaluate_liveness(true, &c, 400),
            Liveness::Expired(EndReason::AbsoluteTimeout)
        );
    }
}
