//! A tenant (show with its policy, delete, end every session) and its admin tokens.

use super::auth::{authorize, AdminToken};
use super::error::{err, ApiError};
use super::views::{AdminTokenView, Revoked, TenantView};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::manage::{self, tenants, tokens};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

pub struct TenantsApi {
    pub state: State,
}

#[derive(Object, Debug)]
pub struct DeletedTenant {
    pub deleted: String,
    pub sessions_ended: u64,
    /// Back-channel logout deliveries still owed; the dispatcher finishes them.
    pub deliveries_pending: u64,
}

#[derive(Object, Debug)]
pub struct NewAdminToken {
    /// Unique among the tenant's live tokens.
    pub name: String,
}

#[derive(Object)]
pub struct CreatedAdminToken {
    pub name: String,
    pub tenant: String,
    /// Shown this once; only its hash is stored.
    pub token: String,
}

impl std::fmt::Debug for CreatedAdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CreatedAdminToken({}, ***)", self.name)
    }
}

#[derive(Object, Debug)]
pub struct RevokedAdminToken {
    pub revoked: String,
}

/// A tenant's mail settings.
#[derive(Object, Debug)]
pub struct MailSettingsView {
    pub tenant: String,
    /// The tenant's own From address (null: LANYARD_MAIL_FROM, else no-reply@ the public host).
    pub mail_from: Option<String>,
    /// Told by e-mail when a user reports a sign-in as not theirs.
    pub admin_email: Option<String>,
    /// Whether this deployment sends e-mail at all (LANYARD_SMTP_URL set).
    pub email_enabled: bool,
}

impl From<manage::mail::MailSettings> for MailSettingsView {
    fn from(m: manage::mail::MailSettings) -> Self {
        Self {
            tenant: m.tenant,
            mail_from: m.mail_from,
            admin_email: m.admin_email,
            email_enabled: m.email_enabled,
        }
    }
}

/// Mail settings changes: an absent field stays, `null` removes it.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct MailSettingsChanges {
    pub mail_from: poem_openapi::types::MaybeUndefined<String>,
    pub admin_email: poem_openapi::types::MaybeUndefined<String>,
}

