//! Admin API authentication: a bearer admin token, scoped to one tenant or to all. A tenant-scoped
//! token asking about another tenant gets exactly the answer an unknown tenant gets (404, the
//! same body), so a token cannot probe which tenants exist.

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
    let tenant = match manage::tenant(&state.db, &state.config.public_url, slug).await {
        Ok(t) => t,
        Err(ManageError::NotFound { .. }) => return Err(no_such_tenant()),
        Err(e) => return Err(e.into()),
    };
    match decide_tenant_access(who.tenant_id.as_deref(), &tenant.id) {
        TenantAccess::Allowed { all_tenants } => Ok(Caller {
            all_tenants,
            actor: format!("admin:{}", who.name),
            tenant,
        }),
        TenantAccess::Hidden => Err(no_such_tenant()),
    }
}

/// What a token may do with an existing tenant.
#[derive(Debug, PartialEq, Eq)]
pub enum TenantAccess {
    Allowed {
        all_tenants: bool,
    },
    /// Answered exactly as a tenant that does not exist ([`no_such_tenant`]).
    Hidden,
}

/// A token scoped to one tenant sees that tenant only; an all-tenant token (`None`) every one.
/// Another tenant is hidden, not forbidden (RFC 9110 §15.5.4: a server that wishes to hide the
/// existence of a forbidden resource may answer 404): a 403 there and a 404 for an unknown slug
/// would tell a scoped token which tenants exist.
pub fn decide_tenant_access(token_scope: Option<&str>, tenant_id: &str) -> TenantAccess {
    match token_scope {
        None => TenantAccess::Allowed { all_tenants: true },
        Some(t) if t == tenant_id => TenantAccess::Allowed { all_tenants: false },
        Some(_) => TenantAccess::Hidden,
    }
}

/// The one answer for a tenant this token cannot see, whether it exists or not: the same status
/// and the same bytes (the slug asked for is not echoed, so neither differs).
pub fn no_such_tenant() -> ApiError {
    err(
        ApiError::NotFound,
        "not_found",
        "no such tenant for this admin token",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_tenant_is_hidden_and_the_own_one_allowed() {
        assert_eq!(
            decide_tenant_access(Some("a"), "a"),
            TenantAccess::Allowed { all_tenants: false }
        );
        assert_eq!(decide_tenant_access(Some("a"), "b"), TenantAccess::Hidden);
        assert_eq!(
            decide_tenant_access(None, "b"),
            TenantAccess::Allowed { all_tenants: true }
        );
    }
}
