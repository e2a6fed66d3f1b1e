//! Policy in the session service: reading a tenant's layers, resolving the effective policy of a
//! user in some clients, changing a layer, and re-resolving live sessions at once when a policy
//! or a user's groups or attributes change (sessions already past the new deadlines end through
//! the termination path, reason `policy_changed`; rules that say so end a user's sessions when
//! the user enters or leaves them, reason `attributes_changed`).

use super::end::{end_many, end_scope, Ender, Scope, PAGE};
use super::resolve::parse;
use crate::app::AppState;
use crate::error::{conflict, internal, invalid, not_found, Result};
use crate::events::audit::{self, Event};
use crate::model::Tenant;
use crate::session::clocks::reclocked;
use crate::session::policy::{
    applicable_layers, decide_membership_change, resolve_policy, EffectivePolicy, LayerKind,
    LayerRef, Membership, PolicyLayer,
};
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A tenant's layers, parsed. A stored value that does not parse is an error naming the tenant,
/// the layer and the field.
pub async fn load_layers<C: ConnectionTrait>(
    db: &C,
    tenant: &Tenant,
) -> Result<Vec<(LayerRef, PolicyLayer)>> {
    let stored = store::policies::list_layers(db, &tenant.id).await?;
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let kind = LayerKind::parse(&s.layer.kind).ok_or_else(|| {
            internal(format!(
                "tenant {}: policy layer {}: unknown kind '{}'",
                tenant.slug, s.layer.id, s.layer.kind
            ))
        })?;
        let r = LayerRef {
            kind,
            subject: s.layer.subject.clone(),
        };
        let layer =
            PolicyLayer::from_settings(s.settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(|e| internal(format!("tenant {}: policy {r}: {e}", tenant.slug)))?;
        out.push((r, layer));
    }
    Ok(out)
}

/// What one request has read of committed policy inputs (a tenant's layers, a user's groups
/// and attributes), so the steps of one sign-in (the step-up decision, admission, joining the
/// client) read them once, not once per step. It lives as long as the request's context
/// ([`crate::http::RequestContext::reads`]) and holds only reads from the reader pool: work that
/// changes a policy or a membership reads its own transaction, never this.
#[derive(Clone, Default)]
pub struct ReadMemo(Arc<Mutex<MemoInner>>);

type Layers = Arc<Vec<(LayerRef, PolicyLayer)>>;

#[derive(Default)]
struct MemoInner {
    layers: HashMap<String, Layers>,
    members: HashMap<(String, String), Membership>,
}

impl std::fmt::Debug for ReadMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Policy and membership are not secrets, but they are not the context's to print.
        f.write_str("ReadMemo")
    }
}

