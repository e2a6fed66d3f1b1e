//! The session as a domain value: who, on which device, authenticated how, bound to what, with
//! which clocks, and in which state. Built from a stored row by [`Session::from_row`], which
//! refuses any value it cannot parse (a corrupt row is an error, never a default).
//!
//! ```text
//!            begin (login admitted)
//!                   │
//!                   ▼
//!   ┌──────── Active(mode) ◀── touch / reauthenticate / re-resolve policy
//!   │               │
//!   │   end(reason) │ logout, admin, timeout, eviction, schedule, replay, policy, ...
//!   │               ▼
//!   └──────▶ Ended { at, reason }      (terminal: ending an ended session is refused)
//! ```

use super::clocks::{evaluate_liveness, Liveness};
use crate::clock::UnixTime;
use crate::store::sessions::SessionRow;
use serde::Serialize;

/// Why a session ended. The string forms are stored and shown in audit timelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// A newer session of the same user took its place under an `evict_oldest` limit.
    Evicted,
    /// A policy change moved its deadlines into the past.
    PolicyChanged,
    /// The user's groups or attributes changed under a rule that ends sessions on change.
    AttributesChanged,
    /// A group's schedule (e.g. a shift end) reached.
    Scheduled,
    /// The session cookie used from two contexts at once, under a `terminate` response.
    DuplicateSession,
    /// A request did not match what the session was bound to, under a `terminate` response.
    BindingMismatch,
    /// The user's password or a second factor changed (other sessions end).
    CredentialChanged,
    /// Ended by a cohort revocation (selector in the audit event).
    CohortRevoked,
    /// The user chose to end it (the "choose a session to end" page, later the portal).
    UserChoice,
    /// Seen farther from its last place than the policy's travel speed allows, under a
    /// `terminate` response.
    ImpossibleTravel,
    /// The user reported the sign-in as not theirs ("this wasn't me" in a new-device notice).
    UserReported,
    /// The user's account was locked (by an administrator or a response chain).
    AccountLocked,
    /// A tenant's response chain ended it after repeated risk signals (`session::chain`).
    ResponseChain,
}

impl EndReason {
    pub const ALL: [EndReason; 23] = [
        EndReason::RpLogout,
        EndReason::UserLogout,
        EndReason::Superseded,
        EndReason::AdminRevoked,
        EndReason::UserDisabled,
        EndReason::DeviceRevoked,
        EndReason::TenantRevoked,
        EndReason::IdleTimeout,
        EndReason::AbsoluteTimeout,
        EndReason::RefreshReplay,
        EndReason::Evicted,
        EndReason::PolicyChanged,
        EndReason::AttributesChanged,
        EndReason::Scheduled,
        EndReason::CohortRevoked,
        EndReason::UserChoice,
        EndReason::BindingMismatch,
        EndReason::CredentialChanged,
        EndReason::ImpossibleTravel,
        EndReason::DuplicateSession,
        EndReason::UserReported,
        EndReason::AccountLocked,
        EndReason::ResponseChain,
    ];

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
            EndReason::Evicted => "evicted",
            EndReason::PolicyChanged => "policy_changed",
            EndReason::AttributesChanged => "attributes_changed",
            EndReason::Scheduled => "scheduled",
            EndReason::CohortRevoked => "cohort_revoked",
            EndReason::UserChoice => "user_choice",
            EndReason::BindingMismatch => "binding_mismatch",
            EndReason::CredentialChanged => "credential_changed",
            EndReason::ImpossibleTravel => "impossible_travel",
            EndReason::DuplicateSession => "duplicate_session",
            EndReason::UserReported => "user_reported",
            EndReason::AccountLocked => "account_locked",
            EndReason::ResponseChain => "response_chain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this end also revokes the session's `offline_access` refresh families.
    ///
    /// Back-Channel Logout 1.0 §2.7: refresh tokens issued with `offline_access` normally
    /// should not be revoked when the session is logged out; OIDC Core §11: offline access is
    /// access while the user is not logged in. So logging out (at the RP or at Lanyard, or by
    /// signing in as someone else) and the session timing out leave them; every end that says
    /// the user, their credentials, their device or the grant can no longer be trusted revokes
    /// them. A credential change revokes them unless the policy's
    /// `credential_change_ends_offline` is false (the caller decides that).
    pub fn ends_offline_grants(self) -> bool {
        match self {
            EndReason::RpLogout
            | EndReason::UserLogout
            | EndReason::Superseded
            | EndReason::IdleTimeout
            | EndReason::AbsoluteTimeout
            // Shorter timeouts that already passed: a timeout like the others.
            | EndReason::PolicyChanged
            | EndReason::UserChoice => false,
            EndReason::AdminRevoked
            | EndReason::UserDisabled
            | EndReason::DeviceRevoked
            | EndReason::TenantRevoked
            | EndReason::RefreshReplay
            | EndReason::Evicted
            | EndReason::AttributesChanged
            | EndReason::Scheduled
            | EndReason::CohortRevoked
            | EndReason::BindingMismatch
            | EndReason::ImpossibleTravel
            | EndReason::DuplicateSession
            | EndReason::UserReported
            | EndReason::AccountLocked
            | EndReason::ResponseChain
            | EndReason::CredentialChanged => true,
        }
    }

