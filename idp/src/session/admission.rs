//! Concurrent-session limits: may a new session (or a session joining a client whose rule
//! limits it) be admitted, and which sessions must end for it? PURE.
//!
//! The service evaluates this inside the login transaction after locking the user's row, so N
//! parallel logins of one user are decided one after another and the limit holds exactly.

use serde::{Deserialize, Serialize};

/// What happens at the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAction {
    /// The oldest sessions end (reason `evicted`) so the new one fits.
    EvictOldest,
    /// The new login is refused.
    Refuse,
    /// The user chooses which sessions to end.
    Ask,
}

impl LimitAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitAction::EvictOldest => "evict_oldest",
            LimitAction::Refuse => "refuse",
            LimitAction::Ask => "ask",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "evict_oldest" => LimitAction::EvictOldest,
            "refuse" => LimitAction::Refuse,
            "ask" => LimitAction::Ask,
            _ => return None,
        })
    }
    /// Refusing keeps the most out, asking keeps the user in control, evicting lets the newest
    /// login through without a question (the fold keeps the strictest).
    pub fn strictness(self) -> u8 {
        match self {
            LimitAction::EvictOldest => 0,
            LimitAction::Ask => 1,
            LimitAction::Refuse => 2,
        }
    }
}

/// A live session counted against the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted<'a> {
    pub id: &'a str,
    pub created_at: i64,
}

/// The admission decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmissionDecision {
    /// Admit, after ending these sessions (empty under the limit).
    Admit { evict: Vec<String> },
    /// Refuse the new session: `live` sessions already hold the `limit`.
    Refuse { live: usize, limit: u32 },
    /// Ask the user to choose at least `must_end` of the live sessions to end.
    Ask { must_end: usize },
}

/// Decide admission of one more session when `live` sessions are counted in scope.
/// `chosen` are the sessions the user picked on the "ask" page (ignored for other actions);
/// ids not among `live` are ignored, so a stale or forged choice ends nothing it should not.
pub fn decide_admission(
    limit: Option<u32>,
    action: LimitAction,
    live: &[Counted<'_>],
    chosen: Option<&[String]>,
) -> AdmissionDecision {
    let Some(limit) = limit else {
        return AdmissionDecision::Admit { evict: vec![] };
    };
    let limit_n = limit as usize;
    if live.len() < limit_n {
        return AdmissionDecision::Admit { evict: vec![] };
    }
    let must_end = live.len() + 1 - limit_n;
    match action {
        LimitAction::EvictOldest => {
            let mut oldest: Vec<&Counted<'_>> = live.iter().collect();
            oldest.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(b.id)));
            AdmissionDecision::Admit {
                evict: oldest
                    .into_iter()
                    .take(must_end)
                    .map(|c| c.id.to_string())
                    .collect(),
            }
        }
        LimitAction::Refuse => AdmissionDecision::Refuse {
            live: live.len(),
            limit,
        },
        LimitAction::Ask => {
            let picked: Vec<String> = chosen
                .unwrap_or_default()
                .iter()
                .filter(|c| live.iter().any(|l| l.id == c.as_str()))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if picked.len() >= must_end {
                AdmissionDecision::Admit { evict: picked }
            } else {
                AdmissionDecision::Ask { must_end }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdmissionDecision::*;

    fn live(n: usize) -> Vec<Counted<'static>> {
        const IDS: [&str; 5] = ["a", "b", "c", "d", "e"];
        // Created in reverse order: "a" is the newest.
        (0..n)
            .map(|i| Counted {
                id: IDS[i],
                created_at: 100 - i as i64,
            })
            .collect()
    }
    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_limit_or_under_it_admits_without_ending_anything() {
        for action in [
            LimitAction::EvictOldest,
            LimitAction::Refuse,
            LimitAction::Ask,
        ] {
            assert_eq!(
                decide_admission(None, action, &live(5), None),
                Admit { evict: vec![] }
            );
            assert_eq!(
                decide_admission(Some(3), action, &live(2), None),
                Admit { evict: vec![] }
            );
            assert_eq!(
                decide_admission(Some(1), action, &[], None),
                Admit { evict: vec![] }
            );
        }
    }

    #[test]
    fn evict_oldest_ends_exactly_enough_of_the_oldest() {
        assert_eq!(
            decide_admission(Some(1), LimitAction::EvictOldest, &live(1), None),
            Admit { evict: ids(&["a"]) }
        );
        assert_eq!(
            decide_admission(Some(3), LimitAction::EvictOldest, &live(3), None),
            Admit { evict: ids(&["c"]) }
        );
        // Over the limit already (the limit was lowered): back down to it.
        assert_eq!(
            decide_admission(Some(2), LimitAction::EvictOldest, &live(5), None),
            Admit {
                evict: ids(&["e", "d", "c", "b"])
            }
        );
    }

    #[test]
    fn ties_in_age_are_broken_by_id() {
        let l = [
            Counted {
                id: "y",
                created_at: 5,
            },
            Counted {
                id: "x",
                created_at: 5,
            },
        ];
        assert_eq!(
            decide_admission(Some(2), LimitAction::EvictOldest, &l, None),
            Admit { evict: ids(&["x"]) }
        );
    }

    #[test]
    fn refuse_at_the_limit() {
        assert_eq!(
            decide_admission(Some(1), LimitAction::Refuse, &live(1), None),
            Refuse { live: 1, limit: 1 }
        );
        assert_eq!(
            decide_admission(Some(2), LimitAction::Refuse, &live(3), None),
            Refuse { live: 3, limit: 2 }
        );
    }

    #[test]
    fn ask_until_enough_sessions_are_chosen() {
        assert_eq!(
            decide_admission(Some(2), LimitAction::Ask, &live(3), None),
            Ask { must_end: 2 }
        );
        assert_eq!(
            decide_admission(Some(2), LimitAction::Ask, &live(3), Some(&ids(&["a"]))),
            Ask { must_end: 2 }
        );
        assert_eq!(
            decide_admission(Some(2), LimitAction::Ask, &live(3), Some(&ids(&["c", "a"]))),
            Admit {
                evict: ids(&["a", "c"])
            }
        );
        // Choosing more than needed ends all the chosen ones: the user asked for it.
        assert_eq!(
            decide_admission(
                Some(3),
                LimitAction::Ask,
                &live(3),
                Some(&ids(&["a", "b", "c"]))
            ),
            Admit {
                evict: ids(&["a", "b", "c"])
            }
        );
    }

    #[test]
    fn forged_or_repeated_choices_do_not_count() {
        assert_eq!(
            decide_admission(Some(1), LimitAction::Ask, &live(1), Some(&ids(&["zzz"]))),
            Ask { must_end: 1 }
        );
        assert_eq!(
            decide_admission(Some(2), LimitAction::Ask, &live(3), Some(&ids(&["a", "a"]))),
            Ask { must_end: 2 }
        );
    }

    #[test]
    fn actions_parse_and_rank() {
        for a in [
            LimitAction::EvictOldest,
            LimitAction::Refuse,
            LimitAction::Ask,
        ] {
            assert_eq!(LimitAction::parse(a.as_str()), Some(a));
        }
        assert!(LimitAction::Refuse.strictness() > LimitAction::Ask.strictness());
        assert!(LimitAction::Ask.strictness() > LimitAction::EvictOldest.strictness());
    }
}
