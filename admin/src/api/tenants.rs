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

#[OpenApi(tag = "Tag::Tenants")]
impl TenantsApi {
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
        tokens::revoke_admin_token(&self.state.db, Some(&c.tenant), &name).await?;
        Ok(Json(RevokedAdminToken { revoked: name.0 }))
    }
}
