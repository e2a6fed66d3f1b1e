//! Automated response chains, PURE: a tenant maps a risk signal and how often it occurred for
//! the same user within a window to escalating actions, e.g. "impossible travel -> step-up; a
//! second occurrence within 24 h -> terminate, lock the account and notify the admins".
//!
//! Stored as JSON, a list of chains (see the README, "Response chains"):
//!
//! ```json
//! [{ "signal": "impossible_travel", "window_secs": 86400,
//!    "steps": [ { "occurrence": 1, "actions": ["step_up"] },
//!               { "occurrence": 2, "actions": ["terminate", "lock_account", "notify_admins"],
//!                 "lock_for_secs": 3600 } ] }]
//! ```
//!
//! [`decide_chain`] counts this occurrence and the earlier ones inside the window and applies
//! the step with the highest `occurrence` that count has reached. A signal with no chain keeps
//! the policy's own response (`on_binding_mismatch`, `on_impossible_travel`, ...).

use crate::clock::UnixTime;
use crate::session::binding::Response;
use serde::{Deserialize, Serialize};

/// The signals a chain can follow.
pub const SIGNALS: [&str; 7] = [
    "binding_mismatch.ip",
    "binding_mismatch.country",
    "binding_mismatch.user_agent",
    "binding_mismatch.device",
    "impossible_travel",
    "duplicate_session",
    "low_trust",
];

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Audit only.
    Alert,
    /// The session must authenticate again (and meet the policy's step-up rules) before it
    /// issues anything new.
    StepUp,
    /// The session becomes read-only.
    ReadOnly,
    /// The session ends through the termination path (reason `response_chain`).
    Terminate,
    /// The user's account is locked (for `lock_for_secs`, or until an admin unlocks): every
    /// session ends (reason `account_locked`) and sign-in is refused.
    LockAccount,
    /// An `admin.notified` audit event, and a mail to the tenant's admin address when set.
    NotifyAdmins,
}

/// One step of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The occurrence (1 = the first in the window) from which this step applies.
    pub occurrence: u32,
    pub actions: Vec<Action>,
    /// With `lock_account`: how long; absent = until an administrator unlocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_for_secs: Option<i64>,
}

/// One chain: a signal, the window its occurrences count in, and the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    pub signal: String,
    pub window_secs: i64,
    pub steps: Vec<Step>,
}

/// What a chain decided for this occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainDecision {
    /// This occurrence's number within the window (1 = first).
    pub occurrence: u32,
    pub actions: Vec<Action>,
    pub lock_for_secs: Option<i64>,
}

impl ChainDecision {
    /// The session response the actions ask for (the strictest; `lock_account` ends the
    /// session as well). None when no action touches the session.
    pub fn response(&self) -> Option<Response> {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Alert | Action::NotifyAdmins => Response::Alert,
                Action::StepUp => Response::Reauth,
                Action::ReadOnly => Response::ReadOnly,
                Action::Terminate | Action::LockAccount => Response::Terminate,
            })
            .max_by_key(|r| r.strictness())
    }

    pub fn has(&self, a: Action) -> bool {
        self.actions.contains(&a)
    }
}

/// Decide the actions for an occurrence of `chain`'s signal at `now`, given the times of the
/// earlier occurrences for the same user (any order; those outside the window, or in the
/// future, do not count).
pub fn decide_chain(chain: &Chain, prior: &[UnixTime], now: UnixTime) -> ChainDecision {
    let earlier = prior
        .iter()
        .filter(|t| **t <= now && now - **t < chain.window_secs)
        .count();
    let occurrence = u32::try_from(earlier).unwrap_or(u32::MAX).saturating_add(1);
    match chain
        .steps
        .iter()
        .filter(|s| s.occurrence <= occurrence)
        .max_by_key(|s| s.occurrence)
    {
        Some(step) => ChainDecision {
            occurrence,
            actions: step.actions.clone(),
            lock_for_secs: step.lock_for_secs,
        },
        None => ChainDecision {
            occurrence,
            ..Default::default()
        },
    }
}

/// The chain that follows `signal`, if any.
pub fn chain_for<'a>(chains: &'a [Chain], signal: &str) -> Option<&'a Chain> {
    chains.iter().find(|c| c.signal == signal)
}

