//! Refresh-token rotation and reuse detection.
//!
//! ```text
//!   token:  active ──used──▶ rotated            family: active ──replay / session end / revoke──▶ revoked
//! ```
//! Every use rotates: the presented token becomes `rotated` and a successor is issued. Presenting
//! a rotated token again means two parties hold it, so the whole family is revoked, the newest
//! token included (OAuth 2.0 Security BCP §4.14.2). A per-client grace window tolerates one
//! client retry after a lost response, but only while the successor has never been used.

use crate::clock::UnixTime;
use crate::error::Rejection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Rotated { at: UnixTime },
}

/// Everything the rule needs to know about a presented refresh token.
#[derive(Debug, Clone)]
pub struct RefreshFacts<'a> {
    pub token: TokenState,
    pub idle_deadline: UnixTime,
    pub family_active: bool,
    pub family_client_id: &'a str,
    pub family_absolute_deadline: UnixTime,
    /// Whether the successor of a rotated token is still unused (None if unknown / no successor).
    pub successor_unused: Option<bool>,
    /// The session the family belongs to is still active.
    pub session_active: bool,
    /// The family was granted `offline_access`: it does not need its session (OIDC Core §11).
    pub offline: bool,
    pub user_active: bool,
}

/// Whether a granted scope includes `offline_access` (OIDC Core §11; RFC 6749 §3.3 scopes are
/// space-separated and case-sensitive).
pub fn grants_offline(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "offline_access")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Issue a successor and mark the presented token rotated.
    Rotate,
    /// Within the grace window with an unused successor: discard it and issue a new one.
    ReissueWithinGrace,
    /// Reuse detected: refuse and revoke the family (the revocation must be committed).
    RevokeFamily,
    Reject(Rejection),
}

pub fn decide_refresh(
    f: &RefreshFacts<'_>,
    client_id: &str,
    grace_secs: i64,
    now: UnixTime,
) -> RefreshDecision {
    // A token of another client proves nothing about this one: refuse without side effects.
    if f.family_client_id != client_id {
        return RefreshDecision::Reject(Rejection::RefreshInvalid);
    }
    if !f.family_active {
        return RefreshDecision::Reject(Rejection::RefreshInvalid);
    }
    let expired = now >= f.family_absolute_deadline || now >= f.idle_deadline;
    if let TokenState::Rotated { at } = f.token {
        // Expiry before grace: a retry window never revives a token past its lifetimes.
        let within_grace = grace_secs > 0 && now < at + grace_secs && !expired;
        return if within_grace
            && f.successor_unused == Some(true)
            && (f.session_active || f.offline)
            && f.user_active
        {
            RefreshDecision::ReissueWithinGrace
        } else {
            RefreshDecision::RevokeFamily
        };
    }
    if !f.session_active && !f.offline {
        return RefreshDecision::Reject(Rejection::SessionEnded);
    }
    if !f.user_active {
        return RefreshDecision::Reject(Rejection::UserInactive);
    }
    if expired {
        return RefreshDecision::Reject(Rejection::RefreshInvalid);
    }
    RefreshDecision::Rotate
}

/// The revoke reason of a family revoked because one of its tokens was reused.
pub const REUSE_REASON: &str = "reuse_detected";

/// What a refused presentation writes to a family's reuse record (ADR 0015).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReuseRecord {
    /// This presentation revoked the family: write its one `refresh.reuse_detected` event.
    Open,
    /// The family was revoked for reuse already: add one to that event's count.
    Count,
    /// Revoked for another reason (session end, code replay, revocation): no reuse record.
    Nothing,
}

