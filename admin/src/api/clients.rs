//! Relying parties of a tenant: list, register, show, update, disable / enable, rotate the
//! secret, delete. Validation is `manage::client_metadata`'s, the same as the CLI's.

use super::auth::{authorize, AdminToken};
use super::views::{ClientView, Done};
use super::{ApiResult, Tag};
use lanyard_idp::app::State;
use lanyard_idp::manage::client_metadata::LifetimeChanges;
use lanyard_idp::manage::clients;
use lanyard_idp::model::Lifetimes;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};

pub struct ClientsApi {
    pub state: State,
}

/// Lifetimes to set, seconds; absent fields keep the current (or default) value.
#[derive(Object, Debug, Default)]
pub struct LifetimeInput {
    pub access_token_secs: Option<i64>,
    pub id_token_secs: Option<i64>,
    pub refresh_absolute_secs: Option<i64>,
    pub refresh_idle_secs: Option<i64>,
    pub refresh_reuse_grace_secs: Option<i64>,
}

impl From<LifetimeInput> for LifetimeChanges {
    fn from(l: LifetimeInput) -> Self {
        Self {
            access_token_secs: l.access_token_secs,
            id_token_secs: l.id_token_secs,
            refresh_absolute_secs: l.refresh_absolute_secs,
            refresh_idle_secs: l.refresh_idle_secs,
            refresh_reuse_grace_secs: l.refresh_reuse_grace_secs,
        }
    }
}

/// A registration. Names follow OpenID Connect Dynamic Client Registration 1.0 §2.
#[derive(Object)]
pub struct NewClient {
    pub client_id: String,
    /// At least 16 characters; generated when absent (confidential clients).
    pub client_secret: Option<String>,
    /// client_secret_basic (default), client_secret_post, private_key_jwt, none (public).
    pub token_endpoint_auth_method: Option<String>,
    #[oai(default)]
    pub redirect_uris: Vec<String>,
    #[oai(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    /// Default: authorization_code and refresh_token.
    #[oai(default)]
    pub grant_types: Vec<String>,
    #[oai(default)]
    pub first_party: bool,
    pub id_token_signed_response_alg: Option<String>,
    /// JWK Set (JSON text), for private_key_jwt.
    pub jwks: Option<String>,
    pub lifetimes: Option<LifetimeInput>,
    /// RFC 9449 §5.2: refuse token requests without a DPoP proof.
    #[oai(default)]
    pub dpop_bound_access_tokens: bool,
}

impl std::fmt::Debug for NewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewClient({}, secret: ***)", self.client_id)
    }
}

#[derive(Object)]
pub struct CreatedClient {
    pub client_id: String,
    /// In this response only.
    pub client_secret: Option<String>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CreatedClient({}, secret: ***)", self.client_id)
    }
}

/// Changes: absent fields stay; lists replace the registered list; `null` removes a logout URI.
#[derive(Object, Debug)]
pub struct ClientChanges {
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: MaybeUndefined<String>,
    pub frontchannel_logout_uri: MaybeUndefined<String>,
    pub first_party: Option<bool>,
    pub lifetimes: Option<LifetimeInput>,
}

#[derive(Object, Debug)]
pub struct SecretRotation {
    /// Seconds the old secret keeps working (0: it stops now).
    pub overlap_secs: i64,
}

#[derive(Object)]
pub struct RotatedSecret {
    pub client_id: String,
    /// In this response only.
    pub client_secret: String,
    /// The old secret works until then (Unix seconds); absent: it stopped now.
    pub previous_secret_valid_until: Option<i64>,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RotatedSecret({}, ***)", self.client_id)
    }
}

#[derive(Object, Debug)]
pub struct DeletedClient {
    pub deleted: String,
}

fn maybe(v: MaybeUndefined<String>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    }
}

