//! Layered session policy: the tenant default, group rules (by group membership or by a user
//! attribute), and client rules, folded into one [`EffectivePolicy`] in which the most
//! restrictive value of every field wins, recording which layer set each value (STYLE.md rule 4).
//!
//! A layer is stored as one `key = value` row per field (see the governance migration), parsed
//! here by [`PolicyLayer::from_settings`]: an unknown key or a value that does not parse is an
//! error naming the field, never a silent default.
//!
//! The fold: the tenant layer replaces the built-in defaults (it may loosen them: a tenant may
//! choose a longer idle timeout); every other layer can only tighten. Timeouts and the session
//! limit take the minimum; the limit action takes the strictest (`refuse` over `ask` over
//! `evict_oldest`); `refresh_reuse_ends_session` is on once any layer asks; schedules add up
//! (a session ends at the earliest scheduled time of any rule that applies to it).

use super::admission::LimitAction;
use super::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a layer applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Tenant,
    Group,
    Attribute,
    Client,
}

impl LayerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Tenant => "tenant",
            LayerKind::Group => "group",
            LayerKind::Attribute => "attribute",
            LayerKind::Client => "client",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "tenant" => LayerKind::Tenant,
            "group" => LayerKind::Group,
            "attribute" => LayerKind::Attribute,
            "client" => LayerKind::Client,
            _ => return None,
        })
    }
}

/// Which layer: the tenant, `group:NAME`, `attribute:KEY=VALUE` or `client:CLIENT_ID`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayerRef {
    pub kind: LayerKind,
    /// Empty for the tenant; the group name; `key=value`; the client's public `client_id`.
    pub subject: String,
}

impl LayerRef {
    pub fn tenant() -> Self {
        Self {
            kind: LayerKind::Tenant,
            subject: String::new(),
        }
    }
    pub fn group(name: &str) -> Self {
        Self {
            kind: LayerKind::Group,
            subject: name.into(),
        }
    }
    pub fn attribute(key: &str, value: &str) -> Self {
        Self {
            kind: LayerKind::Attribute,
            subject: format!("{key}={value}"),
        }
    }
    pub fn client(client_id: &str) -> Self {
        Self {
            kind: LayerKind::Client,
            subject: client_id.into(),
        }
    }
}

impl fmt::Display for LayerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LayerKind::Tenant => f.write_str("tenant"),
            k => write!(f, "{}:{}", k.as_str(), self.subject),
        }
    }
}

/// One layer's settings; `None` means "no opinion".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyLayer {
    pub idle_timeout_secs: Option<i64>,
    pub absolute_timeout_secs: Option<i64>,
    /// Maximum concurrent sessions: per user, or per (user, client) when a client rule sets it.
    pub max_sessions: Option<u32>,
    pub limit_action: Option<LimitAction>,
    /// Whether a refresh-token replay ends the whole session, not only the token family.
    pub refresh_reuse_ends_session: Option<bool>,
    /// Session ends at fixed local times (group and attribute rules).
    pub schedule: Option<Schedule>,
    /// A rule property, not folded: a user who enters or leaves this rule's group or attribute
    /// has every session ended (reason `attributes_changed`).
    pub end_sessions_on_membership_change: Option<bool>,
}

/// A stored or submitted setting that is not a valid policy field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy field {field}: {reason}")]
pub struct PolicyFieldError {
    pub field: String,
    pub reason: String,
}

