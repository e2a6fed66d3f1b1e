//! Session policies in the admin area (GET `/t/{tenant}/admin/policies`): every stored layer
//! (the tenant default, group, attribute and app rules) with what it sets, who changed it last
//! and when; the schedules with their next run in the admin's time zone; and the effective
//! policy of a user in an app with the layer behind every value (`manage::governance`).
//!
//! A layer is edited on its own page (`.../policies/layer?layer=group:night-shift`): one input
//! per policy field, empty meaning "no opinion". The POST changes only the fields whose value
//! changed (`session::service::policy::change_layer`: versioned, audited as `policy.changed`
//! with the admin as actor, applied to live sessions at once), after a confirmation that lists
//! every change before and after.

use super::views::{Chrome, Hidden};
use super::{confirm_first_with, done, open_form, Admin, Confirm, Notice};
use crate::kit::{TimeText, Times};
use lanyard_idp::app::{AppState, State};
use lanyard_idp::http::Params;
use lanyard_idp::manage::governance::{
    effective_policy, list_groups, list_policies, list_schedules, parse_layer, LayerView,
};
use lanyard_idp::manage::{clients::list_clients, ManageError};
use lanyard_idp::session::policy::{FieldValue, LayerKind, LayerRef, FIELDS};
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::Serialize;
use std::collections::BTreeMap;

/// A layer in words: what it applies to.
pub fn layer_words(layer: &str) -> String {
    match parse_layer(layer) {
        Ok(r) => match r.kind {
            LayerKind::Tenant => "Tenant default (every user in every app)".into(),
            LayerKind::Group => format!("Group {}", r.subject),
            LayerKind::Attribute => {
                let (k, v) = r.subject.split_once('=').unwrap_or((&r.subject, ""));
                format!("Users whose {k} is {v}")
            }
            LayerKind::Client => format!("App {}", r.subject),
        },
        Err(_) if layer == "default" => "Lanyard's built-in default".into(),
        Err(_) => layer.to_string(),
    }
}

/// A duration in seconds as people say it: `8 hours`, `90 minutes`, `45 seconds`.
pub fn duration_words(secs: i64) -> String {
    let unit = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    match secs {
        s if s > 0 && s % 86_400 == 0 => unit(s / 86_400, "day"),
        s if s > 0 && s % 3600 == 0 => unit(s / 3600, "hour"),
        s if s > 0 && s % 60 == 0 => unit(s / 60, "minute"),
        s => unit(s, "second"),
    }
}

/// A field's value (canonical text) in words. PURE.
pub fn value_words(field: &str, value: &str) -> String {
    if field.ends_with("_secs") {
        if let Ok(n) = value.parse::<i64>() {
            return duration_words(n);
        }
    }
    match value {
        "true" => "yes".into(),
        "false" => "no".into(),
        v => v.replace('_', " "),
    }
}

/// An effective value (JSON) in words.
fn effective_words(f: &FieldValue) -> String {
    match &f.value {
        serde_json::Value::Null => "not set".into(),
        serde_json::Value::Bool(b) => value_words(f.field, &b.to_string()),
        serde_json::Value::Number(n) => value_words(f.field, &n.to_string()),
        serde_json::Value::String(s) => value_words(f.field, s),
        serde_json::Value::Array(a) if a.is_empty() => "none".into(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// One setting of a layer as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SettingRow {
    pub field: String,
    pub value: String,
    pub words: String,
}

/// One stored layer.
#[derive(Debug, Clone, Serialize)]
pub struct LayerCard {
    pub layer: String,
    pub title: String,
    pub version: i64,
    pub updated: Option<TimeText>,
    pub updated_by: String,
    pub settings: Vec<SettingRow>,
    /// `.../policies/layer?layer=...`
    pub edit: String,
}

/// One schedule with its next run.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRow {
    pub title: String,
    pub schedule: String,
    pub next: Option<TimeText>,
    /// The next run in the schedule's own zone, when it differs from the admin's.
    pub next_local: Option<String>,
    pub members: u64,
}

/// One effective value with the layer behind it.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveRow {
    pub field: &'static str,
    pub words: String,
    pub source: String,
    pub from_default: bool,
}