/// Why a list of chains is refused: where, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidChain {
    /// `chains[0].steps[1].lock_for_secs`, ...
    pub field: String,
    pub rule: String,
}

impl std::fmt::Display for InvalidChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Parse and validate a tenant's chains from JSON.
pub fn parse_chains(raw: &str) -> Result<Vec<Chain>, InvalidChain> {
    let chains: Vec<Chain> = serde_json::from_str(raw).map_err(|e| InvalidChain {
        field: "chains".into(),
        rule: format!("not a list of chains: {e}"),
    })?;
    validate_chains(&chains)?;
    Ok(chains)
}

/// One chain per known signal; a window of 1 s to 30 days; 1 to 10 steps with distinct
/// occurrences from 1 to 100, each with at least one action; `lock_for_secs` (1 s to 366 days)
/// only with `lock_account`.
pub fn validate_chains(chains: &[Chain]) -> Result<(), InvalidChain> {
    let bad = |field: String, rule: &str| InvalidChain {
        field,
        rule: rule.into(),
    };
    if chains.len() > SIGNALS.len() {
        return Err(bad("chains".into(), "at most one chain per signal"));
    }
    for (i, c) in chains.iter().enumerate() {
        let at = format!("chains[{i}]");
        if !SIGNALS.contains(&c.signal.as_str()) {
            return Err(bad(
                format!("{at}.signal"),
                &format!(
                    "unknown signal '{}' (one of {})",
                    c.signal,
                    SIGNALS.join(", ")
                ),
            ));
        }
        if chains[..i].iter().any(|o| o.signal == c.signal) {
            return Err(bad(
                format!("{at}.signal"),
                "a second chain for this signal",
            ));
        }
        if !(1..=30 * 86_400).contains(&c.window_secs) {
            return Err(bad(format!("{at}.window_secs"), "must be 1 s to 30 days"));
        }
        if c.steps.is_empty() || c.steps.len() > 10 {
            return Err(bad(format!("{at}.steps"), "must hold 1 to 10 steps"));
        }
        for (j, s) in c.steps.iter().enumerate() {
            let sat = format!("{at}.steps[{j}]");
            if !(1..=100).contains(&s.occurrence) {
                return Err(bad(format!("{sat}.occurrence"), "must be 1 to 100"));
            }
            if c.steps[..j].iter().any(|o| o.occurrence == s.occurrence) {
                return Err(bad(format!("{sat}.occurrence"), "a second step for it"));
            }
            if s.actions.is_empty() {
                return Err(bad(
                    format!("{sat}.actions"),
                    "must name at least one action",
                ));
            }
            match s.lock_for_secs {
                Some(_) if !s.actions.contains(&Action::LockAccount) => {
                    return Err(bad(
                        format!("{sat}.lock_for_secs"),
                        "only with the lock_account action",
                    ))
                }
                Some(l) if !(1..=crate::session::lock::MAX_LOCK_SECS).contains(&l) => {
                    return Err(bad(
                        format!("{sat}.lock_for_secs"),
                        "must be 1 s to 366 days",
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn travel() -> Chain {
        Chain {
            signal: "impossible_travel".into(),
            window_secs: DAY,
            steps: vec![
                Step {
                    occurrence: 1,
                    actions: vec![Action::StepUp],
                    lock_for_secs: None,
                },
                Step {
                    occurrence: 2,
                    actions: vec![Action::Terminate, Action::LockAccount, Action::NotifyAdmins],
                    lock_for_secs: Some(3600),
                },
            ],
        }
    }

    #[test]
    fn the_first_occurrence_takes_the_first_step() {
        let d = decide_chain(&travel(), &[], 10 * DAY);
        assert_eq!(d.occurrence, 1);
        assert_eq!(d.actions, vec![Action::StepUp]);
        assert_eq!(d.response(), Some(Response::Reauth));
        assert_eq!(d.lock_for_secs, None);
    }

    #[test]
    fn a_second_occurrence_within_the_window_escalates() {
        let now = 10 * DAY;
        let d = decide_chain(&travel(), &[now - DAY + 1], now);
        assert_eq!(d.occurrence, 2);
        assert!(d.has(Action::LockAccount) && d.has(Action::NotifyAdmins));
        assert_eq!(d.response(), Some(Response::Terminate));
        assert_eq!(d.lock_for_secs, Some(3600));
    }

    #[test]
    fn occurrences_outside_the_window_or_in_the_future_do_not_count() {
        let now = 10 * DAY;
        let d = decide_chain(&travel(), &[now - DAY, now - 5 * DAY, now + 5], now);
        assert_eq!(d.occurrence, 1);
        assert_eq!(d.actions, vec![Action::StepUp]);
    }

    #[test]
    fn beyond_the_last_step_the_last_step_holds() {
        let now = 10 * DAY;
        let d = decide_chain(&travel(), &[now - 3, now - 2, now - 1], now);
        assert_eq!(d.occurrence, 4);
        assert!(d.has(Action::Terminate));
    }

    #[test]
    fn before_the_first_step_nothing_happens() {
        let c = Chain {
            signal: "low_trust".into(),
            window_secs: DAY,
            steps: vec![Step {
                occurrence: 3,
                actions: vec![Action::ReadOnly],
                lock_for_secs: None,
            }],
        };
        let d = decide_chain(&c, &[5], 10);
        assert_eq!(d.occurrence, 2);
        assert!(d.actions.is_empty());
        assert_eq!(d.response(), None);
        assert_eq!(
            decide_chain(&c, &[5, 6], 10).response(),
            Some(Response::ReadOnly)
        );
    }

    #[test]
    fn the_response_is_the_strictest_action() {
        let d = |actions: Vec<Action>| ChainDecision {
            occurrence: 1,
            actions,
            lock_for_secs: None,
        };
        assert_eq!(
            d(vec![Action::NotifyAdmins]).response(),
            Some(Response::Alert)
        );
        assert_eq!(
            d(vec![Action::ReadOnly, Action::StepUp]).response(),
            Some(Response::Reauth)
        );
        assert_eq!(
            d(vec![Action::LockAccount]).response(),
            Some(Response::Terminate)
        );
        assert_eq!(d(vec![Action::Alert]).response(), Some(Response::Alert));
    }

    #[test]
    fn chains_parse_from_json_and_are_found_by_signal() {
        let raw = r#"[{"signal":"impossible_travel","window_secs":86400,"steps":[
            {"occurrence":1,"actions":["step_up"]},
            {"occurrence":2,"actions":["terminate","lock_account","notify_admins"],"lock_for_secs":3600}]}]"#;
        let chains = parse_chains(raw).unwrap();
        assert_eq!(chains, vec![travel()]);
        assert!(chain_for(&chains, "impossible_travel").is_some());
        assert!(chain_for(&chains, "low_trust").is_none());
        let back = serde_json::to_string(&chains).unwrap();
        assert_eq!(parse_chains(&back).unwrap(), chains);
    }

    #[test]
    fn invalid_chains_name_the_field() {
        let field = |raw: &str| parse_chains(raw).unwrap_err().field;
        assert_eq!(field("{}"), "chains");
        assert_eq!(
            field(
                r#"[{"signal":"nope","window_secs":1,"steps":[{"occurrence":1,"actions":["alert"]}]}]"#
            ),
            "chains[0].signal"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":0,"steps":[{"occurrence":1,"actions":["alert"]}]}]"#
            ),
            "chains[0].window_secs"
        );
        assert_eq!(
            field(r#"[{"signal":"low_trust","window_secs":9,"steps":[]}]"#),
            "chains[0].steps"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":0,"actions":["alert"]}]}]"#
            ),
            "chains[0].steps[0].occurrence"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":["alert"]},{"occurrence":1,"actions":["alert"]}]}]"#
            ),
            "chains[0].steps[1].occurrence"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":[]}]}]"#
            ),
            "chains[0].steps[0].actions"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":["alert"],"lock_for_secs":5}]}]"#
            ),
            "chains[0].steps[0].lock_for_secs"
        );
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":["lock_account"],"lock_for_secs":0}]}]"#
            ),
            "chains[0].steps[0].lock_for_secs"
        );
        let one = r#"{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":["alert"]}]}"#;
        assert_eq!(field(&format!("[{one},{one}]")), "chains[1].signal");
        // Unknown actions and members are refused by the parser.
        assert_eq!(
            field(
                r#"[{"signal":"low_trust","window_secs":9,"steps":[{"occurrence":1,"actions":["explode"]}]}]"#
            ),
            "chains"
        );
        assert!(parse_chains("[]").unwrap().is_empty());
    }
}