fn field_err(field: &str, reason: impl Into<String>) -> PolicyFieldError {
    PolicyFieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Every field a layer may set, with its help text (the CLI lists these).
pub const FIELDS: &[(&str, &str)] = &[
    (
        "idle_timeout_secs",
        "seconds without activity before a session ends (30m, 8h accepted)",
    ),
    (
        "absolute_timeout_secs",
        "seconds after login when a session ends whatever happens",
    ),
    (
        "max_sessions",
        "concurrent sessions per user (per user and client on a client rule)",
    ),
    ("limit_action", "at the limit: evict_oldest | refuse | ask"),
    (
        "refresh_reuse_ends_session",
        "true | false: a replayed refresh token ends the session",
    ),
    (
        "schedule",
        "fixed end times and IANA zone, e.g. \"07:00,19:00 Europe/Berlin\"",
    ),
    (
        "end_sessions_on_membership_change",
        "true | false: entering or leaving this group or attribute ends the user's sessions",
    ),
];

/// `90`, `90s`, `15m`, `8h`, `2d`: a positive number of seconds.
pub fn parse_duration_secs(field: &str, v: &str) -> Result<i64, PolicyFieldError> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last() {
        Some((i, 's')) => (&v[..i], 1),
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 'h')) => (&v[..i], 3600),
        Some((i, 'd')) => (&v[..i], 86_400),
        _ => (v, 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n <= 366 * 86_400)
        .ok_or_else(|| {
            field_err(
                field,
                format!("'{v}' is not a duration between 1 second and 366 days"),
            )
        })
}

fn parse_bool(field: &str, v: &str) -> Result<bool, PolicyFieldError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(field_err(field, format!("'{v}' is not true or false"))),
    }
}

impl PolicyLayer {
    /// Set one field from its textual form (CLI, API and stored rows share this parser).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PolicyFieldError> {
        match key {
            "idle_timeout_secs" => self.idle_timeout_secs = Some(parse_duration_secs(key, value)?),
            "absolute_timeout_secs" => {
                self.absolute_timeout_secs = Some(parse_duration_secs(key, value)?)
            }
            "max_sessions" => {
                self.max_sessions = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            field_err(key, format!("'{value}' is not a number from 1 to 10000"))
                        })?,
                )
            }
            "limit_action" => {
                self.limit_action = Some(LimitAction::parse(value).ok_or_else(|| {
                    field_err(key, format!("'{value}' is not evict_oldest, refuse or ask"))
                })?)
            }
            "refresh_reuse_ends_session" => {
                self.refresh_reuse_ends_session = Some(parse_bool(key, value)?)
            }
            "schedule" => {
                self.schedule = Some(value.parse::<Schedule>().map_err(|e| field_err(key, e))?)
            }
            "end_sessions_on_membership_change" => {
                self.end_sessions_on_membership_change = Some(parse_bool(key, value)?)
            }
            _ => return Err(field_err(key, "unknown field")),
        }
        Ok(())
    }

    /// Clear one field. Unknown keys are an error.
    pub fn unset(&mut self, key: &str) -> Result<(), PolicyFieldError> {
        match key {
            "idle_timeout_secs" => self.idle_timeout_secs = None,
            "absolute_timeout_secs" => self.absolute_timeout_secs = None,
            "max_sessions" => self.max_sessions = None,
            "limit_action" => self.limit_action = None,
            "refresh_reuse_ends_session" => self.refresh_reuse_ends_session = None,
            "schedule" => self.schedule = None,
            "end_sessions_on_membership_change" => self.end_sessions_on_membership_change = None,
            _ => return Err(field_err(key, "unknown field")),
        }
        Ok(())
    }

    /// Parse stored rows.
    pub fn from_settings<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyFieldError> {
        let mut l = PolicyLayer::default();
        for (k, v) in rows {
            l.set(k, v)?;
        }
        Ok(l)
    }

    /// The rows that store this layer, in canonical form.
    pub fn to_settings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = self.idle_timeout_secs {
            out.push(("idle_timeout_secs", v.to_string()));
        }
        if let Some(v) = self.absolute_timeout_secs {
            out.push(("absolute_timeout_secs", v.to_string()));
        }
        if let Some(v) = self.max_sessions {
            out.push(("max_sessions", v.to_string()));
        }
        if let Some(v) = self.limit_action {
            out.push(("limit_action", v.as_str().to_string()));
        }
        if let Some(v) = self.refresh_reuse_ends_session {
            out.push(("refresh_reuse_ends_session", v.to_string()));
        }
        if let Some(v) = &self.schedule {
            out.push(("schedule", v.to_string()));
        }
        if let Some(v) = self.end_sessions_on_membership_change {
            out.push(("end_sessions_on_membership_change", v.to_string()));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.to_settings().is_empty()
    }
}