    /// Why it ended, in the words a person reads in their security history (the portal).
    pub fn in_words(self) -> &'static str {
        match self {
            EndReason::RpLogout => "you signed out in an app",
            EndReason::UserLogout => "you signed out",
            EndReason::Superseded => "someone else signed in on the same browser",
            EndReason::AdminRevoked => "an administrator signed you out",
            EndReason::UserDisabled => "your account was disabled",
            EndReason::DeviceRevoked => "the device was reported as not yours",
            EndReason::TenantRevoked => "everyone in the organisation was signed out",
            EndReason::IdleTimeout => "it was unused for too long",
            EndReason::AbsoluteTimeout => "it reached its maximum length",
            EndReason::RefreshReplay => {
                "an old app token was used again, which may mean it was stolen"
            }
            EndReason::Evicted => "a newer sign-in took its place (session limit)",
            EndReason::PolicyChanged => "the sign-in rules changed",
            EndReason::AttributesChanged => "your groups or attributes changed",
            EndReason::Scheduled => "a scheduled sign-out time was reached",
            EndReason::BindingMismatch => {
                "a request came from a different network or browser than the sign-in"
            }
            EndReason::CredentialChanged => "your password or second factor changed",
            EndReason::CohortRevoked => "an administrator signed out a group of sessions",
            EndReason::UserChoice => "you ended it in your account page",
            EndReason::ImpossibleTravel => {
                "it was used from a place too far away to reach since the last request"
            }
            EndReason::DuplicateSession => "it was used from two different places at the same time",
            EndReason::UserReported => "you reported the sign-in as not yours",
            EndReason::AccountLocked => "your account was locked",
            EndReason::ResponseChain => "repeated unusual activity was detected",
        }
    }
}

/// What an active session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Normal,
    /// New access tokens carry only the policy's safe scopes and `session_mode: "read_only"`.
    ReadOnly,
    /// The user must authenticate again before the session issues anything new; the same
    /// session (and `sid`) continues afterwards.
    ReauthRequired,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::ReadOnly => "read_only",
            Mode::ReauthRequired => "reauth_required",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Mode::Normal),
            "read_only" => Some(Mode::ReadOnly),
            "reauth_required" => Some(Mode::ReauthRequired),
            _ => None,
        }
    }
}

/// The lifecycle state (STYLE.md rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active { mode: Mode },
    Ended { at: UnixTime, reason: EndReason },
}

/// How the user proved who they are, last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
}

/// The context captured at login, against which later requests are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub ip: String,
    pub user_agent: String,
    pub country: Option<String>,
}

/// Where and when the session was last seen (stored as micro-degrees; validated on load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSeenAt {
    pub lat_e6: i64,
    pub lon_e6: i64,
    pub at: UnixTime,
}

