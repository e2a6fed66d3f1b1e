//! Session governance as operators reach it (CLI and admin API alike): policy layers named as
//! text, groups with member counts, user attributes by username, cohort selectors and export
//! filters typed as text. Everything here parses input or resolves names to ids and then calls
//! one operation of `session::service`; the rules live there.

use super::{invalid, ManageError, Result};
use crate::app::AppState;
use crate::model::Tenant;
use crate::session::cohort::Selector;
use crate::session::policy::{FieldValue, LayerKind, LayerRef};
use crate::session::service::policy as service;
use crate::store;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeMap;

/// How a layer is written: `tenant`, `group:NAME`, `attribute:KEY=VALUE`, `client:CLIENT_ID`.
pub const LAYER_SYNTAX: &str = "tenant, group:NAME, attribute:KEY=VALUE or client:CLIENT_ID";

/// Parse a layer name as written on the command line or in an API path.
pub fn parse_layer(s: &str) -> Result<LayerRef> {
    if s == "tenant" {
        return Ok(LayerRef::tenant());
    }
    let bad = || invalid(format!("'{s}' is not a policy layer: {LAYER_SYNTAX}"));
    let (kind, subject) = s.split_once(':').ok_or_else(bad)?;
    match LayerKind::parse(kind) {
        Some(LayerKind::Group) if !subject.is_empty() => Ok(LayerRef::group(subject)),
        Some(LayerKind::Client) if !subject.is_empty() => Ok(LayerRef::client(subject)),
        Some(LayerKind::Attribute) => {
            let (k, v) = parse_key_value("attribute", subject)?;
            Ok(LayerRef::attribute(&k, &v))
        }
        _ => Err(bad()),
    }
}

/// `KEY=VALUE` with both sides non-empty (the value may itself contain `=`).
pub fn parse_key_value(what: &str, s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(invalid(format!("{what}: '{s}' is not KEY=VALUE"))),
    }
}

/// An instant given as RFC 3339 (`2026-12-01T09:00:00Z`, any offset) or as unix seconds, in
/// milliseconds.
pub fn parse_instant_ms(what: &str, s: &str) -> Result<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(ms) = s.parse::<i64>().ok().and_then(|n| n.checked_mul(1000)) {
            return Ok(ms);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            invalid(format!(
                "{what}: '{s}' is not a time: give RFC 3339 (2026-12-01T09:00:00Z) or unix seconds"
            ))
        })
}

/// An IP network in CIDR form; a bare address means that one host.
pub fn parse_ip_range(what: &str, s: &str) -> Result<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(format!(
                "{what}: '{s}' is not an IP network (CIDR, e.g. 10.0.0.0/8)"
            ))
        })
}

// --- policy --------------------------------------------------------------------------------

/// One stored layer and what it sets.
#[derive(Debug, Clone, Serialize)]
pub struct LayerView {
    /// The layer's name (`tenant`, `group:NAME`, ...), what `policy set` and the API take.
    pub layer: String,
    pub kind: &'static str,
    /// Empty for the tenant; the group, `key=value` or `client_id`.
    pub subject: String,
    /// Raised by every change.
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
    /// Field → value, in canonical form (durations as seconds).
    pub settings: BTreeMap<String, String>,
}

