//! Layered session policy: tenant default ← group rules ← client rules, folded into one
//! [`EffectivePolicy`] where the most restrictive value of each field wins.

use serde::{Deserialize, Serialize};

/// One layer's settings; `None` means "no opinion".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyLayer {
    pub idle_timeout_secs: Option<i64>,
    pub absolute_timeout_secs: Option<i64>,
    /// Whether a refresh-token replay ends the whole session, not only the token family.
    pub refresh_reuse_ends_session: Option<bool>,
}

/// The policy in force for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectivePolicy {
    pub idle_timeout_secs: i64,
    pub absolute_timeout_secs: i64,
    pub refresh_reuse_ends_session: bool,
}

impl Default for EffectivePolicy {
    /// Built-in defaults: one hour idle, twelve hours absolute, replay ends the session.
    fn default() -> Self {
        Self {
            idle_timeout_secs: 3600,
            absolute_timeout_secs: 12 * 3600,
            refresh_reuse_ends_session: true,
        }
    }
}

/// Fold layers over the built-in defaults. Shorter timeouts win; `true` wins for
/// `refresh_reuse_ends_session` once any layer asks for it, except that the tenant layer
/// (the first) may turn the default off.
pub fn resolve_policy(layers: &[PolicyLayer]) -> EffectivePolicy {
    let mut p = EffectivePolicy::default();
    let mut first = true;
    for l in layers {
        if let Some(v) = l.idle_timeout_secs.filter(|v| *v > 0) {
            p.idle_timeout_secs = if first { v } else { p.idle_timeout_secs.min(v) };
        }
        if let Some(v) = l.absolute_timeout_secs.filter(|v| *v > 0) {
            p.absolute_timeout_secs = if first {
                v
            } else {
                p.absolute_timeout_secs.min(v)
            };
        }
        if let Some(v) = l.refresh_reuse_ends_session {
            p.refresh_reuse_ends_session = if first {
                v
            } else {
                p.refresh_reuse_ends_session || v
            };
        }
        first = false;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_layers_gives_defaults() {
        assert_eq!(resolve_policy(&[]), EffectivePolicy::default());
    }

    #[test]
    fn tenant_layer_sets_values_even_looser_than_default() {
        let t = PolicyLayer {
            idle_timeout_secs: Some(7200),
            absolute_timeout_secs: Some(86400),
            refresh_reuse_ends_session: Some(false),
        };
        let p = resolve_policy(&[t]);
        assert_eq!(p.idle_timeout_secs, 7200);
        assert_eq!(p.absolute_timeout_secs, 86400);
        assert!(!p.refresh_reuse_ends_session);
    }

    #[test]
    fn later_layers_only_tighten_idle() {
        let t = PolicyLayer {
            idle_timeout_secs: Some(600),
            ..Default::default()
        };
        let looser = PolicyLayer {
            idle_timeout_secs: Some(9000),
            ..Default::default()
        };
        let tighter = PolicyLayer {
            idle_timeout_secs: Some(60),
            ..Default::default()
        };
        assert_eq!(resolve_policy(&[t.clone(), looser]).idle_timeout_secs, 600);
        assert_eq!(resolve_policy(&[t, tighter]).idle_timeout_secs, 60);
    }

    #[test]
    fn later_layers_only_tighten_absolute() {
        let t = PolicyLayer {
            absolute_timeout_secs: Some(1000),
            ..Default::default()
        };
        let l = PolicyLayer {
            absolute_timeout_secs: Some(5000),
            ..Default::default()
        };
        assert_eq!(resolve_policy(&[t.clone(), l]).absolute_timeout_secs, 1000);
        let l = PolicyLayer {
            absolute_timeout_secs: Some(10),
            ..Default::default()
        };
        assert_eq!(resolve_policy(&[t, l]).absolute_timeout_secs, 10);
    }

    #[test]
    fn later_layers_can_only_turn_replay_ending_on() {
        let off = PolicyLayer {
            refresh_reuse_ends_session: Some(false),
            ..Default::default()
        };
        let on = PolicyLayer {
            refresh_reuse_ends_session: Some(true),
            ..Default::default()
        };
        assert!(resolve_policy(&[off.clone(), on.clone()]).refresh_reuse_ends_session);
        assert!(resolve_policy(&[on, off.clone()]).refresh_reuse_ends_session);
        assert!(!resolve_policy(&[off]).refresh_reuse_ends_session);
    }

    #[test]
    fn non_positive_values_are_ignored() {
        let t = PolicyLayer {
            idle_timeout_secs: Some(0),
            absolute_timeout_secs: Some(-5),
            ..Default::default()
        };
        assert_eq!(resolve_policy(&[t]), EffectivePolicy::default());
    }
}