impl LastSeenAt {
    pub fn new(p: super::travel::GeoPoint, at: UnixTime) -> Self {
        let (lat_e6, lon_e6) = p.to_micro();
        Self { lat_e6, lon_e6, at }
    }

    pub fn sighting(&self) -> super::travel::Sighting {
        super::travel::Sighting {
            // Validated by `Session::from_row` / built from a valid point.
            point: super::travel::GeoPoint {
                lat: self.lat_e6 as f64 / 1e6,
                lon: self.lon_e6 as f64 / 1e6,
            },
            at: self.at,
        }
    }
}

/// The session's resolved timeouts and the deadlines they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
    pub idle_deadline: UnixTime,
    pub absolute_deadline: UnixTime,
    /// The next scheduled end (a group's shift end), if any rule schedules one.
    pub scheduled_end_at: Option<UnixTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Internal row id (never leaves Lanyard).
    pub id: String,
    pub tenant_id: String,
    /// The public session id (`sid` claim).
    pub sid: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub auth: Authentication,
    pub binding: Binding,
    pub created_at: UnixTime,
    pub last_active_at: UnixTime,
    pub clocks: Clocks,
    /// The resolved policy when the session was last (re-)resolved, as stored JSON.
    pub policy_snapshot: String,
    /// Why the session is in its mode (the mismatch or the admin action), when not normal.
    pub mode_reason: Option<String>,
    /// When the user last proved a second factor in this session.
    pub mfa_at: Option<UnixTime>,
    /// The last context a binding `alert` was raised for (one alert per new context).
    pub binding_alert: Option<String>,
    /// The last place a geo source put the session (impossible travel compares with it).
    pub last_seen_at: Option<LastSeenAt>,
    /// The last request context seen (duplicate-session detection).
    pub last_context: Option<super::duplicate::SeenContext>,
    pub state: SessionState,
}

/// A stored session row that does not describe a valid session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session {id}: stored {field} is invalid")]
pub struct CorruptSession {
    pub id: String,
    pub field: &'static str,
}

/// A transition that the lifecycle forbids (ending an ended session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid session transition")]
pub struct InvalidTransition;

impl Session {
    pub fn from_row(r: SessionRow) -> Result<Self, CorruptSession> {
        let bad = |field| CorruptSession {
            id: r.id.clone(),
            field,
        };
        let state = match r.state.as_str() {
            crate::store::sessions::ACTIVE => SessionState::Active {
                mode: Mode::parse(&r.mode).ok_or_else(|| bad("mode"))?,
            },
            crate::store::sessions::ENDED => SessionState::Ended {
                at: r.ended_at.ok_or_else(|| bad("ended_at"))?,
                reason: r
                    .end_reason
                    .as_deref()
                    .and_then(EndReason::parse)
                    .ok_or_else(|| bad("end_reason"))?,
            },
            _ => return Err(bad("state")),
        };
        let amr: Vec<String> = serde_json::from_str(&r.amr).map_err(|_| bad("amr"))?;
        if r.idle_timeout_secs <= 0 || r.absolute_timeout_secs <= 0 {
            return Err(bad("timeouts"));
        }
        let last_seen_at = match (r.geo_lat_e6, r.geo_lon_e6, r.geo_at) {
            (None, None, None) => None,
            (Some(la), Some(lo), Some(at)) => {
                super::travel::GeoPoint::from_micro(la, lo).ok_or_else(|| bad("geo"))?;
                Some(LastSeenAt {
                    lat_e6: la,
                    lon_e6: lo,
                    at,
                })
            }
            _ => return Err(bad("geo")),
        };
        let last_context = match (r.seen_ctx, r.seen_ctx_at) {
            (None, None) => None,
            (Some(key), Some(at)) if !key.is_empty() => {
                Some(super::duplicate::SeenContext { key, at })
            }
            _ => return Err(bad("seen_ctx")),
        };
        Ok(Session {
            state,
            auth: Authentication {
                time: r.auth_time,
                acr: r.acr,
                amr,
            },
            binding: Binding {
                ip: r.ip,
                user_agent: r.user_agent,
                country: r.country,
            },
            clocks: Clocks {
                idle_timeout_secs: r.idle_timeout_secs,
                absolute_timeout_secs: r.absolute_timeout_secs,
                idle_deadline: r.idle_deadline,
                absolute_deadline: r.absolute_deadline,
                scheduled_end_at: r.scheduled_end_at,
            },
            id: r.id,
            tenant_id: r.tenant_id,
            sid: r.sid,
            user_id: r.user_id,
            device_id: r.device_id,
            created_at: r.created_at,
            last_active_at: r.last_active_at,
            policy_snapshot: r.policy_snapshot,
            mode_reason: r.mode_reason,
            mfa_at: r.mfa_at,
            binding_alert: r.binding_alert,
            last_seen_at,
            last_context,
        })
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state, SessionState::Active { .. })
    }

    /// The mode of an active session (None once ended).
    pub fn mode(&self) -> Option<Mode> {
        match self.state {
            SessionState::Active { mode } => Some(mode),
            SessionState::Ended { .. } => None,
        }
    }

    /// Is it usable at `now`, ended, or past a deadline (and so due to be ended)?
    pub fn liveness(&self, now: UnixTime) -> Liveness {
        evaluate_liveness(self.is_active(), &self.clocks, now)
    }

    /// The terminal transition.
    pub fn end(self, at: UnixTime, reason: EndReason) -> Result<Session, InvalidTransition> {
        match self.state {
            SessionState::Ended { .. } => Err(InvalidTransition),
            SessionState::Active { .. } => Ok(Session {
                state: SessionState::Ended { at, reason },
                ..self
            }),
        }
    }

    /// Activity at `now`: the idle deadline moves (never past the absolute one).
    pub fn touch(self, now: UnixTime) -> Result<Session, InvalidTransition> {
        match self.state {
            SessionState::Ended { .. } => Err(InvalidTransition),
            SessionState::Active { .. } => Ok(Session {
                last_active_at: now,
                clocks: Clocks {
                    idle_deadline: super::clocks::touched_idle_deadline(&self.clocks, now),
                    ..self.clocks
                },
                ..self
            }),
        }
    }
}