impl ReadMemo {
    fn inner(&self) -> std::sync::MutexGuard<'_, MemoInner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A tenant's layers and a user's membership as committed, read once per request (`memo`).
pub async fn committed_inputs(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    memo: &ReadMemo,
) -> Result<(Layers, Membership)> {
    let cached_layers = memo.inner().layers.get(&tenant.id).cloned();
    let layers = match cached_layers {
        Some(l) => l,
        None => {
            let l = Arc::new(load_layers(&state.read, tenant).await?);
            memo.inner().layers.insert(tenant.id.clone(), l.clone());
            l
        }
    };
    let key = (tenant.id.clone(), user_id.to_string());
    let cached_who = memo.inner().members.get(&key).cloned();
    let who = match cached_who {
        Some(w) => w,
        None => {
            let w = membership(&state.read, &tenant.id, user_id).await?;
            memo.inner().members.insert(key, w.clone());
            w
        }
    };
    Ok((layers, who))
}

/// A user's groups and attributes.
pub async fn membership<C: ConnectionTrait>(
    db: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Membership> {
    Ok(Membership {
        groups: store::policies::list_user_groups(db, tenant_id, user_id).await?,
        attributes: store::policies::list_user_attributes(db, tenant_id, user_id).await?,
    })
}

/// The effective policy of a user taking part in these clients (public `client_id`s).
pub fn effective(
    layers: &[(LayerRef, PolicyLayer)],
    who: &Membership,
    client_ids: &[&str],
) -> EffectivePolicy {
    resolve_policy(applicable_layers(layers, who, client_ids))
}

/// The policy a live session was resolved with: its stored snapshot, or, for a session from
/// before snapshots existed (stored as `{}` by the migration), resolved now.
pub async fn session_policy(
    state: &AppState,
    tenant: &Tenant,
    s: &crate::session::Session,
) -> Result<EffectivePolicy> {
    if s.policy_snapshot != "{}" {
        return EffectivePolicy::from_snapshot(&s.policy_snapshot)
            .map_err(|e| internal(format!("session {}: stored policy snapshot: {e}", s.id)));
    }
    let layers = load_layers(&state.db, tenant).await?;
    let who = membership(&state.db, &tenant.id, &s.user_id).await?;
    let client_ids: Vec<String> = {
        let rows = store::sessions::list_participants(&state.db, &tenant.id, &s.id).await?;
        if rows.is_empty() {
            vec![]
        } else {
            store::clients::list_by_ids(&state.db, &tenant.id, rows)
                .await?
                .into_iter()
                .map(|c| c.client_id)
                .collect()
        }
    };
    let refs: Vec<&str> = client_ids.iter().map(String::as_str).collect();
    Ok(effective(&layers, &who, &refs))
}

/// `lanyard policy show`: the effective policy for a user (or a user-less view) in a client.
pub async fn show(
    state: &AppState,
    tenant: &Tenant,
    user_id: Option<&str>,
    client_id: Option<&str>,
) -> Result<EffectivePolicy> {
    let layers = load_layers(&state.db, tenant).await?;
    let who = match user_id {
        Some(u) => membership(&state.db, &tenant.id, u).await?,
        None => Membership::default(),
    };
    let clients: Vec<&str> = client_id.into_iter().collect();
    Ok(effective(&layers, &who, &clients))
}

/// One change to a layer: set a field from text, or clear it.
#[derive(Debug, Clone)]
pub enum FieldChange {
    Set(String, String),
    Unset(String),
}

/// What a policy change did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyChanged {
    pub layer: String,
    pub version: i64,
    pub settings: Vec<(String, String)>,
    /// Live sessions whose policy was re-resolved.
    pub sessions_reresolved: u64,
    /// Sessions that the change ended (already past a new deadline).
    pub sessions_ended: u64,
}

/// Change only the keys given in one layer, audit it, and apply it to live sessions at once.
pub async fn change_layer(
    state: &AppState,
    tenant: &Tenant,
    layer: &LayerRef,
    changes: &[FieldChange],
    actor: &str,
) -> Result<PolicyChanged> {
    // The built-in first-party pages (the account portal, the admin area) are never stored but
    // are clients a policy can govern: `client:lanyard:admin require_mfa=true`.
    let built_in = [
        crate::model::PORTAL_CLIENT_ID,
        crate::model::ADMIN_CLIENT_ID,
    ];
    if layer.kind == LayerKind::Client
        && !built_in.contains(&layer.subject.as_str())
        && store::clients::find_by_client_id(&state.db, &tenant.id, &layer.subject)
            .await?
            .is_none()
    {
        return Err(not_found(format!("no client '{}'", layer.subject)));
    }
    if layer.kind == LayerKind::Group
        && store::policies::find_group(&state.db, &tenant.id, &layer.subject)
            .await?
            .is_none()
    {
        return Err(not_found(format!("no group '{}'", layer.subject)));
    }
    if layer.kind == LayerKind::Attribute && !layer.subject.contains('=') {
        return Err(invalid("an attribute rule is key=value"));
    }
    let layers = load_layers(&state.db, tenant).await?;
    let mut current = layers
        .iter()
        .find(|(r, _)| r == layer)
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    let before = current.to_settings();
    for c in changes {
        match c {
            FieldChange::Set(k, v) => current.set(k, v),
            FieldChange::Unset(k) => current.unset(k),
        }
        .map_err(|e| invalid(e.to_string()))?;
    }
    if layer.kind == LayerKind::Tenant && current.schedule.is_some() {
        return Err(invalid(
            "schedules belong to group or attribute rules, not the tenant",
        ));
    }
    let settings = current.to_settings();
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    let version = store::policies::replace_layer(
        &txn,
        &tenant.id,
        layer.kind.as_str(),
        &layer.subject,
        &settings,
        now_ms / 1000,
        actor,
    )
    .await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "policy.changed",
            actor,
            outcome: "ok",
            detail: Some(json!({
                "layer": layer.to_string(), "version": version,
                "before": before.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<HashMap<_, _>>(),
                "after": settings.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<HashMap<_, _>>(),
            })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    let scope = match layer.kind {
        LayerKind::Tenant => Reresolve::All,
        LayerKind::Group => Reresolve::Users(
            store::policies::list_group_member_ids(&state.db, &tenant.id, &layer.subject).await?,
        ),
        LayerKind::Attribute => {
            let (k, v) = layer.subject.split_once('=').unwrap_or_default();
            Reresolve::Users(
                store::policies::list_users_with_attribute(&state.db, &tenant.id, k, v).await?,
            )
        }
        LayerKind::Client => Reresolve::All,
    };
    let (reresolved, ended) =
        reresolve(state, tenant, scope, EndReason::PolicyChanged, actor).await?;
    Ok(PolicyChanged {
        layer: layer.to_string(),
        version,
        settings: settings
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        sessions_reresolved: reresolved,
        sessions_ended: ended,
    })
}

/// Which live sessions to re-resolve.
#[derive(Debug, Clone)]
pub enum Reresolve {
    All,
    Users(Vec<String>),
    Session(String),
}

/// Re-resolve live sessions' policy now: new timeouts and schedule, deadlines recomputed from
/// the session's start and last activity. Sessions already past a new deadline end with
/// `reason`. Returns `(re-resolved, ended)`.
pub async fn reresolve(
    state: &AppState,
    tenant: &Tenant,
    scope: Reresolve,
    reason: EndReason,
    actor: &str,
) -> Result<(u64, u64)> {
    let layers = load_layers(&state.db, tenant).await?;
    let client_ids: HashMap<String, String> = store::clients::list(&state.db, &tenant.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.client_id))
        .collect();
    let filters: Vec<store::sessions::SessionFilter> = match scope {
        Reresolve::All => vec![Default::default()],
        Reresolve::Users(users) => users
            .into_iter()
            .map(|u| store::sessions::SessionFilter {
                user_id: Some(u),
                ..Default::default()
            })
            .collect(),
        Reresolve::Session(id) => vec![store::sessions::SessionFilter {
            session_id: Some(id),
            ..Default::default()
        }],
    };
    let mut members: HashMap<String, Membership> = HashMap::new();
    let (mut reresolved, mut ended) = (0u64, 0u64);
    for filter in filters {
        let mut after: Option<String> = None;
        loop {
            let rows = store::sessions::list_active_page(
                &state.db,
                &tenant.id,
                &filter,
                after.as_deref(),
                PAGE,
            )
            .await?;
            let Some(last) = rows.last().map(|r| r.id.clone()) else {
                break;
            };
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let pairs =
                store::sessions::list_participants_many(&state.db, &tenant.id, &ids).await?;
            // Everything read before the transaction: on SQLite the transaction holds the one
            // writer connection, so reading through the pool inside it would wait for itself.
            for r in &rows {
                if !members.contains_key(&r.user_id) {
                    let m = membership(&state.db, &tenant.id, &r.user_id).await?;
                    members.insert(r.user_id.clone(), m);
                }
            }
            let now_ms = state.clock.now_ms();
            let now = now_ms / 1000;
            let mut past = Vec::new();
            let txn = state.db.begin().await?;
            for row in rows {
                let s = parse(row)?;
                let who = members.get(&s.user_id).cloned().unwrap_or_default();
                let clients: Vec<&str> = pairs
                    .iter()
                    .filter(|(sid, _)| *sid == s.id)
                    .filter_map(|(_, c)| client_ids.get(c).map(String::as_str))
                    .collect();
                let p = effective(&layers, &who, &clients);
                let clocks = reclocked(
                    s.created_at,
                    s.last_active_at,
                    p.idle_timeout_secs.value,
                    p.absolute_timeout_secs.value,
                    p.next_scheduled_end(now),
                );
                store::sessions::mark_policy(
                    &txn,
                    &tenant.id,
                    &s.id,
                    clocks.idle_timeout_secs,
                    clocks.absolute_timeout_secs,
                    clocks.idle_deadline,
                    clocks.absolute_deadline,
                    clocks.scheduled_end_at,
                    &p.to_snapshot(),
                )
                .await?;
                reresolved += 1;
                if now >= clocks.idle_deadline || now >= clocks.absolute_deadline {
                    past.push(s.id.clone());
                }
            }
            txn.commit().await?;
            ended += end_many(
                state,
                &tenant.id,
                &past,
                reason,
                &Ender::new(actor, None),
                now_ms,
            )
            .await?
            .count();
            after = Some(last);
        }
    }
    Ok((reresolved, ended))
}

/// What changing a user's groups or attributes did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MembershipChanged {
    pub groups: Vec<String>,
    pub attributes: Vec<(String, String)>,
    /// Rules entered or left that end sessions on change.
    pub rules_triggered: Vec<String>,
    pub sessions_ended: u64,
    pub sessions_reresolved: u64,
}