/// The "effective policy for user X in app Y" result.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveView {
    pub heading: String,
    pub rows: Vec<EffectiveRow>,
}

/// `admin/policies.html`.
#[derive(Debug, Clone, Serialize)]
pub struct PoliciesPage {
    pub chrome: Chrome,
    pub layers: Vec<LayerCard>,
    pub schedules: Vec<ScheduleRow>,
    pub user: String,
    pub client: String,
    pub effective: Option<EffectiveView>,
    /// For the "add a rule" and "effective policy" inputs.
    pub groups: Vec<String>,
    pub clients: Vec<String>,
}

fn edit_path(slug: &str, layer: &str) -> String {
    format!(
        "/t/{slug}/admin/policies/layer?layer={}",
        url::form_urlencoded::byte_serialize(layer.as_bytes()).collect::<String>()
    )
}

impl LayerCard {
    fn new(slug: &str, v: LayerView, t: Times) -> Self {
        Self {
            title: layer_words(&v.layer),
            edit: edit_path(slug, &v.layer),
            version: v.version,
            updated: (v.updated_at > 0).then(|| t.at(v.updated_at)),
            updated_by: v.updated_by,
            settings: v
                .settings
                .into_iter()
                .map(|(field, value)| SettingRow {
                    words: value_words(&field, &value),
                    field,
                    value,
                })
                .collect(),
            layer: v.layer,
        }
    }
}

impl EffectiveView {
    fn new(user: &str, client: &str, fields: Vec<FieldValue>) -> Self {
        let heading = match (user.is_empty(), client.is_empty()) {
            (false, false) => format!("Effective policy for {user} in {client}"),
            (false, true) => format!("Effective policy for {user} (no app rule)"),
            (true, false) => format!("Effective policy in {client} (no group or attribute rule)"),
            (true, true) => "Effective policy (tenant default only)".into(),
        };
        Self {
            heading,
            rows: fields
                .into_iter()
                .map(|f| EffectiveRow {
                    words: effective_words(&f),
                    from_default: f.source == "default",
                    source: layer_words(&f.source),
                    field: f.field,
                })
                .collect(),
        }
    }
}

impl PoliciesPage {
    #[cfg(test)]
    pub fn sample() -> Self {
        let now = 1_800_000_000;
        let t = Times::utc(now);
        let mut settings = BTreeMap::new();
        settings.insert(
            "schedule".to_string(),
            "07:00,19:00 Europe/Berlin".to_string(),
        );
        settings.insert("idle_timeout_secs".to_string(), "1800".to_string());
        let night = LayerView {
            layer: "group:night-shift".into(),
            kind: "group",
            subject: "night-shift".into(),
            version: 3,
            updated_at: now - 3600,
            updated_by: "admin-area:alice".into(),
            settings,
        };
        let mut chrome = Chrome::sample();
        chrome.read_only = false;
        Self {
            chrome,
            layers: vec![LayerCard::new("demo", night, t)],
            schedules: vec![ScheduleRow {
                title: layer_words("group:night-shift"),
                schedule: "07:00,19:00 Europe/Berlin".into(),
                next: Some(t.at(now + 5400)),
                next_local: Some("2027-01-15 11:00 CET".into()),
                members: 4,
            }],
            user: "alice".into(),
            client: "web".into(),
            effective: Some(EffectiveView::new(
                "alice",
                "web",
                vec![
                    FieldValue {
                        field: "idle_timeout_secs",
                        value: 1800.into(),
                        source: "group:night-shift".into(),
                    },
                    FieldValue {
                        field: "max_sessions",
                        value: serde_json::Value::Null,
                        source: "default".into(),
                    },
                ],
            )),
            groups: vec!["night-shift".into()],
            clients: vec!["web".into()],
        }
    }
}

/// One field of the layer form.
#[derive(Debug, Clone, Serialize)]
pub struct FieldInput {
    pub key: &'static str,
    pub help: &'static str,
    pub value: String,
}

/// `admin/policy_layer.html`: one layer's form.
#[derive(Debug, Clone, Serialize)]
pub struct LayerPage {
    pub chrome: Chrome,
    pub layer: String,
    pub title: String,
    pub exists: bool,
    pub fields: Vec<FieldInput>,
    pub action: String,
}