/// Which layer set an effective value. Stored and shown as text: `default`, `tenant`,
/// `group:NAME`, `attribute:KEY=VALUE`, `client:CLIENT_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Layer(LayerRef),
}

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => return Ok(Source::Default),
            "tenant" => return Ok(Source::Layer(LayerRef::tenant())),
            _ => {}
        }
        let (kind, subject) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}' is not a policy layer"))?;
        let kind = LayerKind::parse(kind)
            .filter(|k| *k != LayerKind::Tenant)
            .ok_or_else(|| format!("'{s}' is not a policy layer"))?;
        Ok(Source::Layer(LayerRef {
            kind,
            subject: subject.into(),
        }))
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Layer(l) => l.fmt(f),
        }
    }
}

/// An effective value and the layer behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

impl<T> Sourced<T> {
    fn default_value(value: T) -> Self {
        Self {
            value,
            source: Source::Default,
        }
    }
    fn set(&mut self, value: T, layer: &LayerRef) {
        self.value = value;
        self.source = Source::Layer(layer.clone());
    }
}

/// The policy in force for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    pub idle_timeout_secs: Sourced<i64>,
    pub absolute_timeout_secs: Sourced<i64>,
    pub max_sessions: Sourced<Option<u32>>,
    pub limit_action: Sourced<LimitAction>,
    pub refresh_reuse_ends_session: Sourced<bool>,
    pub schedules: Vec<Sourced<Schedule>>,
}

impl Default for EffectivePolicy {
    /// Built-in defaults: one hour idle, twelve hours absolute, no session limit (evict oldest
    /// once one is set), replay ends the session, no schedule.
    fn default() -> Self {
        Self {
            idle_timeout_secs: Sourced::default_value(3600),
            absolute_timeout_secs: Sourced::default_value(12 * 3600),
            max_sessions: Sourced::default_value(None),
            limit_action: Sourced::default_value(LimitAction::EvictOldest),
            refresh_reuse_ends_session: Sourced::default_value(true),
            schedules: Vec::new(),
        }
    }
}

/// One effective value as people read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldValue {
    pub field: &'static str,
    pub value: serde_json::Value,
    /// The layer behind it (see [`Source`]).
    pub source: String,
}

impl EffectivePolicy {
    /// Field by field, with the layer behind each value (schedules one entry each).
    pub fn fields(&self) -> Vec<FieldValue> {
        fn f(field: &'static str, value: serde_json::Value, source: &Source) -> FieldValue {
            FieldValue {
                field,
                value,
                source: source.to_string(),
            }
        }
        let mut out = vec![
            f(
                "idle_timeout_secs",
                self.idle_timeout_secs.value.into(),
                &self.idle_timeout_secs.source,
            ),
            f(
                "absolute_timeout_secs",
                self.absolute_timeout_secs.value.into(),
                &self.absolute_timeout_secs.source,
            ),
            f(
                "max_sessions",
                self.max_sessions
                    .value
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
                &self.max_sessions.source,
            ),
            f(
                "limit_action",
                self.limit_action.value.as_str().into(),
                &self.limit_action.source,
            ),
            f(
                "refresh_reuse_ends_session",
                self.refresh_reuse_ends_session.value.into(),
                &self.refresh_reuse_ends_session.source,
            ),
        ];
        for s in &self.schedules {
            out.push(f("schedule", s.value.to_string().into(), &s.source));
        }
        out
    }

    /// The client whose rule set the session limit: the limit is then counted per (user, that
    /// client); otherwise per user across the tenant.
    pub fn limit_client(&self) -> Option<&str> {
        match &self.max_sessions.source {
            Source::Layer(LayerRef {
                kind: LayerKind::Client,
                subject,
            }) => Some(subject),
            _ => None,
        }
    }

    /// The earliest scheduled end strictly after `after`, across every schedule.
    pub fn next_scheduled_end(&self, after: i64) -> Option<i64> {
        self.schedules
            .iter()
            .filter_map(|s| s.value.next_end(after))
            .min()
    }