/// Every layer of a tenant with its settings: the tenant first, then group, attribute and
/// client rules. A stored value that does not parse is an error naming the layer and field.
pub async fn list_policies(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<LayerView>> {
    // Parsed (and so validated) through the service; the stored rows add who changed what when.
    let parsed = service::load_layers(db, tenant).await?;
    let stored = store::policies::list_layers(db, &tenant.id).await?;
    let mut out: Vec<(LayerRef, LayerView)> = parsed
        .into_iter()
        .map(|(r, l)| {
            let row = stored
                .iter()
                .find(|s| s.layer.kind == r.kind.as_str() && s.layer.subject == r.subject);
            let view = LayerView {
                layer: r.to_string(),
                kind: r.kind.as_str(),
                subject: r.subject.clone(),
                version: row.map_or(0, |s| s.layer.version),
                updated_at: row.map_or(0, |s| s.layer.updated_at),
                updated_by: row.map(|s| s.layer.updated_by.clone()).unwrap_or_default(),
                settings: l
                    .to_settings()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            };
            (r, view)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// The effective policy for a user (by username) in a client (by `client_id`), field by field
/// with the layer behind each value. Without a user: the tenant and client rules only.
pub async fn effective_policy(
    state: &AppState,
    tenant: &Tenant,
    username: Option<&str>,
    client_id: Option<&str>,
) -> Result<Vec<FieldValue>> {
    let user_id = match username {
        Some(u) => Some(super::users::find(&state.db, tenant, u).await?.id),
        None => None,
    };
    if let Some(c) = client_id {
        if store::clients::find_by_client_id(&state.db, &tenant.id, c)
            .await?
            .is_none()
        {
            return Err(ManageError::not_found("client", c));
        }
    }
    Ok(service::show(state, tenant, user_id.as_deref(), client_id)
        .await?
        .fields())
}

/// A scheduled end as operators read it: the rule, its times and when it next ends sessions.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// The rule's layer (`group:NAME`, `attribute:KEY=VALUE`).
    pub layer: String,
    /// `07:00,19:00 Europe/Berlin`.
    pub schedule: String,
    /// The IANA zone the times are in.
    pub zone: String,
    /// The next end strictly after `now` (Unix seconds).
    pub next_end: Option<i64>,
    /// Users the rule selects now.
    pub members: u64,
}

/// Every schedule of the tenant's rules with its next run after `now`, soonest first.
pub async fn list_schedules(
    db: &DatabaseConnection,
    tenant: &Tenant,
    now: i64,
) -> Result<Vec<ScheduleView>> {
    let layers = service::load_layers(db, tenant).await?;
    let counts: BTreeMap<String, i64> = store::policies::count_members(db, &tenant.id)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for (r, l) in layers {
        let Some(schedule) = &l.schedule else {
            continue;
        };
        let members = match r.kind {
            LayerKind::Group => counts.get(&r.subject).copied().unwrap_or(0),
            LayerKind::Attribute => {
                let (k, v) = r.subject.split_once('=').unwrap_or((&r.subject, ""));
                i64::try_from(
                    store::policies::list_users_with_attribute(db, &tenant.id, k, v)
                        .await?
                        .len(),
                )
                .unwrap_or(i64::MAX)
            }
            LayerKind::Tenant | LayerKind::Client => 0,
        };
        out.push(ScheduleView {
            layer: r.to_string(),
            schedule: schedule.to_string(),
            zone: schedule.tz.name().to_string(),
            next_end: schedule.next_end(now),
            members: u64::try_from(members).unwrap_or(0),
        });
    }
    out.sort_by_key(|s| (s.next_end.unwrap_or(i64::MAX), s.layer.clone()));
    Ok(out)
}

// --- groups --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub name: String,
    pub description: Option<String>,
    pub members: u64,
    pub created_at: i64,
}

/// A tenant's groups by name, with how many users each has.
pub async fn list_groups(db: &DatabaseConnection, tenant: &Tenant) -> Result<Vec<GroupView>> {
    let counts: BTreeMap<String, i64> = store::policies::count_members(db, &tenant.id)
        .await?
        .into_iter()
        .collect();
    Ok(store::policies::list_groups(db, &tenant.id)
        .await?
        .into_iter()
        .map(|g| GroupView {
            members: counts
                .get(&g.name)
                .map_or(0, |n| u64::try_from(*n).unwrap_or(0)),
            name: g.name,
            description: g.description,
            created_at: g.created_at,
        })
        .collect())
}

/// Create a group (the service checks the name and refuses a duplicate).
pub async fn create_group(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    description: Option<&str>,
    actor: &str,
) -> Result<GroupView> {
    let description = description.filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 256 || d.chars().any(char::is_control)) {
        return Err(invalid(
            "a group description is at most 256 characters on one line",
        ));
    }
    service::create_group(state, tenant, name, description, actor).await?;
    list_groups(&state.db, tenant)
        .await?
        .into_iter()
        .find(|g| g.name == name)
        .ok_or_else(|| ManageError::not_found("group", name))
}

#[derive(Debug, Clone, Serialize)]
pub struct DeletedGroup {
    pub deleted: String,
    /// Sessions of former members that a rule ending sessions on membership change ended.
    pub sessions_ended: u64,
}

/// Delete a group, its memberships and its policy rule; former members' sessions are
/// re-resolved at once.
pub async fn delete_group(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    actor: &str,
) -> Result<DeletedGroup> {
    let sessions_ended = service::delete_group(state, tenant, name, actor).await?;
    Ok(DeletedGroup {
        deleted: name.to_string(),
        sessions_ended,
    })
}

// --- attributes ----------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct AttributesChanged {
    pub username: String,
    /// Every attribute the user has now.
    pub attributes: BTreeMap<String, String>,
    /// Rules entered or left that end sessions on membership change.
    pub rules_triggered: Vec<String>,
    pub sessions_reresolved: u64,
    pub sessions_ended: u64,
}