impl LayerPage {
    fn new(
        admin_chrome: Chrome,
        slug: &str,
        layer: &LayerRef,
        current: &BTreeMap<String, String>,
        exists: bool,
    ) -> Self {
        let name = layer.to_string();
        Self {
            chrome: admin_chrome,
            title: layer_words(&name),
            fields: FIELDS
                .iter()
                .filter(|(k, _)| layer.kind != LayerKind::Tenant || *k != "schedule")
                .map(|(key, help)| FieldInput {
                    key,
                    help,
                    value: current.get(*key).cloned().unwrap_or_default(),
                })
                .collect(),
            action: format!("/t/{slug}/admin/policies/layer"),
            layer: name,
            exists,
        }
    }

    #[cfg(test)]
    pub fn sample() -> Self {
        let mut current = BTreeMap::new();
        current.insert("max_sessions".to_string(), "1".to_string());
        current.insert("limit_action".to_string(), "ask".to_string());
        Self::new(
            Chrome::sample(),
            "demo",
            &LayerRef::client("trading"),
            &current,
            true,
        )
    }
}

/// The changes a submitted form makes to a layer's current settings: a field whose value
/// changed is set, one emptied is unset, one left as it was is not touched. PURE.
pub fn decide_changes(
    current: &BTreeMap<String, String>,
    submitted: &[(&str, &str)],
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (key, raw) in submitted {
        let value = raw.trim();
        match (current.get(*key), value.is_empty()) {
            (Some(_), true) => out.push(FieldChange::Unset((*key).to_string())),
            (Some(old), false) if old == value => {}
            (_, false) => out.push(FieldChange::Set((*key).to_string(), value.to_string())),
            (None, true) => {}
        }
    }
    out
}

/// The confirmation's sentence about `changes`. PURE.
pub fn describe_changes(
    title: &str,
    current: &BTreeMap<String, String>,
    changes: &[FieldChange],
) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| match c {
            FieldChange::Set(k, v) => match current.get(k) {
                Some(old) => format!("{k} from {} to {}", value_words(k, old), value_words(k, v)),
                None => format!("{k} to {}", value_words(k, v)),
            },
            FieldChange::Unset(k) => format!("{k} back to no opinion"),
        })
        .collect();
    format!(
        "{title}: {}. The change applies to live sessions at once: a shorter timeout shortens their deadlines and sessions already past the new one end now (reason policy_changed); a lower session limit applies at each user's next sign-in.",
        parts.join("; ")
    )
}