    /// The stored snapshot.
    pub fn to_snapshot(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_snapshot(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// Fold layers, tenant first, over the built-in defaults.
pub fn resolve_policy<'a>(
    layers: impl IntoIterator<Item = (&'a LayerRef, &'a PolicyLayer)>,
) -> EffectivePolicy {
    let mut p = EffectivePolicy::default();
    for (r, l) in layers {
        let base = r.kind == LayerKind::Tenant;
        if let Some(v) = l.idle_timeout_secs {
            if base || v < p.idle_timeout_secs.value {
                p.idle_timeout_secs.set(v, r);
            }
        }
        if let Some(v) = l.absolute_timeout_secs {
            if base || v < p.absolute_timeout_secs.value {
                p.absolute_timeout_secs.set(v, r);
            }
        }
        if let Some(v) = l.max_sessions {
            if p.max_sessions.value.is_none_or(|cur| v < cur) {
                p.max_sessions.set(Some(v), r);
            }
        }
        if let Some(v) = l.limit_action {
            if base || v.strictness() > p.limit_action.value.strictness() {
                p.limit_action.set(v, r);
            }
        }
        if let Some(v) = l.refresh_reuse_ends_session {
            if base || (v && !p.refresh_reuse_ends_session.value) {
                p.refresh_reuse_ends_session.set(v, r);
            }
        }
        if let Some(s) = &l.schedule {
            p.schedules.push(Sourced {
                value: s.clone(),
                source: Source::Layer(r.clone()),
            });
        }
    }
    p
}

/// The facts about a user that decide which group and attribute rules apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub groups: Vec<String>,
    pub attributes: Vec<(String, String)>,
}

impl Membership {
    /// Does a group or attribute rule select this user? (Tenant and client layers are chosen by
    /// the caller: the tenant always, clients by participation.)
    pub fn selects(&self, r: &LayerRef) -> bool {
        match r.kind {
            LayerKind::Tenant => true,
            LayerKind::Group => self.groups.contains(&r.subject),
            LayerKind::Attribute => match r.subject.split_once('=') {
                Some((rk, rv)) => self.attributes.iter().any(|(k, v)| k == rk && v == rv),
                None => false,
            },
            LayerKind::Client => false,
        }
    }
}

/// The layers that apply to a user in the given clients, in fold order: the tenant, then group
/// and attribute rules, then client rules (each group sorted, so the result is deterministic).
pub fn applicable_layers<'a>(
    all: &'a [(LayerRef, PolicyLayer)],
    who: &Membership,
    client_ids: &[&str],
) -> Vec<(&'a LayerRef, &'a PolicyLayer)> {
    let mut out: Vec<(&LayerRef, &PolicyLayer)> = all
        .iter()
        .filter(|(r, _)| match r.kind {
            LayerKind::Client => client_ids.contains(&r.subject.as_str()),
            _ => who.selects(r),
        })
        .map(|(r, l)| (r, l))
        .collect();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}

