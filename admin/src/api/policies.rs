//! Session policy and groups: every layer, the effective policy of a user in a client, changing
//! the keys of one layer, and the groups that rules select by. Handlers translate; the session
//! service applies every change to live sessions at once.

use super::auth::{authorize, AdminToken};
use super::error::{err, ApiError};
use super::views::{DeletedGroup, GroupView, LayerView, PolicyChangedView, PolicyValue};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::manage::governance;
use lanyard_idp::session::service::policy::{change_layer, FieldChange};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use std::collections::BTreeMap;

pub struct PoliciesApi {
    pub state: State,
}

/// Changes to one layer: only the fields named change.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct LayerChanges {
    /// Field → value (text, a number or a boolean; durations also as `30m`, `8h`, `2d`).
    #[oai(default)]
    pub set: BTreeMap<String, serde_json::Value>,
    /// Fields to clear (they fall back to the layers below).
    #[oai(default)]
    pub unset: Vec<String>,
}

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct NewGroup {
    /// 1-64 characters of letters, digits, '-', '_' and '.'.
    pub name: String,
    pub description: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    err(ApiError::BadRequest, "invalid_request", message)
}

/// The body as the service's field changes: sets first, then clears.
fn field_changes(b: LayerChanges) -> Result<Vec<FieldChange>, ApiError> {
    if b.set.is_empty() && b.unset.is_empty() {
        return Err(bad("nothing to change: give set and/or unset"));
    }
    let mut out = Vec::with_capacity(b.set.len() + b.unset.len());
    for (k, v) in b.set {
        if b.unset.contains(&k) {
            return Err(bad(format!("policy field {k}: both set and unset")));
        }
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(bad(format!(
                    "policy field {k}: the value must be text, a number or a boolean"
                )))
            }
        };
        out.push(FieldChange::Set(k, text));
    }
    out.extend(b.unset.into_iter().map(FieldChange::Unset));
    Ok(out)
}

#[OpenApi(tag = "Tag::Policies")]
impl PoliciesApi {
    /// Every policy layer of the tenant with what it sets: the tenant first, then group,
    /// attribute and client rules.
    #[oai(path = "/tenants/:slug/policies", method = "get")]
    async fn list_policies(
        &self,
        auth: AdminToken,
        slug: Path<String>,
    ) -> ApiResult<Vec<LayerView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let layers = governance::list_policies(&self.state.db, &c.tenant).await?;
        Ok(Json(layers.into_iter().map(Into::into).collect()))
    }

    /// The policy in force for a user in a client, field by field with the layer behind each
    /// value (`default`, `tenant`, `group:NAME`, `attribute:KEY=VALUE`, `client:CLIENT_ID`).
    #[oai(path = "/tenants/:slug/policies/effective", method = "get")]
    async fn effective_policy(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        /// For this user (username): adds the rules of their groups and attributes.
        user: Query<Option<String>>,
        /// In this client (client_id): adds its client rule.
        client: Query<Option<String>>,
    ) -> ApiResult<Vec<PolicyValue>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let fields = governance::effective_policy(
            &self.state,
            &c.tenant,
            user.0.as_deref(),
            client.0.as_deref(),
        )
        .await?;
        Ok(Json(fields.into_iter().map(Into::into).collect()))
    }

    /// Change only the fields named in one layer: `tenant`, `group:NAME`,
    /// `attribute:KEY=VALUE` or `client:CLIENT_ID` (URL-encoded). Live sessions are re-resolved
    /// at once; those already past a new deadline end.
    #[oai(path = "/tenants/:slug/policies/:layer", method = "patch")]
    async fn change_policy(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        layer: Path<String>,
        body: Json<LayerChanges>,
    ) -> ApiResult<PolicyChangedView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let layer = governance::parse_layer(&layer)?;
        let changes = field_changes(body.0)?;
        let changed = change_layer(&self.state, &c.tenant, &layer, &changes, &c.actor).await?;
        Ok(Json(changed.into()))
    }

    /// The tenant's groups with their member counts.
    #[oai(path = "/tenants/:slug/groups", method = "get")]
    async fn list_groups(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<Vec<GroupView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let groups = governance::list_groups(&self.state.db, &c.tenant).await?;
        Ok(Json(groups.into_iter().map(Into::into).collect()))
    }

    /// Create a group (409 when it exists).
    #[oai(path = "/tenants/:slug/groups", method = "post")]
    async fn create_group(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<NewGroup>,
    ) -> ApiResult<GroupView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let g = governance::create_group(
            &self.state,
            &c.tenant,
            &body.name,
            body.description.as_deref(),
            &c.actor,
        )
        .await?;
        Ok(Json(g.into()))
    }

    /// Delete a group, its memberships and its policy rule; former members' live sessions are
    /// re-resolved at once.
    #[oai(path = "/tenants/:slug/groups/:name", method = "delete")]
    async fn delete_group(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        name: Path<String>,
    ) -> ApiResult<DeletedGroup> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let d = governance::delete_group(&self.state, &c.tenant, &name, &c.actor).await?;
        Ok(Json(d.into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(v: serde_json::Value) -> LayerChanges {
        LayerChanges {
            set: serde_json::from_value(v["set"].clone()).unwrap_or_default(),
            unset: serde_json::from_value(v["unset"].clone()).unwrap_or_default(),
        }
    }

    #[test]
    fn changes_take_text_numbers_and_booleans_and_refuse_contradictions() {
        let c = field_changes(body(serde_json::json!({
            "set": {"idle_timeout_secs": 600, "refresh_reuse_ends_session": false, "schedule": "07:00 UTC"},
            "unset": ["max_sessions"],
        })))
        .unwrap();
        let shown: Vec<String> = c
            .iter()
            .map(|c| match c {
                FieldChange::Set(k, v) => format!("{k}={v}"),
                FieldChange::Unset(k) => format!("-{k}"),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "idle_timeout_secs=600",
                "refresh_reuse_ends_session=false",
                "schedule=07:00 UTC",
                "-max_sessions"
            ]
        );
        assert!(field_changes(body(serde_json::json!({}))).is_err());
        assert!(
            field_changes(body(serde_json::json!({"set": {"a": "1"}, "unset": ["a"]}))).is_err()
        );
        assert!(field_changes(body(serde_json::json!({"set": {"a": [1]}}))).is_err());
    }
}