/// Whether every value set parses as its field's (the one parser of stored rows, the CLI and the
/// API); the first that does not, in words. PURE.
pub fn check_changes(changes: &[FieldChange]) -> Result<(), String> {
    let mut scratch = lanyard_idp::session::PolicyLayer::default();
    for c in changes {
        if let FieldChange::Set(k, v) = c {
            scratch.set(k, v).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The layer named by a query or form: `layer=...`, or `kind` and `subject` from "add a rule".
fn layer_of(p: &Params) -> Result<LayerRef, ManageError> {
    if let Some(l) = p.get("layer") {
        return parse_layer(l);
    }
    let kind = p.get("kind").unwrap_or("");
    let subject = p.get("subject").unwrap_or("").trim();
    let kind = match kind {
        "group" | "attribute" | "client" => kind,
        _ => {
            return Err(ManageError::Invalid(
                "choose what the rule applies to".into(),
            ))
        }
    };
    if subject.is_empty() {
        return Err(ManageError::Invalid(match kind {
            "group" => "name the group".into(),
            "attribute" => "give the attribute as key=value".into(),
            _ => "name the app (its client id)".into(),
        }));
    }
    parse_layer(&format!("{kind}:{subject}"))
}

/// The stored settings of `layer` (empty when it has none yet), and whether it is stored.
async fn current_settings(
    state: &AppState,
    admin: &Admin,
    layer: &LayerRef,
) -> Result<(BTreeMap<String, String>, bool), ManageError> {
    let name = layer.to_string();
    Ok(list_policies(&state.db, &admin.tenant)
        .await?
        .into_iter()
        .find(|v| v.layer == name)
        .map_or((BTreeMap::new(), false), |v| (v.settings, true)))
}

/// The policies page.
#[handler]
pub async fn policies_page(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = admin.times();
    let slug = admin.tenant.slug.clone();
    let loaded = async {
        let layers = list_policies(&state.db, &admin.tenant).await?;
        let schedules = list_schedules(&state.db, &admin.tenant, t.now).await?;
        let groups = list_groups(&state.db, &admin.tenant).await?;
        let clients = list_clients(&state, &admin.tenant).await?;
        Ok::<_, ManageError>((layers, schedules, groups, clients))
    };
    let (layers, schedules, groups, clients) = match loaded.await {
        Ok(v) => v,
        Err(e) => return admin.error(&state, e.into()),
    };
    let user = p.get("user").unwrap_or("").trim().to_string();
    let client = p.get("client").unwrap_or("").trim().to_string();
    let mut chrome = admin.chrome("policies", Notice::from_query(req));
    let asked = p.get("user").is_some() || p.get("client").is_some();
    let effective = if asked {
        let u = Some(user.as_str()).filter(|u| !u.is_empty());
        let c = Some(client.as_str()).filter(|c| !c.is_empty());
        match effective_policy(&state, &admin.tenant, u, c).await {
            Ok(fields) => Some(EffectiveView::new(&user, &client, fields)),
            Err(e @ (ManageError::NotFound { .. } | ManageError::Invalid(_))) => {
                chrome.error = Some(e.to_string());
                None
            }
            Err(e) => return admin.error(&state, e.into()),
        }
    } else {
        None
    };
    let status = if chrome.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = PoliciesPage {
        chrome,
        layers: layers
            .into_iter()
            .map(|v| LayerCard::new(&slug, v, t))
            .collect(),
        schedules: schedules
            .into_iter()
            .map(|s| {
                let zone: Option<chrono_tz::Tz> = s.zone.parse().ok();
                ScheduleRow {
                    title: layer_words(&s.layer),
                    next: s.next_end.map(|n| t.at(n)),
                    next_local: match (s.next_end, zone) {
                        (Some(n), Some(z)) if z != t.tz => Some(crate::kit::exact_in(z, n)),
                        _ => None,
                    },
                    schedule: s.schedule,
                    members: s.members,
                }
            })
            .collect(),
        user,
        client,
        effective,
        groups: groups.into_iter().map(|g| g.name).collect(),
        clients: clients.into_iter().map(|c| c.client_id).collect(),
    };
    admin.render(&state, "admin/policies.html", page, status)
}

/// One layer's form (GET).
#[handler]
pub async fn layer_form(state: Data<&State>, Path(slug): Path<String>, req: &Request) -> Response {
    let (admin, p) = match super::open_query(&state, &slug, req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let layer = match layer_of(&p) {
        Ok(l) => l,
        Err(e) => return back_with_error(&state, &admin, e),
    };
    let (current, exists) = match current_settings(&state, &admin, &layer).await {
        Ok(v) => v,
        Err(e) => return admin.error(&state, e.into()),
    };
    let page = LayerPage::new(
        admin.chrome("policies", None),
        &admin.tenant.slug,
        &layer,
        &current,
        exists,
    );
    admin.render(&state, "admin/policy_layer.html", page, StatusCode::OK)
}

/// A rule that cannot be named (a bad "add a rule" input): the error page, with a way back.
fn back_with_error(state: &AppState, admin: &Admin, e: ManageError) -> Response {
    admin.error(state, e.into())
}

/// Change one layer (POST from its form, then again from the confirmation).
#[handler]
pub async fn layer_save(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let (admin, p) = match open_form(&state, &slug, req, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let layer = match layer_of(&p) {
        Ok(l) => l,
        Err(e) => return back_with_error(&state, &admin, e),
    };
    let (current, exists) = match current_settings(&state, &admin, &layer).await {
        Ok(v) => v,
        Err(e) => return admin.error(&state, e.into()),
    };
    let submitted: Vec<(&str, &str)> = FIELDS
        .iter()
        .filter_map(|(k, _)| p.get(k).map(|v| (*k, v)))
        .collect();
    let changes = decide_changes(&current, &submitted);
    if changes.is_empty() {
        return done(&admin, "/policies", Notice::Unchanged);
    }
    let title = layer_words(&layer.to_string());
    let typed = || -> BTreeMap<String, String> {
        submitted
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    };
    // A value that does not parse is refused before the confirmation, with the form as typed.
    if let Err(why) = check_changes(&changes) {
        let mut chrome = admin.chrome("policies", None);
        chrome.error = Some(why);
        let page = LayerPage::new(chrome, &admin.tenant.slug, &layer, &typed(), exists);
        return admin.render(
            &state,
            "admin/policy_layer.html",
            page,
            StatusCode::BAD_REQUEST,
        );
    }
    // The confirmation posts the same form again: every submitted value travels with it.
    let mut fields: Vec<Hidden> = submitted
        .iter()
        .map(|(k, v)| Hidden {
            name: k,
            value: (*v).to_string(),
        })
        .collect();
    fields.push(Hidden {
        name: "layer",
        value: layer.to_string(),
    });
    let ask = Confirm {
        section: "policies",
        title: format!("Change the policy of {title}?"),
        what: describe_changes(&title, &current, &changes),
        button: "Change the policy".into(),
        danger: false,
        cancel: "/policies",
    };
    if let Some(r) = confirm_first_with(&state, &admin, req, &p, ask, fields) {
        return r;
    }
    match change_layer(&state, &admin.tenant, &layer, &changes, &admin.actor()).await {
        Ok(_) => done(&admin, "/policies", Notice::PolicyChanged),
        Err(
            e @ (lanyard_idp::error::Error::Invalid(_) | lanyard_idp::error::Error::NotFound(_)),
        ) => {
            // Show the form again with what was typed and why it was refused.
            let mut chrome = admin.chrome("policies", None);
            chrome.error = Some(e.to_string());
            let page = LayerPage::new(chrome, &admin.tenant.slug, &layer, &typed(), exists);
            admin.render(
                &state,
                "admin/policy_layer.html",
                page,
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => admin.error(&state, e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::area::views::tests::render;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn only_changed_fields_are_set_and_emptied_ones_unset() {
        let current = map(&[("idle_timeout_secs", "1800"), ("max_sessions", "2")]);
        let changes = decide_changes(
            &current,
            &[
                ("idle_timeout_secs", "1800"),     // unchanged
                ("max_sessions", " "),             // emptied
                ("limit_action", "refuse"),        // new
                ("require_mfa", ""),               // still no opinion
                ("absolute_timeout_secs", " 8h "), // new, trimmed
            ],
        );
        let shown: Vec<String> = changes
            .iter()
            .map(|c| match c {
                FieldChange::Set(k, v) => format!("set {k}={v}"),
                FieldChange::Unset(k) => format!("unset {k}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "unset max_sessions",
                "set limit_action=refuse",
                "set absolute_timeout_secs=8h"
            ]
        );
        assert!(decide_changes(&current, &[("idle_timeout_secs", "1800")]).is_empty());
    }

    #[test]
    fn values_are_checked_by_the_fields_own_parser_before_confirming() {
        assert!(check_changes(&[
            FieldChange::Set("idle_timeout_secs".into(), "30m".into()),
            FieldChange::Set("limit_action".into(), "ask".into()),
            FieldChange::Unset("max_sessions".into()),
        ])
        .is_ok());
        let e =
            check_changes(&[FieldChange::Set("max_sessions".into(), "lots".into())]).unwrap_err();
        assert!(e.contains("max_sessions"), "{e}");
        let e =
            check_changes(&[FieldChange::Set("limit_action".into(), "shrug".into())]).unwrap_err();
        assert!(e.contains("limit_action"), "{e}");
    }

    #[test]
    fn the_confirmation_says_every_change_before_and_after() {
        let current = map(&[("idle_timeout_secs", "3600"), ("max_sessions", "2")]);
        let what = describe_changes(
            "Group night-shift",
            &current,
            &[
                FieldChange::Set("idle_timeout_secs".into(), "1800".into()),
                FieldChange::Unset("max_sessions".into()),
                FieldChange::Set("limit_action".into(), "evict_oldest".into()),
            ],
        );
        assert!(
            what.contains("idle_timeout_secs from 1 hour to 30 minutes"),
            "{what}"
        );
        assert!(what.contains("max_sessions back to no opinion"), "{what}");
        assert!(what.contains("limit_action to evict oldest"), "{what}");
        assert!(what.contains("live sessions at once"), "{what}");
    }

    #[test]
    fn layers_values_and_durations_read_as_words() {
        assert_eq!(
            layer_words("tenant"),
            "Tenant default (every user in every app)"
        );
        assert_eq!(layer_words("group:night-shift"), "Group night-shift");
        assert_eq!(
            layer_words("attribute:clearance=secret"),
            "Users whose clearance is secret"
        );
        assert_eq!(layer_words("client:web"), "App web");
        assert_eq!(layer_words("default"), "Lanyard's built-in default");
        assert_eq!(duration_words(28_800), "8 hours");
        assert_eq!(duration_words(90), "90 seconds");
        assert_eq!(duration_words(5400), "90 minutes");
        assert_eq!(duration_words(86_400), "1 day");
        assert_eq!(value_words("require_mfa", "true"), "yes");
        assert_eq!(value_words("limit_action", "evict_oldest"), "evict oldest");
        assert_eq!(
            value_words("schedule", "07:00 Europe/Berlin"),
            "07:00 Europe/Berlin"
        );
    }

    #[test]
    fn a_rule_is_named_by_layer_or_by_kind_and_subject() {
        let p = |q: &str| Params::parse(q.as_bytes()).unwrap();
        assert_eq!(layer_of(&p("layer=tenant")).unwrap(), LayerRef::tenant());
        assert_eq!(
            layer_of(&p("kind=attribute&subject=clearance%3Dsecret")).unwrap(),
            LayerRef::attribute("clearance", "secret")
        );
        assert_eq!(
            layer_of(&p("kind=client&subject=web")).unwrap(),
            LayerRef::client("web")
        );
        for bad in [
            "kind=tenant&subject=x",
            "kind=group&subject=",
            "kind=attribute&subject=k",
            "",
        ] {
            assert!(layer_of(&p(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_policies_page_shows_layers_schedules_and_sources() {
        let html = render("admin/policies.html", PoliciesPage::sample());
        assert!(html.contains("Group night-shift"), "{html}");
        assert!(html.contains("30 minutes"), "the idle timeout in words");
        assert!(html.contains("07:00,19:00 Europe/Berlin"));
        assert!(html.contains("in 2 hours"), "the next run in words");
        assert!(
            html.contains("2027-01-15 11:00 CET"),
            "and in the schedule's zone"
        );
        assert!(html.contains("Effective policy for alice in web"));
        assert!(
            html.contains("Lanyard&#x27;s built-in default")
                || html.contains("Lanyard's built-in default")
        );
        assert!(
            html.contains("policies/layer?layer=group%3Anight-shift"),
            "{html}"
        );
        let mut read_only = PoliciesPage::sample();
        read_only.chrome.read_only = true;
        let html = render("admin/policies.html", read_only);
        assert!(
            !html.contains("Add a rule") && !html.contains(">Edit<"),
            "a view-only admin sees no way to edit"
        );
    }

    #[test]
    fn the_layer_form_has_a_labelled_input_per_field() {
        let html = render("admin/policy_layer.html", LayerPage::sample());
        for (k, _) in FIELDS {
            assert!(html.contains(&format!("name=\"{k}\"")), "{k}");
            assert!(html.contains(&format!("for=\"f-{k}\"")), "label for {k}");
        }
        assert!(html.contains("value=\"ask\""));
        assert!(html.contains("name=\"layer\" value=\"client:trading\""));
        // Schedules belong to group and attribute rules, never the tenant default.
        let tenant = LayerPage::new(
            Chrome::sample(),
            "demo",
            &LayerRef::tenant(),
            &BTreeMap::new(),
            true,
        );
        let html = render("admin/policy_layer.html", tenant);
        assert!(!html.contains("name=\"schedule\""));
        assert!(html.contains("name=\"idle_timeout_secs\""));
    }
}