/// However many requests race with a reused token, the family is revoked once and one event
/// records it with the count of refused presentations (RFC 9700 §4.14.2). `revoked_now` is
/// whether this request's conditional revocation won; `revoke_reason` the stored reason of a
/// family that was revoked already.
pub fn decide_reuse_record(revoked_now: bool, revoke_reason: Option<&str>) -> ReuseRecord {
    if revoked_now {
        ReuseRecord::Open
    } else if revoke_reason == Some(REUSE_REASON) {
        ReuseRecord::Count
    } else {
        ReuseRecord::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_reuse_record_per_family_counting_later_refusals() {
        assert_eq!(decide_reuse_record(true, None), ReuseRecord::Open);
        assert_eq!(
            decide_reuse_record(true, Some("logout")),
            ReuseRecord::Open,
            "the winner of the revocation opens it"
        );
        assert_eq!(
            decide_reuse_record(false, Some(REUSE_REASON)),
            ReuseRecord::Count
        );
        assert_eq!(
            decide_reuse_record(false, Some("logout")),
            ReuseRecord::Nothing
        );
        assert_eq!(decide_reuse_record(false, None), ReuseRecord::Nothing);
    }

    fn facts(token: TokenState) -> RefreshFacts<'static> {
        RefreshFacts {
            token,
            idle_deadline: 1000,
            family_active: true,
            family_client_id: "c1",
            family_absolute_deadline: 5000,
            successor_unused: None,
            session_active: true,
            offline: false,
            user_active: true,
        }
    }

    #[test]
    fn grace_never_revives_an_expired_token() {
        let mut f = facts(TokenState::Rotated { at: 990 });
        f.successor_unused = Some(true);
        assert_eq!(
            decide_refresh(&f, "c1", 30, 995),
            RefreshDecision::ReissueWithinGrace
        );
        // Idle-expired (idle_deadline 1000) inside the window.
        assert_eq!(
            decide_refresh(&f, "c1", 30, 1000),
            RefreshDecision::RevokeFamily
        );
        // Family past its absolute lifetime inside the window.
        let mut f = facts(TokenState::Rotated { at: 4990 });
        f.successor_unused = Some(true);
        f.idle_deadline = 9000;
        assert_eq!(
            decide_refresh(&f, "c1", 30, 5000),
            RefreshDecision::RevokeFamily
        );
    }

    #[test]
    fn offline_families_outlive_their_session_but_not_their_user() {
        let mut f = facts(TokenState::Active);
        f.session_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::SessionEnded)
        );
        f.offline = true;
        assert_eq!(decide_refresh(&f, "c1", 0, 100), RefreshDecision::Rotate);
        f.user_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::UserInactive)
        );
        f.user_active = true;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 5000),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
        f.family_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
    }

    #[test]
    fn offline_retry_within_grace_needs_no_session() {
        let mut f = facts(TokenState::Rotated { at: 90 });
        f.successor_unused = Some(true);
        f.session_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 30, 100),
            RefreshDecision::RevokeFamily
        );
        f.offline = true;
        assert_eq!(
            decide_refresh(&f, "c1", 30, 100),
            RefreshDecision::ReissueWithinGrace
        );
    }

    #[test]
    fn offline_is_the_whole_scope_token() {
        assert!(grants_offline("openid offline_access"));
        assert!(grants_offline("offline_access"));
        assert!(!grants_offline("openid offline_accessx"));
        assert!(!grants_offline("openid Offline_Access"));
        assert!(!grants_offline(""));
    }

    #[test]
    fn active_token_rotates() {
        assert_eq!(
            decide_refresh(&facts(TokenState::Active), "c1", 0, 100),
            RefreshDecision::Rotate
        );
    }

    #[test]
    fn refresh_reused_after_rotation_revokes_family() {
        let f = facts(TokenState::Rotated { at: 90 });
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::RevokeFamily
        );
    }

    #[test]
    fn grace_window_tolerates_retry_only_while_successor_unused() {
        let mut f = facts(TokenState::Rotated { at: 90 });
        f.successor_unused = Some(true);
        assert_eq!(
            decide_refresh(&f, "c1", 30, 100),
            RefreshDecision::ReissueWithinGrace
        );
        assert_eq!(
            decide_refresh(&f, "c1", 30, 120),
            RefreshDecision::RevokeFamily,
            "window over"
        );
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::RevokeFamily,
            "no window by default"
        );
        f.successor_unused = Some(false);
        assert_eq!(
            decide_refresh(&f, "c1", 30, 100),
            RefreshDecision::RevokeFamily,
            "successor used"
        );
    }

    #[test]
    fn other_clients_token_is_invalid_grant_without_side_effects() {
        assert_eq!(
            decide_refresh(&facts(TokenState::Active), "c2", 0, 100),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
        assert_eq!(
            decide_refresh(&facts(TokenState::Rotated { at: 1 }), "c2", 0, 100),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
    }

    #[test]
    fn revoked_family_refuses_every_member() {
        let mut f = facts(TokenState::Active);
        f.family_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
    }

    #[test]
    fn ended_session_or_disabled_user_stops_refresh() {
        let mut f = facts(TokenState::Active);
        f.session_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::SessionEnded)
        );
        let mut f = facts(TokenState::Active);
        f.user_active = false;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 100),
            RefreshDecision::Reject(Rejection::UserInactive)
        );
    }

    #[test]
    fn idle_and_absolute_lifetimes_expire() {
        let f = facts(TokenState::Active);
        assert_eq!(decide_refresh(&f, "c1", 0, 999), RefreshDecision::Rotate);
        assert_eq!(
            decide_refresh(&f, "c1", 0, 1000),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
        let mut f = facts(TokenState::Active);
        f.idle_deadline = 9999;
        assert_eq!(
            decide_refresh(&f, "c1", 0, 5000),
            RefreshDecision::Reject(Rejection::RefreshInvalid)
        );
    }
}