/// A session in tests and samples.
#[cfg(test)]
pub fn sample(id: &str, created_at: UnixTime) -> Session {
    Session {
        id: id.into(),
        tenant_id: "t".into(),
        sid: format!("sid-{id}"),
        user_id: "u".into(),
        device_id: None,
        auth: Authentication {
            time: created_at,
            acr: "1".into(),
            amr: vec!["pwd".into()],
        },
        binding: Binding {
            ip: "127.0.0.1".into(),
            user_agent: "ua".into(),
            country: None,
        },
        created_at,
        last_active_at: created_at,
        clocks: Clocks {
            idle_timeout_secs: 100,
            absolute_timeout_secs: 1000,
            idle_deadline: created_at + 100,
            absolute_deadline: created_at + 1000,
            scheduled_end_at: None,
        },
        policy_snapshot: "{}".into(),
        mode_reason: None,
        mfa_at: None,
        binding_alert: None,
        last_seen_at: None,
        last_context: None,
        state: SessionState::Active { mode: Mode::Normal },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SessionRow {
        SessionRow {
            id: "s1".into(),
            tenant_id: "t".into(),
            sid: "sid".into(),
            cookie_hash: "h".into(),
            user_id: "u".into(),
            device_id: Some("d".into()),
            auth_time: 10,
            acr: "1".into(),
            amr: r#"["pwd"]"#.into(),
            ip: "10.0.0.1".into(),
            user_agent: "ua".into(),
            created_at: 10,
            last_active_at: 20,
            idle_deadline: 80,
            absolute_deadline: 1010,
            state: "active".into(),
            ended_at: None,
            end_reason: None,
            end_batch: None,
            mode: "normal".into(),
            idle_timeout_secs: 60,
            absolute_timeout_secs: 1000,
            scheduled_end_at: None,
            policy_snapshot: "{}".into(),
            country: None,
            mode_reason: None,
            mfa_at: None,
            binding_alert: None,
            geo_lat_e6: None,
            geo_lon_e6: None,
            geo_at: None,
            seen_ctx: None,
            seen_ctx_at: None,
        }
    }

    #[test]
    fn only_logout_and_timeouts_leave_offline_grants() {
        let kept: Vec<&str> = EndReason::ALL
            .into_iter()
            .filter(|r| !r.ends_offline_grants())
            .map(EndReason::as_str)
            .collect();
        assert_eq!(
            kept,
            [
                "rp_logout",
                "user_logout",
                "superseded",
                "idle_timeout",
                "absolute_timeout",
                "policy_changed",
                "user_choice"
            ]
        );
        for r in [
            EndReason::AdminRevoked,
            EndReason::UserDisabled,
            EndReason::DeviceRevoked,
            EndReason::TenantRevoked,
            EndReason::RefreshReplay,
            EndReason::Evicted,
            EndReason::Scheduled,
            EndReason::CohortRevoked,
            EndReason::BindingMismatch,
            EndReason::CredentialChanged,
            EndReason::AttributesChanged,
            EndReason::ImpossibleTravel,
            EndReason::DuplicateSession,
            EndReason::UserReported,
        ] {
            assert!(r.ends_offline_grants(), "{}", r.as_str());
        }
    }

    #[test]
    fn rows_become_sessions() {
        let s = Session::from_row(row()).unwrap();
        assert_eq!(s.state, SessionState::Active { mode: Mode::Normal });
        assert_eq!(s.auth.amr, vec!["pwd".to_string()]);
        let mut r = row();
        r.state = "ended".into();
        r.ended_at = Some(30);
        r.end_reason = Some("evicted".into());
        assert_eq!(
            Session::from_row(r).unwrap().state,
            SessionState::Ended {
                at: 30,
                reason: EndReason::Evicted
            }
        );
    }

    #[test]
    fn corrupt_rows_are_errors_naming_the_field() {
        type Mutation = fn(&mut SessionRow);
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.state = "zombie".into(), "state"),
            (|r| r.mode = "turbo".into(), "mode"),
            (|r| r.mode = "Read_Only".into(), "mode"),
            (|r| r.amr = "pwd".into(), "amr"),
            (|r| r.idle_timeout_secs = 0, "timeouts"),
            (
                |r| {
                    r.state = "ended".into();
                    r.ended_at = Some(1);
                    r.end_reason = Some("bored".into());
                },
                "end_reason",
            ),
            (
                |r| {
                    r.state = "ended".into();
                    r.end_reason = Some("evicted".into());
                },
                "ended_at",
            ),
            (|r| r.geo_lat_e6 = Some(1), "geo"),
            (|r| r.seen_ctx_at = Some(1), "seen_ctx"),
            (
                |r| {
                    r.geo_lat_e6 = Some(95_000_000);
                    r.geo_lon_e6 = Some(0);
                    r.geo_at = Some(1);
                },
                "geo",
            ),
        ];
        for (mutate, field) in cases {
            let mut r = row();
            mutate(&mut r);
            assert_eq!(Session::from_row(r).unwrap_err().field, field);
        }
    }

    #[test]
    fn end_is_terminal() {
        let s = sample("a", 0);
        let ended = s.end(5, EndReason::Evicted).unwrap();
        assert_eq!(
            ended.state,
            SessionState::Ended {
                at: 5,
                reason: EndReason::Evicted
            }
        );
        assert_eq!(
            ended.clone().end(6, EndReason::UserLogout),
            Err(InvalidTransition)
        );
        assert_eq!(ended.touch(7), Err(InvalidTransition));
    }

    #[test]
    fn touch_moves_the_idle_deadline_only() {
        let s = sample("a", 0).touch(50).unwrap();
        assert_eq!(s.last_active_at, 50);
        assert_eq!(s.clocks.idle_deadline, 150);
        assert_eq!(s.clocks.absolute_deadline, 1000);
        let s = s.touch(950).unwrap();
        assert_eq!(
            s.clocks.idle_deadline, 1000,
            "never past the absolute deadline"
        );
    }

    #[test]
    fn every_reason_round_trips() {
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(EndReason::parse("nope"), None);
    }
}
