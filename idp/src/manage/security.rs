//! A tenant's security settings: its response chains (`session::chain`) and its login-throttle
//! thresholds (`throttle::ThrottlePolicy`). Both arrive as JSON (CLI file, admin API body) and
//! are validated before they are stored; errors name the field.

use super::{invalid, Result};
use crate::app::AppState;
use crate::model::Tenant;
use crate::session::chain::{parse_chains, Chain};
use crate::session::service::lockout::{save_security, security};
use crate::throttle::ThrottlePolicy;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecuritySettings {
    pub tenant: String,
    pub response_chains: Vec<Chain>,
    pub login_throttle: ThrottlePolicy,
}

pub async fn show(state: &AppState, tenant: &Tenant) -> Result<SecuritySettings> {
    let s = security(&state.db, tenant).await?;
    Ok(SecuritySettings {
        tenant: tenant.slug.clone(),
        response_chains: s.chains,
        login_throttle: s.throttle,
    })
}

/// Replace the tenant's response chains with the JSON list `raw` (`[]` removes them all).
pub async fn set_chains(
    state: &AppState,
    tenant: &Tenant,
    raw: &str,
    actor: &str,
) -> Result<SecuritySettings> {
    let chains = parse_chains(raw).map_err(|e| invalid(format!("response chains: {e}")))?;
    let mut s = security(&state.db, tenant).await?;
    s.chains = chains;
    save_security(state, tenant, &s, actor).await?;
    show(state, tenant).await
}

/// Change some login-throttle thresholds: `changes` is a JSON object of the fields to set
/// (unknown fields are refused); the others keep their values.
pub async fn set_throttle(
    state: &AppState,
    tenant: &Tenant,
    changes: &serde_json::Value,
    actor: &str,
) -> Result<SecuritySettings> {
    let Some(obj) = changes.as_object() else {
        return Err(invalid("login throttle: expected a JSON object of fields"));
    };
    let mut s = security(&state.db, tenant).await?;
    let mut merged = serde_json::to_value(s.throttle)?;
    if let Some(m) = merged.as_object_mut() {
        for (k, v) in obj {
            m.insert(k.clone(), v.clone());
        }
    }
    let t: ThrottlePolicy =
        serde_json::from_value(merged).map_err(|e| invalid(format!("login throttle: {e}")))?;
    t.validate()
        .map_err(|e| invalid(format!("login throttle: {} {}", e.field, e.rule)))?;
    s.throttle = t;
    save_security(state, tenant, &s, actor).await?;
    show(state, tenant).await
}
