//! Wire types of the admin API, each the JSON form of a `lanyard_idp::manage` view. Users are
//! named by username and clients by their public `client_id`, never by internal row ids.

use lanyard_idp::manage::{self, governance};
use lanyard_idp::model::Lifetimes;
use lanyard_idp::session::service::cohort::CohortReport;
use lanyard_idp::session::service::policy::PolicyChanged;
use poem_openapi::Object;
use std::collections::BTreeMap;

/// One part of a device's trust score (see the README's "Device trust").
#[derive(Object, Debug)]
pub struct TrustPartView {
    pub part: String,
    pub points: i32,
}

#[derive(Object, Debug)]
pub struct DeviceView {
    pub id: String,
    pub name: Option<String>,
    pub browser: String,
    pub os: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub last_ip: String,
    pub last_country: Option<String>,
    /// `unknown` | `trusted` | `compromised`.
    pub trust: String,
    /// The last posture a trusted proxy reported (`disk_encryption=off,...`).
    pub posture: Option<String>,
    pub logins_ok: u32,
    /// Failed logins since the last successful one.
    pub logins_failed: u32,
    pub country_changes: u32,
    /// 0 to 100.
    pub trust_score: u8,
    pub trust_parts: Vec<TrustPartView>,
}

impl From<lanyard_idp::session::service::devices::DeviceView> for DeviceView {
    fn from(d: lanyard_idp::session::service::devices::DeviceView) -> Self {
        Self {
            id: d.id,
            name: d.name,
            browser: d.browser,
            os: d.os,
            first_seen: d.first_seen,
            last_seen: d.last_seen,
            last_ip: d.last_ip,
            last_country: d.last_country,
            trust: d.trust,
            posture: d.posture,
            logins_ok: d.logins_ok,
            logins_failed: d.logins_failed,
            country_changes: d.country_changes,
            trust_score: d.trust_score,
            trust_parts: d
                .trust_parts
                .into_iter()
                .map(|p| TrustPartView {
                    part: p.part.to_string(),
                    points: p.points,
                })
                .collect(),
        }
    }
}

