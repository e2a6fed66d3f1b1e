//! The session model: policy resolution, the two clocks (idle and absolute) and liveness.
//! PURE: no I/O and no clock reads; `now` is always a parameter.
//!
//! ```text
//!   active ──touch (activity)──▶ active
//!     │  idle deadline / absolute deadline passed, logout, admin, user disabled, replay, ...
//!     ▼
//!   ended(reason)          (terminal: every end goes through events::termination)
//! ```

pub mod policy;

use crate::clock::UnixTime;
pub use policy::{resolve_policy, EffectivePolicy, PolicyLayer};

/// Why a session ended. The string forms are stored and shown in audit timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    RpLogout,
    UserLogout,
    Superseded,
    AdminRevoked,
    UserDisabled,
    DeviceRevoked,
    TenantRevoked,
    IdleTimeout,
    AbsoluteTimeout,
    RefreshReplay,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::RpLogout => "rp_logout",
            EndReason::UserLogout => "user_logout",
            EndReason::Superseded => "superseded",
            EndReason::AdminRevoked => "admin_revoked",
            EndReason::UserDisabled => "user_disabled",
            EndReason::DeviceRevoked => "device_revoked",
            EndReason::TenantRevoked => "tenant_revoked",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::AbsoluteTimeout => "absolute_timeout",
            EndReason::RefreshReplay => "refresh_replay",
        }
    }
}

/// Deadlines of a session created at `now`.
pub fn initial_deadlines(policy: &EffectivePolicy, now: UnixTime) -> (UnixTime, UnixTime) {
    let absolute = now + policy.absolute_timeout_secs;
    (
        now.saturating_add(policy.idle_timeout_secs).min(absolute),
        absolute,
    )
}

/// The idle deadline after activity at `now`; never beyond the absolute deadline.
pub fn touched_idle_deadline(
    policy: &EffectivePolicy,
    absolute_deadline: UnixTime,
    now: UnixTime,
) -> UnixTime {
    now.saturating_add(policy.idle_timeout_secs)
        .min(absolute_deadline)
}

/// Session activity is recorded at most this often, so a busy session is not rewritten on every
/// token request (the idle deadline may be up to this much earlier than exact, never later).
pub const TOUCH_GRANULARITY_SECS: i64 = 30;

/// Should activity at `now` be written for a session last recorded active at `last_active_at`?
pub fn evaluate_touch(last_active_at: UnixTime, now: UnixTime) -> bool {
    now - last_active_at >= TOUCH_GRANULARITY_SECS
}

/// Is a session usable at `now`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Live,
    Ended,
    /// Past a deadline but not yet ended: the caller must end it (with this reason).
    Expired(EndReason),
}

pub fn evaluate_liveness(
    active: bool,
    idle_deadline: UnixTime,
    absolute_deadline: UnixTime,
    now: UnixTime,
) -> Liveness {
    if !active {
        Liveness::Ended
    } else if now >= absolute_deadline {
        Liveness::Expired(EndReason::AbsoluteTimeout)
    } else if now >= idle_deadline {
        Liveness::Expired(EndReason::IdleTimeout)
    } else {
        Liveness::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(idle: i64, abs: i64) -> EffectivePolicy {
        EffectivePolicy {
            idle_timeout_secs: idle,
            absolute_timeout_secs: abs,
            refresh_reuse_ends_session: true,
        }
    }

    #[test]
    fn idle_deadline_never_passes_absolute() {
        let p = policy(100, 150);
        assert_eq!(initial_deadlines(&p, 0), (100, 150));
        assert_eq!(touched_idle_deadline(&p, 150, 90), 150);
        assert_eq!(touched_idle_deadline(&p, 150, 10), 110);
    }

    #[test]
    fn activity_is_written_at_most_every_30_seconds() {
        assert!(!evaluate_touch(100, 100));
        assert!(!evaluate_touch(100, 129));
        assert!(evaluate_touch(100, 130));
    }

    #[test]
    fn liveness_at_the_boundaries() {
        assert_eq!(evaluate_liveness(true, 100, 200, 99), Liveness::Live);
        assert_eq!(
            evaluate_liveness(true, 100, 200, 100),
            Liveness::Expired(EndReason::IdleTimeout)
        );
        assert_eq!(
            evaluate_liveness(true, 300, 200, 200),
            Liveness::Expired(EndReason::AbsoluteTimeout)
        );
        // Absolute wins when both passed: it is the stricter, unextendable limit.
        assert_eq!(
            evaluate_liveness(true, 100, 100, 150),
            Liveness::Expired(EndReason::AbsoluteTimeout)
        );
        assert_eq!(evaluate_liveness(false, 100, 200, 0), Liveness::Ended);
    }
}