#[OpenApi(tag = "Tag::Clients")]
impl ClientsApi {
    /// The tenant's clients, by client_id.
    #[oai(path = "/tenants/:slug/clients", method = "get")]
    async fn list_clients(
        &self,
        auth: AdminToken,
        slug: Path<String>,
    ) -> ApiResult<Vec<ClientView>> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let rows = clients::list_clients(&self.state, &c.tenant).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Register a client; a generated secret is in this response only.
    #[oai(path = "/tenants/:slug/clients", method = "post")]
    async fn create_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        body: Json<NewClient>,
    ) -> ApiResult<CreatedClient> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        let public = b.token_endpoint_auth_method.as_deref() == Some("none");
        let lifetimes: LifetimeChanges = b.lifetimes.unwrap_or_default().into();
        let created = clients::register_client(
            &self.state,
            &c.tenant,
            clients::NewClient {
                client_id: b.client_id,
                secret: b.client_secret,
                public,
                auth_method: b.token_endpoint_auth_method,
                redirect_uris: b.redirect_uris,
                post_logout_redirect_uris: b.post_logout_redirect_uris,
                backchannel_logout_uri: b.backchannel_logout_uri,
                frontchannel_logout_uri: b.frontchannel_logout_uri,
                grant_types: b.grant_types,
                first_party: b.first_party,
                id_token_alg: b.id_token_signed_response_alg,
                jwks: b.jwks,
                lifetimes: lifetimes.apply(&Lifetimes::default()),
                dpop_bound_access_tokens: b.dpop_bound_access_tokens,
            },
            &c.actor,
        )
        .await?;
        Ok(Json(CreatedClient {
            client_id: created.client_id,
            client_secret: created.client_secret,
            token_endpoint_auth_method: created.token_endpoint_auth_method,
            redirect_uris: created.redirect_uris,
            grant_types: created.grant_types,
        }))
    }

    /// One client's registration (never its secret).
    #[oai(path = "/tenants/:slug/clients/:client_id", method = "get")]
    async fn show_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
    ) -> ApiResult<ClientView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        Ok(Json(
            clients::show_client(&self.state, &c.tenant, &client_id)
                .await?
                .into(),
        ))
    }

    /// Change URIs, lifetimes or the first-party flag; in force on this node at once, on other
    /// nodes within 2 seconds.
    #[oai(path = "/tenants/:slug/clients/:client_id", method = "patch")]
    async fn update_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
        body: Json<ClientChanges>,
    ) -> ApiResult<ClientView> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let b = body.0;
        let changes = clients::ClientChanges {
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris,
            backchannel_logout_uri: maybe(b.backchannel_logout_uri),
            frontchannel_logout_uri: maybe(b.frontchannel_logout_uri),
            first_party: b.first_party,
            lifetimes: b.lifetimes.unwrap_or_default().into(),
        };
        let v =
            clients::update_client(&self.state, &c.tenant, &client_id, changes, &c.actor).await?;
        Ok(Json(v.into()))
    }

    /// Disable a client: the token endpoint refuses it (invalid_client), UserInfo refuses its
    /// access tokens and introspection answers active: false for its tokens. At once on this
    /// node; other nodes within 2 seconds.
    #[oai(path = "/tenants/:slug/clients/:client_id/disable", method = "post")]
    async fn disable_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
    ) -> ApiResult<Done> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let changed =
            clients::set_client_disabled(&self.state, &c.tenant, &client_id, true, &c.actor)
                .await?;
        Ok(Json(Done { changed }))
    }

    /// Re-enable a disabled client.
    #[oai(path = "/tenants/:slug/clients/:client_id/enable", method = "post")]
    async fn enable_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
    ) -> ApiResult<Done> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let changed =
            clients::set_client_disabled(&self.state, &c.tenant, &client_id, false, &c.actor)
                .await?;
        Ok(Json(Done { changed }))
    }

    /// Issue a new secret (in this response only); the old one works for `overlap_secs` more.
    #[oai(
        path = "/tenants/:slug/clients/:client_id/rotate-secret",
        method = "post"
    )]
    async fn rotate_secret(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
        body: Json<SecretRotation>,
    ) -> ApiResult<RotatedSecret> {
        let c = authorize(&self.state, &auth, &slug).await?;
        let r = clients::rotate_secret(
            &self.state,
            &c.tenant,
            &client_id,
            body.overlap_secs,
            &c.actor,
        )
        .await?;
        Ok(Json(RotatedSecret {
            client_id: r.client_id,
            client_secret: r.client_secret,
            previous_secret_valid_until: r.previous_secret_valid_until,
        }))
    }

    /// Delete a client; its tokens stop working.
    #[oai(path = "/tenants/:slug/clients/:client_id", method = "delete")]
    async fn delete_client(
        &self,
        auth: AdminToken,
        slug: Path<String>,
        client_id: Path<String>,
    ) -> ApiResult<DeletedClient> {
        let c = authorize(&self.state, &auth, &slug).await?;
        clients::delete_client(&self.state, &c.tenant, &client_id, &c.actor).await?;
        Ok(Json(DeletedClient {
            deleted: client_id.0,
        }))
    }
}