#[derive(Object, Debug)]
pub struct SessionView {
    pub sid: String,
    /// Absent when the user has since been deleted.
    pub username: Option<String>,
    pub device_id: Option<String>,
    pub state: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_active_at: i64,
    pub idle_deadline: i64,
    pub absolute_deadline: i64,
    pub ip: String,
    pub user_agent: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

impl From<manage::sessions::SessionView> for SessionView {
    fn from(s: manage::sessions::SessionView) -> Self {
        Self {
            sid: s.sid,
            username: s.username,
            device_id: s.device_id,
            state: s.state,
            auth_time: s.auth_time,
            created_at: s.created_at,
            last_active_at: s.last_active_at,
            idle_deadline: s.idle_deadline,
            absolute_deadline: s.absolute_deadline,
            ip: s.ip,
            user_agent: s.user_agent,
            ended_at: s.ended_at,
            end_reason: s.end_reason,
        }
    }
}

#[derive(Object, Debug)]
pub struct EventView {
    pub at_ms: i64,
    pub kind: String,
    pub actor: String,
    pub outcome: String,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

impl From<manage::sessions::EventView> for EventView {
    fn from(e: manage::sessions::EventView) -> Self {
        Self {
            at_ms: e.at_ms,
            kind: e.kind,
            actor: e.actor,
            outcome: e.outcome,
            username: e.username,
            client_id: e.client_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[derive(Object, Debug)]
pub struct DeliveryView {
    /// What `POST .../deliveries/{id}/retry` takes.
    pub id: String,
    pub sid: Option<String>,
    pub client_id: String,
    pub target: String,
    pub state: String,
    pub attempts: i64,
    pub created_at_ms: i64,
    pub next_attempt_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// Milliseconds from the session's end to delivery.
    pub latency_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl From<manage::sessions::DeliveryView> for DeliveryView {
    fn from(d: manage::sessions::DeliveryView) -> Self {
        Self {
            id: d.id,
            sid: d.sid,
            client_id: d.client_id,
            target: d.target,
            state: d.state,
            attempts: d.attempts,
            created_at_ms: d.created_at_ms,
            next_attempt_at_ms: d.next_attempt_at_ms,
            delivered_at_ms: d.delivered_at_ms,
            latency_ms: d.latency_ms,
            last_error: d.last_error,
        }
    }
}

#[derive(Object, Debug)]
pub struct UserView {
    pub username: String,
    /// The `sub` claim relying parties see.
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Attributes that policy rules select by (`attribute:KEY=VALUE`).
    pub attributes: BTreeMap<String, String>,
    /// active or disabled.
    pub status: String,
    /// The lock in force: `unlocked`, `until` (see `locked_until`) or `until_unlocked`.
    pub lock: String,
    pub locked_until: Option<i64>,
    /// Who or what locked it (`admin`, `response_chain:impossible_travel`, ...).
    pub lock_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<manage::users::UserView> for UserView {
    fn from(u: manage::users::UserView) -> Self {
        Self {
            username: u.username,
            sub: u.sub,
            email: u.email,
            name: u.name,
            groups: u.groups,
            attributes: u.attributes,
            status: u.status,
            lock: u.lock.into(),
            locked_until: u.locked_until,
            lock_reason: u.lock_reason,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// Token lifetimes, seconds.
#[derive(Object, Debug)]
pub struct LifetimesView {
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_absolute_secs: i64,
    pub refresh_idle_secs: i64,
    pub refresh_reuse_grace_secs: i64,
}

impl From<Lifetimes> for LifetimesView {
    fn from(l: Lifetimes) -> Self {
        Self {
            access_token_secs: l.access_token_secs,
            id_token_secs: l.id_token_secs,
            refresh_absolute_secs: l.refresh_absolute_secs,
            refresh_idle_secs: l.refresh_idle_secs,
            refresh_reuse_grace_secs: l.refresh_reuse_grace_secs,
        }
    }
}

#[derive(Object, Debug)]
pub struct ClientView {
    pub client_id: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub first_party: bool,
    pub lifetimes: LifetimesView,
    pub disabled: bool,
    /// When a rotated-out secret stops working, while it still does (Unix seconds).
    pub previous_secret_valid_until: Option<i64>,
    /// RFC 9449 §5.2: token requests without a DPoP proof are refused.
    pub dpop_bound_access_tokens: bool,
    pub created_at: i64,
}

impl From<manage::clients::ClientView> for ClientView {
    fn from(c: manage::clients::ClientView) -> Self {
        Self {
            client_id: c.client_id,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            backchannel_logout_uri: c.backchannel_logout_uri,
            frontchannel_logout_uri: c.frontchannel_logout_uri,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            first_party: c.first_party,
            lifetimes: c.lifetimes.into(),
            disabled: c.disabled,
            previous_secret_valid_until: c.previous_secret_valid_until,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            created_at: c.created_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct AdminTokenView {
    pub name: String,
    /// The tenant it acts on; absent for an all-tenant token.
    pub tenant: Option<String>,
    pub created_at: i64,
    pub revoked: bool,
}

impl From<manage::tokens::AdminTokenView> for AdminTokenView {
    fn from(t: manage::tokens::AdminTokenView) -> Self {
        Self {
            name: t.name,
            tenant: t.tenant,
            created_at: t.created_at,
            revoked: t.revoked,
        }
    }
}

/// One effective policy value and the layer that set it (`default`, `tenant`,
/// `group:NAME`, `attribute:KEY=VALUE`, `client:CLIENT_ID`).
#[derive(Object, Debug, Clone)]
pub struct PolicyValue {
    pub field: String,
    pub value: serde_json::Value,
    pub source: String,
}

/// The effective policy, field by field, with the layer behind each value.
pub fn effective_view(p: &lanyard_idp::session::EffectivePolicy) -> Vec<PolicyValue> {
    p.fields().into_iter().map(PolicyValue::from).collect()
}

impl From<lanyard_idp::session::policy::FieldValue> for PolicyValue {
    fn from(f: lanyard_idp::session::policy::FieldValue) -> Self {
        Self {
            field: f.field.into(),
            value: f.value,
            source: f.source,
        }
    }
}

#[derive(Object, Debug)]
pub struct TenantView {
    pub slug: String,
    pub name: String,
    pub issuer: String,
    pub created_at: i64,
    /// What the tenant layer of the policy sets (field → value).
    pub policy: BTreeMap<String, String>,
    /// The tenant-wide session policy in force, with the layer behind each value.
    pub effective_policy: Vec<PolicyValue>,
}

impl From<manage::tenants::TenantView> for TenantView {
    fn from(t: manage::tenants::TenantView) -> Self {
        Self {
            slug: t.slug,
            name: t.name,
            issuer: t.issuer,
            created_at: t.created_at,
            policy: t.policy.into_iter().collect(),
            effective_policy: t
                .effective_policy
                .into_iter()
                .map(PolicyValue::from)
                .collect(),
        }
    }
}

#[derive(Object, Debug)]
pub struct Revoked {
    /// Sessions this call ended.
    pub sessions_ended: u64,
}

#[derive(Object, Debug)]
pub struct Done {
    pub changed: bool,
}

/// One policy layer and what it sets.
#[derive(Object, Debug)]
pub struct LayerView {
    /// `tenant`, `group:NAME`, `attribute:KEY=VALUE` or `client:CLIENT_ID` (what
    /// `PATCH /policies/{layer}` takes, URL-encoded).
    pub layer: String,
    /// tenant, group, attribute or client.
    pub kind: String,
    /// Empty for the tenant; the group, `key=value` or `client_id`.
    pub subject: String,
    /// Raised by every change.
    pub version: i64,
    pub updated_at: i64,
    /// The actor of the last change (`cli`, `admin:<token name>`, ...).
    pub updated_by: String,
    /// Field → value, in canonical form (durations as seconds).
    pub settings: BTreeMap<String, String>,
}

impl From<governance::LayerView> for LayerView {
    fn from(l: governance::LayerView) -> Self {
        Self {
            layer: l.layer,
            kind: l.kind.into(),
            subject: l.subject,
            version: l.version,
            updated_at: l.updated_at,
            updated_by: l.updated_by,
            settings: l.settings,
        }
    }
}

/// What a policy change did.
#[derive(Object, Debug)]
pub struct PolicyChangedView {
    pub layer: String,
    pub version: i64,
    /// Everything the layer sets after the change.
    pub settings: BTreeMap<String, String>,
    /// Live sessions whose policy was re-resolved.
    pub sessions_reresolved: u64,
    /// Sessions the change ended (already past a new deadline).
    pub sessions_ended: u64,
}

impl From<PolicyChanged> for PolicyChangedView {
    fn from(p: PolicyChanged) -> Self {
        Self {
            layer: p.layer,
            version: p.version,
            settings: p.settings.into_iter().collect(),
            sessions_reresolved: p.sessions_reresolved,
            sessions_ended: p.sessions_ended,
        }
    }
}

#[derive(Object, Debug)]
pub struct GroupView {
    pub name: String,
    pub description: Option<String>,
    pub members: u64,
    pub created_at: i64,
}

impl From<governance::GroupView> for GroupView {
    fn from(g: governance::GroupView) -> Self {
        Self {
            name: g.name,
            description: g.description,
            members: g.members,
            created_at: g.created_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct DeletedGroup {
    pub deleted: String,
    /// Sessions of former members that a rule ending sessions on membership change ended.
    pub sessions_ended: u64,
}

impl From<governance::DeletedGroup> for DeletedGroup {
    fn from(d: governance::DeletedGroup) -> Self {
        Self {
            deleted: d.deleted,
            sessions_ended: d.sessions_ended,
        }
    }
}

/// A user's attributes after a change, and what the change did to their sessions.
#[derive(Object, Debug)]
pub struct AttributesView {
    pub username: String,
    pub attributes: BTreeMap<String, String>,
    /// Rules entered or left that end sessions on membership change.
    pub rules_triggered: Vec<String>,
    pub sessions_reresolved: u64,
    pub sessions_ended: u64,
}

impl From<governance::AttributesChanged> for AttributesView {
    fn from(a: governance::AttributesChanged) -> Self {
        Self {
            username: a.username,
            attributes: a.attributes,
            rules_triggered: a.rules_triggered,
            sessions_reresolved: a.sessions_reresolved,
            sessions_ended: a.sessions_ended,
        }
    }
}

/// The selector a cohort report covers (only the fields given).
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct SelectorView {
    pub user: Option<String>,
    pub group: Option<String>,
    pub client: Option<String>,
    pub device: Option<String>,
    pub ip_range: Option<String>,
    /// `key=value`.
    pub attribute: Option<String>,
    /// Unix seconds.
    pub auth_before: Option<i64>,
}

/// Who and what a cohort covers; with `dry_run`, what a revocation would end.
#[derive(Object, Debug)]
pub struct CohortReportView {
    pub dry_run: bool,
    pub selector: SelectorView,
    /// Sessions ended (or, in a dry run, that would be).
    pub sessions: u64,
    /// Distinct users by username, sorted (at most 1000 listed; `users_total` is exact).
    pub users: Vec<String>,
    pub users_total: u64,
    /// Relying parties that took part (client_id, sorted).
    pub clients: Vec<String>,
    /// Back-channel logout tokens the revocation sends.
    pub backchannel_deliveries: u64,
}

impl From<CohortReport> for CohortReportView {
    fn from(r: CohortReport) -> Self {
        let s = r.selector;
        Self {
            dry_run: r.dry_run,
            selector: SelectorView {
                user: s.user,
                group: s.group,
                client: s.client,
                device: s.device,
                ip_range: s.ip_range.map(|n| n.to_string()),
                attribute: s.attribute.map(|(k, v)| format!("{k}={v}")),
                auth_before: s.auth_before,
            },
            sessions: r.sessions,
            users: r.users,
            users_total: r.users_total,
            clients: r.clients,
            backchannel_deliveries: r.backchannel_deliveries,
        }
    }
}
