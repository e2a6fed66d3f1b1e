//! Admin API authentication: a bearer admin token, scoped to one tenant or to all. A tenant-scoped
//! token asking about another tenant gets the answer an unknown tenant gets (404), so a token
//! cannot probe which tenants exist.

use super::error::{err, ApiError};
use lanyard_idp::app::State;
use lanyard_idp::manage::{self, ManageError};
use lanyard_idp::model::Tenant;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque")]
pub struct AdminToken(Bearer);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// The authenticated caller acting on one tenant.
#[derive(Debug)]
pub struct Caller {
    pub tenant: Tenant,
    /// For the audit trail: `admin:<token name>`, never the token.
    pub actor: String,
    /// Whether the token acts on every tenant (needed to delete one).
    pub all_tenants: bool,
}

/// Authenticate the token and resolve the tenant it acts on.
pub async fn authorize(state: &State, token: &AdminToken, slug: &str) -> Result<Caller, ApiError> {
    let who = manage::tokens::authenticate_admin_token(&state.db, &state.hasher, &token.0.token)
        .await?
        .ok_or_else(|| {
            err(
                ApiError::Unauthorized,
                "unauthorized",
                "missing or invalid admin token (Authorization: Bearer <admin token>)",
            )
        })?;
    let tenant = manage::tenant(&state.db, &state.config.public_url, slug).await?;
    match &who.tenant_id {
        // Exactly the unknown-tenant answer.
        Some(t) if *t != tenant.id => Err(ManageError::not_found("tenant", slug).into()),
        scope => Ok(Caller {
            all_tenants: scope.is_none(),
            actor: format!("admin:{}", who.name),
            tenant,
        }),
    }
}