fn validate_attribute(key: &str, value: Option<&str>) -> Result<()> {
    // `=` separates key from value in attribute rules (`attribute:KEY=VALUE`), so a key holds none.
    if key.is_empty()
        || key.len() > 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(invalid(format!(
            "attribute key '{key}' must be 1-64 characters of letters, digits, '-', '_', '.' and ':'"
        )));
    }
    if let Some(v) = value {
        if v.is_empty() || v.chars().count() > 256 || v.chars().any(char::is_control) {
            return Err(invalid(format!(
                "attribute {key}: the value must be 1-256 characters on one line"
            )));
        }
    }
    Ok(())
}

/// Set (`Some`) or remove (`None`) one attribute of a user; rules selecting by attribute apply to
/// the user's live sessions at once. Removing an attribute the user does not have is `NotFound`
/// (a mistyped key should not look done).
pub async fn set_attribute(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    key: &str,
    value: Option<&str>,
    actor: &str,
) -> Result<AttributesChanged> {
    validate_attribute(key, value)?;
    let u = super::users::find(&state.db, tenant, username).await?;
    if value.is_none()
        && !store::policies::list_user_attributes(&state.db, &tenant.id, &u.id)
            .await?
            .iter()
            .any(|(k, _)| k == key)
    {
        return Err(ManageError::NotFound {
            kind: "",
            name: format!("user '{username}' has no attribute '{key}'"),
        });
    }
    let changed =
        service::change_membership(state, tenant, &u.id, None, Some((key, value)), actor).await?;
    Ok(AttributesChanged {
        username: u.username,
        attributes: changed.attributes.into_iter().collect(),
        rules_triggered: changed.rules_triggered,
        sessions_reresolved: changed.sessions_reresolved,
        sessions_ended: changed.sessions_ended,
    })
}

// --- cohorts and exports -------------------------------------------------------------------

/// A cohort selector as typed: names, `key=value`, CIDR, and a time as RFC 3339 or unix seconds.
#[derive(Debug, Clone, Default)]
pub struct SelectorInput {
    pub user: Option<String>,
    pub group: Option<String>,
    pub client: Option<String>,
    pub device: Option<String>,
    pub ip_range: Option<String>,
    pub attribute: Option<String>,
    pub auth_before: Option<String>,
}

fn non_empty(what: &str, v: Option<String>) -> Result<Option<String>> {
    match v {
        Some(s) if s.is_empty() => Err(invalid(format!("{what} is empty"))),
        other => Ok(other),
    }
}

/// Auth times are whole seconds, so "authenticated strictly before t" is "before ⌈t⌉".
fn ceil_secs(ms: i64) -> i64 {
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
}

/// Parse a typed selector. Names are resolved (and unknown ones refused) by the cohort service.
pub fn selector(i: SelectorInput) -> Result<Selector> {
    Ok(Selector {
        user: non_empty("user", i.user)?,
        group: non_empty("group", i.group)?,
        client: non_empty("client", i.client)?,
        device: non_empty("device", i.device)?,
        ip_range: i
            .ip_range
            .map(|s| parse_ip_range("ip_range", &s))
            .transpose()?,
        attribute: i
            .attribute
            .map(|s| parse_key_value("attribute", &s))
            .transpose()?,
        auth_before: i
            .auth_before
            .map(|s| parse_instant_ms("auth_before", &s).map(ceil_secs))
            .transpose()?,
    })
}

/// Which audit events an export covers, as typed: username, sid, kind, times.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub user: Option<String>,
    pub session: Option<String>,
    pub kind: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Resolve an event query to the export filter (unknown users and sessions are `NotFound`).