/// The group and attribute rules that end sessions when a user enters or leaves them, whose
/// selection differs between two memberships.
pub fn decide_membership_change<'a>(
    all: &'a [(LayerRef, PolicyLayer)],
    before: &Membership,
    after: &Membership,
) -> Vec<&'a LayerRef> {
    all.iter()
        .filter(|(r, l)| {
            matches!(r.kind, LayerKind::Group | LayerKind::Attribute)
                && l.end_sessions_on_membership_change == Some(true)
                && before.selects(r) != after.selects(r)
        })
        .map(|(r, _)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(kv: &[(&str, &str)]) -> PolicyLayer {
        PolicyLayer::from_settings(kv.iter().copied()).unwrap()
    }

    fn fold(layers: &[(LayerRef, PolicyLayer)]) -> EffectivePolicy {
        resolve_policy(layers.iter().map(|(r, l)| (r, l)))
    }

    #[test]
    fn no_layers_gives_defaults() {
        let p = fold(&[]);
        assert_eq!(p, EffectivePolicy::default());
        assert_eq!(p.idle_timeout_secs.value, 3600);
        assert_eq!(p.absolute_timeout_secs.value, 43200);
        assert_eq!(p.max_sessions.value, None);
        assert!(p.refresh_reuse_ends_session.value);
        assert_eq!(p.idle_timeout_secs.source, Source::Default);
    }

    #[test]
    fn tenant_layer_sets_values_even_looser_than_default() {
        let t = layer(&[
            ("idle_timeout_secs", "7200"),
            ("absolute_timeout_secs", "1d"),
            ("refresh_reuse_ends_session", "false"),
            ("limit_action", "evict_oldest"),
        ]);
        let p = fold(&[(LayerRef::tenant(), t)]);
        assert_eq!(p.idle_timeout_secs.value, 7200);
        assert_eq!(p.absolute_timeout_secs.value, 86400);
        assert!(!p.refresh_reuse_ends_session.value);
        assert_eq!(
            p.idle_timeout_secs.source,
            Source::Layer(LayerRef::tenant())
        );
    }

    #[test]
    fn idle_timeout_only_tightens_after_the_tenant_and_names_its_layer() {
        let t = (LayerRef::tenant(), layer(&[("idle_timeout_secs", "600")]));
        let looser = (
            LayerRef::group("a"),
            layer(&[("idle_timeout_secs", "9000")]),
        );
        let tighter = (LayerRef::client("c"), layer(&[("idle_timeout_secs", "60")]));
        let p = fold(&[t.clone(), looser.clone()]);
        assert_eq!(p.idle_timeout_secs.value, 600);
        assert_eq!(
            p.idle_timeout_secs.source,
            Source::Layer(LayerRef::tenant())
        );
        let p = fold(&[t, looser, tighter]);
        assert_eq!(p.idle_timeout_secs.value, 60);
        assert_eq!(
            p.idle_timeout_secs.source,
            Source::Layer(LayerRef::client("c"))
        );
    }

    #[test]
    fn absolute_timeout_only_tightens_after_the_tenant() {
        let t = (
            LayerRef::tenant(),
            layer(&[("absolute_timeout_secs", "1000")]),
        );
        let l = (
            LayerRef::group("g"),
            layer(&[("absolute_timeout_secs", "5000")]),
        );
        assert_eq!(fold(&[t.clone(), l]).absolute_timeout_secs.value, 1000);
        let l = (
            LayerRef::attribute("k", "v"),
            layer(&[("absolute_timeout_secs", "10")]),
        );
        let p = fold(&[t, l]);
        assert_eq!(p.absolute_timeout_secs.value, 10);
        assert_eq!(
            p.absolute_timeout_secs.source,
            Source::Layer(LayerRef::attribute("k", "v"))
        );
    }

    #[test]
    fn a_group_without_the_tenant_can_tighten_the_default_only() {
        let g = (
            LayerRef::group("g"),
            layer(&[("idle_timeout_secs", "99999")]),
        );
        assert_eq!(fold(&[g]).idle_timeout_secs.value, 3600);
    }

    #[test]
    fn max_sessions_takes_the_minimum_and_names_the_client_for_per_client_counting() {
        let t = (LayerRef::tenant(), layer(&[("max_sessions", "5")]));
        let g = (LayerRef::group("traders"), layer(&[("max_sessions", "3")]));
        let c = (LayerRef::client("trading"), layer(&[("max_sessions", "1")]));
        let p = fold(&[t.clone(), g.clone()]);
        assert_eq!(p.max_sessions.value, Some(3));
        assert_eq!(p.limit_client(), None);
        let p = fold(&[t.clone(), g.clone(), c]);
        assert_eq!(p.max_sessions.value, Some(1));
        assert_eq!(p.limit_client(), Some("trading"));
        // A looser group limit does not loosen the tenant's.
        let g = (LayerRef::group("g"), layer(&[("max_sessions", "9")]));
        assert_eq!(fold(&[t, g]).max_sessions.value, Some(5));
    }

    #[test]
    fn limit_action_takes_the_strictest_after_the_tenant() {
        let t = |a: &str| (LayerRef::tenant(), layer(&[("limit_action", a)]));
        let g = |a: &str| (LayerRef::group("g"), layer(&[("limit_action", a)]));
        assert_eq!(fold(&[t("ask")]).limit_action.value, LimitAction::Ask);
        assert_eq!(
            fold(&[t("refuse"), g("evict_oldest")]).limit_action.value,
            LimitAction::Refuse
        );
        assert_eq!(
            fold(&[t("evict_oldest"), g("ask")]).limit_action.value,
            LimitAction::Ask
        );
        assert_eq!(
            fold(&[t("ask"), g("refuse")]).limit_action.value,
            LimitAction::Refuse
        );
        assert_eq!(
            fold(&[t("ask"), g("refuse")]).limit_action.source,
            Source::Layer(LayerRef::group("g"))
        );
    }

    #[test]
    fn later_layers_can_only_turn_replay_ending_on() {
        let off = |r: LayerRef| (r, layer(&[("refresh_reuse_ends_session", "false")]));
        let on = |r: LayerRef| (r, layer(&[("refresh_reuse_ends_session", "true")]));
        assert!(
            fold(&[off(LayerRef::tenant()), on(LayerRef::group("g"))])
                .refresh_reuse_ends_session
                .value
        );
        assert!(
            fold(&[on(LayerRef::tenant()), off(LayerRef::group("g"))])
                .refresh_reuse_ends_session
                .value
        );
        assert!(
            !fold(&[off(LayerRef::tenant())])
                .refresh_reuse_ends_session
                .value
        );
    }

    #[test]
    fn schedules_add_up_and_the_earliest_end_wins() {
        let a = (
            LayerRef::group("night"),
            layer(&[("schedule", "07:00 UTC")]),
        );
        let b = (LayerRef::group("day"), layer(&[("schedule", "19:00 UTC")]));
        let p = fold(&[a, b]);
        assert_eq!(p.schedules.len(), 2);
        // 2026-12-01T00:00:00Z = 1796083200.
        assert_eq!(
            p.next_scheduled_end(1_796_083_200),
            Some(1_796_083_200 + 7 * 3600)
        );
        assert_eq!(
            p.next_scheduled_end(1_796_083_200 + 8 * 3600),
            Some(1_796_083_200 + 19 * 3600)
        );
    }

    #[test]
    fn stored_fields_that_do_not_parse_name_the_field() {
        for (k, v) in [
            ("idle_timeout_secs", "soon"),
            ("idle_timeout_secs", "0"),
            ("idle_timeout_secs", "-5"),
            ("absolute_timeout_secs", "400d"),
            ("max_sessions", "0"),
            ("max_sessions", "many"),
            ("limit_action", "shrug"),
            ("refresh_reuse_ends_session", "yes"),
            ("schedule", "25:00 UTC"),
            ("schedule", "07:00 Mars/Olympus"),
            ("end_sessions_on_membership_change", "1"),
            ("idle_timeout", "60"),
        ] {
            let e = PolicyLayer::from_settings([(k, v)]).unwrap_err();
            assert_eq!(e.field, k, "{k}={v}");
        }
    }

    #[test]
    fn settings_round_trip_in_canonical_form() {
        let l = layer(&[
            ("idle_timeout_secs", "15m"),
            ("absolute_timeout_secs", "8h"),
            ("max_sessions", "2"),
            ("limit_action", "ask"),
            ("refresh_reuse_ends_session", "true"),
            ("schedule", "19:00,07:00 Europe/Berlin"),
            ("end_sessions_on_membership_change", "true"),
        ]);
        assert_eq!(l.idle_timeout_secs, Some(900));
        assert_eq!(l.absolute_timeout_secs, Some(28800));
        let rows = l.to_settings();
        assert!(rows.contains(&("schedule", "07:00,19:00 Europe/Berlin".to_string())));
        let back = PolicyLayer::from_settings(rows.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, l);
        let mut l = l;
        for (k, _) in FIELDS {
            l.unset(k).unwrap();
        }
        assert!(l.is_empty());
        assert!(l.unset("nope").is_err());
    }

    #[test]
    fn sources_read_as_text_and_back() {
        for s in [
            "default",
            "tenant",
            "group:night-shift",
            "attribute:clearance=secret",
            "client:web",
        ] {
            assert_eq!(s.parse::<Source>().unwrap().to_string(), s);
        }
        for bad in ["", "group", "tenant:x", "galaxy:far"] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_name_the_layer_behind_each_value() {
        let t = (LayerRef::tenant(), layer(&[("max_sessions", "3")]));
        let g = (
            LayerRef::group("ops"),
            layer(&[("idle_timeout_secs", "60"), ("schedule", "07:00 UTC")]),
        );
        let f = fold(&[t, g]).fields();
        let get = |k: &str| f.iter().find(|x| x.field == k).unwrap().clone();
        assert_eq!(get("idle_timeout_secs").value, 60);
        assert_eq!(get("idle_timeout_secs").source, "group:ops");
        assert_eq!(get("max_sessions").source, "tenant");
        assert_eq!(get("absolute_timeout_secs").source, "default");
        assert_eq!(get("schedule").value, "07:00 UTC");
    }

    #[test]
    fn snapshots_round_trip() {
        let t = (
            LayerRef::tenant(),
            layer(&[("max_sessions", "2"), ("schedule", "07:00 UTC")]),
        );
        let p = fold(&[t]);
        assert_eq!(EffectivePolicy::from_snapshot(&p.to_snapshot()).unwrap(), p);
        assert!(EffectivePolicy::from_snapshot("{\"idle_timeout_secs\": 5}").is_err());
    }

    #[test]
    fn rules_select_users_by_group_or_attribute() {
        let who = Membership {
            groups: vec!["night-shift".into()],
            attributes: vec![("clearance".into(), "secret".into())],
        };
        assert!(who.selects(&LayerRef::tenant()));
        assert!(who.selects(&LayerRef::group("night-shift")));
        assert!(!who.selects(&LayerRef::group("day-shift")));
        assert!(who.selects(&LayerRef::attribute("clearance", "secret")));
        assert!(!who.selects(&LayerRef::attribute("clearance", "top")));
        assert!(!who.selects(&LayerRef::attribute("clearances", "ecret")));
        assert!(!who.selects(&LayerRef::client("c")));
    }

    #[test]
    fn applicable_layers_are_tenant_rules_then_clients_in_order() {
        let all = vec![
            (LayerRef::client("b"), PolicyLayer::default()),
            (LayerRef::group("z"), PolicyLayer::default()),
            (LayerRef::client("a"), PolicyLayer::default()),
            (LayerRef::tenant(), PolicyLayer::default()),
            (LayerRef::group("y"), PolicyLayer::default()),
        ];
        let who = Membership {
            groups: vec!["z".into()],
            attributes: vec![],
        };
        let got: Vec<String> = applicable_layers(&all, &who, &["a"])
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        assert_eq!(got, vec!["tenant", "group:z", "client:a"]);
    }

    #[test]
    fn membership_changes_end_sessions_only_under_rules_that_say_so() {
        let all = vec![
            (
                LayerRef::attribute("clearance", "secret"),
                layer(&[("end_sessions_on_membership_change", "true")]),
            ),
            (
                LayerRef::group("staff"),
                layer(&[("idle_timeout_secs", "60")]),
            ),
        ];
        let before = Membership {
            groups: vec!["staff".into()],
            attributes: vec![("clearance".into(), "secret".into())],
        };
        let lost_clearance = Membership {
            groups: vec!["staff".into()],
            attributes: vec![],
        };
        let left_staff = Membership {
            groups: vec![],
            attributes: vec![("clearance".into(), "secret".into())],
        };
        assert_eq!(
            decide_membership_change(&all, &before, &lost_clearance),
            vec![&LayerRef::attribute("clearance", "secret")]
        );
        assert!(decide_membership_change(&all, &before, &left_staff).is_empty());
        assert_eq!(
            decide_membership_change(&all, &lost_clearance, &before).len(),
            1
        );
        assert!(decide_membership_change(&all, &before, &before).is_empty());
    }
}