fn maybe(v: poem_openapi::types::MaybeUndefined<String>) -> Option<Option<String>> {
    use poem_openapi::types::MaybeUndefined;
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

/// A tenant's security settings (ADR 0013; the README has the formats).
#[derive(Object, Debug)]
pub struct SecurityView {
    pub tenant: String,
    /// The response chains: `[{signal, window_secs, steps: [{occurrence, actions, lock_for_secs?}]}]`.
    pub response_chains: serde_json::Value,
    /// The login-throttle thresholds, every field with its value in force.
    pub login_throttle: serde_json::Value,
}

impl TryFrom<manage::security::SecuritySettings> for SecurityView {
    type Error = serde_json::Error;
    fn try_from(s: manage::security::SecuritySettings) -> Result<Self, Self::Error> {
        Ok(Self {
            tenant: s.tenant,
            response_chains: serde_json::to_value(s.response_chains)?,
            login_throttle: serde_json::to_value(s.login_throttle)?,
        })
    }
}

fn security_view(s: manage::security::SecuritySettings) -> Result<SecurityView, ApiError> {
    SecurityView::try_from(s).map_err(|_| {
        err(
            ApiError::Internal,
            "server_error",
            "the security settings could not be shown",
        )
    })
}

#[OpenApi(tag = "Tag::Tenants")]
impl TenantsApi {
    /// The tenant's security settings: response chains and login-throttle thresholds.
    #[oai(path = "/tenants/:slug/security", method = "get")]
    async fn show_security(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<SecurityView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        Ok(Json(security_view(
            manage::security::show(&self.state, &c.tenant).await?,
        )?))
    }

    /// Replace the tenant's response chains (a JSON list; `[]` removes them).
    #[oai(path = "/tenants/:slug/security/response-chains", method = "put")]
    async fn set_response_chains(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<serde_json::Value>,
    ) -> ApiResult<SecurityView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let raw = body.0.to_string();
        Ok(Json(security_view(
            manage::security::set_chains(&self.state, &c.tenant, &raw, &c.actor).await?,
        )?))
    }

    /// Change login-throttle thresholds (a JSON object of the fields to set).
    #[oai(path = "/tenants/:slug/security/login-throttle", method = "patch")]
    async fn set_login_throttle(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<serde_json::Value>,
    ) -> ApiResult<SecurityView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        Ok(Json(security_view(
            manage::security::set_throttle(&self.state, &c.tenant, &body.0, &c.actor).await?,
        )?))
    }

    /// The tenant's mail settings (From address, admin address).
    #[oai(path = "/tenants/:slug/mail", method = "get")]
    async fn show_mail(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<MailSettingsView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        Ok(Json(
            manage::mail::show(&self.state, &c.tenant).await?.into(),
        ))
    }

    /// Change the tenant's mail settings.
    #[oai(path = "/tenants/:slug/mail", method = "patch")]
    async fn set_mail(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<MailSettingsChanges>,
    ) -> ApiResult<MailSettingsView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        Ok(Json(
            manage::mail::set(
                &self.state,
                &c.tenant,
                maybe(b.mail_from),
                maybe(b.admin_email),
                &c.actor,
            )
            .await?
            .into(),
        ))
    }

    /// The tenant, with its session policy as set and as in force.
    #[oai(path = "/tenants/:slug", method = "get")]
    async fn show_tenant(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<TenantView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let t = tenants::show_tenant(
            &self.state.db,
            &self.state.config.public_url,
            &c.tenant.slug,
        )
        .await?;
        Ok(Json(t.into()))
    }

    /// Delete the tenant: every session is ended first (RPs are told), then its users, clients,
    /// keys, sessions, audit trail and admin tokens are deleted. Needs an all-tenant token.
    #[oai(path = "/tenants/:slug", method = "delete")]
    async fn delete_tenant(
        &self,
        auth: AdminToken,
        slug: Path<String>,
    ) -> ApiResult<DeletedTenant> {
        let c = authorize(&self.state, &auth, &slug).await?;
        if !c.all_tenants {
            return Err(err(
                ApiError::Forbidden,
                "forbidden",
                "deleting a tenant needs an all-tenant admin token",
            ));
        }
        let d = tenants::delete_tenant(&self.state, &c.tenant, &c.actor).await?;
        Ok(Json(DeletedTenant {
            deleted: d.deleted,
            sessions_ended: d.sessions_ended,
            deliveries_pending: d.deliveries_pending,
        }))
    }

    /// End every session of the tenant.
    #[oai(path = "/tenants/:slug/revoke-sessions", method = "post")]
    async fn revoke_tenant(&self, auth: AdminToken, slug: Path<String>) -> ApiResult<Revoked> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let n = manage::revoke_tenant_sessions(&self.state, &c.tenant, &c.actor).await?;
        Ok(Json(Revoked { sessions_ended: n }))
    }

    /// The tenant's admin tokens (never the tokens themselves).
    #[oai(path = "/tenants/:slug/admin-tokens", method = "get")]
    async fn list_admin_tokens(
        &self,
        auth: AdminToken,
        slug: Path<String>,
    ) -> ApiResult<Vec<AdminTokenView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = tokens::list_admin_tokens(&self.state.db, Some(&c.tenant)).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Create an admin token for this tenant; the token is in this response only.
    #[oai(path = "/tenants/:slug/admin-tokens", method = "post")]
    async fn create_admin_token(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<NewAdminToken>,
    ) -> ApiResult<CreatedAdminToken> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let token = manage::create_admin_token(
            &self.state.db,
            &self.state.hasher,
            Some(&c.tenant),
            &body.name,
            &c.actor,
            self.state.clock.now(),
        )
        .await?;
        Ok(Json(CreatedAdminToken {
            name: body.0.name,
            tenant: c.tenant.slug,
            token,
        }))
    }

    /// Revoke the tenant's admin token of this name; it stops working at once.
    #[oai(path = "/tenants/:slug/admin-tokens/:name", method = "delete")]
    async fn revoke_admin_token(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        name: Path<String>,
    ) -> ApiResult<RevokedAdminToken> {
        let c = authorize(&self.state, &auth, &slug).await?;
        tokens::revoke_admin_token(
            &self.state.db,
            Some(&c.tenant),
            &name,
            &c.actor,
            self.state.clock.now(),
        )
        .await?;
        Ok(Json(RevokedAdminToken { revoked: name.0 }))
    }
}