pub async fn event_filter(
    db: &DatabaseConnection,
    tenant: &Tenant,
    q: EventQuery,
) -> Result<store::audit::EventFilter> {
    let user_id = match q.user.as_deref() {
        Some(u) => Some(super::users::find(db, tenant, u).await?.id),
        None => None,
    };
    let session_id = match q.session.as_deref() {
        Some(sid) => Some(
            store::sessions::find_by_sid(db, &tenant.id, sid)
                .await?
                .ok_or_else(|| ManageError::not_found("session", sid))?
                .id,
        ),
        None => None,
    };
    let since_ms = q.since.map(|s| parse_instant_ms("since", &s)).transpose()?;
    let until_ms = q.until.map(|s| parse_instant_ms("until", &s)).transpose()?;
    if let (Some(a), Some(b)) = (since_ms, until_ms) {
        if a >= b {
            return Err(invalid("since must be before until"));
        }
    }
    Ok(store::audit::EventFilter {
        session_id,
        user_id,
        kind: non_empty("kind", q.kind)?,
        since_ms,
        until_ms,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn layers_read_as_text() {
        assert_eq!(parse_layer("tenant").unwrap(), LayerRef::tenant());
        assert_eq!(
            parse_layer("group:night-shift").unwrap(),
            LayerRef::group("night-shift")
        );
        assert_eq!(
            parse_layer("attribute:clearance=top=secret").unwrap(),
            LayerRef::attribute("clearance", "top=secret")
        );
        assert_eq!(parse_layer("client:web").unwrap(), LayerRef::client("web"));
        for bad in [
            "",
            "tenant:x",
            "group:",
            "group",
            "attribute:clearance",
            "attribute:=x",
            "galaxy:far",
            "default",
        ] {
            let e = parse_layer(bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a policy layer") || e.contains("KEY=VALUE"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn instants_are_rfc3339_or_unix_seconds() {
        assert_eq!(
            parse_instant_ms("t", "1796083200").unwrap(),
            1_796_083_200_000
        );
        assert_eq!(
            parse_instant_ms("t", "2026-12-01T00:00:00Z").unwrap(),
            1_796_083_200_000
        );
        assert_eq!(
            parse_instant_ms("t", "2026-12-01T01:00:00.250+01:00").unwrap(),
            1_796_083_200_250
        );
        for bad in ["", "yesterday", "-5", "2026-12-01", "1.5"] {
            let e = parse_instant_ms("since", bad).unwrap_err().to_string();
            assert!(e.starts_with("since: "), "{e}");
        }
    }

    #[test]
    fn selectors_parse_every_typed_field() {
        let s = selector(SelectorInput {
            group: Some("staff".into()),
            ip_range: Some("10.1.2.3/8".into()),
            attribute: Some("clearance=secret".into()),
            auth_before: Some("2026-12-01T00:00:00.5Z".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.ip_range.unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(s.attribute, Some(("clearance".into(), "secret".into())));
        // Strictly before 00:00:00.5 means at 00:00:00 or earlier: before 00:00:01.
        assert_eq!(s.auth_before, Some(1_796_083_201));
        let s = selector(SelectorInput {
            ip_range: Some("2001:db8::1".into()),
            auth_before: Some("1796083200".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.ip_range.unwrap().to_string(), "2001:db8::1/128");
        assert_eq!(s.auth_before, Some(1_796_083_200));
        for (input, needle) in [
            (
                SelectorInput {
                    ip_range: Some("10.0.0.0/33".into()),
                    ..Default::default()
                },
                "ip_range",
            ),
            (
                SelectorInput {
                    attribute: Some("clearance".into()),
                    ..Default::default()
                },
                "attribute",
            ),
            (
                SelectorInput {
                    group: Some(String::new()),
                    ..Default::default()
                },
                "group",
            ),
        ] {
            let e = selector(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn attribute_keys_cannot_hold_the_rule_separator() {
        assert!(validate_attribute("clearance", Some("top=secret")).is_ok());
        assert!(validate_attribute("cost-centre.eu", None).is_ok());
        for (k, v) in [
            ("a=b", Some("c")),
            ("", Some("c")),
            ("with space", Some("c")),
            ("k", Some("")),
            ("k", Some("two\nlines")),
        ] {
            assert!(validate_attribute(k, v).is_err(), "{k:?}={v:?}");
        }
    }
}
