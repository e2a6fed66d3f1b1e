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
use super::binding::{BindingRules, DeviceMode, IpMode, Response, UaMode};
use super::schedule::Schedule;
use super::trust::LowTrustResponse;
mod fields;
#[cfg(test)]
mod tests;

pub use fields::{parse_duration_secs, FIELDS};
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
    pub bind_ip: Option<IpMode>,
    pub bind_ip_v4_prefix: Option<u8>,
    pub bind_ip_v6_prefix: Option<u8>,
    pub on_ip_mismatch: Option<Response>,
    pub bind_user_agent: Option<UaMode>,
    pub on_user_agent_mismatch: Option<Response>,
    pub bind_device: Option<DeviceMode>,
    pub on_device_mismatch: Option<Response>,
    /// Scopes a read-only session's new access tokens may still carry.
    pub read_only_scopes: Option<Vec<String>>,
    /// A second factor is required (acr `urn:lanyard:acr:mfa`).
    pub require_mfa: Option<bool>,
    /// An elevated acr decays to the password level this long after the second factor.
    pub mfa_max_age_secs: Option<i64>,
    /// A password or factor change also ends the user's `offline_access` grants.
    pub credential_change_ends_offline: Option<bool>,
    /// Impossible travel: the fastest plausible movement between two sightings of a session.
    pub travel_max_speed_kmh: Option<u32>,
    pub on_impossible_travel: Option<Response>,
    /// Duplicate sessions (`session::duplicate`): the cookie used from two contexts this close.
    pub duplicate_window_secs: Option<i64>,
    pub on_duplicate_session: Option<Response>,
    /// Device trust (`session::trust`): a login from a device scoring lower gets the response.
    pub min_device_trust: Option<u8>,
    pub on_low_device_trust: Option<LowTrustResponse>,
}