/// Apply a membership change for one user, audit it, and apply it to their live sessions.
pub async fn change_membership(
    state: &AppState,
    tenant: &Tenant,
    user_id: &str,
    groups: Option<&[String]>,
    attribute: Option<(&str, Option<&str>)>,
    actor: &str,
) -> Result<MembershipChanged> {
    let before = membership(&state.db, &tenant.id, user_id).await?;
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    if let Some(g) = groups {
        store::policies::set_user_groups(&txn, &tenant.id, user_id, g, now_ms / 1000).await?;
    }
    if let Some((k, v)) = attribute {
        store::policies::set_user_attribute(&txn, &tenant.id, user_id, k, v).await?;
    }
    let after = membership(&txn, &tenant.id, user_id).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "user.membership_changed",
            user_id: Some(user_id),
            actor,
            outcome: "ok",
            detail: Some(json!({
                "groups_before": before.groups, "groups_after": after.groups,
                "attributes_before": before.attributes, "attributes_after": after.attributes,
            })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    let layers = load_layers(&state.db, tenant).await?;
    let triggered: Vec<String> = decide_membership_change(&layers, &before, &after)
        .into_iter()
        .map(|r| r.to_string())
        .collect();
    let (reresolved, ended) = if triggered.is_empty() {
        reresolve(
            state,
            tenant,
            Reresolve::Users(vec![user_id.to_string()]),
            EndReason::PolicyChanged,
            actor,
        )
        .await?
    } else {
        let by = Ender {
            actor,
            ctx: None,
            detail: Some(json!({ "rules": triggered })),
            keep_offline: false,
        };
        let n = end_scope(
            state,
            &tenant.id,
            Scope::User(user_id),
            EndReason::AttributesChanged,
            &by,
        )
        .await?;
        (0, n)
    };
    Ok(MembershipChanged {
        groups: after.groups,
        attributes: after.attributes,
        rules_triggered: triggered,
        sessions_ended: ended,
        sessions_reresolved: reresolved,
    })
}

/// Create a group.
pub async fn create_group(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    description: Option<&str>,
    actor: &str,
) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "a group name is 1-64 characters of letters, digits, '-', '_' and '.'",
        ));
    }
    if store::policies::find_group(&state.db, &tenant.id, name)
        .await?
        .is_some()
    {
        return Err(conflict(format!("group '{name}' already exists")));
    }
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    store::policies::insert_group(&txn, &tenant.id, name, description, now_ms / 1000).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "group.created",
            actor,
            outcome: "ok",
            detail: Some(json!({ "group": name })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Delete a group: its memberships and its policy rule go; its former members' live sessions
/// are re-resolved (or ended, when the rule ends sessions on membership change).
pub async fn delete_group(
    state: &AppState,
    tenant: &Tenant,
    name: &str,
    actor: &str,
) -> Result<u64> {
    if store::policies::find_group(&state.db, &tenant.id, name)
        .await?
        .is_none()
    {
        return Err(not_found(format!("no group '{name}'")));
    }
    let members = store::policies::list_group_member_ids(&state.db, &tenant.id, name).await?;
    let mut ended = 0;
    for m in &members {
        let remaining: Vec<String> = store::policies::list_user_groups(&state.db, &tenant.id, m)
            .await?
            .into_iter()
            .filter(|g| g != name)
            .collect();
        ended += change_membership(state, tenant, m, Some(&remaining), None, actor)
            .await?
            .sessions_ended;
    }
    let now_ms = state.clock.now_ms();
    let txn = state.db.begin().await?;
    store::policies::delete_layers_for(&txn, &tenant.id, "group", name).await?;
    store::policies::delete_group(&txn, &tenant.id, name).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "group.deleted",
            actor,
            outcome: "ok",
            detail: Some(json!({ "group": name, "members": members.len() })),
            ..Default::default()
        },
        None,
        now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok(ended)
}

/// An administrator's forced re-sync: the sessions' policy is resolved again now from the
/// current layers, groups and attributes (deadlines included), and whatever it requires that a
/// session lacks (a second factor) takes effect at its next refresh or authorization; the
/// user's current claims go into the tokens issued from then on. Audited with the actor.
pub async fn resync(
    state: &AppState,
    tenant: &Tenant,
    scope: Reresolve,
    actor: &str,
) -> Result<(u64, u64)> {
    let what = match &scope {
        Reresolve::All => json!({ "scope": "tenant" }),
        Reresolve::Users(u) => json!({ "scope": "users", "users": u }),
        Reresolve::Session(s) => json!({ "scope": "session", "session": s }),
    };
    let (reresolved, ended) =
        reresolve(state, tenant, scope, EndReason::PolicyChanged, actor).await?;
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "session.resynced",
            actor,
            outcome: "ok",
            detail: Some(json!({ "target": what, "sessions_reresolved": reresolved, "sessions_ended": ended })),
            ..Default::default()
        },
        None,
        state.clock.now_ms(),
    )
    .await?;
    Ok((reresolved, ended))
}