/// A stored or submitted setting that is not a valid policy field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy field {field}: {reason}")]
pub struct PolicyFieldError {
    pub field: String,
    pub reason: String,
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

/// The policy in force for one session. Snapshots stored before a field existed read it as its
/// built-in default (`#[serde(default)]`: the policy of that time had no opinion on it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EffectivePolicy {
    pub idle_timeout_secs: Sourced<i64>,
    pub absolute_timeout_secs: Sourced<i64>,
    pub max_sessions: Sourced<Option<u32>>,
    pub limit_action: Sourced<LimitAction>,
    pub refresh_reuse_ends_session: Sourced<bool>,
    pub schedules: Vec<Sourced<Schedule>>,
    pub bind_ip: Sourced<IpMode>,
    pub bind_ip_v4_prefix: Sourced<u8>,
    pub bind_ip_v6_prefix: Sourced<u8>,
    pub on_ip_mismatch: Sourced<Response>,
    pub bind_user_agent: Sourced<UaMode>,
    pub on_user_agent_mismatch: Sourced<Response>,
    pub bind_device: Sourced<DeviceMode>,
    pub on_device_mismatch: Sourced<Response>,
    pub read_only_scopes: Sourced<Vec<String>>,
    pub require_mfa: Sourced<bool>,
    pub mfa_max_age_secs: Sourced<Option<i64>>,
    pub credential_change_ends_offline: Sourced<bool>,
    /// `None`: impossible travel is not evaluated.
    pub travel_max_speed_kmh: Sourced<Option<u32>>,
    pub on_impossible_travel: Sourced<Response>,
    /// `None`: duplicate sessions are not looked for.
    pub duplicate_window_secs: Sourced<Option<i64>>,
    pub on_duplicate_session: Sourced<Response>,
    /// `None`: device trust is not evaluated.
    pub min_device_trust: Sourced<Option<u8>>,
    pub on_low_device_trust: Sourced<LowTrustResponse>,
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
            bind_ip: Sourced::default_value(IpMode::Off),
            bind_ip_v4_prefix: Sourced::default_value(24),
            bind_ip_v6_prefix: Sourced::default_value(64),
            on_ip_mismatch: Sourced::default_value(Response::Reauth),
            bind_user_agent: Sourced::default_value(UaMode::Off),
            on_user_agent_mismatch: Sourced::default_value(Response::Reauth),
            bind_device: Sourced::default_value(DeviceMode::Off),
            on_device_mismatch: Sourced::default_value(Response::Reauth),
            read_only_scopes: Sourced::default_value(vec!["openid".to_string()]),
            require_mfa: Sourced::default_value(false),
            mfa_max_age_secs: Sourced::default_value(None),
            credential_change_ends_offline: Sourced::default_value(true),
            travel_max_speed_kmh: Sourced::default_value(None),
            on_impossible_travel: Sourced::default_value(Response::Reauth),
            duplicate_window_secs: Sourced::default_value(None),
            on_duplicate_session: Sourced::default_value(Response::Reauth),
            min_device_trust: Sourced::default_value(None),
            on_low_device_trust: Sourced::default_value(LowTrustResponse::StepUp),
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
        out.extend([
            f(
                "bind_ip",
                self.bind_ip.value.as_str().into(),
                &self.bind_ip.source,
            ),
            f(
                "bind_ip_v4_prefix",
                self.bind_ip_v4_prefix.value.into(),
                &self.bind_ip_v4_prefix.source,
            ),
            f(
                "bind_ip_v6_prefix",
                self.bind_ip_v6_prefix.value.into(),
                &self.bind_ip_v6_prefix.source,
            ),
            f(
                "on_ip_mismatch",
                self.on_ip_mismatch.value.as_str().into(),
                &self.on_ip_mismatch.source,
            ),
            f(
                "bind_user_agent",
                self.bind_user_agent.value.as_str().into(),
                &self.bind_user_agent.source,
            ),
            f(
                "on_user_agent_mismatch",
                self.on_user_agent_mismatch.value.as_str().into(),
                &self.on_user_agent_mismatch.source,
            ),
            f(
                "bind_device",
                self.bind_device.value.as_str().into(),
                &self.bind_device.source,
            ),
            f(
                "on_device_mismatch",
                self.on_device_mismatch.value.as_str().into(),
                &self.on_device_mismatch.source,
            ),
            f(
                "read_only_scopes",
                self.read_only_scopes.value.join(" ").into(),
                &self.read_only_scopes.source,
            ),
            f(
                "require_mfa",
                self.require_mfa.value.into(),
                &self.require_mfa.source,
            ),
            f(
                "mfa_max_age_secs",
                self.mfa_max_age_secs
                    .value
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
                &self.mfa_max_age_secs.source,
            ),
            f(
                "credential_change_ends_offline",
                self.credential_change_ends_offline.value.into(),
                &self.credential_change_ends_offline.source,
            ),
            f(
                "travel_max_speed_kmh",
                self.travel_max_speed_kmh
                    .value
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
                &self.travel_max_speed_kmh.source,
            ),
            f(
                "on_impossible_travel",
                self.on_impossible_travel.value.as_str().into(),
                &self.on_impossible_travel.source,
            ),
            f(
                "duplicate_window_secs",
                self.duplicate_window_secs
                    .value
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
                &self.duplicate_window_secs.source,
            ),
            f(
                "on_duplicate_session",
                self.on_duplicate_session.value.as_str().into(),
                &self.on_duplicate_session.source,
            ),
            f(
                "min_device_trust",
                self.min_device_trust
                    .value
                    .map(serde_json::Value::from)
                    .unwrap_or(serde_json::Value::Null),
                &self.min_device_trust.source,
            ),
            f(
                "on_low_device_trust",
                self.on_low_device_trust.value.as_str().into(),
                &self.on_low_device_trust.source,
            ),
        ]);
        out
    }

    /// The binding rules in force.
    pub fn binding(&self) -> BindingRules {
        BindingRules {
            ip: self.bind_ip.value,
            ip_v4_prefix: self.bind_ip_v4_prefix.value,
            ip_v6_prefix: self.bind_ip_v6_prefix.value,
            on_ip: self.on_ip_mismatch.value,
            user_agent: self.bind_user_agent.value,
            on_user_agent: self.on_user_agent_mismatch.value,
            device: self.bind_device.value,
            on_device: self.on_device_mismatch.value,
        }
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
        if let Some(v) = l.bind_ip {
            if base || v.strictness() > p.bind_ip.value.strictness() {
                p.bind_ip.set(v, r);
            }
        }
        // A longer prefix pins more of the address.
        if let Some(v) = l.bind_ip_v4_prefix {
            if base || v > p.bind_ip_v4_prefix.value {
                p.bind_ip_v4_prefix.set(v, r);
            }
        }
        if let Some(v) = l.bind_ip_v6_prefix {
            if base || v > p.bind_ip_v6_prefix.value {
                p.bind_ip_v6_prefix.set(v, r);
            }
        }
        for (field, value) in [
            (&mut p.on_ip_mismatch, l.on_ip_mismatch),
            (&mut p.on_user_agent_mismatch, l.on_user_agent_mismatch),
            (&mut p.on_device_mismatch, l.on_device_mismatch),
            (&mut p.on_impossible_travel, l.on_impossible_travel),
            (&mut p.on_duplicate_session, l.on_duplicate_session),
        ] {
            if let Some(v) = value {
                if base || v.strictness() > field.value.strictness() {
                    field.set(v, r);
                }
            }
        }
        if let Some(v) = l.bind_user_agent {
            if base || v.strictness() > p.bind_user_agent.value.strictness() {
                p.bind_user_agent.set(v, r);
            }
        }
        if let Some(v) = l.bind_device {
            if base || v.strictness() > p.bind_device.value.strictness() {
                p.bind_device.set(v, r);
            }
        }
        // Fewer safe scopes is stricter: later layers keep only what every layer allows.
        if let Some(v) = &l.read_only_scopes {
            let next: Vec<String> = if base {
                v.clone()
            } else {
                p.read_only_scopes
                    .value
                    .iter()
                    .filter(|s| v.contains(s))
                    .cloned()
                    .collect()
            };
            if base || next != p.read_only_scopes.value {
                p.read_only_scopes.set(next, r);
            }
        }
        if let Some(v) = l.require_mfa {
            if base || (v && !p.require_mfa.value) {
                p.require_mfa.set(v, r);
            }
        }
        if let Some(v) = l.mfa_max_age_secs {
            if base || p.mfa_max_age_secs.value.is_none_or(|cur| v < cur) {
                p.mfa_max_age_secs.set(Some(v), r);
            }
        }
        if let Some(v) = l.credential_change_ends_offline {
            if base || (v && !p.credential_change_ends_offline.value) {
                p.credential_change_ends_offline.set(v, r);
            }
        }
        // A lower speed limit flags more journeys.
        if let Some(v) = l.travel_max_speed_kmh {
            if base || p.travel_max_speed_kmh.value.is_none_or(|cur| v < cur) {
                p.travel_max_speed_kmh.set(Some(v), r);
            }
        }
        // A longer window catches more concurrent use.
        if let Some(v) = l.duplicate_window_secs {
            if base || p.duplicate_window_secs.value.is_none_or(|cur| v > cur) {
                p.duplicate_window_secs.set(Some(v), r);
            }
        }
        // A higher minimum refuses more devices.
        if let Some(v) = l.min_device_trust {
            if base || p.min_device_trust.value.is_none_or(|cur| v > cur) {
                p.min_device_trust.set(Some(v), r);
            }
        }
        if let Some(v) = l.on_low_device_trust {
            if base || v.strictness() > p.on_low_device_trust.value.strictness() {
                p.on_low_device_trust.set(v, r);
            }
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
